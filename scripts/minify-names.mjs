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
// Exits non-zero if anything does not match, writing nothing: build.sh then stops, leaving the
// package's module and glue as wasm-bindgen wrote them (it moves the minified module in only
// when this succeeds).
//
// Usage: node scripts/minify-names.mjs <pkg dir> <minified.wasm> <map.json> [<name>]
//   (name: semantest_connect); <map.json> is what wasm-opt printed.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [pkgDir, wasmFile, mapFile, name = "semantest_connect"] = process.argv.slice(2);
if (!pkgDir || !wasmFile || !mapFile) {
  console.error("usage: node scripts/minify-names.mjs <pkg dir> <minified.wasm> <map.json> [<name>]");
  process.exit(2);
}
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

/** `text` as a RegExp that matches it literally. */
const literal = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// binaryen's short names are identifiers (`a`, `$a`, `Ab`), so `wasm.<name>` and bare object
// keys stay valid JavaScript; anything else would need quoting, which this script does not do.
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
for (const [, , to] of map.imports) if (!IDENTIFIER.test(to)) fail(`the new import name ${to} is not an identifier`);
for (const [, to] of map.exports) if (!IDENTIFIER.test(to)) fail(`the new export name ${to} is not an identifier`);

/** Replaces `prefix` + the whole identifier `from` (not a part of a longer one) everywhere. */
function rename(text, prefix, from, to) {
  return text.replace(new RegExp(`(?<![\\w$])(${prefix})${literal(from)}(?![\\w$])`, "g"), (_, p) => p + to);
}

let js = readFileSync(jsFile, "utf8");
const oldModules = new Set(map.imports.map(([m]) => m));
for (const m of oldModules) {
  const key = JSON.stringify(m);
  if (!js.includes(`${key}:`)) fail(`the glue has no import object for module ${key}`);
  js = js.replaceAll(`${key}:`, () => `${JSON.stringify(newModule)}:`);
}
for (const [, from, to] of map.imports) {
  // The import object's keys: `    __wbg_…: function(` (wasm-bindgen's web target).
  const before = js;
  js = js.replace(new RegExp(`^(\\s*)${literal(from)}:`, "m"), (_, indent) => `${indent}${to}:`);
  if (js === before) fail(`import ${from} is not a key of the glue's import object`);
}
/** Where a .d.ts lists the raw exports: `InitOutput` in <name>.d.ts, all of <name>_bg.wasm.d.ts. */
function exportList(text) {
  const start = text.indexOf("export interface InitOutput {");
  if (start < 0) return [0, text.length];
  return [start, text.indexOf("\n}", start)];
}
/** `edit` applied to the export list of `text` only. */
function inExportList(text, edit) {
  const [start, end] = exportList(text);
  return text.slice(0, start) + edit(text.slice(start, end)) + text.slice(end);
}
let dts = dtsFiles.map((f) => readFileSync(f, "utf8"));
for (const [from, to] of map.exports) {
  js = rename(js, "wasm\\.", from, to);
  // `readonly name:` in InitOutput, `export const name:` in the _bg.wasm.d.ts.
  dts = dts.map((t) => inExportList(t, (list) => rename(list, "readonly |export const ", from, to)));
}

// The check: the glue uses only exports the module has, and offers every import it needs.
const exported = new Set(exports.map((e) => e.name));
for (const [, used] of js.matchAll(/wasm\.([A-Za-z_$][\w$]*)/g)) {
  if (!exported.has(used)) fail(`the glue uses wasm.${used}, which the module does not export`);
}
const keys = new Set([...js.matchAll(/^\s*([A-Za-z_$][\w$]*): function\(/gm)].map(([, k]) => k));
for (const { name: wanted } of imports) {
  if (!keys.has(wanted)) fail(`the glue offers no import ${wanted}`);
}
for (const [, from] of map.imports) {
  if (js.includes(from)) fail(`the old import name ${from} is still in the glue`);
}
for (const [from] of map.exports) {
  if (new RegExp(`wasm\\.${literal(from)}(?![\\w$])`).test(js)) fail(`the glue still uses wasm.${from}`);
}
// The export lists name the module's exports and nothing else.
for (const t of dts) {
  const [start, end] = exportList(t);
  for (const [, listed] of t.slice(start, end).matchAll(/(?:readonly |export const )([\w$]+):/g)) {
    if (!exported.has(listed)) fail(`the .d.ts lists ${listed}, which the module does not export`);
  }
}

writeFileSync(jsFile, js);
dtsFiles.forEach((f, i) => writeFileSync(f, dts[i]));
console.log(
  `minify-names: ${map.imports.length} imports and ${map.exports.length} exports renamed; ` +
    `the module is ${readFileSync(wasmFile).length} bytes`,
);
