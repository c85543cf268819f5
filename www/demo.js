// www/demo.js — glue between the demo page and the Semantest Connect wasm client.
//
// Every decision (which server, when to retry, how to measure latency) is made by the client in
// Rust; this file only turns form fields into options, client events into text, and buttons into
// calls. The one thing measured here is the round trip of the user's own Ping button, from the
// moment it is sent to the `pong` whose `replyTo` is that frame's id.
/* global document, performance, window */
import init, { SemantestClient } from "../pkg/semantest_connect.js";

const $ = (id) => document.getElementById(id);
/** @type {SemantestClient | null} */
let client = null;
/** Frame id of each Ping still waiting for its pong → performance.now() when it was sent. */
const pings = new Map();

function options() {
  return {
    localUrl: $("localUrl").value.trim(),
    remoteUrl: $("remoteUrl").value.trim(),
    preferLocal: $("preferLocal").checked,
  };
}

function showError(error) {
  $("error").hidden = !error;
  $("error").textContent = error ? String(error.message ?? error) : "";
}

function log(direction, text, kind = "frame") {
  const item = document.createElement("li");
  item.dataset.kind = kind;
  const time = document.createElement("time");
  time.textContent = new Date().toISOString().slice(11, 23);
  item.append(time, `${direction} ${text}`);
  $("log").append(item);
  item.scrollIntoView({ block: "nearest" });
}

function showStatus(status) {
  $("status").dataset.mode = status.mode;
  $("status").textContent = status.url ? `${status.mode} — ${status.url}` : status.mode;
  $("latency").textContent = status.latencyMs == null ? "—" : `${status.latencyMs} ms`;
  const reasons = [
    status.reason,
    status.localReason && `local: ${status.localReason}`,
    status.remoteReason && `remote: ${status.remoteReason}`,
    status.nextRetryAt && `next try ${new Date(status.nextRetryAt).toLocaleTimeString()}`,
  ].filter(Boolean);
  $("reason").textContent = reasons.length ? reasons.join("; ") : "—";
  log("·", `status ${status.mode}${status.url ? ` ${status.url}` : ""}`, "status");
}

function onFrame(text) {
  log("←", text);
  let frame;
  try {
    frame = JSON.parse(text);
  } catch {
    return;
  }
  if (frame.type === "pong" && pings.has(frame.replyTo)) {
    const ms = performance.now() - pings.get(frame.replyTo);
    pings.delete(frame.replyTo);
    $("pingResult").textContent = `${ms.toFixed(1)} ms round trip`;
  }
}

function setEnabled(connected) {
  for (const id of ["disconnect", "ping", "send"]) $(id).disabled = !connected;
}

$("settings").addEventListener("submit", (event) => {
  event.preventDefault();
  showError(null);
  try {
    if (client) {
      client.updateSettings(options());
    } else {
      client = new SemantestClient(options());
      client.onMessage(onFrame);
      client.onStatus(showStatus);
    }
    client.connect().catch(() => {}); // the status shows an offline attempt
    setEnabled(true);
  } catch (e) {
    showError(e);
  }
});

$("disconnect").addEventListener("click", () => {
  if (!client) return;
  client.close();
  showStatus(client.status());
  setEnabled(false);
  // connect() starts again with the same client.
});

$("ping").addEventListener("click", () => {
  showError(null);
  try {
    const id = client.send("ping", { t: Date.now() });
    pings.set(id, performance.now());
    $("pingResult").textContent = "waiting for pong…";
    log("→", `ping ${id}`);
  } catch (e) {
    showError(e);
  }
});

$("message").addEventListener("submit", (event) => {
  event.preventDefault();
  showError(null);
  try {
    const action = $("action").value.trim();
    const payload = JSON.parse($("payload").value || "{}");
    const id = client.send(action, payload);
    log("→", `${action} ${id} ${JSON.stringify(payload)}`);
  } catch (e) {
    showError(e);
  }
});

$("clear").addEventListener("click", () => $("log").replaceChildren());
window.addEventListener("online", () => client?.online());

await init();
$("connect").disabled = false;
document.documentElement.dataset.ready = "true";
