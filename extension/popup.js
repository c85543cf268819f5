// popup.js — the toolbar popup: the connection status, a reconnect button, Pair a device, a link
// to the settings, and the image generations running and waiting (chrome.storage.session
// "generations", which the worker writes from the core's queue).
import { ask, followStatus, showStatus } from "./ui.js";

const $ = (id) => document.getElementById(id);

followStatus((status) => showStatus(status, $));
ask({ type: "hello" }).catch(() => {}); // a stopped worker starts, and publishes a fresh status

$("reconnect").addEventListener("click", async () => {
    $("error").textContent = "";
    try {
        await ask({ type: "reconnect" });
    } catch (e) {
        $("error").textContent = `Could not reach the Semantest service worker: ${e.message}`;
    }
});

// "Pair a device": a one-time code from the service, and the line to run on the device.
$("pair").addEventListener("click", async () => {
    $("pairError").textContent = "";
    $("pairing").hidden = true;
    try {
        const { code, expiresAt } = await ask({ type: "pairCode" });
        $("pairCode").textContent = code;
        $("pairLine").textContent = `semantest pair ${code}`;
        $("pairExpires").textContent = new Date(expiresAt).toLocaleTimeString();
        $("pairing").hidden = false;
    } catch (e) {
        $("pairError").textContent = `Could not get a pairing code: ${e.message}`;
    }
});

$("copyPair").addEventListener("click", () => {
    navigator.clipboard.writeText($("pairLine").textContent).catch(() => {});
});

$("options").addEventListener("click", (event) => {
    event.preventDefault();
    chrome.runtime.openOptionsPage();
    window.close();
});

// The running generation(s) and the queue: one line each, e.g. "generating · 14 s · a cat"
// (a running one still at "queued" has just been handed to its tab: "starting").
let shown = null; // the last {running, queued, at}: the elapsed times count on from `at`
function showGenerations(generations) {
    shown = generations ?? null;
    const since = generations?.at ? Date.now() - generations.at : 0;
    const running = generations?.running ?? [];
    const queued = generations?.queued ?? [];
    const list = $("generationList");
    list.replaceChildren();
    const line = (text, prompt, className) => {
        const li = document.createElement("li");
        li.className = className;
        const what = document.createElement("span");
        what.className = "stage";
        what.textContent = text;
        const p = document.createElement("span");
        p.className = "prompt";
        p.textContent = prompt;
        p.title = prompt;
        li.append(what, " ", p);
        list.append(li);
    };
    for (const r of running) line(`${r.stage === "queued" ? "starting" : r.stage} · ${Math.round((r.elapsedMs + since) / 1000)} s ·`, r.prompt, "running");
    for (const q of queued) line(`waiting #${q.position} ·`, q.prompt, "queued");
    $("generations").hidden = running.length + queued.length === 0;
}
setInterval(() => shown?.running?.length && showGenerations(shown), 1000);
chrome.storage.session.get("generations").then(({ generations }) => showGenerations(generations), () => {});
chrome.storage.onChanged.addListener((changes, area) => {
    if (area === "session" && changes.generations) showGenerations(changes.generations.newValue);
});
