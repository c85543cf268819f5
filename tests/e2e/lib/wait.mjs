// tests/e2e/lib/wait.mjs — bounded waiting. Every wait in the end-to-end tests has a limit and,
// when it runs out, says what it waited for and what it saw last.
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `probe()` every `interval` ms until it returns something truthy (which is returned) or
 * `timeout` ms have passed (then throws, naming `what` and the last value or error seen).
 * `probe` must itself be bounded (give Playwright calls a short timeout).
 */
export async function waitFor(what, probe, { timeout = 15_000, interval = 100, describe } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  let lastError;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      let seen = lastError ? `error: ${lastError.message.split("\n")[0]}` : `last value: ${JSON.stringify(last)}`;
      if (describe) {
        try {
          seen += `; ${await describe()}`;
        } catch (e) {
          seen += `; (describe failed: ${e.message})`;
        }
      }
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (${seen})`);
    }
    await sleep(interval);
  }
}

/** Resolves with `promise`, or rejects after `ms` naming `what`. */
export function within(ms, what, promise) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}
