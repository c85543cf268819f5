// ui.js — what the popup and the options page share: asking the service worker, and showing
// the status it publishes in chrome.storage.session "status".

// Sends `message` to the service worker (waking it if needed). Replies that failed carry
// `error`: for "validate" that is the verdict; for the others it becomes an exception.
export async function ask(message) {
    const reply = await chrome.runtime.sendMessage(message);
    if (message.type !== "validate" && typeof reply?.error === "string") throw new Error(reply.error);
    return reply;
}

const MODES = {
    local: "Local Dev",
    cloud: "Cloud",
    offline: "Offline",
    connecting: "Connecting…",
};

// The status in words: {mode, url, latency, reason, localNote}, each a string ("" for none).
export function describe(status) {
    const s = status ?? { mode: "connecting" };
    return {
        mode: MODES[s.mode] ?? s.mode,
        url: s.url ?? "",
        latency: Number.isFinite(s.latencyMs) ? `${Math.round(s.latencyMs)} ms` : "",
        reason: s.mode === "offline" ? (s.reason ?? "") : "",
        localNote: s.mode === "cloud" ? (s.localReason ?? "") : "", // why not the local server
    };
}

// Calls `show(status)` with the current status and on every change.
export function followStatus(show) {
    let changes = 0;
    chrome.storage.onChanged.addListener((change, area) => {
        if (area === "session" && change.status?.newValue) {
            changes += 1;
            show(change.status.newValue);
        }
    });
    const seen = changes;
    chrome.storage.session.get("status").then(({ status }) => {
        if (seen === changes) show(status);
    });
}

// Writes the described status into the elements `find(name)` returns for mode, url, latency,
// reason and localNote. Reason and localNote are hidden (with their `data-row`) when empty.
export function showStatus(status, find) {
    for (const [name, value] of Object.entries(describe(status))) {
        const e = find(name);
        if (!e) continue;
        e.textContent = value || "—";
        if (name === "reason" || name === "localNote") (e.closest("[data-row]") ?? e).hidden = !value;
    }
    find("mode")?.setAttribute("data-mode", status?.mode ?? "connecting");
}
