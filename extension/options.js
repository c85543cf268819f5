// options.js — the settings page: prefer-local, a custom server, the retry schedule, the live
// status, a connection test, and the paired devices with Revoke.
//
// The form shows the settings in force (the worker's client.settings(): defaults live only in
// the Rust core). Save writes into chrome.storage.sync "settings" only the fields the user
// changed, over what is stored, and only after the worker has checked the result with the Rust
// rules (`validate`). The access key goes to secrets.js instead (never into chrome.storage);
// then the worker is told to apply both at once.
import { moveTokenOutOfSync, readToken, writeToken } from "./secrets.js";
import { ask, followStatus, showStatus } from "./ui.js";

const $ = (id) => document.getElementById(id);
const ERRORS = ["customUrlError", "tokenError", "retryError", "saveError"];

let shown; // the form's values as loaded or last saved: "changed" is measured against them

function fromSettings(s) {
    return {
        preferLocal: s.strategy !== "remoteOnly",
        customUrl: s.customUrl ?? "",
        token: "",
        baseMs: s.retry.baseMs,
        capMs: s.retry.capMs,
        maxAttempts: s.retry.maxAttempts ?? 0,
    };
}

const NUMBERS = { baseMs: "retryBaseMs", capMs: "retryCapMs", maxAttempts: "retryMaxAttempts" };

function readForm() {
    const form = {
        preferLocal: $("preferLocal").checked,
        customUrl: $("customUrl").value.trim(),
        token: $("token").value.trim(),
    };
    for (const [key, id] of Object.entries(NUMBERS)) {
        const n = $(id).valueAsNumber;
        if (!Number.isInteger(n)) {
            throw Object.assign(new Error(`${$(id).labels[0].textContent}: enter a whole number`), { at: "retryError" });
        }
        form[key] = n;
    }
    return form;
}

function fillForm(values) {
    $("preferLocal").checked = values.preferLocal;
    $("customUrl").value = values.customUrl;
    for (const [key, id] of Object.entries(NUMBERS)) $(id).value = String(values[key]);
}

// The stored settings with the user's changes laid over them.
function changed(stored, form) {
    const next = structuredClone(stored);
    if (form.preferLocal !== shown.preferLocal) next.preferLocal = form.preferLocal;
    if (form.customUrl !== shown.customUrl) next.customUrl = form.customUrl; // "" clears it
    for (const key of Object.keys(NUMBERS)) {
        if (form[key] !== shown[key]) next.retry = { ...next.retry, [key]: form[key] };
    }
    return next;
}

// Which message element an error from the Rust rules belongs to (they start with the field).
const errorPlace = (message) =>
    /^customUrl\b/.test(message) ? "customUrlError"
        : /\btoken\b/.test(message) ? "tokenError"
        : /^retry\b/.test(message) ? "retryError" : "saveError";

async function save() {
    for (const id of ERRORS) $(id).textContent = "";
    $("saved").hidden = true;
    try {
        const form = readForm();
        await moveTokenOutOfSync(); // a key an earlier version left in sync
        const { settings: stored = {} } = await chrome.storage.sync.get("settings");
        const next = changed(stored, form);
        const token = form.token || (await readToken()); // empty keeps the saved key
        const { error } = await ask({ type: "validate", settings: { ...next, ...(token ? { token } : {}) } });
        if (error) {
            $(errorPlace(error)).textContent = error;
            return;
        }
        // The key first: the worker applies the settings as soon as sync changes.
        if (form.token) await writeToken(form.token);
        await chrome.storage.sync.set({ settings: next });
        await ask({ type: "applySettings" });
        shown = { ...form, token: "" };
        $("token").value = "";
        await showTokenState();
        $("saved").hidden = false;
    } catch (e) {
        $(e.at ?? "saveError").textContent = e.message;
    }
}

function sideReport(name, side) {
    const li = document.createElement("li");
    li.className = side.ok ? "ok" : "";
    const sig = side.signature;
    const found = sig ? `found ${sig.service} ${sig.version} (${sig.environment})` : "connected";
    li.textContent = side.ok
        ? `${name} ${side.url}: ${found}, ping ${side.latencyMs} ms`
        : `${name} ${side.url}: not available — ${side.reason}`;
    return li;
}

async function testConnection() {
    const out = $("testResult");
    $("test").disabled = true;
    out.textContent = "Testing… (up to a minute when a server does not answer)";
    try {
        const report = await ask({ type: "test" });
        const list = document.createElement("ul");
        list.append(sideReport("Local server", report.local), sideReport("Remote server", report.remote));
        out.replaceChildren(list);
    } catch (e) {
        out.textContent = `The test could not run: ${e.message}`;
    } finally {
        $("test").disabled = false;
    }
}

// Whether a key is saved (it is never shown back).
async function showTokenState() {
    const saved = (await readToken()) !== null;
    $("tokenState").textContent = saved ? "A key is saved." : "No key saved.";
    $("forgetToken").hidden = !saved;
}

async function forgetToken() {
    await moveTokenOutOfSync();
    await writeToken(null);
    await ask({ type: "applySettings" });
    await showTokenState();
}

const when = (ms) => (Number.isFinite(ms) ? new Date(ms).toLocaleString() : "—");

// The paired devices, each with Revoke (the service closes its sockets and refuses its token).
async function showDevices() {
    const rows = $("deviceRows");
    try {
        const { items } = await ask({ type: "devices" });
        rows.replaceChildren(
            ...items.map((d) => {
                const tr = document.createElement("tr");
                for (const text of [d.name, when(d.pairedAt), when(d.lastSeen)]) {
                    const td = document.createElement("td");
                    td.textContent = text;
                    tr.append(td);
                }
                const button = document.createElement("button");
                button.type = "button";
                button.className = "secondary";
                button.textContent = "Revoke";
                button.dataset.deviceId = d.deviceId;
                button.addEventListener("click", () => revoke(d.deviceId, button));
                const td = document.createElement("td");
                td.append(button);
                tr.append(td);
                return tr;
            }),
        );
        $("devices").hidden = items.length === 0;
        $("devicesNote").textContent = items.length === 0 ? "No device is paired." : "";
    } catch (e) {
        $("devices").hidden = true;
        $("devicesNote").textContent = `Devices are listed on the cloud connection: ${e.message}`;
    }
}

async function revoke(deviceId, button) {
    button.disabled = true;
    try {
        await ask({ type: "revoke", deviceId });
    } catch (e) {
        $("devicesNote").textContent = `Could not revoke: ${e.message}`;
    }
    await showDevices();
}

async function load() {
    try {
        const settings = await ask({ type: "settings" });
        shown = fromSettings(settings);
        fillForm(shown);
        await showTokenState();
        $("localUrl").textContent = settings.localUrl;
        $("customUrl").placeholder = settings.remoteUrl;
        $("form").disabled = false;
    } catch (e) {
        $("saveError").textContent = `The Semantest service worker did not answer: ${e.message}`;
    }
}

async function showSettingsError() {
    const { settingsError } = await chrome.storage.local.get("settingsError");
    $("settingsError").textContent = settingsError ? `Saved settings were refused: ${settingsError}` : "";
}

followStatus((status) => showStatus(status, (name) => $("status").querySelector(`[data-field="${name}"]`)));
chrome.storage.onChanged.addListener((changes, area) => {
    if (area === "local" && changes.settingsError) showSettingsError();
});
$("save").addEventListener("click", save);
$("test").addEventListener("click", testConnection);
$("forgetToken").addEventListener("click", forgetToken);
$("form").addEventListener("input", () => {
    $("saved").hidden = true;
});
showSettingsError();
load();
showDevices();
