// tests/e2e/key-and-backoff.test.mjs — promises of the extension, in real headless Chromium:
//
//   the access key is kept where it neither syncs to the user's other browsers nor can be read
//   by a content script (extension/secrets.js: IndexedDB of the extension's origin), and is
//   still what the worker connects to a production server with; a key an earlier version left
//   in chrome.storage.sync is moved out and still used.
//
// The production server is the public stand-in (lib/servers.mjs PublicStandIn, with an API key);
// every wait is bounded. Functions passed to evaluate run in the browser:
/* global chrome, indexedDB, location */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLOUD_LABEL, ExtensionSession } from "./lib/browser.mjs";
import { testCertificate } from "./lib/certs.mjs";
import { EXTENSION_DIR, WORK, extensionIdFromManifest, requireBuilt } from "./lib/env.mjs";
import { ChatGptStandIn, PublicStandIn } from "./lib/servers.mjs";
import { waitFor } from "./lib/wait.mjs";

const TEST_TIMEOUT = 120_000;
/** The public stand-in's API key. */
const KEY = "e2e-secret-key-0123456789abcdef";

let extensionId;
let chatgpt;
let publicService;

before(async () => {
  requireBuilt();
  extensionId = extensionIdFromManifest();
  const tls = testCertificate();
  chatgpt = await new ChatGptStandIn(tls).start();
  publicService = await new PublicStandIn({ ...tls, allowOrigins: [`chrome-extension://${extensionId}`], apiKey: KEY }).start();
});

after(async () => {
  await publicService?.close();
  await chatgpt?.close();
});

/** Remote only (no local probe), a short schedule that never gives up. */
const REMOTE_ONLY = { preferLocal: false, retry: { baseMs: 300, factor: 2, capMs: 2000, maxAttempts: 0 } };

/** Runs `body(session)` in a fresh browser; on failure leaves FAILED-NAME.* in the artifacts. */
async function scenario(name, body, launch = {}) {
  let session;
  try {
    session = await ExtensionSession.launch({ name, extensionId, chatgptPort: chatgpt.port, publicPort: publicService.port, ...launch });
    await body(session);
  } catch (e) {
    await session?.dumpFailure(name);
    throw e;
  } finally {
    await session?.close();
  }
}

/** Asserts that `what` (anything JSON can show) does not contain the key. */
function assertNoKey(what, where) {
  assert.doesNotMatch(JSON.stringify(what), new RegExp(KEY), `the key is in ${where}: ${JSON.stringify(what)}`);
}

/** Asserts the key is in none of chrome.storage.sync, .local, .session (read from the worker). */
async function assertNotInChromeStorage(s, when) {
  const all = await s.allStorage();
  for (const [area, items] of Object.entries(all)) assertNoKey(items, `chrome.storage.${area} (${when})`);
  return all;
}

/**
 * Runs `expression` (an async function's source) in the content script's world on `page` (the
 * isolated world Chrome runs extension/content.js in), through DevTools' Runtime domain.
 */
async function inContentScript(s, page, expression) {
  const cdp = await s.context.newCDPSession(page);
  try {
    const contexts = [];
    cdp.on("Runtime.executionContextCreated", ({ context }) => contexts.push(context));
    await cdp.send("Runtime.enable"); // reports the contexts that exist
    const world = await waitFor("the content script's world", () => contexts.find((c) => c.auxData?.type === "isolated" && (c.origin === s.origin || c.name === "Semantest")), { timeout: 5000 });
    const { result, exceptionDetails } = await cdp.send("Runtime.evaluate", { expression: `(${expression})()`, contextId: world.id, awaitPromise: true, returnByValue: true });
    if (exceptionDetails) throw new Error(`in the content script: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
    return result.value;
  } finally {
    await cdp.detach();
  }
}

/** What a content script can read: every chrome.storage area, and the IndexedDBs of its origin. */
const READ_EVERYTHING = String(async () => {
  const areas = {};
  for (const area of ["sync", "local", "session"]) {
    try {
      areas[area] = await chrome.storage[area].get(null);
    } catch (e) {
      areas[area] = `refused: ${e.message}`;
    }
  }
  const databases = [];
  for (const { name } of await indexedDB.databases()) {
    const db = await new Promise((ok, fail) => {
      const r = indexedDB.open(name);
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
    for (const store of db.objectStoreNames) {
      const values = await new Promise((ok) => {
        const r = db.transaction(store).objectStore(store).getAll();
        r.onsuccess = () => ok(r.result);
        r.onerror = () => ok(`unreadable: ${r.error}`);
      });
      databases.push({ name, store, values });
    }
    db.close();
  }
  return { extension: chrome.runtime.id, origin: location.origin, areas, databases };
});

/**
 * Stops the extension's service worker as Chrome does when it is idle (DevTools'
 * ServiceWorker.stopAllWorkers through `page`), and waits until it has stopped. `restarted()`
 * then waits, without touching it, until something started it again.
 */
async function stopWorker(s, page) {
  const cdp = await s.context.newCDPSession(page);
  const transitions = [];
  cdp.on("ServiceWorker.workerVersionUpdated", ({ versions }) => {
    for (const v of versions) {
      if (v.scriptURL.startsWith(s.origin) && transitions.at(-1)?.status !== v.runningStatus) transitions.push({ status: v.runningStatus, t: Date.now() });
    }
  });
  await cdp.send("ServiceWorker.enable");
  await waitFor("the worker reported running", () => transitions.at(-1)?.status === "running", { timeout: 5000 });
  await cdp.send("ServiceWorker.stopAllWorkers");
  const stopped = await waitFor("the worker stopped", () => transitions.find((x) => x.status === "stopped"), { timeout: 10_000 });
  return {
    stopped,
    async restarted(timeout = 20_000) {
      const starting = await waitFor("the worker started again", () => transitions.find((x) => x.t >= stopped.t && x.status === "starting"), { timeout, interval: 100 });
      await waitFor("the worker running again", () => transitions.findLast((x) => x.status === "running" && x.t >= starting.t), { timeout: 10_000 });
      await cdp.detach();
      return starting;
    },
  };
}

describe("the access key", { timeout: 10 * 60_000 }, () => {
  test("k1) saved in the options page: in no chrome.storage area, unreadable from the ChatGPT page's content script, and used to connect (also by a restarted worker)", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("k1-key-kept-apart", async (s) => {
      await s.setSettings(REMOTE_ONLY);
      const refused = await s.waitForStatus("the production server refuses the missing key", (st) => /unauthorized/.test(st.remoteReason ?? ""));
      assert.match(refused.remoteReason, /no API key/);

      const options = await s.openExtensionPage("options.html");
      await waitFor("the options form loaded", () => options.locator("#token").isEnabled(), { timeout: 10_000 });
      await options.locator("#token").fill(KEY);
      await options.locator("#save").click({ timeout: 5000 });
      await options.locator("#saved").waitFor({ state: "visible", timeout: 5000 });
      assert.equal((await options.locator("#tokenState").textContent()).trim(), "A key is saved.");
      const connected = await s.waitForStatus("cloud with the key", (st) => st.mode === "cloud");
      assert.match(connected.url, /^wss:\/\/api\.extension\.semantest\.com/);

      const stored = await assertNotInChromeStorage(s, "after saving");
      assert.equal(stored.sync.settings?.preferLocal, false, "the other settings are in sync as before");
      assert.equal(await s.savedToken(), KEY, "the key is in the extension's own IndexedDB");

      // The content script's world on chatgpt.com: it reads chrome.storage (the status), not the key.
      const page = await s.openChatGpt();
      await s.waitForLabel(CLOUD_LABEL);
      const seen = await inContentScript(s, page, READ_EVERYTHING);
      console.log(`info: k1) the content script sees: areas ${Object.entries(seen.areas).map(([a, v]) => `${a}=[${typeof v === "string" ? v : Object.keys(v).join(",")}]`).join(" ")}; databases of ${seen.origin}: ${JSON.stringify(seen.databases.map((d) => d.name))}`);
      assert.equal(seen.extension, extensionId, "evaluated in the extension's content script world");
      assert.equal(seen.origin, "https://chatgpt.com");
      assert.equal(seen.areas.session?.status?.mode, "cloud", "the content script can read what it is meant to");
      assertNoKey(seen, "what the content script can read");

      // A worker Chrome restarts reads the key again and connects with it.
      const before = await s.status();
      const watch = await stopWorker(s, page);
      await watch.restarted(); // the ChatGPT tab's port starts it again
      const back = await s.waitForStatus("cloud again after the restart", (st) => st.mode === "cloud" && st.since > before.since);
      assert.match(back.url, /^wss:\/\/api\.extension\.semantest\.com/);
      await assertNotInChromeStorage(s, "after the worker restarted");

      // Forget the key: refused again; a key written into sync settings is moved out and used.
      await options.bringToFront();
      await options.locator("#forgetToken").click({ timeout: 5000 });
      await waitFor("No key saved.", async () => (await options.locator("#tokenState").textContent()).trim() === "No key saved.", { timeout: 5000 });
      assert.equal(await s.savedToken(), null);
      await s.waitForStatus("refused again without the key", (st) => st.mode !== "cloud" && /unauthorized/.test(st.remoteReason ?? ""));
      await s.setSettings({ ...REMOTE_ONLY, token: KEY });
      await s.waitForStatus("cloud with the key from sync", (st) => st.mode === "cloud");
      await waitFor("the key out of sync", async () => !(await s.allStorage()).sync.settings?.token, { timeout: 5000 });
      await assertNotInChromeStorage(s, "after a key was written into sync");
      assert.equal(await s.savedToken(), KEY);
    });
  });

  test("k2) a key an earlier version left in chrome.storage.sync settings: moved out of sync when the extension starts, and still used", { timeout: TEST_TIMEOUT }, async () => {
    // The earlier version: this build with a worker that does nothing but keep what it is given.
    const earlier = mkdtempSync(join(WORK, "extension-earlier-"));
    const profile = mkdtempSync(join(WORK, "profile-k2-upgrade-"));
    try {
      cpSync(EXTENSION_DIR, earlier, { recursive: true });
      writeFileSync(join(earlier, "background.js"), "// an earlier version: it kept the key in chrome.storage.sync settings\n");
      const manifest = JSON.parse(readFileSync(join(earlier, "manifest.json"), "utf8"));
      writeFileSync(join(earlier, "manifest.json"), JSON.stringify({ ...manifest, version: "0.0.1" }));
      await scenario("k2-earlier", async (s) => {
        await s.setSettings({ ...REMOTE_ONLY, token: KEY });
        assert.equal((await s.allStorage()).sync.settings.token, KEY);
      }, { extensionDir: earlier, profile });

      // The update: the same profile, this version. Chrome keeps an unpacked extension's
      // registered worker script across launches (here the earlier one ran again, with the new
      // manifest); an update from the store registers the new one, as this does.
      rmSync(join(profile, "Default", "Service Worker"), { recursive: true, force: true });
      await scenario("k2-updated", async (s) => {
        assert.equal(await s.inWorker(() => chrome.runtime.getManifest().version), JSON.parse(readFileSync(join(EXTENSION_DIR, "manifest.json"), "utf8")).version);
        const connected = await s.waitForStatus("cloud with the moved key", (st) => st.mode === "cloud");
        assert.match(connected.url, /^wss:\/\/api\.extension\.semantest\.com/);
        const { sync } = await assertNotInChromeStorage(s, "after the update");
        assert.deepEqual(sync.settings, REMOTE_ONLY, "the other settings stay in sync");
        assert.equal(await s.savedToken(), KEY);
        const options = await s.openExtensionPage("options.html");
        await waitFor("the options page says a key is saved", async () => (await options.locator("#tokenState").textContent()).trim() === "A key is saved.", { timeout: 10_000 });
      }, { profile });
    } finally {
      rmSync(earlier, { recursive: true, force: true });
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
