// bench/server.mjs — the server benchmarks, our server beside its peers, in one run on one machine.
//
// Starts, one at a time: semantest-server (local mode, caps raised), a Node `ws` echo server, a
// Python `websockets` echo server and a raw TCP echo server (the ceiling of this machine), and
// drives each with the same Rust load client (bench/load, `semantest-load`):
//   echo   closed loop over 100 connections          → messages/s, latency percentiles
//   rate   open loop, 10 000 msg/s over 1000 sockets  → p50/p99/p99.9/max from the scheduled time
//   ramp   15 000 idle connections held               → the server's RSS per connection
//   image  5 MiB upload + download (our server only)  → ms per round trip
// Each measurement is repeated (--repeats, default 3); the table shows the median with the
// min–max of the repeats. Loopback only; every step is bounded in time.
//
// Usage: node bench/server.mjs --server PATH --load PATH --python PATH [--repeats N] [--quick]
//                              [--write] [--json FILE]
import { spawn, execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const flag = (name) => args.includes(`--${name}`);

const SERVER = opt("server", join(ROOT, "target/release/semantest-server"));
const LOAD = opt("load", join(ROOT, "target/release/semantest-load"));
const PYTHON = opt("python", "python3");
const REPEATS = Number(opt("repeats", "3"));
const QUICK = flag("quick");
const SECONDS = QUICK ? 3 : 10;
const IDLE = QUICK ? 2000 : 15000;

const children = new Set();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => process.exit(130));
}

function fail(message) {
  console.error(`bench/server.mjs: ${message}`);
  process.exit(1);
}

/** Starts a peer and resolves with { child, port } once it prints "listening on …PORT". */
function startPeer(name, command, argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`${name}: not listening after 30 s\n${err}`)), 30_000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = /listening on (?:[a-z]+:\/\/)?(?:[^\s:]+:)?(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.stderr.on("data", (d) => {
      err = (err + d).slice(-4000);
    });
    child.on("exit", (code, signal) => {
      children.delete(child);
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before listening\n${err}`));
    });
  });
}

async function stopPeer(peer) {
  if (peer.child.exitCode !== null || peer.child.signalCode !== null) return;
  const gone = new Promise((ok) => peer.child.once("exit", ok));
  peer.child.kill("SIGTERM");
  const timer = setTimeout(() => peer.child.kill("SIGKILL"), 5000);
  await gone;
  clearTimeout(timer);
}

/** Runs the load client once; its one JSON line. */
function load(argv, limitSeconds) {
  return new Promise((resolve, reject) => {
    const child = spawn(LOAD, argv, { stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err = (err + d).slice(-4000); });
    const timer = setTimeout(() => child.kill("SIGKILL"), limitSeconds * 1000);
    child.on("exit", (code, signal) => {
      children.delete(child);
      clearTimeout(timer);
      const line = out.trim().split("\n").pop();
      if (code !== 0 || !line) {
        reject(new Error(`semantest-load ${argv.join(" ")} → ${code ?? signal}\n${err}`));
        return;
      }
      resolve(JSON.parse(line));
    });
  });
}

const PEERS = {
  semantest: { label: "semantest-server (Rust, axum)", proto: "semantest", scheme: "ws",
    start: () => startPeer("semantest-server", SERVER, ["--port", "0", "--max-connections", "100000", "--max-connections-per-ip", "100000", "--images-dir", join(ROOT, ".build/bench-images")]) },
  node: { label: "Node ws", proto: "echo", scheme: "ws",
    start: () => startPeer("node ws", process.execPath, [join(ROOT, "bench/peers/ws-echo.mjs"), "--port", "0"]) },
  python: { label: "Python websockets", proto: "echo", scheme: "ws",
    start: () => startPeer("python websockets", PYTHON, [join(ROOT, "bench/peers/ws_echo.py"), "--port", "0"]) },
  tcp: { label: "raw TCP echo (ceiling)", proto: "tcp", scheme: "tcp",
    start: () => startPeer("tcp echo", LOAD, ["tcp-echo-server", "--port", "0"]) },
};

const url = (peer, port) => (peer.scheme === "tcp" ? `tcp://127.0.0.1:${port}` : `ws://127.0.0.1:${port}/`);

/** Runs `measure(peerName, port, pid)` REPEATS times on a fresh peer each time. */
async function repeated(name, measure) {
  const runs = [];
  for (let i = 0; i < REPEATS; i++) {
    const peer = await PEERS[name].start();
    try {
      runs.push(await measure(PEERS[name], peer.port, peer.child.pid));
    } finally {
      await stopPeer(peer);
    }
  }
  return runs;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const summary = (runs, key) => {
  const xs = runs.map((r) => r[key]).filter((x) => typeof x === "number");
  return xs.length ? { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) } : null;
};
const fmt = (s, digits = 0, scale = 1) =>
  s ? `${(s.median / scale).toFixed(digits)} (${(s.min / scale).toFixed(digits)}–${(s.max / scale).toFixed(digits)})` : "—";

const results = { echo: {}, rate: {}, ramp: {}, image: null };

for (const name of ["semantest", "node", "python", "tcp"]) {
  const peer = PEERS[name];
  console.error(`==> echo: ${peer.label}, 100 connections, ${SECONDS} s × ${REPEATS}`);
  results.echo[name] = await repeated(name, (p, port) =>
    load(["echo", "--url", url(p, port), "--connections", "100", "--duration", String(SECONDS), "--warmup", "1", "--proto", p.proto], SECONDS + 60));
}
for (const name of ["semantest", "node", "python", "tcp"]) {
  const peer = PEERS[name];
  console.error(`==> rate: ${peer.label}, 10 000 msg/s over 1000 connections, ${SECONDS} s × ${REPEATS}`);
  results.rate[name] = await repeated(name, (p, port) =>
    load(["rate", "--url", url(p, port), "--connections", "1000", "--rate", "10000", "--duration", String(SECONDS), "--proto", p.proto], SECONDS + 120));
}
for (const name of ["semantest", "node", "python"]) {
  const peer = PEERS[name];
  console.error(`==> ramp: ${peer.label}, ${IDLE} idle connections × ${REPEATS}`);
  results.ramp[name] = await repeated(name, (p, port, pid) =>
    load(["ramp", "--url", url(p, port), "--connections", String(IDLE), "--pid", String(pid), "--hold", "2", "--proto", p.proto], 300));
}
console.error(`==> image: 5 MiB upload + download × ${QUICK ? 3 : 10}`);
{
  const peer = await PEERS.semantest.start();
  try {
    results.image = await load(["image", "--http", `http://127.0.0.1:${peer.port}`, "--size", String(5 * 1024 * 1024), "--runs", QUICK ? "3" : "10"], 120);
  } finally {
    await stopPeer(peer);
  }
}

// --- the table ---------------------------------------------------------------------------
const commit = (() => {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT }).toString().trim();
  } catch {
    return "unknown";
  }
})();
const machine = `${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
const echoOf = (n) => summary(results.echo[n], "msg_per_s");
const ours = echoOf("semantest")?.median ?? 0;
const ratio = (n) => (echoOf(n)?.median ? (ours / echoOf(n).median).toFixed(2) : "—");

const lines = [
  "<!-- server:start -->",
  `Measured ${new Date().toISOString().slice(0, 10)} at commit \`${commit}\` by \`./build.sh bench\` (bench/server.mjs with the`,
  `Rust load client bench/load): ${machine}, loopback; each number is the median of ${REPEATS} runs`,
  `on a fresh server, with the min–max of the runs in brackets${QUICK ? " (quick mode: short runs)" : ""}.`,
  "",
  `**Closed-loop echo, 100 connections, ${SECONDS} s** (one message in flight per connection; our server answers`,
  "`ping` with `pong`, the peers echo the text):",
  "",
  "| server | msg/s | p50 µs | p99 µs | ours ÷ this |",
  "|---|---:|---:|---:|---:|",
  ...["semantest", "node", "python", "tcp"].map((n) =>
    `| ${PEERS[n].label} | ${fmt(echoOf(n))} | ${fmt(summary(results.echo[n], "p50_us"))} | ${fmt(summary(results.echo[n], "p99_us"))} | ${n === "semantest" ? "1" : ratio(n)} |`),
  "",
  `**Open loop, 10 000 msg/s over 1000 connections, ${SECONDS} s** (latency from each message's scheduled send time):`,
  "",
  "| server | answered msg/s | p50 µs | p99 µs | p99.9 µs | max µs | p99 from the real send µs | errors |",
  "|---|---:|---:|---:|---:|---:|---:|---:|",
  ...["semantest", "node", "python", "tcp"].map((n) => {
    const r = results.rate[n];
    return `| ${PEERS[n].label} | ${fmt(summary(r, "answered_per_s"))} | ${fmt(summary(r, "p50_us"))} | ${fmt(summary(r, "p99_us"))} | ${fmt(summary(r, "p999_us"))} | ${fmt(summary(r, "max_us"))} | ${fmt(summary(r, "from_send_p99_us"))} | ${fmt(summary(r, "errors"))} |`;
  }),
  "",
  "The scheduled-time latencies include the load client's own send lag (tokio's timer has 1 ms",
  "granularity: about 1 ms at the median); \"from the real send\" leaves it out.",
  "",
  `**${IDLE} idle connections held** (our server: each one said \`hello\`; RSS from /proc before and after):`,
  "",
  "| server | held | RSS after, MiB | bytes per connection |",
  "|---|---:|---:|---:|",
  ...["semantest", "node", "python"].map((n) => {
    const r = results.ramp[n];
    return `| ${PEERS[n].label} | ${fmt(summary(r, "held"))} | ${fmt(summary(r, "rss_after_kib"), 1, 1024)} | ${fmt(summary(r, "per_connection_bytes"))} |`;
  }),
  "",
  `**5 MiB image, POST /images then GET /images/{id}** (our server, sha256 checked, written to disk with fsync):`,
  `median ${results.image?.median_total_ms ?? "—"} ms per round trip (upload ${results.image?.median_upload_ms ?? "—"} ms, download ${results.image?.median_download_ms ?? "—"} ms) over ${results.image?.runs?.length ?? "—"} runs.`,
  "",
  "Reproduce: `./build.sh bench` (everything, about 10 minutes), or after `./build.sh build` and",
  "`cargo build --release -p semantest-load`: `node bench/server.mjs --python .build/bench-venv/bin/python [--quick]`.",
  "<!-- server:end -->",
];
const section = lines.join("\n");
console.log(section);
if (opt("json")) writeFileSync(opt("json"), JSON.stringify(results, null, 2));
if (flag("write")) {
  const path = join(ROOT, "BENCHMARKS.md");
  const text = readFileSync(path, "utf8");
  const next = text.includes("<!-- server:start -->")
    ? text.replace(/<!-- server:start -->[\s\S]*<!-- server:end -->/, section)
    : `${text.trimEnd()}\n\n## The server beside its peers\n\n${section}\n`;
  writeFileSync(path, next);
  console.error("bench/server.mjs: BENCHMARKS.md updated");
}
if (!ours) fail("our server's echo produced no result");
process.exit(0);
