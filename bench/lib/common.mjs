// bench/lib/common.mjs — what the browser benchmarks share: a semantest-server on a free
// loopback port, killed when the script exits; the end-to-end tests' bounded waits
// (tests/e2e/lib/wait.mjs); and the order statistics they report.
import { spawn } from "node:child_process";

export { sleep, waitFor, within } from "../../tests/e2e/lib/wait.mjs";

const children = new Set();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/**
 * Starts `server` (a semantest-server binary) on 127.0.0.1 and a free port with `extra`
 * arguments; resolves, once it listens, with { port, close(), metric(name) } (close stops it as
 * Ctrl-C would; metric reads one value of its /metrics, NaN when it is not there).
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
        const port = Number(m[1]);
        const metric = async (name) => {
          const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
          const line = body.split("\n").find((l) => l.startsWith(`${name} `));
          return line ? Number(line.split(/\s+/).at(-1)) : NaN;
        };
        ok({ port, close: () => child.kill("SIGTERM"), metric });
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

