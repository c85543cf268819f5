// bench/peers/ws-echo.mjs — a WebSocket echo server on Node's `ws` package: a reference peer
// for the load client (bench numbers of our server next to a plain echo in another stack).
//
// Every message comes back unchanged, as the same kind of frame (text stays text, binary stays
// binary). No compression (perMessageDeflate off), messages up to 1 MiB (larger ones close the
// connection with 1009, like `ws`'s own limit, only set explicitly), no subprotocol, any path,
// any origin. It runs until it is killed (SIGTERM/SIGINT end it cleanly).
//
// Usage: node bench/peers/ws-echo.mjs [--port N] [--bind ADDR]
// Its first stdout line is `listening on PORT` (with --port 0, the port the system picked).
import { WebSocketServer } from "ws";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const port = Number(opt("port", "0"));
const host = opt("bind", "127.0.0.1");
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`ws-echo: --port must be 0..65535, got ${opt("port")}`);
  process.exit(2);
}

const MAX_PAYLOAD = 1 << 20; // 1 MiB, the same as the Python peer's max_size

const wss = new WebSocketServer({ host, port, perMessageDeflate: false, maxPayload: MAX_PAYLOAD, clientTracking: true });

wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => {
    ws.send(data, { binary: isBinary });
  });
  ws.on("error", () => ws.terminate()); // a broken client must not take the server down
});

wss.on("listening", () => {
  process.stdout.write(`listening on ${wss.address().port}\n`);
});

wss.on("error", (e) => {
  console.error(`ws-echo: ${e.message}`);
  process.exit(1);
});

function stop() {
  for (const ws of wss.clients) ws.terminate();
  wss.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
