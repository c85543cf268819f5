// bench/connect.mjs — how long the real WASM client takes, in headless Chromium, from
// `connect()` to an open socket, for each way the local server can be: up, refused (nothing
// listening) and hung (accepts, never answers). Also the .wasm size, raw and gzipped.
//
// It starts its own peers on loopback (two semantest-servers and a hung port), serves the wasm
// package and a tiny page, runs each scenario RUNS times in one page, and prints a Markdown
// table; with --write it replaces the "connect" section of BENCHMARKS.md.
//
// Usage: node bench/connect.mjs --server target/release/semantest-server --pkg pkg [--runs 30] [--write]
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { extname, join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const SERVER = resolve(opt("server", "target/release/semantest-server"));
const PKG = resolve(opt("pkg", "pkg"));
const RUNS = Number(opt("runs", "30"));
const WRITE = args.includes("--write");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const children = [];

function fail(msg) {
  console.error(`bench/connect: ${msg}`);
  process.exit(1);
}

/** Starts a semantest-server on a free port and resolves with that port. */
/** The remote server's API key (any 16+ characters; loopback only). */
const BENCH_KEY = "bench-key-0123456789abcdef";

function startServer(extra) {
  return new Promise((ok, bad) => {
    const child = spawn(SERVER, ["--bind", "127.0.0.1", "--port", "0", ...extra], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    const timer = setTimeout(() => bad(new Error("server not ready in 30 s")), 30_000);
    child.stdout.on("data", (d) => {
      const m = /listening on http:\/\/[^ :]+:(\d+)/.exec(String(d));
      if (m) {
        clearTimeout(timer);
        ok(Number(m[1]));
      }
    });
    child.on("exit", (code) => bad(new Error(`server exited with ${code}`)));
  });
}

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

const PAGE = `<!doctype html><meta charset="utf-8"><title>connect bench</title>
<script type="module">
import init, { SemantestClient } from "/pkg/semantest_connect.js";
await init();
window.measure = async (options, runs) => {
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
};
window.ready = true;
</script>`;

const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };

function serveStatic() {
  return new Promise((ok) => {
    const srv = createServer((req, res) => {
      const path = req.url.split("?")[0];
      if (path === "/") {
        res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
        return;
      }
      const file = join(PKG, path.replace(/^\/pkg\//, ""));
      if (!path.startsWith("/pkg/") || !file.startsWith(PKG) || !existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" }).end(readFileSync(file));
    });
    srv.listen(0, "127.0.0.1", () => ok(srv));
  });
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, min: s[0], p50: q(0.5), p95: q(0.95), max: s[s.length - 1] };
};
const f = (x) => x.toFixed(1);

async function main() {
  if (!existsSync(SERVER)) fail(`${SERVER} not found: run ./build.sh build first`);
  const wasmFile = join(PKG, "semantest_connect_bg.wasm");
  if (!existsSync(wasmFile)) fail(`${wasmFile} not found: run ./build.sh build first`);
  const wasm = readFileSync(wasmFile);
  const web = await serveStatic();
  const origin = `http://127.0.0.1:${web.address().port}`;
  const local = await startServer(["--environment", "local", "--allow-origin", origin]);
  // The remote is a production server with an API key: the client shows it in its hello.
  const remote = await startServer(["--environment", "production", "--api-key", BENCH_KEY, "--allow-origin", origin]);
  const hung = await hungPort();
  const refused = await refusedPort();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => console.error("page error:", e.message));
    await page.goto(origin + "/");
    await page.waitForFunction(() => window.ready === true, null, { timeout: 30_000 });
    const remoteUrl = `ws://127.0.0.1:${remote}`;
    const scenarios = [
      ["local up", `http://127.0.0.1:${local}`, "local"],
      ["local refused", `http://127.0.0.1:${refused}`, "cloud"],
      ["local hung", `http://127.0.0.1:${hung.port}`, "cloud"],
    ];
    const rows = [];
    for (const [name, localUrl, want] of scenarios) {
      // One warm-up run (module compile, first connections), then the measured runs.
      await page.evaluate(([o]) => window.measure(o, 1), [{ localUrl, remoteUrl, token: BENCH_KEY }]);
      const samples = await page.evaluate(([o, n]) => window.measure(o, n), [{ localUrl, remoteUrl, token: BENCH_KEY }, RUNS]);
      const wrong = samples.filter((s) => s.mode !== want);
      if (wrong.length) fail(`${name}: ended on ${wrong[0].mode}, expected ${want}`);
      rows.push([name, want, stats(samples.map((s) => s.ms))]);
    }
    const lines = [
      "<!-- connect:start -->",
      `Measured ${new Date().toISOString().slice(0, 10)} by \`./build.sh bench\` (bench/connect.mjs): headless Chromium ${browser.version()}, `,
      `release build, loopback servers, ${RUNS} runs per scenario after one warm-up, default settings `,
      "(probe timeout 2 s, local head start 300 ms).",
      "",
      "| local server | ends on | min ms | p50 ms | p95 ms | max ms |",
      "|---|---|---:|---:|---:|---:|",
      ...rows.map(([name, want, s]) => `| ${name} | ${want} | ${f(s.min)} | ${f(s.p50)} | ${f(s.p95)} | ${f(s.max)} |`),
      "",
      `WASM module (release, opt-level s, LTO, then wasm-opt -Oz from npm binaryen 132): ${(wasm.length / 1024).toFixed(1)} KiB raw, `
        + `${(gzipSync(wasm, { level: 9 }).length / 1024).toFixed(1)} KiB gzipped.`,
      "<!-- connect:end -->",
    ];
    const section = lines.join("\n");
    console.log(section);
    if (WRITE) {
      const file = "BENCHMARKS.md";
      const old = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n";
      const next = /<!-- connect:start -->[\s\S]*<!-- connect:end -->/.test(old)
        ? old.replace(/<!-- connect:start -->[\s\S]*<!-- connect:end -->/, section)
        : `${old.trimEnd()}\n\n## Connect time in the browser\n\n${section}\n`;
      writeFileSync(file, next);
      console.log(`bench/connect: wrote ${file}`);
    }
  } finally {
    await browser.close();
    hung.close();
    web.close();
    for (const c of children) c.kill("SIGTERM");
  }
}

main().catch((e) => {
  for (const c of children) c.kill("SIGKILL");
  fail(e.stack ?? String(e));
});
