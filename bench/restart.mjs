// bench/restart.mjs — the extension's own cold start, as its users meet it: Chrome has stopped
// the idle service worker (it does so after 30 s without events), an event wakes it, and the
// new worker starts, loads the .wasm, reads its settings and key, connects, and publishes its
// first local status to chrome.storage.session, where the ChatGPT indicator and the popup read it.
//
// It loads the unpacked extension (dist/extension, as built) into headless Chromium beside a
// local semantest-server, then RUNS times: stops the worker over DevTools (as Chrome does when
// it is idle), sends the `hello` a ChatGPT tab sends as it loads, and times, in an extension
// page, until chrome.storage.session holds the new worker's local status. Prints a Markdown
// table; with --write it replaces the "restart" section of BENCHMARKS.md; with --json FILE it
// writes every sample too.
//
// Usage: node bench/restart.mjs --server target/release/semantest-server --extension dist/extension
//          [--runs 30] [--write] [--json FILE]
/* global chrome */
import { cpus, totalmem, tmpdir } from "node:os";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { commitId, flag, opt } from "./lib/args.mjs";
import { sleep, startServer, stats, waitFor, within, writeSection } from "./lib/common.mjs";

const SERVER = resolve(opt("server", "target/release/semantest-server"));
const EXTENSION = resolve(opt("extension", "dist/extension"));
const RUNS = Number(opt("runs", "30"));
const WRITE = flag("write");
const JSON_FILE = opt("json", null);
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
/** The whole bench must end within this (it takes about half a minute). */
const DEADLINE_MS = 3 * 60_000;

function fail(msg) {
  console.error(`bench/restart: ${msg}`);
  process.exit(1);
}

if (!Number.isInteger(RUNS) || RUNS < 1) fail("--runs must be a positive integer");
if (flag("json") && !JSON_FILE) fail("--json needs a file name");
if (!existsSync(SERVER)) fail(`${SERVER} not found: run ./build.sh build first`);
if (!existsSync(join(EXTENSION, "manifest.json"))) fail(`${EXTENSION} holds no extension: run ./build.sh build first`);
const extensionId = readFileSync(join(EXTENSION, "EXTENSION_ID"), "utf8").trim();

// In the extension page: wake the worker as a ChatGPT tab does, and time until the new worker's
// local status is in chrome.storage.session. The worker first publishes "connecting" (a status
// left by the stopped worker must not look current), so the first "local" after the message is
// the new worker's.
const WAKE = async () => {
  const seen = new Promise((ok) => {
    const listener = (changes, area) => {
      const mode = area === "session" ? changes.status?.newValue?.mode : undefined;
      if (mode === "local" || mode === "cloud") {
        chrome.storage.onChanged.removeListener(listener);
        ok({ mode, at: performance.now() });
      }
    };
    chrome.storage.onChanged.addListener(listener);
  });
  const t0 = performance.now();
  const replied = chrome.runtime.sendMessage({ type: "hello" }).then(() => performance.now());
  const [status, replyAt] = await Promise.all([seen, replied]);
  return { mode: status.mode, ms: status.at - t0, replyMs: replyAt - t0 };
};

async function main() {
  const deadline = setTimeout(() => fail(`not done within ${DEADLINE_MS / 1000} s`), DEADLINE_MS);
  const local = await startServer(SERVER, ["--environment", "local"]);
  const profile = mkdtempSync(join(tmpdir(), "semantest-restart-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    ignoreDefaultArgs: ["--disable-extensions"],
    args: [
      `--disable-extensions-except=${EXTENSION}`,
      `--load-extension=${EXTENSION}`,
      "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    ],
  });
  try {
    const origin = `chrome-extension://${extensionId}`;
    const ours = (w) => w.url().startsWith(`${origin}/`);
    const worker = context.serviceWorkers().find(ours) ?? (await context.waitForEvent("serviceworker", { predicate: ours, timeout: 20_000 }));
    await within(10_000, "the worker's chrome.storage", worker.evaluate(() => Boolean(globalThis.chrome?.storage?.sync)));
    await worker.evaluate((url) => chrome.storage.sync.set({ settings: { localUrl: url } }), `http://127.0.0.1:${local.port}`);
    const page = await context.newPage();
    await page.goto(`${origin}/popup.html`);
    const status = () => page.evaluate(async () => (await chrome.storage.session.get("status")).status?.mode);
    await waitFor("the extension on the local server", async () => (await status()) === "local", { timeout: 10_000, interval: 50 });

    const cdp = await context.newCDPSession(page);
    let running = null;
    cdp.on("ServiceWorker.workerVersionUpdated", ({ versions }) => {
      for (const v of versions) if (v.scriptURL.startsWith(origin)) running = v.runningStatus;
    });
    await cdp.send("ServiceWorker.enable");
    async function stopWorker() {
      await cdp.send("ServiceWorker.stopAllWorkers");
      await waitFor("the worker stopped", () => running === "stopped", { timeout: 5000, interval: 10 });
      await waitFor("the local server sees its socket closed", async () => (await local.metric("semantest_connections_open")) === 0, { timeout: 5000, interval: 10 });
      // Chrome stops an idle worker long before the next event comes; without a pause the
      // wake would meet the stop's own teardown (2–3 ms slower restarts).
      await sleep(50);
    }

    const samples = [];
    for (let i = 0; i <= RUNS; i++) {
      await stopWorker();
      const r = await within(10_000, `restart ${i}`, page.evaluate(WAKE));
      if (r.mode !== "local") throw new Error(`restart ${i}: ended on ${r.mode}, expected local`);
      if (i > 0) samples.push(r); // the first restart pays one-off costs
    }
    const s = stats(samples.map((r) => r.ms));
    const reply = stats(samples.map((r) => r.replyMs));
    const f = (x) => x.toFixed(1);
    console.error(`bench/restart: worker restart to local status: p50 ${f(s.p50)} ms (hello answered ${f(reply.p50)} ms)`);

    const date = new Date().toISOString().slice(0, 10);
    const lines = [
      "<!-- restart:start -->",
      `Measured ${date} at commit \`${commitId()}\` by \`./build.sh bench\` (bench/restart.mjs) on ${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB: headless Chromium ${context.browser()?.version() ?? ""}, `,
      `the unpacked extension as built, a local semantest-server (release) on loopback, ${RUNS} restarts after one warm-up. `,
      "Each: the worker stopped over DevTools (as Chrome stops an idle one), the `hello` a ChatGPT tab sends as it loads, "
        + "and the time, in an extension page, until chrome.storage.session holds the new worker's `local` status (what the indicator reads).",
      "",
      "| extension worker restart | min ms | p50 ms | p95 ms | max ms |",
      "|---|---:|---:|---:|---:|",
      `| \`hello\` → local status in chrome.storage.session | ${f(s.min)} | ${f(s.p50)} | ${f(s.p95)} | ${f(s.max)} |`,
      `| \`hello\` → its reply (the client made and connecting) | ${f(reply.min)} | ${f(reply.p50)} | ${f(reply.p95)} | ${f(reply.max)} |`,
      "<!-- restart:end -->",
    ];
    console.log(lines.slice(1, -1).join("\n"));
    if (WRITE) console.error(`bench/restart: wrote ${writeSection("restart", lines.join("\n"), "The extension's worker restart")}`);
    if (JSON_FILE) writeFileSync(JSON_FILE, JSON.stringify({ runs: RUNS, restart: s, reply, samples }, null, 2));
  } finally {
    clearTimeout(deadline);
    await context.close();
    local.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => fail(e.stack ?? String(e)));
