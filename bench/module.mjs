// bench/module.mjs — where the bytes of the .wasm go, profiled with twiggy.
//
// The shipped module (pkg/semantest_connect_bg.wasm, after wasm-opt -Oz) has no names, so this
// builds a twin that keeps them: wasm-bindgen on the same cargo output (the wasm-release build
// of `./build.sh build`), then wasm-opt -Oz -g (with the import and export names shortened, as
// build.sh does), which keeps the name section and gives the same
// code (its size without names is checked against the shipped module's). twiggy then lists
// every function and data segment with its size; they are summed by what they belong to. After
// wasm-opt a function holds the code inlined into it, so a group is "code under these names":
// serde's code inlined into, say, `ServerFrame::parse` counts as the protocol's.
//
// Usage: node bench/module.mjs [--wasm target/wasm32-unknown-unknown/wasm-release/semantest_connect.wasm]
//                               [--pkg pkg] [--write] [--top 15]
// Needs wasm-bindgen (./build.sh setup), node_modules/.bin/wasm-opt and twiggy
// (`cargo install twiggy`; ./build.sh bench installs it).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { commitId, flag, opt } from "./lib/args.mjs";
import { writeSection } from "./lib/common.mjs";

const WASM = resolve(opt("wasm", "target/wasm32-unknown-unknown/wasm-release/semantest_connect.wasm"));
const PKG = resolve(opt("pkg", "pkg"));
const TOP = Number(opt("top", "15"));
const WRITE = flag("write");
// The wasm-opt options build.sh uses (-Oz, the features, --low-memory-unused, the names
// shortened: the map it prints is not needed here), from the one list both read.
const WASM_OPT_FLAGS = readFileSync(resolve("scripts/wasm-opt.flags"), "utf8").split(/\s+/).filter(Boolean);

/** The group an item of twiggy's list belongs to. */
function group(name) {
  if (name.startsWith("data segment")) return "data: strings and tables";
  if (/^(import|export|table|elem|global|type|memory|code)\[?/.test(name) || name.includes(" shim")) {
    return "wasm-bindgen: imports, exports, shims";
  }
  // By the function's own path, not its type parameters: `<T as serde_core::…>` and
  // `serde_json::…` are serde's (derived or generic) code; `within::<Result<Value, …>>` is ours.
  const head = name.replace(/^<+/, "").split(/::<|>::/)[0];
  if (/^(serde\w*)::/.test(head) || / as serde\w*::/.test(head) || /__(Field)?Visitor/.test(name)) {
    return "serde and serde_json";
  }
  const ours = /^<?semantest_connect(?:\[[0-9a-f]+\])?::([a-z_]+)(?:::([a-z_]+))?/.exec(name);
  if (ours) {
    const [, module, sub] = ours;
    if (module === "web") return `src/web/${sub ?? ""}`;
    return `src/${module}`;
  }
  if (/^<?semantest_protocol/.test(name)) return "protocol (frame parsing)";
  if (/flt2dec|float|f64|zmij|bignum|dec2flt/.test(name)) return "float formatting and parsing";
  if (/^<?(js_sys|wasm_bindgen|web_sys|gloo_[a-z]+|futures_[a-z]+)/.test(name) || name.startsWith("__wbindgen")) {
    return "JavaScript bridge (js-sys, wasm-bindgen, web-sys, gloo)";
  }
  if (/^<?(core|alloc|std)\b/.test(name) || /^<(&|&mut )?(str|char|u\d+|i\d+|usize)\b/.test(name)) {
    return "core, alloc, std (strings, fmt, collections)";
  }
  if (/^<?(indexmap|hashbrown)/.test(name)) return "indexmap (JSON objects)";
  if (/^<?talc/.test(name)) return "talc (the allocator)";
  if (/^<?semver/.test(name)) return "semver";
  return "other";
}

function readCsv(text) {
  const rows = [];
  for (const line of text.trim().split("\n").slice(1)) {
    // Name,ShallowSize,ShallowSizePercent,... — names may hold commas, in quotes.
    const m = /^("(?:[^"]|"")*"|[^,]*),(\d+),/.exec(line);
    if (!m) continue;
    const name = m[1].startsWith('"') ? m[1].slice(1, -1).replaceAll('""', '"') : m[1];
    rows.push({ name: name.replace(/\[[0-9a-f]{12,17}\]/g, "").replace(/::h[0-9a-f]{16}$/, ""), bytes: Number(m[2]) });
  }
  return rows;
}

const dir = mkdtempSync(join(tmpdir(), "semantest-module-"));
try {
  execFileSync("wasm-bindgen", ["--target", "web", "--out-dir", dir, WASM], { stdio: "inherit" });
  const named = join(dir, "named.wasm");
  const bare = join(dir, "bare.wasm");
  const wasmOpt = resolve("node_modules/.bin/wasm-opt");
  execFileSync(wasmOpt, [...WASM_OPT_FLAGS, "-g", join(dir, "semantest_connect_bg.wasm"), "-o", named]);
  execFileSync(wasmOpt, [...WASM_OPT_FLAGS, join(dir, "semantest_connect_bg.wasm"), "-o", bare]);
  const shipped = readFileSync(join(PKG, "semantest_connect_bg.wasm"));
  const twin = readFileSync(bare);
  const csv = execFileSync("twiggy", ["top", "-n", "1000000", "--format", "csv", named], {
    maxBuffer: 64 << 20,
  }).toString();
  const rows = readCsv(csv).filter((r) => !/names" subsection|^custom section/.test(r.name));
  const total = rows.reduce((s, r) => s + r.bytes, 0);
  const groups = new Map();
  for (const r of rows) {
    const g = group(r.name);
    const entry = groups.get(g) ?? { bytes: 0, items: 0 };
    entry.bytes += r.bytes;
    entry.items += 1;
    groups.set(g, entry);
  }
  const kib = (b) => (b / 1024).toFixed(1);
  const lines = [];
  lines.push("<!-- module:start -->");
  const commit = commitId();
  lines.push(
    `Measured ${new Date().toISOString().slice(0, 10)} at commit \`${commit}\` by \`node bench/module.mjs\` ` +
      "(twiggy on a twin of the module that keeps its names; see the script).",
    "",
    `The shipped module: **${shipped.length} B raw (${kib(shipped.length)} KiB), ` +
      `${gzipSync(shipped, { level: 9 }).length} B gzipped**` +
      (twin.length === shipped.length ? " (the twin without names: the same size)." : ` (the twin without names: ${twin.length} B).`),
    "",
    "| what the code is | bytes | share | items |",
    "|---|---:|---:|---:|",
  );
  for (const [g, { bytes, items }] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes)) {
    lines.push(`| ${g} | ${bytes} | ${((100 * bytes) / total).toFixed(1)} % | ${items} |`);
  }
  lines.push(`| **all** | **${total}** | 100 % | ${rows.length} |`, "");
  lines.push(`The ${TOP} largest items:`, "", "| item | bytes |", "|---|---:|");
  for (const r of [...rows].sort((a, b) => b.bytes - a.bytes).slice(0, TOP)) {
    const name = r.name.length > 110 ? `${r.name.slice(0, 107)}…` : r.name;
    lines.push(`| \`${name.replaceAll("|", "\\|").replaceAll("`", "'")}\` | ${r.bytes} |`);
  }
  lines.push("<!-- module:end -->");
  const section = lines.join("\n");
  console.log(section);
  if (WRITE) writeSection("module", section, "Where the module's bytes go (issue 14)");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
