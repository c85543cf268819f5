// tests/e2e/module-checks.test.mjs — the checks build.sh runs on the optimized .wasm refuse what
// they must: a data segment in the first KiB (scripts/check-low-memory.mjs, what wasm-opt's
// --low-memory-unused assumes), and a glue whose names do not match the module
// (scripts/minify-names.mjs). And the shipped package passes both.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { PKG_DIR, ROOT } from "./lib/env.mjs";

const node = (script, ...args) =>
  spawnSync(process.execPath, [join(ROOT, "scripts", script), ...args], { cwd: ROOT, encoding: "utf8" });

/** A module with one page of memory and one data segment of one byte at `offset` (< 8192). */
function moduleWithData(offset) {
  const sleb = offset < 64 ? [offset] : [0x80 | (offset & 0x7f), offset >> 7];
  const data = [0x01, 0x00, 0x41, ...sleb, 0x0b, 0x01, 0x78];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x05, 0x03, 0x01, 0x00, 0x01, // one memory of one page
    0x0b, data.length, ...data, // the data section
  ]);
}

test("check-low-memory refuses data below 1024 and passes data above it", () => {
  const dir = mkdtempSync(join(tmpdir(), "semantest-low-"));
  try {
    for (const [offset, status] of [[0, 1], [1023, 1], [1024, 0], [2048, 0]]) {
      const file = join(dir, `m${offset}.wasm`);
      const bytes = moduleWithData(offset);
      assert.ok(WebAssembly.validate(bytes), `the test module with data at ${offset} is valid`);
      writeFileSync(file, bytes);
      const run = node("check-low-memory.mjs", file);
      assert.equal(run.status, status, `data at ${offset}: ${run.stdout}${run.stderr}`);
      if (status) assert.match(run.stderr, new RegExp(`starts at ${offset}, below 1024`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the shipped module passes check-low-memory", () => {
  const run = node("check-low-memory.mjs", join(PKG_DIR, "semantest_connect_bg.wasm"));
  assert.equal(run.status, 0, run.stderr);
});

test("minify-names refuses a map that does not match the glue, and writes nothing", () => {
  const dir = mkdtempSync(join(tmpdir(), "semantest-names-"));
  try {
    cpSync(PKG_DIR, dir, { recursive: true });
    const glue = readFileSync(join(dir, "semantest_connect.js"), "utf8");
    // The shipped module is already renamed: a map naming an import the glue does not have.
    const map = { imports: [["a", "__wbg_not_in_the_glue_0123456789abcdef", "a"]], exports: [] };
    writeFileSync(join(dir, "names.json"), JSON.stringify(map));
    const run = node("minify-names.mjs", dir, join(dir, "semantest_connect_bg.wasm"), join(dir, "names.json"));
    assert.equal(run.status, 1, run.stdout);
    assert.match(run.stderr, /minify-names: /);
    assert.equal(readFileSync(join(dir, "semantest_connect.js"), "utf8"), glue, "the glue is untouched");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
