// tests/e2e/key-and-backoff.test.mjs — two promises of the extension, in real headless Chromium:
//
//   the access key is kept where it neither syncs to the user's other browsers nor can be read
//   by a content script (extension/secrets.js: IndexedDB of the extension's origin), and is
//   still what the worker connects to a production server with; a key an earlier version left
//   in chrome.storage.sync is moved out and still used;
//
//   the keepalive alarm never resets the reconnect backoff: with retry.maxAttempts the client
//   gives up and stays given up across alarms and a restart of the worker, until the user's
//   Reconnect starts a fresh schedule.
//
// The production server is the public stand-in (lib/servers.mjs PublicStandIn, with an API key and
// registration closed, so that without the key the extension is refused);
// every wait is bounded. Functions passed to evaluate run in the browser:
/* global window, chrome, indexedDB, location, self */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLOUD_LABEL, ExtensionSession, inContentScript } from "./lib/browser.mjs";
import { testCertificate } from "./lib/certs.mjs";
import { EXTENSION_DIR, WORK, extensionIdFromManifest, requireBuilt } from "./lib/env.mjs";
import { ChatGptStandIn, PublicStandIn, freePort } from "./lib/servers.mjs";
import { sleep, waitFor } from "./lib/wait.mjs";

const TEST_TIMEOUT = 120_000;
/** The public stand-in's API key. */
const KEY = "e2e-secret-key-0123456789abcdef";
const KEEPALIVE = "semantest-keepalive"; // extension/background.js

let extensionId;
let chatgpt;
let publicService;

before(async () => {
  requireBuilt();
  extensionId = extensionIdFromManifest();
  const tls = testCertificate();
  chatgpt = await new ChatGptStandIn(tls).start();
  publicService = await new PublicStandIn({ ...tls, allowOrigins: [`chrome-extension://${extensionId}`], apiKey: KEY, registration: false }).start();
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
  test("s1) saved in the options page: in no chrome.storage area, unreadable from the ChatGPT page's content script, and used to connect (also by a restarted worker)", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("s1-key-kept-apart", async (s) => {
      await s.setSettings(REMOTE_ONLY);
      const refused = await s.waitForStatus("the production server (registration closed) refuses the extension without a key", (st) => /refused to register/.test(st.remoteReason ?? ""));
      assert.match(refused.remoteReason, /registration is closed/);

      const options = await s.openExtensionPage("options.html");
      await waitFor("the options form loaded", () => options.locator("#token").isEnabled(), { timeout: 10_000 });
      await options.locator("#token").fill(KEY);
      await s.saveOptions(options);
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
      console.log(`info: s1) the content script sees: areas ${Object.entries(seen.areas).map(([a, v]) => `${a}=[${typeof v === "string" ? v : Object.keys(v).join(",")}]`).join(" ")}; databases of ${seen.origin}: ${JSON.stringify(seen.databases.map((d) => d.name))}`);
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
      await s.waitForStatus("refused again without the key", (st) => st.mode !== "cloud" && /refused to register/.test(st.remoteReason ?? ""));
      await s.setSettings({ ...REMOTE_ONLY, token: KEY });
      await s.waitForStatus("cloud with the key from sync", (st) => st.mode === "cloud");
      await waitFor("the key out of sync", async () => !(await s.allStorage()).sync.settings?.token, { timeout: 5000 });
      await assertNotInChromeStorage(s, "after a key was written into sync");
      assert.equal(await s.savedToken(), KEY);
    });
  });

  test("s2) a key an earlier version left in chrome.storage.sync settings: moved out of sync when the extension starts, and still used", { timeout: TEST_TIMEOUT }, async () => {
    // The earlier version: this build with a worker that does nothing but keep what it is given.
    const earlier = mkdtempSync(join(WORK, "extension-earlier-"));
    const profile = mkdtempSync(join(WORK, "profile-s2-upgrade-"));
    try {
      cpSync(EXTENSION_DIR, earlier, { recursive: true });
      writeFileSync(join(earlier, "background.js"), "// an earlier version: it kept the key in chrome.storage.sync settings\n");
      const manifest = JSON.parse(readFileSync(join(earlier, "manifest.json"), "utf8"));
      writeFileSync(join(earlier, "manifest.json"), JSON.stringify({ ...manifest, version: "0.0.1" }));
      await scenario("s2-earlier", async (s) => {
        await s.setSettings({ ...REMOTE_ONLY, token: KEY });
        assert.equal((await s.allStorage()).sync.settings.token, KEY);
      }, { extensionDir: earlier, profile });

      // The update: the same profile, this version. Chrome keeps an unpacked extension's
      // registered worker script across launches (here the earlier one ran again, with the new
      // manifest); an update from the store registers the new one, as this does.
      rmSync(join(profile, "Default", "Service Worker"), { recursive: true, force: true });
      await scenario("s2-updated", async (s) => {
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

describe("the reconnect schedule", { timeout: 10 * 60_000 }, () => {
  test("r1) retry.maxAttempts 3, no server at all → offline 'gave up after 3 attempts', and so it stays through keepalive alarms and a worker restart; Reconnect starts a fresh schedule", { timeout: TEST_TIMEOUT }, async () => {
    const nothing = await freePort();
    // The public host is mapped to a port where nothing listens: refused as well.
    await scenario("r1-gave-up", async (s) => {
      // Every status the worker publishes, as an extension page sees them.
      const watcher = await s.openExtensionPage("popup.html");
      await watcher.evaluate(() => {
        window.__statuses = [];
        chrome.storage.onChanged.addListener((change, area) => {
          if (area === "session" && change.status?.newValue) window.__statuses.push({ t: Date.now(), ...change.status.newValue });
        });
      });
      const statusesSince = (t) => watcher.evaluate((since) => window.__statuses.filter((x) => x.t >= since), t);
      const gaveUp = (st) => st.mode === "offline" && st.failures === 3 && st.nextRetryAt == null && /gave up after 3 attempts/.test(st.reason ?? "");
      const show = (list) => list.map((x) => `${x.mode}/${x.failures ?? "-"}`).join(" ");
      /** No status since `t` shows a try: each is the given-up one (or the "connecting" a new worker shows before its client reports). */
      async function assertStillGivenUp(t, when) {
        const list = await statusesSince(t);
        const tries = list.filter((x) => !gaveUp(x) && !(x.mode === "connecting" && x.failures === undefined));
        assert.deepEqual(tries, [], `${when}: statuses of new attempts: ${show(list)}`);
        const now = await s.status();
        assert.ok(gaveUp(now), `${when}: the status is still the given-up one: ${JSON.stringify(now)}`);
        return list;
      }

      const settingsAt = Date.now();
      await s.setSettings({ localUrl: `http://localhost:${nothing}`, retry: { baseMs: 50, factor: 2, capMs: 200, maxAttempts: 3 } });
      const first = await s.waitForStatus("gave up after 3 attempts", gaveUp);
      console.log(`info: r1) ${first.reason}; statuses: ${show(await statusesSince(settingsAt))}`);

      // The keepalive alarm, fired for real (an unpacked extension's alarm may be due sooner than 30 s).
      await s.inWorker(() => {
        self.__alarmsSeen = 0;
        chrome.alarms.onAlarm.addListener(() => void (self.__alarmsSeen += 1));
      });
      const alarmsFrom = Date.now();
      for (let n = 1; n <= 3; n++) {
        await s.inWorker((name) => chrome.alarms.create(name, { when: Date.now() + 20, periodInMinutes: 0.5 }), KEEPALIVE);
        await waitFor(`keepalive alarm ${n} fired`, async () => (await s.inWorker(() => self.__alarmsSeen)) >= n, { timeout: 10_000 });
        await sleep(1000); // time enough for a retry (50–200 ms) to start and show
      }
      await assertStillGivenUp(alarmsFrom, "after 3 keepalive alarms");

      // A worker Chrome stopped, started again by the alarm: it resumes the given-up schedule.
      const watch = await stopWorker(s, watcher);
      await watcher.evaluate((name) => chrome.alarms.create(name, { when: Date.now() + 20, periodInMinutes: 0.5 }), KEEPALIVE);
      const starting = await watch.restarted();
      await waitFor("the new worker's client reported", async () => (await statusesSince(starting.t)).some((x) => x.mode !== "connecting"), { timeout: 10_000 });
      await sleep(1500);
      const restarted = await assertStillGivenUp(watch.stopped.t, "after the worker restarted");
      console.log(`info: r1) after the restart: ${show(restarted)}`);

      // The user's Reconnect (the popup's button): a fresh schedule, 3 attempts again.
      const reconnectAt = Date.now();
      await watcher.locator("#reconnect").click({ timeout: 5000 });
      const again = await waitFor("gave up again after a fresh schedule", async () => {
        const list = await statusesSince(reconnectAt);
        return list.some((x) => x.failures === 1) && list.find((x) => gaveUp(x) && x.since >= reconnectAt);
      }, { timeout: 20_000, describe: async () => show(await statusesSince(reconnectAt)) });
      const fresh = await statusesSince(reconnectAt);
      console.log(`info: r1) after Reconnect: ${show(fresh)}`);
      assert.ok(fresh.some((x) => x.mode === "offline" && x.failures === 1 && x.nextRetryAt > 0), "the fresh schedule waits between attempts");
      assert.ok(gaveUp(again));
    }, { publicPort: nothing });
  });
});
