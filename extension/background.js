// background.js — the service worker: glue between Chrome and the WASM connection core.
//
// The core (pkg/semantest_connect.js, from src/web/) probes the local server, falls back to the
// public service, keeps the socket alive, reconnects, moves back to local and measures latency.
// This file only starts it, forwards Chrome's events to it and publishes what it reports:
//   chrome.storage.session "status"  every status object (the indicator, the popup, the options page)
//   chrome.storage.session "schedule"  {failures, nextRetryAt} of the last status: a worker Chrome
//                                    restarts resumes the reconnect schedule rather than starting anew
//   the toolbar badge                LOC / WEB / OFF / … per mode
//   chrome.storage.local "settingsError"  why the saved settings were refused, if they were
//   chrome.storage.local "install"   {installId} this extension registered as on the cloud (not a secret)
//   chrome.storage.session "generations"  {running, queued}: the image generations (the popup)
// A fresh install that ends up on the cloud registers there by itself (the core sends
// `register`): the token it gets comes to onCredentials and goes to secrets.js, never to
// chrome.storage. Pairing a device and the device list go through the core's request().
// Nothing lives only in globals: when Chrome stops the worker, the next event (the keepalive
// alarm, a message, a settings change, the browser starting) creates the client again from
// chrome.storage and the access key (secrets.js: never in chrome.storage, where content scripts
// could read it). Listeners are registered synchronously at top level, as MV3 requires.
import init, { SemantestClient, testConnection } from "./pkg/semantest_connect.js";
import { moveTokenOutOfSync, readToken, writeToken } from "./secrets.js";

const KEEPALIVE = "semantest-keepalive";
const BADGES = {
    local: { text: "LOC", color: "#0066CC" },
    cloud: { text: "WEB", color: "#00AA44" },
    offline: { text: "OFF", color: "#B3261E" },
    connecting: { text: "…", color: "#6B6B6B" },
};

let wasmReady; // init() of this worker
let identityReady; // {role, clientId} of this installation
let clientReady; // the SemantestClient of this worker

const errorText = (e) => (e instanceof Error ? e.message : String(e));
const logError = (e) => console.error("semantest:", e);
const storedSettings = async () => (await chrome.storage.sync.get("settings")).settings ?? {};

// One move at a time (the startup and a settings change may both find the key in sync).
let moving = Promise.resolve();
const moveToken = () => (moving = moving.then(moveTokenOutOfSync).catch(logError));

// Token writes (a registration's onCredentials) in order, and read only once written: settings
// applied meanwhile must not come without the token the core was just given (that would make
// it register a second install).
let tokenWrites = Promise.resolve();

// The client's options: the stored settings, this installation's identity and the saved key.
async function clientOptions() {
    await moveToken();
    await tokenWrites;
    const [token, settings, id] = await Promise.all([readToken(), storedSettings(), identity()]);
    return { ...settings, ...id, ...(token ? { token } : {}) };
}

function wasm() {
    wasmReady ??= init().catch((e) => {
        wasmReady = undefined;
        throw e;
    });
    return wasmReady;
}

function identity() {
    identityReady ??= chrome.storage.local.get("clientId").then(async ({ clientId }) => {
        if (!clientId) {
            clientId = `extension-${crypto.randomUUID()}`;
            await chrome.storage.local.set({ clientId });
        }
        const platform = navigator.userAgentData?.platform || navigator.platform || "";
        return { role: "extension", clientId, name: platform ? `Chrome on ${platform}` : "Chrome" };
    });
    return identityReady;
}

// The client of this worker, created (and connecting) on first use.
function ensureClient() {
    clientReady ??= startClient().catch((e) => {
        clientReady = undefined; // the next event tries again
        const reason = `the extension could not start: ${errorText(e)}`;
        publish({ mode: "offline", url: null, latencyMs: null, reason, since: Date.now() }).catch(logError);
        throw e;
    });
    return clientReady;
}

async function startClient() {
    // The .wasm loads (fetched, compiled) while chrome.storage and the key are read: on a
    // restart these waits overlap instead of adding up (bench/restart.mjs).
    const loaded = wasm();
    loaded.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
    const options = clientOptions();
    options.catch(() => {}); // likewise: a failure is met below, where the client is made
    // The backstop alarm (below), made once per install; the connection does not wait for it.
    chrome.alarms.get(KEEPALIVE)
        .then((alarm) => alarm ?? chrome.alarms.create(KEEPALIVE, { periodInMinutes: 0.5 }))
        .catch(logError);
    const [, { schedule }] = await Promise.all([
        chrome.storage.session.setAccessLevel({ accessLevel: "TRUSTED_AND_UNTRUSTED_CONTEXTS" }),
        // The reconnect schedule of the worker before this one, if Chrome stopped it while failing.
        chrome.storage.session.get("schedule"),
    ]);
    const resume = schedule?.failures > 0 ? { resume: { failures: schedule.failures, nextRetryAt: schedule.nextRetryAt ?? null } } : {};
    // Before anything else: a status left by a worker Chrome stopped must not look current.
    await publish({ mode: "connecting", url: null, latencyMs: null, reason: null, since: Date.now() });
    await loaded;
    let client;
    try {
        client = new SemantestClient({ ...(await options), ...resume });
        chrome.storage.local.remove("settingsError").catch(logError);
    } catch (e) {
        chrome.storage.local.set({ settingsError: errorText(e) }).catch(logError);
        client = new SemantestClient(await identity()); // the defaults, rather than no connection at all
    }
    // A token the service issued (this install registered) is kept in secrets.js; a stale one
    // the service no longer knows is forgotten, so the next attempt registers afresh.
    client.onCredentials((credentials) => void keepCredentials(credentials).catch(logError));
    // Image requests from tools (the `semantest request-image` command, SDKs): on() subscribes on
    // every socket the core opens and hands over the event's payload ({event, id, from, data}).
    client.on("imageDownloadRequested", (payload) => answerImageRequest(client, payload).catch(logError));
    // Image generation: the core queues `imageGenerationRequested` events, one at a time per
    // ChatGPT tab, and has a tab generate (driveTab); the popup shows the queue.
    client.serveGenerations(driveTab);
    client.onGenerations((g) => void chrome.storage.session.set({ generations: { ...g, at: Date.now() } }).catch(logError));
    for (const tabId of tabs.keys()) client.tabOpened(tabId);
    // connect() before onStatus: onStatus reports the current status at once, and it must be
    // "connecting", not the "offline: not connected" of a client that has not started.
    // A resumed client keeps its count and waits for the time it had (gave up: stays so).
    connect(client);
    client.onStatus((status) => {
        const schedule = { failures: status.failures, nextRetryAt: status.nextRetryAt };
        publish(status, schedule).catch(logError);
    });
    return client;
}

function keepCredentials(credentials) {
    tokenWrites = tokenWrites.then(async () => {
        await writeToken(credentials?.token ?? null);
        if (credentials) await chrome.storage.local.set({ install: { installId: credentials.installId } });
        else await chrome.storage.local.remove("install");
    }).catch(logError);
    return tokenWrites;
}

// An install's own requests to the service (pairing, devices): only on the cloud, where
// tools need pairing; on a local server tools connect directly, with no identity.
async function onCloud(action, payload) {
    const client = await ensureClient();
    if (client.status().mode !== "cloud") {
        throw new Error(
            client.status().mode === "local"
                ? "the extension is on your local server: tools on this machine reach it directly, no pairing needed"
                : "the extension is not connected to the cloud; pairing needs it",
        );
    }
    return (await client.request(action, payload)).payload;
}

// connect() answers with a promise that rejects when an attempt finds no server; the status
// (published as it comes) says so already.
const connect = (client) => void Promise.resolve(client.connect()).catch(() => {});

// `schedule` only with the client's own statuses (not the "connecting" a new worker shows first).
function publish(status, schedule) {
    const badge = BADGES[status.mode] ?? BADGES.connecting;
    chrome.action.setBadgeText({ text: badge.text }).catch(logError);
    chrome.action.setBadgeBackgroundColor({ color: badge.color }).catch(logError);
    chrome.action.setBadgeTextColor({ color: "#FFFFFF" }).catch(logError);
    return chrome.storage.session.set(schedule ? { status, schedule } : { status });
}

// The stored settings and key replace the ones in force (a removed setting goes back to its
// default); the core refuses invalid ones with a message and keeps the connection as it is.
async function applySettings() {
    const client = await ensureClient();
    try {
        client.setSettings(await clientOptions());
        await chrome.storage.local.remove("settingsError");
    } catch (e) {
        await chrome.storage.local.set({ settingsError: errorText(e) });
    }
}

// --- the image flow: the core takes the image from a ChatGPT tab, uploads it, replies ---
//
// The core (src/image.rs, src/web/images.rs) decides and does everything but reach the tab:
// it fetches the image, caps and hashes it, uploads it to the server whose socket is ready
// (the local server's POST /images, or the public service's presigned S3 PUT) and replies to
// the requester. This file gives it the tab (takeImage) and records the outcome in
// chrome.storage.local "lastImage" (for the popup and for troubleshooting).

const IMAGE_WAIT_MS = 10_000;

async function answerImageRequest(client, event) {
    const outcome = await client.answerImageRequest(event, takeImage);
    await chrome.storage.local.set({ lastImage: { at: Date.now(), ...outcome } });
}

// The newest ChatGPT tab finds the image ({requestId, url}: the newest generated one when url
// is null) and answers with its URL.
async function takeImage(request) {
    const port = [...tabs.values()].at(-1);
    if (!port) throw new Error("no ChatGPT tab is open");
    const found = await askTab(port, { type: "takeImage", ...request });
    if (!found.ok) throw new Error(found.reason);
    return found.src;
}

function askTab(port, message) {
    return new Promise((ok, fail) => {
        const timer = setTimeout(() => done(fail, new Error("the ChatGPT tab did not answer")), IMAGE_WAIT_MS);
        const onMessage = (m) => m?.type === "image" && m.requestId === message.requestId && done(ok, m);
        const onGone = () => done(fail, new Error("the ChatGPT tab closed"));
        function done(settle, value) {
            clearTimeout(timer);
            port.onMessage.removeListener(onMessage);
            port.onDisconnect.removeListener(onGone);
            settle(value);
        }
        port.onMessage.addListener(onMessage);
        port.onDisconnect.addListener(onGone);
        port.postMessage(message);
    });
}

// --- image generation: the tab's part (extension/generate.js), as the core asks for it ---
//
// driveTab(tabId, {requestId, prompt, newChat, timeoutSecs}, onStage) resolves with the new
// image's URL, or rejects with an Error whose `failure` names why (the core words the reason).
// The core bounds the wait; a tab that goes away ends it at once: closed, or (the tab still
// exists) navigated away, reloaded.
async function driveTab(tabId, request, onStage) {
    const failure = (name, message) => Object.assign(new Error(message ?? name), { failure: name });
    const port = await tabPort(tabId);
    if (!port) throw failure(await gone(tabId));
    return new Promise((ok, fail) => {
        const onMessage = (m) => {
            if (m?.requestId !== request.requestId) return;
            if (m.type === "generationStage") {
                try {
                    onStage(m.stage);
                } catch {
                    // the core has moved on from this request
                }
            } else if (m.type === "generated") {
                done();
                if (m.ok) ok(m.src);
                else fail(failure(m.failure, m.message));
            }
        };
        const onGone = () => {
            done();
            gone(tabId).then((why) => fail(failure(why)));
        };
        function done() {
            port.onMessage.removeListener(onMessage);
            port.onDisconnect.removeListener(onGone);
        }
        port.onMessage.addListener(onMessage);
        port.onDisconnect.addListener(onGone);
        try {
            port.postMessage({ type: "generate", ...request });
        } catch {
            onGone(); // the port closed a moment ago
        }
    });
}

// Why a tab's port is gone: the tab was closed, or it still exists and navigated (reloaded,
// left for another site).
const gone = (tabId) => chrome.tabs.get(tabId).then(() => "navigated", () => "closed");

// A reloading tab has no port for a moment: its next port, if it comes within RELOAD_MS.
const RELOAD_MS = 10_000;
async function tabPort(tabId, until = Date.now() + RELOAD_MS) {
    while (!tabs.has(tabId) && Date.now() < until && (await gone(tabId)) === "navigated") {
        await new Promise((ok) => setTimeout(ok, 250));
    }
    return tabs.get(tabId);
}

const HANDLERS = {
    // From each ChatGPT tab as it loads: wakes the worker; the reply means status is readable.
    hello: async () => (await ensureClient(), { ok: true }),
    status: async () => (await ensureClient()).status(),
    settings: async () => (await ensureClient()).settings(),
    // The user's Reconnect: a fresh schedule. connect() retries at once while waiting (resetting
    // the backoff), starts a stopped or given-up client, and is a no-op while connected.
    reconnect: async () => {
        const client = await ensureClient();
        await chrome.storage.session.remove("schedule");
        connect(client);
        return { ok: true };
    },
    // The options page saved the key (secrets.js), which chrome.storage.onChanged does not see.
    applySettings: async () => (await applySettings(), { ok: true }),
    // The options page asks before saving, so that the rules live only in the Rust core.
    validate: async ({ settings }) => {
        await wasm();
        try {
            new SemantestClient({ ...settings }).free();
            return { error: null };
        } catch (e) {
            return { error: errorText(e) };
        }
    },
    test: async () => {
        await wasm();
        return testConnection(await clientOptions());
    },
    // The popup's "Pair a device": a one-time code ({code, expiresAt}) for `semantest pair`.
    pairCode: () => onCloud("pairCode", {}),
    // The options page's device list, and its Revoke.
    devices: () => onCloud("devices", {}),
    revoke: async ({ deviceId }) => (await onCloud("revoke", { deviceId }), { ok: true }),
};

// What only the extension's own pages (the popup, the options page) may ask: a pairing code is
// worth a device token, and the device list is the user's. A content script on chatgpt.com
// (whose sender.url is the page's) gets "not allowed".
const PAGES_ONLY = new Set(["pairCode", "devices", "revoke", "applySettings", "validate", "test"]);
const fromExtensionPage = (sender) => sender?.id === chrome.runtime.id && (sender.url ?? "").startsWith(chrome.runtime.getURL(""));

chrome.runtime.onMessage.addListener((message, sender, reply) => {
    const handler = HANDLERS[message?.type];
    if (!handler) return false;
    if (PAGES_ONLY.has(message.type) && !fromExtensionPage(sender)) {
        reply({ error: `'${message.type}' is for the extension's own pages` });
        return false;
    }
    handler(message).then(reply, (e) => reply({ error: errorText(e) }));
    return true; // the reply comes asynchronously
});

// ChatGPT tabs keep a port open; when this worker is stopped, they open it again to restart it.
// The open ChatGPT tabs (their indicator ports) by tab id, newest last: where images are taken
// from and generated in. Not state to keep: each tab opens its port again when a new worker starts.
const tabs = new Map();

chrome.runtime.onConnect.addListener((port) => {
    if (port.name !== "indicator") return;
    const tabId = port.sender?.tab?.id;
    if (tabId === undefined) return;
    tabs.delete(tabId); // a reloaded tab's new port goes last
    tabs.set(tabId, port);
    port.onDisconnect.addListener(async () => {
        if (tabs.get(tabId) !== port) return; // replaced by the tab's next port
        tabs.delete(tabId);
        // A reload is not a close: the queue keeps the tab while its next port may come.
        if ((await gone(tabId)) === "navigated" && (await tabPort(tabId))) return;
        if (!tabs.has(tabId)) clientReady?.then((c) => c.tabClosed(tabId), () => {});
    });
    ensureClient().then((c) => c.tabOpened(tabId), logError);
});

chrome.runtime.onInstalled.addListener(() => void ensureClient().catch(logError));
chrome.runtime.onStartup.addListener(() => void ensureClient().catch(logError));

// The backstop: every 30 s, wakes a stopped worker (which then resumes its schedule) and makes
// the client run what is due (a retry whose timer was lost). wake() never resets the backoff,
// so `retry.maxAttempts` holds and the delays grow past 30 s; only Reconnect calls connect().
chrome.alarms.onAlarm.addListener((alarm) => {
    if (alarm.name === KEEPALIVE) ensureClient().then((c) => c.wake(), logError);
});

// (A key found in the new settings is moved out of sync first, by clientOptions.)
chrome.storage.onChanged.addListener((changes, area) => {
    if (area === "sync" && changes.settings) applySettings().catch(logError);
});

self.addEventListener("online", () => void ensureClient().then((c) => c.online(), logError));

// Whatever woke this worker, start connecting.
ensureClient().catch(logError);
