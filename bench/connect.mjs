// bench/connect.mjs — how long the real WASM client takes, in headless Chromium, from
// `connect()` to an open socket, for each way the local server can be: up, refused (nothing
// listening), hung (accepts, never answers) and wrong signature (answers /signature as another
// service); in a page and in a service worker (where the extension runs it). Then the worker
// cold start: from registering a new service worker to its first local/cloud status, beside
// Chrome's floor (a worker that imports nothing and reports at once). Also the .wasm size, raw
// and gzipped.
//
// It starts its own peers on loopback (two semantest-servers, a hung port, a wrong-signature
// HTTP server), serves the wasm package, a tiny page and a tiny module service worker (both
// import pkg/semantest_connect.js and drive a SemantestClient), runs each scenario RUNS times
// after one warm-up, registers COLD_RUNS fresh workers per scenario, and prints Markdown
// tables; with --write it replaces the "connect" section of BENCHMARKS.md; with --json FILE it
// writes every sample too.
//
// Usage: node bench/connect.mjs --server target/release/semantest-server --pkg pkg
//          [--runs 30] [--cold-runs RUNS] [--write] [--json FILE]
import { cpus, totalmem } from "node:os";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { extname, join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";
import { args, commitId, opt } from "./lib/args.mjs";
import { startServer, stats, waitFor, within, writeSection } from "./lib/common.mjs";

const SERVER = resolve(opt("server", "target/release/semantest-server"));
const PKG = resolve(opt("pkg", "pkg"));
const RUNS = Number(opt("runs", "30"));
const COLD_RUNS = Number(opt("cold-runs", String(RUNS)));
const WRITE = args.includes("--write");
const JSON_FILE = opt("json", null);
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
/** The whole bench must end within this (it takes about a minute). */
const DEADLINE_MS = 5 * 60_000;
function fail(msg) {
  console.error(`bench/connect: ${msg}`);
  process.exit(1); // bench/lib/common.mjs kills the servers
}

for (const [name, n] of [["runs", RUNS], ["cold-runs", COLD_RUNS]]) {
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer`);
}
if (args.includes("--json") && !JSON_FILE) fail("--json needs a file name");

// Playwright attaches to every service worker (over CDP) to offer worker.evaluate(); without
// this it would also watch each worker's network traffic, which the bench does not need and
// which would slow the workers it measures.
process.env.PLAYWRIGHT_DISABLE_SERVICE_WORKER_NETWORK ??= "1";

/** The remote server's API key (any 16+ characters; loopback only). */
const BENCH_KEY = "bench-key-0123456789abcdef";

/** A port that accepts TCP connections and never answers. */
function hungPort() {
  return new Promise((ok) => {
    const sockets = [];
    const srv = createNetServer((s) => sockets.push(s));
    srv.listen(0, "127.0.0.1", () => ok({ port: srv.address().port, close: () => { sockets.forEach((s) => s.destroy()); srv.close(); } }));
  });
}

/** A port with nothing listening (bound, read, released). */
function refusedPort() {
  return new Promise((ok) => {
    const srv = createNetServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/**
 * A local server of another service: GET /signature answers 200 with a well-formed signature
 * whose service is not "semantest" (readable cross-origin), everything else 404. The client must
 * refuse it and go to the remote.
 */
function wrongSignatureServer() {
  const body = JSON.stringify({ service: "other", version: "1.0.0", environment: "local", capabilities: [] });
  return new Promise((ok) => {
    const srv = createServer((req, res) => {
      const headers = { "access-control-allow-origin": "*", "cache-control": "no-store" };
      if (req.url.split("?")[0] === "/signature") {
        res.writeHead(200, { ...headers, "content-type": "application/json" }).end(body);
      } else {
        res.writeHead(404, headers).end();
      }
    });
    srv.listen(0, "127.0.0.1", () => ok(srv));
  });
}

// Runs in the page and in the service worker: `runs` times, a new client, connect(), and the
// time until its status is local or cloud.
const MEASURE = `async (options, runs) => {
  await globalThis.ready;
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const client = new SemantestClient(options);
    const reached = new Promise((ok) => client.onStatus((s) => { if (s.mode === "local" || s.mode === "cloud") ok(s.mode); }));
    const t0 = performance.now();
    client.connect();
    const mode = await reached;
    samples.push({ ms: performance.now() - t0, mode });
    client.close();
    client.free();
    await new Promise((r) => setTimeout(r, 20));
  }
  return samples;
}`;

const PAGE = `<!doctype html><meta charset="utf-8"><title>connect bench</title>
<script type="module">
import init, { SemantestClient } from "/pkg/semantest_connect.js";
globalThis.ready = init();
await globalThis.ready;
globalThis.measure = ${MEASURE};

// Worker cold start: register a new service worker (its own scope, so a new registration and a
// new worker every time) that connects at once, and wait for its first local/cloud status.
const channel = new BroadcastChannel("connect-bench");
const waiting = new Map();
channel.onmessage = (e) => {
  const done = waiting.get(e.data.run);
  if (done) {
    waiting.delete(e.data.run);
    done(e.data);
  }
};
globalThis.coldStart = async (options, run) => {
  // No options: Chrome's floor, a worker that imports nothing and reports at once.
  const params = new URLSearchParams(options ? { role: "cold", run, options: JSON.stringify(options) } : { run });
  const script = options ? "/sw.js?" : "/bare.js?";
  const reported = new Promise((ok) => waiting.set(run, ok));
  const timeout = new Promise((ok) => setTimeout(() => ok({ error: "no status from the worker within 10 s" }), 10000));
  const t0 = performance.now();
  const at0 = performance.timeOrigin + t0;
  const registration = await navigator.serviceWorker.register(script + params, { type: "module", scope: "/cold/" + run + "/" });
  const r = await Promise.race([reported, timeout]);
  const ms = performance.now() - t0;
  channel.postMessage({ close: run });
  await registration.unregister();
  if (r.error) throw new Error(run + ": " + r.error);
  // The worker's marks are on the same clock (timeOrigin + now) as the page's.
  return { ms, mode: r.mode, startMs: r.scriptAt - at0, initMs: r.wasmAt - r.scriptAt, connectMs: r.statusAt - r.wasmAt };
};
globalThis.residentWorker = () => navigator.serviceWorker.register("/sw.js?role=resident", { type: "module", scope: "/resident/" }).then(() => true);
globalThis.pageReady = true;
</script>`;

// The service worker: a module worker that imports the wasm glue as the extension's
// background.js does. No top-level await (service workers forbid it).
const WORKER = `import init, { SemantestClient } from "/pkg/semantest_connect.js";
const now = () => performance.timeOrigin + performance.now();
const scriptAt = now();
const params = new URL(self.location.href).searchParams;
globalThis.ready = init();
globalThis.measure = ${MEASURE};
if (params.get("role") === "cold") {
  const run = params.get("run");
  const channel = new BroadcastChannel("connect-bench");
  globalThis.ready.then(() => {
    const wasmAt = now();
    const client = new SemantestClient(JSON.parse(params.get("options")));
    let reported = false;
    client.connect();
    client.onStatus((s) => {
      if (!reported && (s.mode === "local" || s.mode === "cloud")) {
        reported = true;
        channel.postMessage({ run, mode: s.mode, scriptAt, wasmAt, statusAt: now() });
      }
    });
    channel.onmessage = (e) => {
      if (e.data.close === run) {
        client.close();
        client.free();
        channel.close();
      }
    };
  }, (e) => channel.postMessage({ run, error: String(e) }));
}
`;

// Chrome's floor for a cold start: a worker with no import, no .wasm and no connection, that
// reports on the same channel as soon as its first line runs.
const BARE_WORKER = `const t = performance.timeOrigin + performance.now();
const run = new URL(self.location.href).searchParams.get("run");
new BroadcastChannel("connect-bench").postMessage({ run, mode: "none", scriptAt: t, wasmAt: t, statusAt: t });
`;

const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };

// Everything no-store: each new worker fetches and compiles the .wasm afresh (no HTTP cache, so
// no cached compiled code either), as the extension's worker does from its package.
function serveStatic() {
  return new Promise((ok) => {
    const srv = createServer((req, res) => {
      const path = req.url.split("?")[0];
      const send = (type, body) => res.writeHead(200, { "content-type": type, "cache-control": "no-store" }).end(body);
      if (path === "/") return send("text/html", PAGE);
      if (path === "/sw.js") return send("text/javascript", WORKER);
      if (path === "/bare.js") return send("text/javascript", BARE_WORKER);
      const file = join(PKG, path.replace(/^\/pkg\//, ""));
      if (!path.startsWith("/pkg/") || !file.startsWith(PKG) || !existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      send(TYPES[extname(file)] ?? "application/octet-stream", readFileSync(file));
    });
    srv.listen(0, "127.0.0.1", () => ok(srv));
  });
}

const f = (x) => x.toFixed(1);
const row = (cells, s) => `| ${cells.join(" | ")} | ${f(s.min)} | ${f(s.p50)} | ${f(s.p95)} | ${f(s.max)} |`;

async function main() {
  if (!existsSync(SERVER)) fail(`${SERVER} not found: run ./build.sh build first`);
  const wasmFile = join(PKG, "semantest_connect_bg.wasm");
  if (!existsSync(wasmFile)) fail(`${wasmFile} not found: run ./build.sh build first`);
  const wasm = readFileSync(wasmFile);
  const web = await serveStatic();
  const origin = `http://127.0.0.1:${web.address().port}`;
  const localServer = await startServer(SERVER, ["--environment", "local", "--allow-origin", origin]);
  // The remote is a production server with an API key: the client shows it in its hello. Its
  // HTTP rate limit (100 a minute per address by default, and a WebSocket handshake counts) is
  // raised: the bench opens a few hundred sockets from one address within a minute or two.
  const remoteServer = await startServer(SERVER, ["--environment", "production", "--api-key", BENCH_KEY, "--allow-origin", origin, "--http-requests-per-minute", "1000000"]);
  const hung = await hungPort();
  const refused = await refusedPort();
  const wrong = await wrongSignatureServer();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on("pageerror", (e) => console.error("page error:", e.message));
    context.on("weberror", (e) => console.error("error:", e.error().message));
    await page.goto(origin + "/");
    await page.waitForFunction(() => globalThis.pageReady === true, null, { timeout: 30_000 });

    // The resident worker, for the connect scenarios in a ServiceWorkerGlobalScope.
    const isResident = (w) => w.url().startsWith(`${origin}/sw.js?role=resident`);
    const residentSeen = context.waitForEvent("serviceworker", { predicate: isResident, timeout: 30_000 });
    await page.evaluate(() => globalThis.residentWorker());
    const worker = context.serviceWorkers().find(isResident) ?? (await residentSeen);
    await within(30_000, "the service worker's init()", worker.evaluate(() => globalThis.ready.then(() => true)));

    const remoteUrl = `ws://127.0.0.1:${remoteServer.port}`;
    const scenarios = [
      ["local up", `http://127.0.0.1:${localServer.port}`, "local"],
      ["local refused", `http://127.0.0.1:${refused}`, "cloud"],
      ["local hung", `http://127.0.0.1:${hung.port}`, "cloud"],
      ["wrong signature", `http://127.0.0.1:${wrong.address().port}`, "cloud"],
    ];
    const where = [["page", page], ["service worker", worker]];
    const connect = [];
    for (const [place, target] of where) {
      for (const [name, localUrl, want] of scenarios) {
        const options = { localUrl, remoteUrl, token: BENCH_KEY };
        const measure = (n) => within(120_000, `${place}, ${name}`, target.evaluate(([o, k]) => globalThis.measure(o, k), [options, n]));
        await measure(1); // warm-up: module compile, first connections
        const samples = await measure(RUNS);
        const off = samples.filter((s) => s.mode !== want);
        if (off.length) fail(`${place}, ${name}: ended on ${off[0].mode}, expected ${want}`);
        connect.push({ where: place, scenario: name, endsOn: want, ms: samples.map((s) => s.ms), stats: stats(samples.map((s) => s.ms)) });
        console.error(`bench/connect: ${place}, ${name}: p50 ${f(connect.at(-1).stats.p50)} ms`);
      }
    }

    // An unregistered worker keeps running (Chrome only marks it redundant): each cold-start
    // worker is stopped over CDP once measured, so they do not pile up in the renderer.
    const cdp = await context.newCDPSession(page);
    const versions = new Map();
    cdp.on("ServiceWorker.workerVersionUpdated", ({ versions: updated }) => {
      for (const v of updated) versions.set(v.versionId, v);
    });
    await cdp.send("ServiceWorker.enable");
    const runOf = (v) => new URL(v.scriptURL).searchParams.get("run");
    const stopColdWorker = (run) => waitFor(`cold start ${run}: its worker stopped`, async () => {
      const mine = [...versions.values()].filter((v) => runOf(v) === run);
      if (mine.length && mine.every((v) => v.runningStatus === "stopped")) return true;
      for (const v of mine) if (v.runningStatus === "running") await cdp.send("ServiceWorker.stopWorker", { versionId: v.versionId }).catch(() => {});
      return false;
    }, { timeout: 5000, interval: 20 });

    const start = async (options, run) => {
      const r = await within(20_000, `cold start ${run}`, page.evaluate(([o, n]) => globalThis.coldStart(o, n), [options, run]));
      await stopColdWorker(run);
      return r;
    };
    const cold = [];
    // Chrome's floor, measured between the real workers so that both see the machine alike.
    const floor = [];
    for (const [index, [name, localUrl, want]] of scenarios.entries()) {
      const options = { localUrl, remoteUrl, token: BENCH_KEY };
      await start(options, `${index}-warmup`); // the first registration of the browser pays one-off costs
      const runs = [];
      for (let i = 0; i < COLD_RUNS; i++) {
        const r = await start(options, `${index}-${i}`);
        if (r.mode !== want) fail(`cold start, ${name}: ended on ${r.mode}, expected ${want}`);
        runs.push(r);
        floor.push(await start(null, `${index}-${i}-bare`));
      }
      cold.push({ scenario: name, endsOn: want, runs, stats: stats(runs.map((r) => r.ms)) });
      console.error(`bench/connect: cold start, ${name}: p50 ${f(cold.at(-1).stats.p50)} ms`);
    }
    const allCold = cold.flatMap((c) => c.runs);
    const parts = {
      start: stats(allCold.map((r) => r.startMs)),
      init: stats(allCold.map((r) => r.initMs)),
      floor: stats(floor.map((r) => r.ms)),
      floorStart: stats(floor.map((r) => r.startMs)),
    };
    console.error(`bench/connect: cold start, Chrome's floor: p50 ${f(parts.floor.p50)} ms`);
    const leftOver = [...versions.values()].filter((v) => runOf(v) !== null && v.runningStatus !== "stopped").length;

    const date = new Date().toISOString().slice(0, 10);
    const gz = gzipSync(wasm, { level: 9 }).length;
    const lines = [
      "<!-- connect:start -->",
      `Measured ${date} at commit \`${commitId()}\` by \`./build.sh bench\` (bench/connect.mjs) on ${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB: headless Chromium ${browser.version()}, `,
      `release build, loopback servers, ${RUNS} runs per scenario after one warm-up, default settings `,
      "(probe timeout 2 s, local head start 300 ms). \"wrong signature\": the local port answers "
        + "`/signature` as another service (`{\"service\":\"other\",…}`).",
      "",
      "| where | local server | ends on | min ms | p50 ms | p95 ms | max ms |",
      "|---|---|---|---:|---:|---:|---:|",
      ...connect.map((c) => row([c.where, c.scenario, c.endsOn], c.stats)),
      "",
      `Service-worker cold start: a page registers a new module service worker (a new scope each `,
      `time, so a new worker) that imports the wasm glue, runs \`init()\` (the .wasm fetched and `,
      `compiled afresh: served no-store), creates a client and connects; measured from `,
      `\`register()\` to its first local or cloud status, ${COLD_RUNS} workers per scenario after one warm-up. `,
      `Chromium is driven over CDP (Playwright attaches to each new worker before it runs; included).`,
      "",
      "| cold start, local server | ends on | min ms | p50 ms | p95 ms | max ms |",
      "|---|---|---:|---:|---:|---:|",
      ...cold.map((c) => row([c.scenario, c.endsOn], c.stats)),
      row(["Chrome's floor: a worker that imports nothing and reports at once", "–"], parts.floor),
      "",
      `Where a cold start goes (p50 over all ${allCold.length} workers): \`register()\` → the worker's script `
        + `runs ${f(parts.start.p50)} ms (${f(parts.start.min)}–${f(parts.start.max)}); \`init()\`, the .wasm `
        + `fetched, compiled and instantiated, ${f(parts.init.p50)} ms (${f(parts.init.min)}–${f(parts.init.max)}); `
        + "then `connect()` to the first status as in the table above. Chrome's floor, measured "
        + `between them (${floor.length} workers, one after each), ran its first line after ${f(parts.floorStart.p50)} ms: `
        + "the floor moves with the machine's load, and what is ours is the cold start less the floor.",
      "",
      `WASM module (the wasm-release profile: opt-level z, LTO, std rebuilt; then wasm-opt -Oz from npm binaryen 132): ${(wasm.length / 1024).toFixed(1)} KiB raw, `
        + `${(gz / 1024).toFixed(1)} KiB gzipped.`,
      "<!-- connect:end -->",
    ];
    const section = lines.join("\n");
    console.log(section);
    if (leftOver > 0) console.error(`bench/connect: note: ${leftOver} cold-start workers still running at the end`);
    if (JSON_FILE) {
      const report = {
        date,
        chromium: browser.version(),
        runs: RUNS,
        coldRuns: COLD_RUNS,
        settings: { probeTimeoutMs: 2000, localHeadStartMs: 300 },
        wasm: { file: "semantest_connect_bg.wasm", rawBytes: wasm.length, gzipBytes: gz },
        connect,
        coldStart: cold,
        coldStartParts: parts,
        floor,
      };
      writeFileSync(JSON_FILE, `${JSON.stringify(report, null, 2)}\n`);
      console.error(`bench/connect: wrote ${JSON_FILE}`);
    }
    if (WRITE) console.log(`bench/connect: wrote ${writeSection("connect", section, "Connect time in the browser")}`);
  } finally {
    await browser.close();
    hung.close();
    wrong.close();
    web.close();
    localServer.close();
    remoteServer.close();
  }
}

setTimeout(() => fail(`not done after ${DEADLINE_MS / 60_000} min`), DEADLINE_MS).unref();
main().catch((e) => fail(e.stack ?? String(e)));
