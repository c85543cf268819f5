// tests/e2e/sdk.test.mjs — l) the npm package @semantest/sdk as a TypeScript user gets it.
//
// sdk/build.sh packs the release wasm package that run.sh's ./build.sh build wrote to pkg/ (no
// second wasm build) into semantest-sdk-<version>.tgz; a fresh project (.build/e2e/sdk-project) installs
// the tarball with `npm install --offline` (the package has no dependencies), and TypeScript (the
// one deploy/pulumi pins) checks sdk/example/ with --strict: example.ts must pass and every
// `@ts-expect-error` in misuse.ts must be an error, so a signature that slid back to `any` fails.
// Then the compiled example runs in headless Chromium (an import map resolves "@semantest/sdk"
// to the installed package) against a real local semantest-server: the status, the pong, a
// refused action and an event.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { ARTIFACTS, CHROMIUM, PKG_DIR, ROOT, SERVER_BIN, WORK } from "./lib/env.mjs";
import { SemantestServer, StaticServer, freePort } from "./lib/servers.mjs";

const SDK = join(ROOT, "sdk");
const TSC = join(ROOT, "deploy/pulumi/node_modules/typescript/bin/tsc");
const VERSION = JSON.parse(readFileSync(join(SDK, "package.json"), "utf8")).version;
const NPM_ENV = { ...process.env, npm_config_update_notifier: "false", npm_config_fund: "false", npm_config_audit: "false" };

let project;
let tgz;
let installed;
let web;
let local;
let browser;

/** Runs `cmd args` in `cwd`; on failure the error carries its output. */
function run(cmd, args, cwd, env = process.env) {
  try {
    return execFileSync(cmd, args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${e.status}):\n${e.stdout ?? ""}${e.stderr ?? ""}`, { cause: e });
  }
}

before(async () => {
  for (const [path, what] of [[SERVER_BIN, "the release semantest-server"], [join(PKG_DIR, "semantest_connect_bg.wasm"), "the wasm package"]]) {
    if (!existsSync(path)) throw new Error(`not built: ${what} (${path}); run ./build.sh build`);
  }
  if (!existsSync(TSC)) throw new Error(`TypeScript is not installed (${TSC}); run ./build.sh setup (npm ci in deploy/pulumi)`);
  // One folder, emptied at the start: the last run stays there to look at.
  project = join(WORK, "sdk-project");
  rmSync(project, { recursive: true, force: true });
  mkdirSync(project, { recursive: true });
  const packed = run(join(SDK, "build.sh"), [PKG_DIR, project], ROOT, NPM_ENV);
  tgz = join(project, `semantest-sdk-${VERSION}.tgz`);
  assert.ok(existsSync(tgz), `sdk/build.sh wrote no ${tgz}: ${packed}`);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "sdk-example", private: true, type: "module" }, null, 2));
  for (const f of ["example.ts", "misuse.ts", "tsconfig.json"]) copyFileSync(join(SDK, "example", f), join(project, f));
  run("npm", ["install", "--offline", "--no-save", tgz], project, NPM_ENV);
  installed = join(project, "node_modules/@semantest/sdk");
});

after(async () => {
  await browser?.close();
  await local?.stop();
  await web?.close();
});

test("l) npm pack: semantest-sdk.tgz holds the release wasm package and typed .d.ts; no `any` in the API", () => {
  const files = run("tar", ["-tzf", tgz], project).trim().split("\n").sort();
  assert.deepEqual(files, ["package/README.md", "package/package.json", "package/semantest_connect.d.ts", "package/semantest_connect.js", "package/semantest_connect_bg.wasm"]);
  const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
  assert.equal(manifest.name, "@semantest/sdk");
  assert.equal(manifest.version, "0.1.0");
  assert.equal(manifest.type, "module");
  assert.deepEqual(manifest.exports["."], { types: "./semantest_connect.d.ts", default: "./semantest_connect.js" });
  assert.deepEqual(manifest.dependencies ?? {}, {});
  // The very .wasm that ./build.sh build optimized: packing builds nothing.
  assert.ok(readFileSync(join(installed, "semantest_connect_bg.wasm")).equals(readFileSync(join(PKG_DIR, "semantest_connect_bg.wasm"))));

  const dts = readFileSync(join(installed, "semantest_connect.d.ts"), "utf8");
  for (const signature of [
    "constructor(options?: ClientOptions);",
    "connect(): Promise<Status>;",
    "request(action: string, payload?: object, options?: RequestOptions): Promise<ServerFrame>;",
    "send(action: string, payload?: object): string;",
    "on(event: string, handler: (payload: EventPayload) => void): void;",
    "onStatus(callback: ((status: Status) => void) | null): void;",
    "onMessage(callback: ((text: string) => void) | null): void;",
    "status(): Status;",
    "settings(): Settings;",
    "updateSettings(options: SettingsOptions): void;",
    "setSettings(options: SettingsOptions): void;",
    "export function testConnection(options?: SettingsOptions): Promise<ConnectionReport>;",
    'export type SemantestErrorCode = FailureCode | ErrorCode | "offline" | "generation_failed";',
    "generateImage(prompt: string, options?: GenerateOptions): Promise<GeneratedImage>;",
    "serveGenerations(drive_tab: (tabId: number, request: GenerationTask, onStage: (stage: string) => void) => Promise<string>): void;",
    "onGenerations(callback: ((generations: Generations) => void) | null): void;",
    "export interface GenerationProgress {",
    "export interface SemantestError extends Error {",
    "export interface Status {",
    "export interface Overrides {",
    "export interface EventPayload {",
  ]) {
    assert.ok(dts.includes(signature), `the .d.ts lacks: ${signature}`);
  }
  // Everything before wasm-bindgen's own loader types (InitInput, InitOutput: raw exports) is
  // ours: the derived types, the joins of src/web/types.rs, SemantestClient and testConnection.
  const api = dts.slice(0, dts.indexOf("export type InitInput"));
  assert.ok(api.includes("export class SemantestClient"), "SemantestClient is before InitInput");
  const code = api.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  const anys = code.split("\n").filter((line) => /\bany\b/.test(line));
  assert.deepEqual(anys, [], "`any` in the API's declarations");
});

test("l2) a fresh project installs the tarball offline; tsc --strict accepts the example and refuses each misuse", () => {
  // misuse.ts: each @ts-expect-error that is not an error is itself an error (TS2578).
  run(process.execPath, [TSC, "-p", "tsconfig.json", "--strict", "--noEmit"], project);
  run(process.execPath, [TSC, "-p", "tsconfig.json", "--strict"], project);
  assert.ok(existsSync(join(project, "out/example.js")), "tsc emitted out/example.js");
});

test("l3) the compiled example runs in headless Chromium against a real semantest-server: local, the pong, a refused action, an event", { timeout: 60_000 }, async () => {
  assert.ok(existsSync(join(project, "out/example.js")), "l2) compiled the example");
  web = await new StaticServer({ dirs: { "/app/": project } }).start();
  local = await new SemantestServer("sdk-local", { allowOrigins: [web.origin] }).start();
  writeFileSync(join(project, "index.html"), `<!doctype html><meta charset="utf-8"><title>@semantest/sdk example</title>
<script type="importmap">{"imports": {"@semantest/sdk": "/app/node_modules/@semantest/sdk/semantest_connect.js"}}</script>
<script type="module">
import { run } from "/app/out/example.js";
globalThis.runExample = run;
document.documentElement.dataset.ready = "true";
</script>
`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const page = await browser.newPage();
  const lines = [];
  const errors = [];
  page.on("console", (m) => lines.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));
  try {
    await page.goto(`${web.origin}/app/`, { timeout: 20_000 });
    await page.locator("html[data-ready=true]").waitFor({ state: "attached", timeout: 20_000 });
    const options = { localUrl: local.url, remoteUrl: `ws://127.0.0.1:${await freePort()}` };
    const started = Date.now();
    const result = await page.evaluate((o) => globalThis.runExample(o), options);
    console.log(`measure: l3) the example (init, connect, ping, refused action, event) took ${Date.now() - started} ms; onStatus saw ${result.modes.join(" → ")}`);

    assert.equal(result.ready.mode, "local", `connect() resolved with ${JSON.stringify(result.ready)}`);
    assert.equal(result.ready.url, `ws://localhost:${local.port}`);
    assert.equal(result.modes.at(-1), "local", `onStatus saw ${result.modes.join(" → ")}`);
    assert.equal(result.pong.t, result.sentT);
    assert.equal(typeof result.pong.serverTime, "number");
    assert.equal(result.refused.code, "unknown_action");
    assert.equal(result.event.event, "sdk-example.greeting");
    assert.deepEqual(result.event.data, { hello: "world" });
    assert.equal(result.localUrl, local.url);
    for (const line of [/^connected: local ws:\/\/localhost:\d+$/, new RegExp(`^pong: t=${result.sentT} serverTime=\\d+ `), /^refused: unknown_action: /, /^event: sdk-example\.greeting from \S+: \{"hello":"world"\}$/]) {
      assert.ok(lines.some((l) => line.test(l)), `the example printed no line like ${line}: ${JSON.stringify(lines)}`);
    }
    assert.deepEqual(errors, []);
  } catch (e) {
    await page.screenshot({ path: join(ARTIFACTS, "FAILED-l3-sdk-example.png"), timeout: 5000 }).catch(() => {});
    writeFileSync(join(ARTIFACTS, "FAILED-l3-sdk-example.txt"), `console:\n${lines.join("\n")}\n\npage errors:\n${errors.join("\n")}\n`);
    throw e;
  } finally {
    await page.close();
  }
});
