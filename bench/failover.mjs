// bench/failover.mjs — what the real WASM client loses, in headless Chromium, when the local
// server dies or hangs under it (issue 11): a page drives a SemantestClient (preferLocal, on a
// local semantest-server, with a production one as the remote), sends a `ping` every 20 ms for
// 8 s, and at ~2 s the bench hurts the local server:
//   kill       SIGKILL, then a new server on the same port 2 s later;
//   stop3s     SIGSTOP for 3 s, then SIGCONT (default heartbeats: 20 s ping, 10 s pong timeout);
//   stop6s     SIGSTOP for 6 s (default heartbeats): past the core's unanswered-frame check;
//   stop-fast  SIGSTOP for 3 s with fast heartbeats (pingIntervalMs 1000, pongTimeoutMs 500).
// Every frame id is counted on the wire: an answer is a server frame whose `replyTo` is that id
// (onMessage, JSON.parse). Answered once is right; more than once is "doubled"; none by the end
// of sending plus a grace period is "lost". Each answer is tagged with the server it came from
// (`client.status()` when it arrives: mode and socket url; the client delivers frames of its
// active socket only), and the bench reports the time from the fault to the first answer from
// the remote. With `--api request` it also calls `client.request(action, payload, {timeoutMs})`
// (when the wasm package has it) and counts a rejected or unsettled promise as lost.
//
// A new local server (same port) and a new client for every run; the remote (API key, message
// rate limit raised so 50 pings a second are not refused) stays up. Loopback only; every child
// is killed on exit; the whole bench stops itself after DEADLINE_MS.
//
// Usage: node bench/failover.mjs --server target/release/semantest-server --pkg pkg
//          [--runs 5] [--scenarios kill,stop3s,stop6s,stop-fast] [--api send|request]
//          [--request-timeout-ms 10000] [--note TEXT] [--commit ID] [--write] [--json FILE]
import { spawn } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { extname, join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { args, commitId as gitCommitId, opt } from "./lib/args.mjs";
import { track, within, writeSection } from "./lib/common.mjs";

const SERVER = resolve(opt("server", "target/release/semantest-server"));
const PKG = resolve(opt("pkg", "pkg"));
const RUNS = Number(opt("runs", "5"));
const API = opt("api", "send");
const REQUEST_TIMEOUT_MS = Number(opt("request-timeout-ms", "10000"));
const NOTE = opt("note", null);
const WRITE = args.includes("--write");
const JSON_FILE = opt("json", null);
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
/** The commit measured, when the package was built from another tree than this checkout's HEAD. */
const COMMIT = opt("commit", null);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One ping every INTERVAL_MS for SEND_MS; the fault FAULT_AT_MS after the first, plus a random
 * 0–INTERVAL_MS: at a random point between two sends (so a ping is in flight in some runs, as
 * with a real crash), and clear of the client's own heartbeat ping, which goes out on a grid of
 * whole seconds from the socket's open (the first send is right after it): the heartbeat just
 * before the fault has had its pong, so with fast heartbeats the client notices the hang when
 * its next ping's pong is overdue, about 1.45 s after the fault (the worst phase, not a race).
 */
const INTERVAL_MS = 20;
const SEND_MS = 8000;
const FAULT_AT_MS = 2030;
/** How long after the last send an answer may still come. */
const GRACE_MS = 5000;
/** Once every frame has its answer, how long to keep listening for a second one. */
const SETTLE_MS = 1000;
/** The whole bench must end within this (15 runs take about 3 minutes). */
const DEADLINE_MS = 8 * 60_000;

const SCENARIOS = {
  kill: {
    what: "SIGKILL, a new local server on the same port 2 s later",
    client: {},
    fault: async (local) => {
      local.kill("SIGKILL");
      await sleep(2000);
      await local.restart();
    },
  },
  stop3s: {
    what: "SIGSTOP, SIGCONT 3 s later (default heartbeats: ping 20 s, pong timeout 10 s)",
    client: {},
    fault: async (local) => {
      local.kill("SIGSTOP");
      await sleep(3000);
      local.kill("SIGCONT");
    },
  },
  stop6s: {
    what: "SIGSTOP, SIGCONT 6 s later (default heartbeats): the client must leave within 5 s of its first unanswered frame",
    client: {},
    fault: async (local) => {
      local.kill("SIGSTOP");
      await sleep(6000);
      local.kill("SIGCONT");
    },
  },
  "stop-fast": {
    what: "SIGSTOP, SIGCONT 3 s later, client pingIntervalMs 1000, pongTimeoutMs 500",
    client: { pingIntervalMs: 1000, pongTimeoutMs: 500 },
    fault: async (local) => {
      local.kill("SIGSTOP");
      await sleep(3000);
      local.kill("SIGCONT");
    },
  },
};
const CHOSEN = opt("scenarios", Object.keys(SCENARIOS).join(",")).split(",");

let browser = null;

function fail(msg) {
  console.error(`bench/failover: ${msg}`); // bench/lib/common.mjs kills the servers as it exits
  const closing = browser ? browser.close().catch(() => {}) : Promise.resolve();
  Promise.race([closing, sleep(3000)]).finally(() => process.exit(1));
}

if (!Number.isInteger(RUNS) || RUNS < 1) fail("--runs must be a positive integer");
if (!["send", "request"].includes(API)) fail("--api must be send or request");
if (!Number.isInteger(REQUEST_TIMEOUT_MS) || REQUEST_TIMEOUT_MS < 1) fail("--request-timeout-ms must be a positive integer");
for (const s of CHOSEN) if (!SCENARIOS[s]) fail(`unknown scenario '${s}' (known: ${Object.keys(SCENARIOS).join(", ")})`);
if (args.includes("--json") && !JSON_FILE) fail("--json needs a file name");

/** The remote server's API key (any 16+ characters; loopback only). */
const BENCH_KEY = "bench-key-0123456789abcdef";

/**
 * Starts a semantest-server and resolves with the child and its port, once it prints its
 * listening line. Its output is kept (the last lines) for the error message if it fails.
 */
function spawnServer(port, extra) {
  return new Promise((ok, bad) => {
    const child = track(spawn(SERVER, ["--bind", "127.0.0.1", "--port", String(port), ...extra], { stdio: ["ignore", "pipe", "pipe"] }));
    const log = [];
    const keep = (d) => {
      log.push(...String(d).split("\n").filter(Boolean));
      log.splice(0, Math.max(0, log.length - 20));
    };
    let ready = false;
    const timer = setTimeout(() => bad(new Error(`server not ready in 30 s:\n${log.join("\n")}`)), 30_000);
    child.stdout.on("data", (d) => {
      keep(d);
      const m = !ready && /listening on http:\/\/[^ :]+:(\d+)/.exec(String(d));
      if (m) {
        ready = true;
        clearTimeout(timer);
        ok({ child, port: Number(m[1]) });
      }
    });
    child.stderr.on("data", keep);
    child.on("exit", (code, signal) => {
      if (!ready) {
        clearTimeout(timer);
        bad(new Error(`server exited with ${code ?? signal}:\n${log.join("\n")}`));
      }
    });
  });
}

/** Resolves once `child` has exited (at once if it already has). */
function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once("exit", r));
}

/** A free loopback port (bound, read, released): the local server's fixed port. */
function freePort() {
  return new Promise((ok) => {
    const srv = createNetServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** The local server on one fixed port, which survives its process being killed and restarted. */
class LocalServer {
  constructor(port, extra) {
    this.port = port;
    this.extra = extra;
    this.child = null;
  }
  async restart() {
    // The port may be held for a moment after a kill: retry the bind for up to 2 s.
    for (let attempt = 0; ; attempt++) {
      try {
        this.child = (await spawnServer(this.port, this.extra)).child;
        return;
      } catch (e) {
        if (attempt >= 20) throw e;
        await sleep(100);
      }
    }
  }
  kill(signal) {
    this.child?.kill(signal);
  }
  async stop() {
    if (!this.child) return;
    this.child.kill("SIGKILL");
    await exited(this.child);
    this.child = null;
  }
}

// The page: one client per run. start() connects, waits for `local`, then sends a ping every
// INTERVAL_MS for SEND_MS and resolves with the epoch time of the first send; finish() waits
// for the answers (or the grace period) and returns every record.
const PAGE = `<!doctype html><meta charset="utf-8"><title>failover bench</title>
<script type="module">
import init, { SemantestClient } from "/pkg/semantest_connect.js";
await init();
let run = null;
const where = (client) => { const s = client.status(); return { mode: s.mode, url: s.url }; };
globalThis.hasRequest = typeof SemantestClient.prototype.request === "function";
globalThis.start = async ({ options, intervalMs, sendMs, api, requestTimeoutMs }) => {
  const client = new SemantestClient(options);
  const r = run = { client, frames: [], byId: new Map(), transitions: [], strays: [], welcomes: [], replies: [], sending: null };
  client.onMessage((text) => {
    const at = Date.now();
    let frame;
    try { frame = JSON.parse(text); } catch { r.strays.push({ at, text: text.slice(0, 200) }); return; }
    if (frame.type === "welcome") r.welcomes.push({ at, environment: frame.payload?.server?.environment, ...where(client) });
    if (frame.replyTo == null) return;
    // Every reply on the wire (with request() the bench never learns the frame ids, so these
    // are what doubled answers and the first remote answer are counted from).
    const answer = { at, replyTo: frame.replyTo, type: frame.type, code: frame.payload?.code, ...where(client) };
    r.replies.push(answer);
    const f = r.byId.get(frame.replyTo);
    if (f) f.answers.push(answer);
    else if (api !== "request") r.strays.push({ at, text: text.slice(0, 200) });
  });
  const local = new Promise((ok, bad) => {
    const timer = setTimeout(() => bad(new Error("not on local within 10 s: " + JSON.stringify(client.status()))), 10000);
    // One status callback (a second onStatus would replace it): every change, and the wait.
    client.onStatus((s) => {
      r.transitions.push({ at: Date.now(), mode: s.mode, url: s.url, reason: s.reason, queued: s.queued });
      if (s.mode === "local") { clearTimeout(timer); ok(); }
    });
  });
  client.connect();
  await local;
  const t0 = Date.now();
  r.sending = (async () => {
    for (let i = 0; i * intervalMs < sendMs; i++) {
      const due = t0 + i * intervalMs;
      if (due > Date.now()) await new Promise((ok) => setTimeout(ok, due - Date.now()));
      const sentAt = Date.now();
      const f = { i, id: null, sentAt, sentMode: client.status().mode, answers: [], refused: null, settled: null };
      r.frames.push(f);
      const payload = { t: sentAt };
      try {
        if (api === "request") {
          const p = client.request("ping", payload, { timeoutMs: requestTimeoutMs });
          p.then((v) => { f.settled = { at: Date.now(), ok: true, value: typeof v === "string" ? v.slice(0, 200) : JSON.stringify(v)?.slice(0, 200) }; },
                 (e) => { f.settled = { at: Date.now(), ok: false, error: String(e?.message ?? e).slice(0, 200) }; });
        } else {
          f.id = client.send("ping", payload);
          r.byId.set(f.id, f);
        }
      } catch (e) {
        f.refused = String(e?.message ?? e);
      }
    }
  })();
  return t0;
};
globalThis.finish = async ({ graceMs, settleMs, api }) => {
  const r = run;
  await r.sending;
  const end = Date.now() + graceMs;
  const done = (f) => f.refused || (api === "request" ? f.settled : f.answers.length > 0);
  while (Date.now() < end && !r.frames.every(done)) await new Promise((ok) => setTimeout(ok, 20));
  if (r.frames.every(done)) await new Promise((ok) => setTimeout(ok, settleMs));
  const finalStatus = r.client.status();
  r.client.onMessage(null);
  r.client.onStatus(null);
  r.client.close();
  r.client.free();
  run = null;
  return { frames: r.frames, replies: r.replies, transitions: r.transitions, strays: r.strays, welcomes: r.welcomes, finalStatus };
};
globalThis.pageReady = true;
</script>`;

const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };

function serveStatic() {
  return new Promise((ok) => {
    const srv = createServer((req, res) => {
      const path = req.url.split("?")[0];
      const send = (type, body) => res.writeHead(200, { "content-type": type, "cache-control": "no-store" }).end(body);
      if (path === "/") return send("text/html", PAGE);
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

/** One run's counts from the page's records; `faultAt` is the epoch ms of the fault. */
function tally(result, faultAt) {
  const { frames } = result;
  // Answers to the bench's frames: not the welcome (the answer to the client's own hello), and
  // with send() only those naming a frame the bench sent.
  const sentIds = new Set(frames.map((f) => f.id).filter(Boolean));
  const replies = result.replies.filter((a) => a.type !== "welcome" && (API === "request" || sentIds.has(a.replyTo)));
  const rel = (t) => t - faultAt;
  const out = { sent: frames.length, answered: 0, lost: 0, doubled: 0, refused: 0, errors: 0, rejected: 0, lostFrames: [], doubledFrames: [] };
  for (const f of frames) {
    const pongs = f.answers.filter((a) => a.type === "pong");
    out.errors += f.answers.length - pongs.length;
    if (f.refused) out.refused++;
    const lost = API === "request" ? !f.settled?.ok : pongs.length === 0;
    if (API === "request" && f.settled && !f.settled.ok) out.rejected++;
    if (lost) {
      out.lost++;
      out.lostFrames.push({ i: f.i, id: f.id, sentMs: rel(f.sentAt), sentMode: f.sentMode, refused: f.refused, settled: f.settled });
    } else {
      out.answered++;
    }
    if (API === "send" && pongs.length > 1) {
      out.doubled++;
      out.doubledFrames.push({ i: f.i, id: f.id, sentMs: rel(f.sentAt), answers: pongs.map((a) => ({ ms: rel(a.at), mode: a.mode })) });
    }
  }
  if (API === "request") {
    const count = new Map();
    for (const a of replies) if (a.type === "pong") count.set(a.replyTo, (count.get(a.replyTo) ?? 0) + 1);
    for (const [id, n] of count) if (n > 1) out.doubledFrames.push({ id, answers: n });
    out.doubled = out.doubledFrames.length;
    out.errors = replies.filter((a) => a.type !== "pong").length;
  }
  out.errorFrames = replies.filter((a) => a.type !== "pong").map((a) => ({ ms: rel(a.at), replyTo: a.replyTo, type: a.type, code: a.code, mode: a.mode }));
  const after = replies.filter((a) => a.at >= faultAt).sort((a, b) => a.at - b.at);
  const firstRemote = after.find((a) => a.mode === "cloud");
  out.firstRemoteMs = firstRemote ? rel(firstRemote.at) : null;
  out.firstAnswerMs = after.length ? rel(after[0].at) : null;
  // The slowest answer (send → first answer), over the answered frames.
  out.slowestMs = API === "request"
    ? Math.max(0, ...frames.filter((f) => f.settled?.ok).map((f) => f.settled.at - f.sentAt))
    : Math.max(0, ...frames.filter((f) => f.answers.length).map((f) => f.answers[0].at - f.sentAt));
  out.byServer = {};
  for (const a of replies) out.byServer[a.mode] = (out.byServer[a.mode] ?? 0) + 1;
  // Status changes from the fault on, relative to it.
  out.transitions = result.transitions
    .filter((t) => t.at >= faultAt - 50)
    .map((t) => ({ ms: rel(t.at), mode: t.mode, reason: t.reason }))
    .filter((t, i, all) => i === 0 || t.mode !== all[i - 1].mode || t.reason !== all[i - 1].reason);
  out.strays = result.strays.length;
  return out;
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const ms = (x) => (x == null ? "–" : String(Math.round(x)));

async function main() {
  if (!existsSync(SERVER)) fail(`${SERVER} not found: run ./build.sh build first`);
  if (!existsSync(join(PKG, "semantest_connect_bg.wasm"))) fail(`${PKG}/semantest_connect_bg.wasm not found: run ./build.sh build first`);
  const web = await serveStatic();
  const origin = `http://127.0.0.1:${web.address().port}`;
  const local = new LocalServer(await freePort(), ["--environment", "local", "--allow-origin", origin]);
  // The remote: production with an API key. Its message rate limit (20 a second per
  // connection by default) is raised: the bench sends 50 a second. Its HTTP limit too (each
  // run's WebSocket handshake counts).
  const remote = await spawnServer(0, [
    "--environment", "production", "--api-key", BENCH_KEY, "--allow-origin", origin,
    "--messages-per-second", "100000", "--http-requests-per-minute", "1000000",
  ]);
  const remoteUrl = `ws://127.0.0.1:${remote.port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const results = [];
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => console.error("page error:", e.message));
    // The probes' refused and hung fetches log "Failed to load resource": expected, not shown.
    page.on("console", (m) => {
      if ((m.type() === "error" || m.type() === "warning") && !m.text().startsWith("Failed to load resource")) console.error(`page ${m.type()}: ${m.text()}`);
    });
    await page.goto(origin + "/");
    await page.waitForFunction(() => globalThis.pageReady === true, null, { timeout: 30_000 });
    if (API === "request" && !(await page.evaluate(() => globalThis.hasRequest))) {
      fail(`--api request: this wasm package (${PKG}) has no SemantestClient.request`);
    }
    for (const name of CHOSEN) {
      const scenario = SCENARIOS[name];
      for (let run = 0; run < RUNS; run++) {
        await local.stop();
        await local.restart();
        const options = {
          preferLocal: true,
          localUrl: `http://127.0.0.1:${local.port}`,
          remoteUrl,
          token: BENCH_KEY,
          ...scenario.client,
        };
        const t0 = await within(15_000, `${name} run ${run + 1}: connect`, page.evaluate((a) => globalThis.start(a), {
          options, intervalMs: INTERVAL_MS, sendMs: SEND_MS, api: API, requestTimeoutMs: REQUEST_TIMEOUT_MS,
        }));
        await sleep(Math.max(0, t0 + FAULT_AT_MS + Math.random() * INTERVAL_MS - Date.now()));
        const faultAt = Date.now();
        await scenario.fault(local);
        const result = await within(SEND_MS + GRACE_MS + REQUEST_TIMEOUT_MS + 10_000, `${name} run ${run + 1}`,
          page.evaluate((a) => globalThis.finish(a), { graceMs: GRACE_MS, settleMs: SETTLE_MS, api: API }));
        const t = tally(result, faultAt);
        results.push({ scenario: name, run: run + 1, faultMs: faultAt - t0, ...t });
        const path = t.transitions.map((x) => `${ms(x.ms)} ${x.mode}`).join(" → ");
        console.error(`bench/failover: ${name} ${run + 1}/${RUNS}: sent ${t.sent}, lost ${t.lost}, doubled ${t.doubled}, `
          + `first remote answer ${ms(t.firstRemoteMs)} ms; status after the fault (ms): ${path}`);
        if (t.lost) {
          const [a, b] = [t.lostFrames[0], t.lostFrames.at(-1)];
          console.error(`bench/failover:   lost frames sent ${ms(a.sentMs)} … ${ms(b.sentMs)} ms after the fault (while ${[...new Set(t.lostFrames.map((f) => f.sentMode))].join("/")})`);
        }
        if (t.errors) console.error(`bench/failover:   ${t.errors} answers were not pongs: ${JSON.stringify(t.errorFrames.slice(0, 3))}`);
      }
    }
  } finally {
    await browser.close().catch(() => {});
    web.close();
    await local.stop();
    remote.child.kill("SIGKILL");
  }

  const rows = CHOSEN.map((name) => {
    const rs = results.filter((r) => r.scenario === name);
    const remoteMs = rs.map((r) => r.firstRemoteMs).filter((x) => x != null);
    const sum = (k) => rs.reduce((n, r) => n + r[k], 0);
    const lostRuns = rs.filter((r) => r.lost > 0).length;
    const perRun = rs.map((r) => r.lost).join(", ");
    return {
      name, runs: rs.length, sent: sum("sent"), lost: sum("lost"), doubled: sum("doubled"), lostRuns, perRun,
      slowest: Math.max(...rs.map((r) => r.slowestMs)),
      remoteRuns: remoteMs.length,
      p50: remoteMs.length ? pct(remoteMs, 0.5) : null,
      max: remoteMs.length ? Math.max(...remoteMs) : null,
    };
  });
  const date = new Date().toISOString().slice(0, 10);
  const api = API === "request" ? "`client.request(\"ping\", {t}, {timeoutMs: " + REQUEST_TIMEOUT_MS + "})` (a rejected or unsettled promise counts as lost)" : "`client.send(\"ping\", {t})`";
  const lines = [
    "<!-- failover:start -->",
    ...(NOTE ? [`**${NOTE}**`, ""] : []),
    `Measured ${date} at commit \`${commitId()}\` by \`node bench/failover.mjs\` on ${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, `
      + `${Math.round(totalmem() / 2 ** 30)} GiB: headless Chromium ${browser.version()}, release build, two semantest-servers on loopback `
      + "(local; production with an API key and its message rate limit raised). A page creates a client (`preferLocal`), waits for "
      + `\`local\`, then sends ${api} every ${INTERVAL_MS} ms for ${SEND_MS / 1000} s; the fault hits the local server ${FAULT_AT_MS} ms + a random 0–${INTERVAL_MS} ms in `
      + "(between two sends; after the pong of the client's own heartbeat ping). "
      + `A frame is answered when a server frame with its id as \`replyTo\` arrives; **lost**: no answer ${GRACE_MS / 1000} s after the last send; `
      + "**doubled**: more than one answer. The answering server is the client's status (mode) when the answer arrives. "
      + "Slowest answer: the longest send → answer time of any answered frame. "
      + `${RUNS} runs per scenario, a new local server and a new client each.`,
    "",
    ...CHOSEN.map((n) => `- **${n}**: ${SCENARIOS[n].what}.`),
    "",
    "| scenario | runs | sent | lost | lost per run | doubled | runs answered by the remote | fault → first remote answer p50 ms | max ms | slowest answer ms |",
    "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ...rows.map((r) => `| ${r.name} | ${r.runs} | ${r.sent} | ${r.lost} | ${r.perRun} | ${r.doubled} | ${r.remoteRuns} | ${ms(r.p50)} | ${ms(r.max)} | ${ms(r.slowest)} |`),
    "",
    "Reproduce: `./build.sh bench`, or after `./build.sh build`: "
      + "`node bench/failover.mjs --server target/release/semantest-server --pkg pkg [--runs 5] [--api request] [--write]`.",
    "<!-- failover:end -->",
  ];
  const section = lines.join("\n");
  console.log(section);
  if (JSON_FILE) {
    writeFileSync(JSON_FILE, `${JSON.stringify({ date, api: API, intervalMs: INTERVAL_MS, sendMs: SEND_MS, faultAtMs: FAULT_AT_MS, graceMs: GRACE_MS, rows, runs: results }, null, 2)}\n`);
    console.error(`bench/failover: wrote ${JSON_FILE}`);
  }
  if (WRITE) console.error(`bench/failover: wrote ${writeSection("failover", section, "Failover when the local server dies or hangs (issue 11)")}`);
}

setTimeout(() => fail(`not done after ${DEADLINE_MS / 60_000} min`), DEADLINE_MS).unref();
main().then(() => process.exit(0), (e) => fail(e.stack ?? String(e)));

/** The short commit id of the tree measured, or "unknown" outside a git checkout. */
function commitId() {
  return COMMIT || gitCommitId();
}
