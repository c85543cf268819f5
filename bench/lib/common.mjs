// bench/lib/common.mjs — what the benchmarks share: the processes they start, killed however
// they end; a semantest-server on a free loopback port; the end-to-end tests' bounded waits
// (tests/e2e/lib/wait.mjs); the order statistics they report; and their BENCHMARKS.md sections.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export { sleep, waitFor, within } from "../../tests/e2e/lib/wait.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** Every process a bench started and has not seen end, killed however the bench ends. */
const children = new Set();

function killAll() {
  for (const c of children) {
    try {
      c.kill("SIGKILL"); // also ends a stopped (SIGSTOP) process
    } catch {
      // already gone
    }
  }
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    killAll();
    process.exit(1);
  });
}

/** Kills `child` when the bench ends, unless it ended first; returns it. */
export function track(child) {
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}

/**
 * Puts `section` (from `<!-- name:start -->` to `<!-- name:end -->`) into BENCHMARKS.md in place
 * of the one there, or appends it under `## heading` when there is none; returns the file's path.
 */
export function writeSection(name, section, heading) {
  const file = join(ROOT, "BENCHMARKS.md");
  const old = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n";
  const marked = new RegExp(`<!-- ${name}:start -->[\\s\\S]*<!-- ${name}:end -->`);
  writeFileSync(file, marked.test(old) ? old.replace(marked, () => section) : `${old.trimEnd()}\n\n## ${heading}\n\n${section}\n`);
  return file;
}

/**
 * Starts `server` (a semantest-server binary) on 127.0.0.1 and a free port with `extra`
 * arguments; resolves, once it listens, with { port, close(), metric(name) } (close stops it as
 * Ctrl-C would; metric reads one value of its /metrics, NaN when it is not there).
 */
export function startServer(server, extra) {
  return new Promise((ok, bad) => {
    const child = track(spawn(server, ["--bind", "127.0.0.1", "--port", "0", ...extra], { stdio: ["ignore", "pipe", "inherit"] }));
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
    child.on("exit", (code) => bad(new Error(`server exited with ${code}`)));
  });
}

/** min, p50, p95 and max of `xs` (nearest rank), and their count. */
export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, min: s[0], p50: q(0.5), p95: q(0.95), max: s[s.length - 1] };
}

