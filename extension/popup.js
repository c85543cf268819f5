// popup.js — the toolbar popup: the connection status, a reconnect button, Pair a device, a link
// to the settings.
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
