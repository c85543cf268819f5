// content.js — the connection indicator on ChatGPT pages.
//
// It only shows what the service worker publishes in chrome.storage.session "status"; it never
// probes or connects itself (from the page, that would be subject to CORS and Chrome's local
// network prompt). The DOM, which the end-to-end tests rely on:
//   <semantest-indicator id="semantest-indicator">      on <html>, pointer-events: none
//     #shadow-root (open)
//       <div class="box" data-mode="local|cloud|offline|connecting" role="status" aria-live="polite">
//         <span class="label">Semantest Local Dev - 5ms</span>
//         <button class="close" aria-label="Dismiss Semantest connection indicator">×</button>
// The × hides the box; it shows again when the mode changes between local, cloud and offline
// (not on latency updates, and not for the "connecting" in between).
(() => {
    const HOST_ID = "semantest-indicator";
    const REASON_MAX = 80;
    const CSS = `
        .box {
            display: flex; align-items: center; gap: 6px; box-sizing: border-box;
            max-width: 260px; padding: 3px 3px 3px 10px; border: 1px solid; border-radius: 8px;
            font: 500 12px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
            color: #10243a; pointer-events: auto; cursor: default;
            backdrop-filter: blur(6px); box-shadow: 0 1px 4px rgba(0, 0, 0, 0.12);
        }
        .box[hidden] { display: none; }
        .box[data-mode="local"] { background: rgba(0, 102, 204, 0.2); border-color: rgba(0, 102, 204, 0.55); }
        .box[data-mode="cloud"] { background: rgba(0, 170, 68, 0.2); border-color: rgba(0, 170, 68, 0.55); }
        .box[data-mode="offline"] {
            background: rgba(120, 120, 120, 0.18); border: 1px dashed #b3261e; color: #5a1510;
        }
        .box[data-mode="connecting"] { background: rgba(120, 120, 120, 0.15); border-color: rgba(120, 120, 120, 0.5); }
        :host-context(.dark) .box { color: #e8eef5; }
        :host-context(.dark) .box[data-mode="offline"] { color: #ffb4ab; border-color: #ff8a80; }
        /* One line, whatever the reason's length: the box never grows over ChatGPT's composer.
           The full reason is in the title. */
        .label { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; min-width: 0; }
        .close {
            all: unset; flex: none; width: 20px; height: 20px; border-radius: 50%;
            text-align: center; line-height: 20px; font-size: 15px; cursor: pointer; opacity: 0.7;
        }
        .close:hover { opacity: 1; background: rgba(127, 127, 127, 0.25); }
        .close:focus-visible { opacity: 1; outline: 2px solid #0066cc; outline-offset: 1px; }
    `;

    const element = (tag, className) => {
        const e = document.createElement(tag);
        if (className) e.className = className;
        return e;
    };

    // An indicator left by an earlier copy of this script (the extension was reloaded) goes.
    document.getElementById(HOST_ID)?.remove();

    const host = element("semantest-indicator");
    host.id = HOST_ID;
    host.style.cssText =
        "all: initial; position: fixed; right: 16px; bottom: 16px; z-index: 2147483646; pointer-events: none;";
    const root = host.attachShadow({ mode: "open" });
    const style = element("style");
    style.textContent = CSS;
    const box = element("div", "box");
    box.dataset.mode = "connecting";
    box.setAttribute("role", "status");
    box.setAttribute("aria-live", "polite");
    const label = element("span", "label");
    label.textContent = "Semantest Connecting…";
    const close = element("button", "close");
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss Semantest connection indicator");
    close.textContent = "×";
    box.append(label, close);
    root.append(style, box);
    document.documentElement.append(host);

    let settled = null; // the last local/cloud/offline mode shown
    close.addEventListener("click", () => {
        box.hidden = true;
    });

    function text(status) {
        const ms = Number.isFinite(status.latencyMs) ? ` - ${Math.round(status.latencyMs)}ms` : "";
        switch (status.mode) {
            case "local":
                return `Semantest Local Dev${ms}`;
            case "cloud":
                return `Semantest Cloud${ms}`;
            case "offline": {
                const reason = status.reason ?? "";
                const short = reason.length > REASON_MAX ? `${reason.slice(0, REASON_MAX - 1)}…` : reason;
                return short ? `Semantest Offline - ${short}` : "Semantest Offline";
            }
            default:
                return "Semantest Connecting…";
        }
    }

    function render(status) {
        if (!status || typeof status.mode !== "string") return;
        if (status.mode !== "connecting") {
            if (status.mode !== settled) box.hidden = false;
            settled = status.mode;
        }
        box.dataset.mode = status.mode;
        label.textContent = text(status);
        const detail = status.mode === "offline" ? (status.reason ?? "") : (status.url ?? "");
        for (const e of [box, label]) e.title = detail;
    }

    // Changes win over a snapshot read before them.
    let changes = 0;
    function load() {
        const seen = changes;
        chrome.storage.session.get("status").then(
            ({ status }) => seen === changes && render(status),
            () => {}, // not readable until the worker has started: the hello reply says when
        );
    }
    chrome.storage.onChanged.addListener((change, area) => {
        if (area === "session" && change.status?.newValue) {
            changes += 1;
            render(change.status.newValue);
        }
    });
    load();
    chrome.runtime.sendMessage({ type: "hello" }).then(load, () => {});

    // A port to the worker: when Chrome stops the worker, the port closes, and opening it again
    // starts the worker, which reconnects at once (rather than at the next keepalive alarm, up
    // to 30 s later, with the last status still on screen).
    // The same port carries the worker's requests for the page's image (see takeImage below)
    // and for generating one (generate.js).
    function watchWorker() {
        try {
            const port = chrome.runtime.connect({ name: "indicator" });
            port.onDisconnect.addListener(() => {
                void chrome.runtime.lastError; // the worker stopped; nothing to report
                setTimeout(watchWorker, 1000);
            });
            port.onMessage.addListener((message) => {
                if (message?.type === "generate") {
                    globalThis.semantestGenerate(port, message);
                } else if (message?.type === "takeImage") {
                    takeImage(message.url).then((image) => port.postMessage({ type: "image", requestId: message.requestId, ...image }));
                }
            });
        } catch {
            // The extension was reloaded or removed: this copy of the script is orphaned.
        }
    }
    watchWorker();

    // The image a request means: the given URL, else the newest generated image in the thread
    // (chatgpt.js knows which that is).
    // Only finds the image; the worker fetches it (with its host permissions, free of the page's CORS).
    async function takeImage(url) {
        const src = url ?? globalThis.semantestChatGpt.newestImage()?.currentSrc ?? null;
        return src ? { ok: true, src } : { ok: false, reason: "no generated image on the ChatGPT page" };
    }

    // ChatGPT is a single-page app that may rebuild the document: put the indicator back.
    new MutationObserver(() => {
        if (!document.getElementById(HOST_ID)) document.documentElement.append(host);
    }).observe(document.documentElement, { childList: true });
})();
