// popup.js — the toolbar popup: the connection status, a reconnect button, a link to the settings.
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

$("options").addEventListener("click", (event) => {
    event.preventDefault();
    chrome.runtime.openOptionsPage();
    window.close();
});
