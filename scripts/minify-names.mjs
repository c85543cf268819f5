// scripts/minify-names.mjs — shortens the names the .wasm imports and exports, in the module
// and in its wasm-bindgen glue, as Emscripten does for its -Oz builds.
//
// wasm-bindgen names every import `__wbg_<name>_<16 hex digits>` from the module
// "./semantest_connect_bg.js", and exports each closure's entry under its whole mangled Rust
// path (up to 300 characters). These names are only a contract between the .wasm and its own
// .js, yet they were 8 KB of the module. binaryen's `--minify-imports-and-exports-and-modules`
// renames them (`a`, `b`, … and module `a`) and prints the old→new map (build.sh runs it in
// the same wasm-opt call as -Oz, which then gains another 0.8 KB); this script applies the
// map to the glue (.js: the import object's keys and every `wasm.<export>`; the .d.ts files'
// `InitOutput` and export list), then checks that the glue names exactly what the module has.
// Exits non-zero if anything does not match (the glue is then left as it was).
//
// Usage: node scripts/minify-names.mjs <pkg dir> <map.json> [<name>]   (name: semantest_connect)
//   where <pkg dir>/<name>_bg.wasm is already minified and <map.json> is what wasm-opt printed.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [pkgDir, mapFile, name = "semantest_connect"] = process.argv.slice(2);
if (!pkgDir || !mapFile) {
  console.error("usage: node scripts/minify-names.mjs <pkg dir> <map.json> [<name>]");
  process.exit(2);
}
const wasmFile = join(pkgDir, `${name}_bg.wasm`);
const jsFile = join(pkgDir, `${name}.js`);
const dtsFiles = [join(pkgDir, `${name}.d.ts`), join(pkgDir, `${name}_bg.wasm.d.ts`)].filter(existsSync);

const fail = (why) => {
  console.error(`minify-names: ${why}`);
  process.exit(1);
};

const printed = readFileSync(mapFile, "utf8");
const map = JSON.parse(printed.slice(printed.indexOf("{")));
const module = new WebAssembly.Module(readFileSync(wasmFile));
const imports = WebAssembly.Module.imports(module);
const exports = WebAssembly.Module.exports(module);
const moduleNames = new Set(imports.map((i) => i.module));
if (moduleNames.size !== 1) fail(`expected one import module after minifying, found ${[...moduleNames]}`);
const [newModule] = moduleNames;

/** Replaces the whole identifier `from` (not a part of a longer one) everywhere in `text`. */
function rename(text, from, to, prefix = "") {
  const escaped = from.replace(/[$]/g, "\\$");
  return text.replace(new RegExp(`(?<![\\w$])${prefix}${escaped}(?![\\w$])`, "g"), (m) =>
    m.slice(0, m.length - from.length) + to,
  );
}

let js = readFileSync(jsFile, "utf8");
const oldModules = new Set(map.imports.map(([m]) => m));
for (const m of oldModules) {
  const key = JSON.stringify(m);
  if (!js.includes(`${key}:`)) fail(`the glue has no import object for module ${key}`);
  js = js.replaceAll(`${key}:`, `${JSON.stringify(newModule)}:`);
}
for (const [, from, to] of map.imports) {
  // The import object's keys: `    __wbg_…: function(` (wasm-bindgen's web target).
  const before = js;
  js = js.replace(new RegExp(`(^\\s*)${from.replace(/[$]/g, "\\$")}(:)`, "m"), `$1${JSON.stringify(to)}$2`);
  if (js === before) fail(`import ${from} is not a key of the glue's import object`);
}
let dts = dtsFiles.map((f) => readFileSync(f, "utf8"));
for (const [from, to] of map.exports) {
  js = rename(js, from, to, "wasm\\.");
  // `readonly name:` in InitOutput, `export const name:` in the _bg.wasm.d.ts.
  dts = dts.map((t) => t.replace(new RegExp(`(readonly |export const )${from}(:)`, "g"), `$1${JSON.stringify(to).slice(1, -1)}$2`));
}
// Names that are not identifiers (`$a`… are, but keep it general) become `wasm["…"]`.
js = js.replace(/wasm\.([^\s.(),;[\]=]+)/g, (m, n) => (/^[A-Za-z_$][\w$]*$/.test(n) ? m : `wasm[${JSON.stringify(n)}]`));

// The check: the glue uses only exports the module has, and offers every import it needs.
const exported = new Set(exports.map((e) => e.name));
for (const [, used] of js.matchAll(/wasm\.([A-Za-z_$][\w$]*)/g)) {
  if (!exported.has(used)) fail(`the glue uses wasm.${used}, which the module does not export`);
}
for (const { name: wanted } of imports) {
  if (!js.includes(`${JSON.stringify(wanted)}:`)) fail(`the glue offers no import ${wanted}`);
}
for (const [, from] of map.imports) {
  if (js.includes(from)) fail(`the old import name ${from} is still in the glue`);
}

writeFileSync(jsFile, js);
dtsFiles.forEach((f, i) => writeFileSync(f, dts[i]));
console.log(
  `minify-names: ${map.imports.length} imports and ${map.exports.length} exports renamed; ` +
    `${name}_bg.wasm now ${readFileSync(wasmFile).length} bytes`,
);
