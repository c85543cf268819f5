// secrets.js — the access key (the remote server's API key), shared by the worker and the
// options page.
//
// It lives in the IndexedDB of the extension's own origin (chrome-extension://<id>): never in
// chrome.storage.sync (which travels to every browser the user signs into) nor in
// chrome.storage.local or .session, which content scripts can read. A content script runs in the
// page's origin and cannot open this database. The options page writes it; the worker reads it
// and hands it to the core as the `token` option.
const DB = "semantest";
const STORE = "secrets";
const TOKEN = "token";

function open() {
    return new Promise((ok, fail) => {
        const request = indexedDB.open(DB, 1);
        request.onupgradeneeded = () => request.result.createObjectStore(STORE);
        request.onsuccess = () => ok(request.result);
        request.onerror = () => fail(request.error);
    });
}

async function inStore(mode, use) {
    const db = await open();
    try {
        return await new Promise((ok, fail) => {
            const tx = db.transaction(STORE, mode);
            const request = use(tx.objectStore(STORE));
            tx.oncomplete = () => ok(request.result);
            tx.onerror = tx.onabort = () => fail(tx.error);
        });
    } finally {
        db.close();
    }
}

/** The saved key, or null. */
export async function readToken() {
    const token = await inStore("readonly", (s) => s.get(TOKEN));
    return typeof token === "string" && token !== "" ? token : null;
}

/** Saves `token`; null or "" forgets the saved one. */
export function writeToken(token) {
    return inStore("readwrite", (s) => (token ? s.put(token, TOKEN) : s.delete(TOKEN)));
}

/**
 * Earlier versions kept the key in chrome.storage.sync `settings.token`: move one found there
 * here (it is the newest key written), and take it out of sync.
 */
export async function moveTokenOutOfSync() {
    const { settings } = await chrome.storage.sync.get("settings");
    if (!settings || !Object.hasOwn(settings, "token")) return;
    const { token, ...rest } = settings;
    if (typeof token === "string" && token !== "") await writeToken(token);
    await chrome.storage.sync.set({ settings: rest });
}
