// bench/lib/args.mjs — the benchmark scripts' command line and the commit they measure.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** The script's arguments. */
export const args = process.argv.slice(2);

/** The value after `--name`, or `fallback` when the option is not given. */
export const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};

/** Whether `--name` is given. */
export const flag = (name) => args.includes(`--${name}`);

/** The short commit id of the tree measured, or "unknown" outside a git checkout. */
export function commitId() {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
  } catch {
    return "unknown";
  }
}
