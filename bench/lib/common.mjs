// bench/lib/common.mjs — what the browser benchmarks share: a semantest-server on a free
// loopback port, killed when the script exits however it ends; a bound on any wait; and the
// order statistics they report.
import { spawn } from "node:child_process";

const children = new Set();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/**
 * Starts `server` (a semantest-server binary) on 127.0.0.1 and a free port with `extra`
 * arguments; resolves, once it listens, with { port, close() } (close stops it as Ctrl-C would).
 */
export function startServer(server, extra) {
  return new Promise((ok, bad) => {
    const child = spawn(server, ["--bind", "127.0.0.1", "--port", "0", ...extra], { stdio: ["ignore", "pipe", "inherit"] });
    children.add(child);
    const timer = setTimeout(() => bad(new Error("server not ready in 30 s")), 30_000);
    child.stdout.on("data", (d) => {
      const m = /listening on http:\/\/[^ :]+:(\d+)/.exec(String(d));
      if (m) {
        clearTimeout(timer);
        ok({ port: Number(m[1]), close: () => child.kill("SIGTERM") });
      }
    });
    child.on("exit", (code) => {
      children.delete(child);
      bad(new Error(`server exited with ${code}`));
    });
  });
}

/** min, p50, p95 and max of `xs` (nearest rank), and their count. */
export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, min: s[0], p50: q(0.5), p95: q(0.95), max: s[s.length - 1] };
}

/** `promise`, or a rejection saying what was being waited for when `ms` pass first. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, bad) => { timer = setTimeout(() => bad(new Error(`${what}: not done within ${ms / 1000} s`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
