// tests/e2e/lib/browser.mjs — headless Chromium with the unpacked extension, and what the tests
// read from it: the indicator on the ChatGPT stand-in (through its open shadow root), the status
// and settings in chrome.storage, the options page and the popup.
//
// Launch recipe from shared/TOOLCHAIN.md: playwright-core's launchPersistentContext with
// /usr/bin/chromium, --load-extension, and --host-resolver-rules mapping chatgpt.com and the
// public service's host to loopback stand-ins (their self-signed certificate is accepted with
// --ignore-certificate-errors). Each session gets a fresh profile, so it starts as a new install.
// Functions passed to evaluate() run in the browser (a page, or the extension's worker):
/* global chrome, document, getComputedStyle, indexedDB */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { ARTIFACTS, CHATGPT_ORIGIN, CHROMIUM, EXTENSION_DIR, PUBLIC_HOST, WORK } from "./env.mjs";
import { waitFor, within } from "./wait.mjs";

export const INDICATOR = "#semantest-indicator";
export const LABEL = `${INDICATOR} .label`;
export const BOX = `${INDICATOR} .box`;
export const CLOSE = `${INDICATOR} button.close`;

export const BLUE = "rgba(0, 102, 204, 0.2)";
export const GREEN = "rgba(0, 170, 68, 0.2)";
export const LOCAL_LABEL = /^Semantest Local Dev - \d+ms$/;
export const CLOUD_LABEL = /^Semantest Cloud - \d+ms$/;
export const OFFLINE_LABEL = /^Semantest Offline - \S.*$/;

/**
 * ChatGPT has generated an image in the conversation: an <img> in <main> with `alt`, decoded (the
 * content script only offers an image that has loaded). Returns its size, "W×H".
 */
export function showGeneratedImage(page, { alt = "Generated image: a cat", src = "/backend-api/generated.png" } = {}) {
  return page.evaluate(async ({ alt, src }) => {
    const img = document.createElement("img");
    img.alt = alt;
    img.src = src;
    document.querySelector("main").append(img);
    await img.decode();
    return `${img.naturalWidth}×${img.naturalHeight}`;
  }, { alt, src });
}

/* global window */
/**
 * How the ChatGPT stand-in answers from now on (tests/e2e/chatgpt/index.html): `mode` one of
 * "image", "text", "limit", "never", "loggedOut", "noComposer"; `delayMs` how long an answer takes.
 * Either may be left out (it keeps its value). The page re-renders when the mode changes its
 * layout (logged out, no composer). Returns the stand-in's settings now, { mode, delayMs }.
 */
export function setStandIn(page, { mode, delayMs } = {}) {
  const next = {};
  if (mode !== undefined) next.mode = mode;
  if (delayMs !== undefined) next.delayMs = delayMs;
  return page.evaluate((n) => window.__setStandIn(n), next);
}

/**
 * The file id (`file_…`, the `id=` of its src) of the newest image the ChatGPT stand-in generated
 * on `page` (the last img[alt^="Generated image"] with a file id), or null when there is none. Its bytes are
 * ChatGptStandIn#generatedImage(id).
 */
export function lastGeneratedImageId(page) {
  return page.evaluate(() => {
    const ids = [...document.querySelectorAll('img[alt^="Generated image"]')]
      .map((img) => new URL(img.src, document.baseURI).searchParams.get("id"))
      .filter(Boolean); // not the fixed images showGeneratedImage() adds
    return ids.at(-1) ?? null;
  });
}

export class ExtensionSession {
  /**
   * Starts Chromium with the extension and waits (≤ 20 s) for its service worker.
   * @param {object} o  name (for the profile and artifacts), extensionId, chatgptPort, publicPort;
   *                    optionally extensionDir (another build of the extension, same key) and
   *                    profile (an existing profile directory, which close() then leaves)
   */
  static async launch({ name, extensionId, chatgptPort, publicPort, extensionDir = EXTENSION_DIR, profile: given }) {
    const profile = given ?? mkdtempSync(join(WORK, `profile-${name}-`));
    const launchedAt = Date.now();
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 800 },
      deviceScaleFactor: 2, // crisp close-ups of the indicator; full screenshots are taken at CSS size
      ignoreDefaultArgs: ["--disable-extensions"],
      args: [
        `--disable-extensions-except=${extensionDir}`,
        `--load-extension=${extensionDir}`,
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        `--host-resolver-rules=MAP chatgpt.com 127.0.0.1:${chatgptPort}, MAP ${PUBLIC_HOST} 127.0.0.1:${publicPort}`,
        // chatgpt.com resolves to loopback here, which makes Chrome's Local Network Access treat
        // fetches of its images as requests into the local network (a permission prompt that a
        // headless browser never answers: a 30 s stall). The real site is public.

        "--ignore-certificate-errors",
      ],
    });
    const session = new ExtensionSession({ name, context, profile, extensionId, launchedAt, keepProfile: Boolean(given) });
    try {
      await session.#findWorker();
    } catch (e) {
      await session.close();
      throw e;
    }
    return session;
  }

  constructor({ name, context, profile, extensionId, launchedAt, keepProfile = false }) {
    Object.assign(this, { name, context, profile, extensionId, launchedAt, keepProfile });
    this.origin = `chrome-extension://${extensionId}`;
    this.consoleLines = [];
  }

  async #findWorker() {
    const ours = (w) => w.url().startsWith(`${this.origin}/`);
    this.worker = this.context.serviceWorkers().find(ours)
      ?? (await this.context.waitForEvent("serviceworker", { predicate: ours, timeout: 20_000 }));
    this.workerSeenAt = Date.now();
    this.worker.on?.("console", (m) => this.consoleLines.push(`[worker ${m.type()}] ${m.text()}`));
    await waitFor("the service worker's chrome.storage", () => this.worker.evaluate(() => Boolean(globalThis.chrome?.storage?.session)), { timeout: 10_000 });
  }

  /** Runs `fn(arg)` in the service worker (≤ 10 s: a stopped worker never answers). */
  inWorker(fn, arg) {
    // The newest one: after Chrome stopped and restarted the worker, that is the running one.
    const worker = this.context.serviceWorkers().filter((w) => w.url().startsWith(`${this.origin}/`)).at(-1) ?? this.worker;
    return within(10_000, "evaluate in the service worker", worker.evaluate(fn, arg));
  }

  /**
   * The access key the extension saved (extension/secrets.js: the IndexedDB "semantest" of the
   * extension's origin), or null. Read from the worker, without creating the database.
   */
  savedToken() {
    return this.inWorker(async () => {
      if (!(await indexedDB.databases()).some((d) => d.name === "semantest")) return null;
      const db = await new Promise((ok, fail) => {
        const r = indexedDB.open("semantest");
        r.onsuccess = () => ok(r.result);
        r.onerror = () => fail(r.error);
      });
      try {
        if (!db.objectStoreNames.contains("secrets")) return null;
        return await new Promise((ok, fail) => {
          const r = db.transaction("secrets").objectStore("secrets").get("token");
          r.onsuccess = () => ok(r.result ?? null);
          r.onerror = () => fail(r.error);
        });
      } finally {
        db.close();
      }
    });
  }

  /** Everything in chrome.storage.sync, .local and .session, read from the worker. */
  allStorage() {
    return this.inWorker(async () => ({
      sync: await chrome.storage.sync.get(null),
      local: await chrome.storage.local.get(null),
      session: await chrome.storage.session.get(null),
    }));
  }

  /** Replaces chrome.storage.sync `settings` (what the options page writes). */
  setSettings(settings) {
    return this.inWorker((s) => chrome.storage.sync.set({ settings: s }), settings);
  }

  /** Everything the extension keeps: settings, settingsError, status. */
  storage() {
    return this.inWorker(async () => ({
      settings: (await chrome.storage.sync.get("settings")).settings,
      settingsError: (await chrome.storage.local.get("settingsError")).settingsError,
      status: (await chrome.storage.session.get("status")).status,
    }));
  }

  async status() {
    return (await this.storage()).status;
  }

  /** Waits for a status in chrome.storage.session for which `accept(status)` is true. */
  waitForStatus(what, accept, { timeout = 20_000 } = {}) {
    return waitFor(`status: ${what}`, async () => {
      const s = await this.status();
      return s && accept(s) ? s : null;
    }, { timeout, interval: 150, describe: () => this.describe() });
  }

  /** Opens (or reuses the blank first tab for) the ChatGPT stand-in. */
  async openChatGpt(path = "/") {
    const blank = this.context.pages().find((p) => p.url() === "about:blank");
    const page = blank ?? (await this.context.newPage());
    page.on("console", (m) => this.consoleLines.push(`[chatgpt ${m.type()}] ${m.text()}`));
    page.on("pageerror", (e) => this.consoleLines.push(`[chatgpt pageerror] ${e.message}`));
    await page.goto(`${CHATGPT_ORIGIN}${path}`, { timeout: 20_000 });
    this.page = page;
    return page;
  }

  /** Opens an extension page (options.html, popup.html) in a new tab. */
  async openExtensionPage(file) {
    const page = await this.context.newPage();
    page.on("pageerror", (e) => this.consoleLines.push(`[${file} pageerror] ${e.message}`));
    await page.goto(`${this.origin}/${file}`, { timeout: 20_000 });
    return page;
  }

  /**
   * Clicks Save on the options page `options` and waits (≤ 10 s) for "Saved"; fails with what
   * the page shows instead (a field's error, the worker's answer), so a refused save says why.
   */
  async saveOptions(options) {
    await options.locator("#save").click({ timeout: 5000 });
    const shown = () => options.evaluate(() => ({
      saved: !document.getElementById("saved").hidden,
      // the form's own messages, not the settingsError line above the form
      errors: [...document.querySelectorAll("#form .error")].map((e) => e.textContent.trim()).filter(Boolean),
    }));
    const { errors } = await waitFor("the options page's Saved", async () => {
      const now = await shown();
      return now.saved || now.errors.length ? now : null;
    }, { timeout: 10_000, describe: async () => JSON.stringify(await shown()) });
    assert.deepEqual(errors, [], "the save was refused");
  }

  /** The indicator's label text on `page`, or null when there is none. */
  async label(page = this.page) {
    const loc = page.locator(LABEL);
    if ((await loc.count()) === 0) return null;
    return (await loc.textContent({ timeout: 1000 }))?.trim() ?? null;
  }

  /** Waits until the indicator's label (visible) matches `pattern`; returns the text. */
  waitForLabel(pattern, { page = this.page, timeout = 20_000 } = {}) {
    return waitFor(`indicator label ${pattern}`, async () => {
      const text = await this.label(page);
      return text !== null && pattern.test(text) && (await page.locator(BOX).isVisible()) ? text : null;
    }, { timeout, interval: 100, describe: () => this.describe(page) });
  }

  /** The computed background colour of the indicator's box. */
  boxBackground(page = this.page) {
    return page.locator(BOX).evaluate((e) => getComputedStyle(e).backgroundColor, null, { timeout: 2000 });
  }

  /** What a failed wait shows: the label, the box's mode and visibility, and the storage. */
  async describe(page = this.page) {
    const parts = [];
    if (page) {
      try {
        const box = page.locator(BOX);
        const n = await box.count();
        parts.push(n ? `label=${JSON.stringify(await this.label(page))} data-mode=${await box.getAttribute("data-mode", { timeout: 1000 })} visible=${await box.isVisible()}` : "no indicator on the page");
      } catch (e) {
        parts.push(`page: ${e.message.split("\n")[0]}`);
      }
    }
    try {
      parts.push(`storage=${JSON.stringify(await this.storage())}`);
    } catch (e) {
      parts.push(`storage: ${e.message.split("\n")[0]}`);
    }
    return parts.join("; ");
  }

  /**
   * Screenshots of the page: ARTIFACTS/NAME.png (the whole viewport) and NAME-closeup.png (the
   * bottom-right corner where the indicator sits, at twice the pixel density).
   */
  async screenshot(name, page = this.page) {
    const full = join(ARTIFACTS, `${name}.png`);
    await page.screenshot({ path: full, timeout: 10_000, scale: "css" });
    const { width, height } = page.viewportSize();
    const clip = { x: width - 440, y: height - 110, width: 440, height: 110 };
    await page.screenshot({ path: join(ARTIFACTS, `${name}-closeup.png`), clip, timeout: 10_000, scale: "device" });
    return full;
  }

  /** On a failed test: a screenshot and the state of everything, into ARTIFACTS. */
  async dumpFailure(testName) {
    const base = `FAILED-${testName.replace(/[^a-z0-9]+/gi, "-")}`;
    try {
      if (this.page && !this.page.isClosed()) await this.page.screenshot({ path: join(ARTIFACTS, `${base}.png`), timeout: 5000, scale: "css" });
    } catch {
      // the page may be gone
    }
    const state = await this.describe().catch((e) => e.message);
    writeFileSync(join(ARTIFACTS, `${base}.txt`), `${state}\n\nconsole:\n${this.consoleLines.join("\n")}\n`);
  }

  async close() {
    try {
      await within(20_000, "closing the browser", this.context.close());
    } finally {
      if (!this.keepProfile) rmSync(this.profile, { recursive: true, force: true });
    }
  }
}

/**
 * Runs `expression` (an async function's source) in the content script's world on `page` (the
 * isolated world Chrome runs extension/content.js in), through DevTools' Runtime domain.
 */
export async function inContentScript(s, page, expression) {
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
