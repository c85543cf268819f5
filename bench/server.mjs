// bench/server.mjs — the server benchmarks, our server beside its peers, in one run on one machine.
//
// Starts, one at a time: semantest-server (local mode, caps raised), a Node `ws` echo server, a
// Python `websockets` echo server and a raw TCP echo server (the ceiling of this machine), and
// drives each with the same Rust load client (bench/load, `semantest-load`):
//   echo   closed loop over 100 connections          → messages/s, latency percentiles
//   rate   open loop, 10 000 msg/s over 1000 sockets  → p50/p99/p99.9/max from the scheduled time
//   ramp   15 000 idle connections held               → the server's RSS per connection
//   image  5 MiB upload + download (our server only)  → ms per round trip
//   burst  5000 WebSocket handshakes started at once on a production server (ours only), from
//          5000 source addresses (127.0.0.2 on), from one, and against a global cap of 1000
//          → served / 503 + Retry-After / closed unanswered / refused at TCP / half-open, and
//          the connect → answer latencies
// Each measurement is repeated (--repeats, default 3); the table shows the median with the
// min–max of the repeats. Loopback only; every step is bounded in time.
//
// Usage: node bench/server.mjs --server PATH --load PATH --python PATH [--repeats N] [--quick]
//                              [--burst-only] [--write] [--json FILE]
// --burst-only runs (and with --write rewrites) the burst section alone.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { commitId, flag, opt } from "./lib/args.mjs";
import { track, writeSection } from "./lib/common.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

const SERVER = opt("server", join(ROOT, "target/release/semantest-server"));
const LOAD = opt("load", join(ROOT, "target/release/semantest-load"));
const PYTHON = opt("python", "python3");
const REPEATS = Number(opt("repeats", "3"));
const QUICK = flag("quick");
const SECONDS = QUICK ? 3 : 10;
const IDLE = QUICK ? 2000 : 15000;
const BURST_ONLY = flag("burst-only");
const BURST = 5000;
const BENCH_KEY = "bench-burst-key-0123456789";

function fail(message) {
  console.error(`bench/server.mjs: ${message}`);
  process.exit(1);
}

/** Starts a peer and resolves with { child, port } once it prints "listening on …PORT". */
function startPeer(name, command, argv) {
  return new Promise((resolve, reject) => {
    const child = track(spawn(command, argv, { stdio: ["ignore", "pipe", "pipe"] }));
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
    const child = track(spawn(LOAD, argv, { stdio: ["ignore", "pipe", "pipe"] }));
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err = (err + d).slice(-4000); });
    const timer = setTimeout(() => child.kill("SIGKILL"), limitSeconds * 1000);
    child.on("exit", (code, signal) => {
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
  const xs = (runs ?? []).map((r) => r[key]).filter((x) => typeof x === "number");
  return xs.length ? { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) } : null;
};
const fmt = (s, digits = 0, scale = 1) =>
  s ? `${(s.median / scale).toFixed(digits)} (${(s.min / scale).toFixed(digits)}–${(s.max / scale).toFixed(digits)})` : "—";

const results = { echo: {}, rate: {}, ramp: {}, image: null, burst: {} };

if (!BURST_ONLY) {
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
}

// --- the burst: production servers, ours only --------------------------------------------
/** A production server (an API key, identities in memory) with `extra` flags. */
const production = (extra) => () => startPeer("semantest-server (production)", SERVER, [
  "--port", "0", "--environment", "production", "--api-key", BENCH_KEY, "--identity-file", "",
  "--images-dir", join(ROOT, ".build/bench-images"), ...extra]);
const BURSTS = {
  storm: { label: `${BURST} clients, one address each (a reconnect storm)`, sources: BURST, start: production([]) },
  one: { label: `${BURST} connects from one address (cap 64 per address)`, sources: 1, start: production([]) },
  global: { label: `${BURST} clients, a global cap of 1000`, sources: BURST, start: production(["--max-connections", "1000"]) },
};
for (const [name, b] of Object.entries(BURSTS)) {
  console.error(`==> burst: ${b.label} × ${REPEATS}`);
  results.burst[name] = [];
  for (let i = 0; i < REPEATS; i++) {
    const peer = await b.start();
    try {
      // Bounded by the client itself (connect 10 s + answer 10 s + welcome 10 s + 5 s).
      const r = await load(["burst", "--url", `ws://127.0.0.1:${peer.port}/`, "--connections", String(BURST),
        "--sources", String(b.sources), "--token", BENCH_KEY], 90);
      results.burst[name].push({ ...r, served_p50_us: r.served_latency.p50_us, served_p99_us: r.served_latency.p99_us,
        refused_p50_us: r.refused_latency.p50_us, refused_p99_us: r.refused_latency.p99_us });
    } finally {
      await stopPeer(peer);
    }
  }
}

// --- the table ---------------------------------------------------------------------------
const commit = commitId();
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
  "Reproduce: `./build.sh bench` (everything, about 17 minutes), or after `./build.sh build` and",
  "`cargo build --release -p semantest-load`: `node bench/server.mjs --python .build/bench-venv/bin/python [--quick]`.",
  "<!-- server:end -->",
];
const kernel = (name) => {
  try {
    return readFileSync(`/proc/sys/net/${name}`, "utf8").trim();
  } catch {
    return "?";
  }
};
const ms = (s) => (s ? { median: s.median / 1000, min: s.min / 1000, max: s.max / 1000 } : null);
const burstLines = [
  "<!-- burst:start -->",
  `Measured ${new Date().toISOString().slice(0, 10)} at commit \`${commit}\` by ${BURST_ONLY ? "`node bench/server.mjs --burst-only`" : "`./build.sh bench` (bench/server.mjs)"} with \`semantest-load burst\`:`,
  `${machine}, loopback; kernel: net.core.somaxconn ${kernel("core/somaxconn")}, tcp_max_syn_backlog ${kernel("ipv4/tcp_max_syn_backlog")},`,
  `tcp_syncookies ${kernel("ipv4/tcp_syncookies")}, tcp_abort_on_overflow ${kernel("ipv4/tcp_abort_on_overflow")}. A production server (API key, default limits unless`,
  `said) on each run; the client creates ${BURST} sockets (bound to their source addresses), then all of them connect`,
  "at once, each sends its WebSocket handshake with the key and, once served, a `hello` (**welcomed**: answered, median);",
  `served sockets stay open to the end. Median of ${REPEATS} runs, min–max in brackets. **closed**: connected, then closed with no answer;`,
  "**TCP**: connect refused or reset; **half-open**: connected, and no answer and no close within 10 s; **SYN retried**: the",
  "connect took ≥ 1 s (a SYN dropped on a full accept queue); **stalled**: connected, then ≥ 1 s more before the answer",
  "(the server did not have the connection: its last ACK was dropped). Latencies from the connect's start, in ms.",
  "",
  "| burst | served | welcomed | 503 + Retry-After | closed | TCP | half-open | SYN retried | stalled | → 101 p50 | → 101 p99 | → 503 p50 | → 503 p99 | whole burst, s |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ...Object.entries(BURSTS).map(([n, b]) => {
    const r = results.burst[n] ?? [];
    const f = (key, digits = 0) => fmt(summary(r, key), digits);
    return `| ${b.label} | ${f("served")} | ${summary(r, "welcomed")?.median ?? "—"} | ${f("refused_503")} | ${f("closed_unanswered")} | ${f("tcp_refused")} | ${f("half_open")} | ${f("slow_connects")} | ${f("stalled_after_connect")} | ${fmt(ms(summary(r, "served_p50_us")), 1)} | ${fmt(ms(summary(r, "served_p99_us")), 1)} | ${fmt(ms(summary(r, "refused_p50_us")), 1)} | ${fmt(ms(summary(r, "refused_p99_us")), 1)} | ${f("seconds", 2)} |`;
  }),
  "",
  "Reproduce: `./build.sh bench`, or after `./build.sh build` and `cargo build --release -p semantest-load`:",
  "`node bench/server.mjs --burst-only [--repeats 3] [--write]`.",
  "<!-- burst:end -->",
];
const burstSection = burstLines.join("\n");
const section = lines.join("\n");
console.log(BURST_ONLY ? burstSection : `${section}\n\n${burstSection}`);
if (opt("json")) writeFileSync(opt("json"), JSON.stringify(results, null, 2));
if (flag("write")) {
  if (!BURST_ONLY) writeSection("server", section, "The server beside its peers");
  writeSection("burst", burstSection, `A burst of ${BURST} connects to a production server (issue 14)`);
  console.error("bench/server.mjs: BENCHMARKS.md updated");
}
if (!BURST_ONLY && !ours) fail("our server's echo produced no result");
if (!Object.values(results.burst).some((runs) => runs.length)) fail("the burst produced no result");
process.exit(0);
