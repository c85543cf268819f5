// deploy/smoke-ping.mjs — checks a deployed stack's `ping` route (a MOCK integration: API Gateway
// answers it, see deploy/ping-route.json) the way the client's core does: one ping on a keyless
// socket must get a pong whose `replyTo` is the ping's id, with its `t` and a numeric `serverTime`.
// Without that pong every client drops its socket after its pong timeout, so run it on dev and
// staging before production. Exits 0 on a good pong, 1 otherwise (and prints what came back).
//
// Usage: node deploy/smoke-ping.mjs wss://api.dev.extension.semantest.com [--timeout-ms 10000]
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

/** Pings `url` once; resolves with `{ ok, pong | why }`. */
export function smokePing(url, { timeoutMs = 10_000 } = {}) {
  const id = `smoke-${Date.now().toString(36)}`;
  const t = Date.now();
  return new Promise((done) => {
    const ws = new WebSocket(url, ["semantest.v1"]);
    const finish = (result) => {
      clearTimeout(timer);
      ws.terminate();
      done(result);
    };
    const timer = setTimeout(() => finish({ ok: false, why: `no pong within ${timeoutMs} ms` }), timeoutMs);
    ws.once("open", () => ws.send(JSON.stringify({ action: "ping", id, payload: { t } })));
    ws.once("error", (e) => finish({ ok: false, why: e.message }));
    ws.on("message", (data) => {
      let frame;
      try {
        frame = JSON.parse(data.toString());
      } catch {
        return finish({ ok: false, why: `not JSON: ${data.toString().slice(0, 200)}` });
      }
      const good = frame.type === "pong" && frame.replyTo === id && frame.payload?.t === t && Number.isSafeInteger(frame.payload?.serverTime);
      finish(good ? { ok: true, pong: frame } : { ok: false, why: `not the pong the client needs: ${JSON.stringify(frame).slice(0, 300)}` });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [url, flag, value] = process.argv.slice(2);
  if (!url || (flag && flag !== "--timeout-ms")) {
    console.error("usage: node deploy/smoke-ping.mjs wss://HOST [--timeout-ms N]");
    process.exit(2);
  }
  const result = await smokePing(url, { timeoutMs: flag ? Number(value) : undefined });
  console.log(result.ok ? `ok: ${JSON.stringify(result.pong)}` : `FAILED: ${result.why}`);
  process.exit(result.ok ? 0 : 1);
}
