// tests/e2e/extension.test.mjs — the extension in real headless Chromium, as a user sees it.
//
// Each scenario starts a fresh browser profile with the unpacked extension (dist/extension),
// opens https://chatgpt.com/ (mapped to a local HTTPS stand-in page) and asserts what the
// indicator in the page's corner says, reading it through its open shadow root. The peers are
// real: the developer's local server is target/release/semantest-server on a free port (the
// extension is pointed at it through chrome.storage.sync `settings.localUrl`), and the public
// service wss://api.extension.semantest.com is another semantest-server (--environment
// production) behind a Node TLS terminator that the browser reaches through
// --host-resolver-rules, so the extension's default remote URL is used unchanged.
//
// Every wait is bounded; no test asserts how long something took (timings are printed as
// "measure:" lines). Screenshots go to .build/e2e-artifacts/.
// Functions passed to page.evaluate (and s.inWorker) run in the browser, with its globals:
/* global window, document, chrome */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BLUE, BOX, CLOSE, CLOUD_LABEL, ExtensionSession, GREEN, INDICATOR, LOCAL_LABEL, OFFLINE_LABEL, showGeneratedImage,
} from "./lib/browser.mjs";
import { testCertificate } from "./lib/certs.mjs";
import { ARTIFACTS, CLI_BIN, EXTENSION_DIR, LOGS, PUBLIC_HOST, extensionIdFromManifest, requireBuilt } from "./lib/env.mjs";
import { ChatGptStandIn, GENERATED_IMAGE, PublicStandIn, SemantestServer, freePort, hungServer } from "./lib/servers.mjs";
import { pseudoRandomPng } from "./lib/png.mjs";
import { waitFor } from "./lib/wait.mjs";

const TEST_TIMEOUT = 120_000;
/** While on the cloud, the extension looks for the local server again this often (settings). */
const REPROBE_MS = 2000;

let extensionId;
let chatgpt;
let publicService;

before(async () => {
  requireBuilt();
  extensionId = extensionIdFromManifest();
  const tls = testCertificate();
  chatgpt = await new ChatGptStandIn(tls).start();
  publicService = await new PublicStandIn({ ...tls, allowOrigins: [`chrome-extension://${extensionId}`], apiKey: PUBLIC_KEY, registration: false }).start();
  console.log(`e2e: extension ${extensionId}; chatgpt.com → 127.0.0.1:${chatgpt.port}; ${PUBLIC_HOST} → 127.0.0.1:${publicService.port} → semantest-server :${publicService.backend.port}`);
});

after(async () => {
  await publicService?.close();
  await chatgpt?.close();
});

/** The settings every scenario starts from: a local server at `localUrl`, short timings. */
/**
 * The public stand-in's API key. The scenarios write it into the sync settings, where earlier
 * versions kept it; the worker moves it into its own store at once (key-and-backoff.test.mjs).
 */
const PUBLIC_KEY = "e2e-public-key-0123456789";

function settings(localUrl, extra = {}) {
  return {
    preferLocal: true,
    localUrl,
    token: PUBLIC_KEY,
    reprobeIntervalMs: REPROBE_MS,
    retry: { baseMs: 300, factor: 2, capMs: 2000, maxAttempts: 0 },
    ...extra,
  };
}

/**
 * Runs `body(session, peers)` in a fresh browser; afterwards (pass or fail) closes the browser,
 * kills every server the scenario started and brings the public stand-in back up. On failure it
 * leaves a screenshot and the extension's storage in .build/e2e-artifacts/FAILED-NAME.*.
 */
async function scenario(name, body) {
  const servers = [];
  const peers = {
    /** A local semantest-server (not started yet) that allows the extension's origin. */
    local(label = "local", port = 0) {
      const server = new SemantestServer(`${name}-${label}`, { port, allowOrigins: [`chrome-extension://${extensionId}`] });
      servers.push(server);
      return server;
    },
  };
  let session;
  try {
    session = await ExtensionSession.launch({ name, extensionId, chatgptPort: chatgpt.port, publicPort: publicService.port });
    await body(session, peers);
  } catch (e) {
    await session?.dumpFailure(name);
    throw e;
  } finally {
    await session?.close();
    for (const server of servers) await server.kill();
    await publicService.start();
  }
}

/** Asserts the indicator's box covers neither ChatGPT's send button nor its message box. */
async function assertClearOfControls(page, state) {
  const indicator = await page.locator(BOX).boundingBox({ timeout: 2000 });
  for (const control of ['[data-testid="send-button"]', "#prompt-textarea"]) {
    const rect = await page.locator(control).boundingBox({ timeout: 2000 });
    assert.ok(!overlaps(indicator, rect), `${state}: the indicator ${JSON.stringify(indicator)} covers ${control} ${JSON.stringify(rect)}`);
  }
}

const overlaps = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

/** Runs the `semantest` command against the local server at `localUrl`: {status, stdout, stderr}. */
async function semantest(args, localUrl, remote = null) {
  // `remote`: {url, token} for the cloud instead of the local server.
  const env = remote
    ? { ...process.env, SEMANTEST_SERVER: "remote", SEMANTEST_REMOTE_URL: remote.url, SEMANTEST_TOKEN: remote.token }
    : { ...process.env, SEMANTEST_SERVER: "local", SEMANTEST_LOCAL_URL: localUrl };
  env.XDG_CONFIG_HOME = join(tmpdir(), "semantest-e2e-no-config");
  try {
    const { stdout, stderr } = await promisify(execFile)(CLI_BIN, args, { env, timeout: 60_000 });
    return { status: 0, stdout, stderr };
  } catch (e) {
    return { status: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? String(e) };
  }
}

/** The size of scenario k2's image: 5 MiB (5 × 1024 × 1024 bytes), a real PNG of noise. */
const BIG_IMAGE_SIZE = 5 * 1024 * 1024;
const BIG_IMAGE_PATH = "/backend-api/generated-5mb.png";
/** Timed runs of k2, after one warm-up. */
const RUNS = 3;

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/**
 * Where a k2 run's time went, from timestamps the peers leave anyway (one clock, this machine):
 * the stand-in's image request (received, last byte sent), the local server's "image stored"
 * log line for `name`, and the extension's chrome.storage.local `lastImage` (written as it
 * replies). A phase it cannot find is reported as "?"; nothing here is asserted.
 */
async function whereTheTimeGoes(s, local, requests, name, started, ended) {
  const fetched = requests.find((r) => r.path === BIG_IMAGE_PATH);
  const log = readFileSync(join(LOGS, `${local.name}.log`), "utf8");
  const line = log.split("\n").find((l) => l.includes("image stored") && l.includes(`-${name}"`));
  const storedAt = line ? Date.parse(line.split(/\s+/)[0]) : NaN;
  const { lastImage } = await s.inWorker(() => chrome.storage.local.get("lastImage"));
  const repliedAt = lastImage?.event === "imageDownloaded" ? lastImage.at : NaN;
  const marks = [
    ["CLI start → image requested from ChatGPT", fetched?.at],
    ["→ served", fetched?.done],
    ["→ hashed, uploaded, stored", storedAt],
    ["→ extension replied", repliedAt],
    ["→ CLI fetched, checked, wrote, exited", ended],
  ];
  let last = started;
  return marks.map(([what, t]) => {
    const text = Number.isFinite(t) && Number.isFinite(last) ? `${what} ${t - last} ms` : `${what} ? ms`;
    last = t;
    return text;
  }).join(", ");
}

/** Records every change of the indicator's label in the page, with the time (ms since epoch). */
function recordLabels(page) {
  return page.evaluate(() => {
    window.__labels = [];
    let last;
    setInterval(() => {
      const label = document.getElementById("semantest-indicator")?.shadowRoot?.querySelector(".label");
      const text = label?.textContent ?? null;
      if (text !== last) {
        last = text;
        window.__labels.push({ t: Date.now(), text });
      }
    }, 5);
  });
}

describe("the extension on ChatGPT", { timeout: 15 * 60_000 }, () => {
  test("the extension id is pinned by the manifest key and written in EXTENSION_ID", async () => {
    const written = readFileSync(join(EXTENSION_DIR, "EXTENSION_ID"), "utf8").trim();
    assert.equal(written, extensionId);
  });

  test("a) local server up → blue 'Semantest Local Dev - <n>ms', beside ChatGPT's controls, through SPA navigation", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("a-local-up", async (s, peers) => {
      const local = await peers.local().start();
      await s.setSettings(settings(local.url));
      const navigated = Date.now();
      const page = await s.openChatGpt();
      const text = await s.waitForLabel(LOCAL_LABEL);
      console.log(`measure: a) navigation to chatgpt.com → "${text}" on the page: ${Date.now() - navigated} ms (worker had started ${navigated - s.workerSeenAt} ms earlier)`);
      assert.equal(await s.boxBackground(), BLUE);
      const status = await s.status();
      assert.equal(status.mode, "local");
      assert.match(status.url, new RegExp(`:${local.port}\\b`), "status url is the local server's");

      // The Shadow DOM host, as the contract describes it.
      const host = await page.locator(INDICATOR).evaluate((h) => ({
        parent: h.parentElement === document.documentElement,
        open: h.shadowRoot !== null,
        role: h.shadowRoot?.querySelector(".box")?.getAttribute("role"),
        closeLabel: h.shadowRoot?.querySelector("button.close")?.getAttribute("aria-label"),
      }));
      assert.deepEqual(host, { parent: true, open: true, role: "status", closeLabel: "Dismiss Semantest connection indicator" });

      // It never covers ChatGPT's controls: the send button takes a real click.
      await assertClearOfControls(page, "local");
      const indicator = await page.locator(BOX).boundingBox();
      assert.ok(indicator.x + indicator.width > 1280 - 40 && indicator.y + indicator.height > 800 - 40, "indicator is in the bottom-right corner");
      await page.locator("#prompt-textarea").fill("hello from the e2e test");
      await page.locator('[data-testid="send-button"]').click({ timeout: 5000 });
      assert.equal(await page.evaluate(() => window.__sendClicks), 1);
      await s.screenshot("local");

      // Single-page navigation replaces the whole <body>: the indicator stays, still current.
      await page.locator("nav a", { hasText: "Rust to WebAssembly" }).click({ timeout: 5000 });
      await page.waitForURL("**/c/rust-wasm", { timeout: 5000 });
      assert.equal(await page.locator("#thread").getAttribute("data-path"), "/c/rust-wasm");
      await s.waitForLabel(LOCAL_LABEL, { timeout: 5000 });
      await page.evaluate(() => window.spaNavigate("/c/mv3-workers"));
      await s.waitForLabel(LOCAL_LABEL, { timeout: 5000 });
      assert.equal(await page.locator(INDICATOR).count(), 1, "exactly one indicator after navigation");

      // A full reload, in ChatGPT's light theme: the content script runs again, one indicator.
      await page.goto("https://chatgpt.com/?theme=light", { timeout: 20_000 });
      await s.waitForLabel(LOCAL_LABEL);
      assert.equal(await page.locator(INDICATOR).count(), 1);
      await s.screenshot("local-light");
    });
  });

  test("b) local server down → green 'Semantest Cloud - <n>ms' on the public service", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("b-local-down", async (s) => {
      const nothing = await freePort();
      await s.setSettings(settings(`http://localhost:${nothing}`));
      const page = await s.openChatGpt();
      await s.waitForLabel(CLOUD_LABEL);
      assert.equal(await s.boxBackground(), GREEN);
      await assertClearOfControls(page, "cloud");
      const status = await s.status();
      assert.equal(status.mode, "cloud");
      assert.match(status.url, new RegExp(`^wss://${PUBLIC_HOST.replaceAll(".", "\\.")}`));
      console.log(`info: b) on the cloud, the status says of the local server: ${JSON.stringify(status.localReason)}`);
      await s.screenshot("cloud");
    });
  });

  test("c) local server started while on the cloud → blue again within the re-probe interval", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("c-local-returns", async (s, peers) => {
      const port = await freePort();
      const local = peers.local("local", port);
      await s.setSettings(settings(local.url));
      await s.openChatGpt();
      await s.waitForLabel(CLOUD_LABEL);
      await local.start();
      const started = Date.now();
      await s.waitForLabel(LOCAL_LABEL, { timeout: REPROBE_MS + 15_000 });
      console.log(`measure: c) local server ready → indicator blue: ${Date.now() - started} ms (re-probe interval ${REPROBE_MS} ms)`);
      assert.equal(await s.boxBackground(), BLUE);
      assert.equal((await s.status()).mode, "local");
    });
  });

  test("d) local server killed while connected → green", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("d-local-killed", async (s, peers) => {
      const local = await peers.local().start();
      await s.setSettings(settings(local.url));
      await s.openChatGpt();
      await s.waitForLabel(LOCAL_LABEL);
      await local.kill("SIGKILL");
      const killed = Date.now();
      await s.waitForLabel(CLOUD_LABEL);
      console.log(`measure: d) local server SIGKILLed → indicator green: ${Date.now() - killed} ms`);
      assert.equal(await s.boxBackground(), GREEN);
    });
  });

  test("e) both down → offline indicator with a reason; the local server comes up → connected", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("e-both-down", async (s, peers) => {
      await publicService.stop();
      const port = await freePort();
      const local = peers.local("local", port);
      await s.setSettings(settings(local.url));
      const page = await s.openChatGpt();
      const text = await s.waitForLabel(OFFLINE_LABEL);
      console.log(`info: e) offline label: "${text}"`);
      assert.equal(await page.locator(BOX).getAttribute("data-mode"), "offline");
      const background = await s.boxBackground();
      assert.notEqual(background, BLUE);
      assert.notEqual(background, GREEN);
      // Read while offline: between two tries the status goes back to connecting, and a slow
      // machine can read it there (the label above was offline).
      const status = await s.waitForStatus("offline", (st) => st.mode === "offline");
      assert.equal(status.mode, "offline");
      assert.ok(status.reason, "offline status has a reason");
      console.log(`info: e) offline status: reason=${JSON.stringify(status.reason)} local=${JSON.stringify(status.localReason)} remote=${JSON.stringify(status.remoteReason)} nextRetryAt=${status.nextRetryAt}`);
      await s.screenshot("offline");

      await local.start();
      await s.waitForLabel(LOCAL_LABEL, { timeout: 30_000 });
      assert.equal(await s.boxBackground(), BLUE);
    });
  });

  test("e2) a local server that never answers, public down → 'Connecting…', then offline with a reason (never a spinner forever)", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("e2-hung", async (s) => {
      await publicService.stop();
      const hung = await hungServer();
      try {
        await s.setSettings(settings(`http://localhost:${hung.port}`, { probeTimeoutMs: 8000 }));
        const page = await s.openChatGpt();
        await recordLabels(page);
        // "Connecting…" is a passing state: take its picture if we catch it, without requiring it.
        const connecting = await waitFor("connecting", async () => (await s.label()) === "Semantest Connecting…", { timeout: 3000 }).catch(() => false);
        if (connecting) await s.screenshot("connecting");
        console.log(`info: e2) caught "Semantest Connecting…" on the page: ${Boolean(connecting)}`);
        // Offline lasts only until the next retry (full jitter: maybe a few ms), and the retry
        // probes for 8 s again: look for it in the page's own record of the label.
        const offline = await waitFor("an offline label", () => page.evaluate(() => window.__labels.find((l) => l.text?.startsWith("Semantest Offline - "))), { timeout: 30_000, interval: 250, describe: () => s.describe(page) });
        console.log(`info: e2) then: "${offline.text}"`);
        assert.match(offline.text, OFFLINE_LABEL);
      } finally {
        await hung.close();
      }
    });
  });

  test("e3) the offline indicator, with its reason, covers neither the send button nor the message box", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("e3-offline-clear", async (s) => {
      await publicService.stop();
      await s.setSettings(settings(`http://localhost:${await freePort()}`));
      const page = await s.openChatGpt();
      await s.waitForLabel(OFFLINE_LABEL);
      await assertClearOfControls(page, "offline");
    });
  });

  test("f) × hides the indicator (keyboard); a connection change brings it back", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("f-dismiss", async (s, peers) => {
      const local = await peers.local().start();
      await s.setSettings(settings(local.url));
      const page = await s.openChatGpt();
      await s.waitForLabel(LOCAL_LABEL);
      await page.locator(CLOSE).focus({ timeout: 2000 });
      assert.equal(await page.locator(INDICATOR).evaluate((h) => h.shadowRoot.activeElement?.className), "close", "the × takes keyboard focus");
      await page.keyboard.press("Enter");
      await waitFor("the box hidden", () => page.locator(BOX).isHidden(), { timeout: 2000 });
      assert.equal(await page.locator(BOX).getAttribute("hidden"), "");
      await s.screenshot("dismissed");

      await local.kill("SIGKILL");
      await s.waitForLabel(CLOUD_LABEL); // waitForLabel requires the box to be visible
      assert.equal(await s.boxBackground(), GREEN);
    });
  });

  test("g) prefer-local off in the options page → cloud even with the local server up", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("g-prefer-local-off", async (s, peers) => {
      const local = await peers.local().start();
      await s.setSettings(settings(local.url));
      await s.openChatGpt();
      await s.waitForLabel(LOCAL_LABEL);

      const options = await s.openExtensionPage("options.html");
      const checkbox = options.locator("#preferLocal");
      await waitFor("the options form loaded, prefer-local checked", () => checkbox.isEnabled().then(async (on) => on && checkbox.isChecked()), { timeout: 10_000 });
      await checkbox.click({ timeout: 5000 });
      await s.saveOptions(options);
      const stored = (await s.storage()).settings;
      assert.equal(stored.preferLocal, false);
      console.log(`info: g) settings after saving in the options page: ${JSON.stringify(stored)}`);

      await s.page.bringToFront();
      await s.waitForLabel(CLOUD_LABEL);
      assert.ok(local.running, "the local server is still up");
      assert.equal((await s.status()).mode, "cloud");
      assert.equal(await s.boxBackground(), GREEN);
    });
  });

  test("g2) a server with registration closed and no key → offline saying registration is closed; the key entered in the options page → cloud", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("g2-access-key", async (s) => {
      const nothing = await freePort();
      const noKey = settings(`http://localhost:${nothing}`, { retry: { baseMs: 2000, factor: 2, capMs: 4000, maxAttempts: 0 } });
      delete noKey.token;
      await s.setSettings(noKey);
      await s.openChatGpt();
      const refused = await s.waitForStatus("the server refuses to register the extension", (st) => /refused to register/.test(st.remoteReason ?? ""));
      console.log(`info: g2) without a key: ${JSON.stringify(refused.remoteReason)}`);
      assert.match(refused.remoteReason, /registration is closed on this server: ask its operator for an API key/);
      assert.notEqual(refused.mode, "cloud");

      const options = await s.openExtensionPage("options.html");
      await waitFor("the options form loaded", () => options.locator("#token").isEnabled(), { timeout: 10_000 });
      assert.equal((await options.locator("#tokenState").textContent()).trim(), "No key saved.");
      await options.locator("#token").fill("short");
      await options.locator("#save").click({ timeout: 5000 });
      const message = await waitFor("a message in #tokenError", async () => (await options.locator("#tokenError").textContent({ timeout: 1000 }))?.trim() || null, { timeout: 10_000 });
      assert.match(message, /16 to 256/);
      assert.equal(await s.savedToken(), null, "the invalid key was not saved");
      await options.locator("#token").fill(PUBLIC_KEY);
      await s.saveOptions(options);
      assert.equal(await s.savedToken(), PUBLIC_KEY, "saved in the extension's IndexedDB");
      assert.equal((await s.storage()).settings.token, undefined, "not in the synced settings (key-and-backoff.test.mjs s1)");
      assert.equal((await options.locator("#tokenState").textContent()).trim(), "A key is saved.");
      assert.equal(await options.locator("#token").inputValue(), "", "the key is not shown back");

      await s.page.bringToFront();
      await s.waitForLabel(CLOUD_LABEL);
      const status = await s.status();
      assert.equal(status.mode, "cloud");
      assert.doesNotMatch(JSON.stringify(status), new RegExp(PUBLIC_KEY), "the key is not in the shared status");
    });
  });

  test("h) a custom URL entered in the options page is used; an invalid one is refused with a message", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("h-custom-url", async (s, peers) => {
      const custom = await peers.local("custom").start();
      const nothing = await freePort();
      await s.setSettings(settings(`http://localhost:${nothing}`));
      await s.openChatGpt();
      await s.waitForLabel(CLOUD_LABEL);
      assert.match((await s.status()).url, new RegExp(PUBLIC_HOST.replaceAll(".", "\\.")));

      const options = await s.openExtensionPage("options.html");
      await waitFor("the options form loaded", () => options.locator("#customUrl").isEnabled(), { timeout: 10_000 });
      const customUrl = `ws://localhost:${custom.port}`;
      await options.locator("#customUrl").fill(customUrl);
      await s.saveOptions(options);
      assert.equal((await s.storage()).settings.customUrl, customUrl);

      const status = await s.waitForStatus(`connected to ${customUrl}`, (st) => st.mode !== "connecting" && st.mode !== "offline" && st.url?.includes(`:${custom.port}`));
      console.log(`info: h) with the custom URL: mode ${status.mode}, url ${status.url}`);
      await s.waitForLabel(/^Semantest (Cloud|Local Dev) - \d+ms$/);
      const popup = await s.openExtensionPage("popup.html");
      await popup.setViewportSize({ width: 360, height: 200 });
      await waitFor("the popup shows the custom URL", async () => (await popup.locator("#url").textContent({ timeout: 1000 }))?.includes(`localhost:${custom.port}`), { timeout: 10_000 });
      await popup.screenshot({ path: join(ARTIFACTS, "popup-custom-url.png"), timeout: 5000, scale: "css" });
      await popup.close();

      // Anything but ws:// or wss:// is refused, with a message, and changes nothing.
      await options.bringToFront();
      await options.locator("#customUrl").fill("https://example.org");
      await options.locator("#save").click({ timeout: 5000 });
      const message = await waitFor("a message in #customUrlError", async () => {
        const text = (await options.locator("#customUrlError").textContent({ timeout: 1000 }))?.trim();
        return text && (await options.locator("#customUrlError").isVisible()) ? text : null;
      }, { timeout: 5000 });
      console.log(`info: h) message for https://example.org: "${message}"`);
      await options.screenshot({ path: join(ARTIFACTS, "options-invalid-url.png"), fullPage: true, timeout: 5000, scale: "css" });
      const after = await s.storage();
      assert.equal(after.settings.customUrl, customUrl, "the invalid URL was not saved");
      assert.match(after.status.url, new RegExp(`:${custom.port}\\b`), "still on the custom URL");
    });
  });

  test("i) the service worker is stopped with ChatGPT open → the connection comes back by itself (no reload)", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("i-worker-stopped", async (s, peers) => {
      const local = await peers.local().start();
      await s.setSettings(settings(local.url));
      const page = await s.openChatGpt();
      await s.waitForLabel(LOCAL_LABEL);
      const before = await s.status();
      const watch = await stopWorker(s, page, local);
      await recordLabels(page);

      // Now the test does nothing: no reload, no message, no evaluate in the worker until it runs
      // again. (The content script holds a port to the worker and reopens it a moment after it
      // closes, which starts the worker; without a tab, i2 shows the alarm backstop does it.)
      const { stopped, starting } = await watch.restarted(45_000);
      const back = await s.waitForStatus("local again, with a new since", (st) => st.mode === "local" && st.since > before.since);
      assert.match(back.url, new RegExp(`:${local.port}\\b`));
      await s.waitForLabel(LOCAL_LABEL);
      assert.equal(await local.metric("semantest_connections_open"), 1, "one socket again");

      const labels = await page.evaluate(() => window.__labels);
      const firstAfter = labels.find((l) => l.t >= starting.t);
      const firstLocal = labels.find((l) => l.t >= starting.t && LOCAL_LABEL.test(l.text));
      console.log(`measure: i) worker stopped → started again by itself (ChatGPT tab open): ${starting.t - stopped.t} ms`);
      console.log(`measure: i) worker start → first status on the page: ${firstAfter ? `${firstAfter.t - starting.t} ms ("${firstAfter.text}")` : "n/a"}; → "Semantest Local Dev - <n>ms": ${firstLocal ? `${firstLocal.t - starting.t} ms` : "n/a"}`);
      console.log(`info: i) label changes after the stop: ${labels.filter((l) => l.t >= stopped.t).map((l) => `+${l.t - stopped.t} ms "${l.text}"`).join(", ")}`);
      await watch.detach();
    });
  });

  test("i2) the service worker is stopped with no ChatGPT tab → the chrome.alarms backstop brings the connection back", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("i2-worker-stopped-alarm", async (s, peers) => {
      const local = await peers.local().start();
      await s.setSettings(settings(local.url));
      const before = await s.waitForStatus("local", (st) => st.mode === "local" && st.url?.includes(`:${local.port}`));
      const blank = s.context.pages()[0] ?? (await s.context.newPage());
      const watch = await stopWorker(s, blank, local);
      const { stopped, starting } = await watch.restarted(45_000);
      const back = await s.waitForStatus("local again, with a new since", (st) => st.mode === "local" && st.since > before.since);
      assert.match(back.url, new RegExp(`:${local.port}\\b`));
      assert.equal(await local.metric("semantest_connections_open"), 1, "one socket again");
      console.log(`measure: i2) worker stopped → started again by itself (no tab): ${starting.t - stopped.t} ms; → status local again: ${Date.now() - starting.t} ms after its start`);
      await watch.detach();
      await s.openChatGpt();
      await s.waitForLabel(LOCAL_LABEL);
    });
  });

  test("k) the semantest CLI requests an image; the extension takes it from the ChatGPT page, uploads it, and the CLI writes it", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("k-image-flow", async (s, peers) => {
      const local = await peers.local().start();
      await s.setSettings(settings(local.url));
      const page = await s.openChatGpt();
      await s.waitForLabel(LOCAL_LABEL);
      await showGeneratedImage(page);
      const out = mkdtempSync(join(tmpdir(), "semantest-e2e-out-"));
      const started = Date.now();
      // Asynchronously: the ChatGPT stand-in serving the image runs in this process.
      const run = await semantest(["request-image", "--latest", "--out", out, "--name", "cat.png", "--timeout", "30"], local.url);
      console.log(`measure: k) request-image → file written: ${Date.now() - started} ms (${GENERATED_IMAGE.length} bytes)`);
      assert.equal(run.status, 0, `semantest request-image failed: ${run.stdout}${run.stderr}`);
      const written = run.stdout.trim();
      assert.equal(written, join(out, "cat.png"));
      assert.deepEqual(readFileSync(written), GENERATED_IMAGE, "the bytes ChatGPT served are the bytes written");
      const stored = readdirSync(local.imagesDir).filter((f) => f.endsWith("-cat.png"));
      assert.equal(stored.length, 1, `the server kept the upload: ${stored}`);
      assert.deepEqual(readFileSync(join(local.imagesDir, stored[0])), GENERATED_IMAGE);

      // With no image on the page, the CLI gets the extension's reason.
      await page.evaluate(() => document.querySelectorAll("main img").forEach((i) => i.remove()));
      const failed = await semantest(["request-image", "--latest", "--out", out, "--timeout", "30"], local.url);
      assert.equal(failed.status, 1, failed.stdout + failed.stderr);
      assert.equal(failed.stdout, "the extension could not get the image: no generated image on the ChatGPT page\n");
    });
  });

  test("k3) through a self-hosted production server on the cloud: the extension uploads to its POST /images with its token, the CLI (same tenant) downloads it", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("k3-self-hosted-cloud", async (s) => {
      const nothing = await freePort();
      await s.setSettings(settings(`http://localhost:${nothing}`));
      const page = await s.openChatGpt();
      await s.waitForLabel(CLOUD_LABEL);
      await showGeneratedImage(page);
      const out = mkdtempSync(join(tmpdir(), "semantest-e2e-out-"));
      // The CLI reaches the same server behind the TLS stand-in, on its plain port.
      const remote = { url: `ws://127.0.0.1:${publicService.backend.port}`, token: PUBLIC_KEY };
      const run = await semantest(["request-image", "--latest", "--out", out, "--name", "cloud-cat.png", "--timeout", "30"], null, remote);
      assert.equal(run.status, 0, `semantest request-image failed: ${run.stdout}${run.stderr}`);
      assert.deepEqual(readFileSync(join(out, "cloud-cat.png")), GENERATED_IMAGE, "the bytes ChatGPT served are the bytes written");
      // Kept in the key's own folder on the server.
      const folders = readdirSync(publicService.backend.imagesDir);
      assert.equal(folders.length, 1, `one tenant folder: ${folders}`);
      assert.ok(readdirSync(join(publicService.backend.imagesDir, folders[0])).some((f) => f.endsWith("-cloud-cat.png")));
    });
  });

  test("k2) a 5 MB image makes the same round trip", { timeout: TEST_TIMEOUT }, async () => {
    await scenario("k2-big-image", async (s, peers) => {
      const bigImage = pseudoRandomPng(BIG_IMAGE_SIZE);
      chatgpt.offer(BIG_IMAGE_PATH, bigImage);
      const want = sha256(bigImage);
      const local = await peers.local().start();
      await s.setSettings(settings(local.url));
      const page = await s.openChatGpt();
      await s.waitForLabel(LOCAL_LABEL);
      const size = await showGeneratedImage(page, { alt: "Generated image: a big cat", src: BIG_IMAGE_PATH });
      const out = mkdtempSync(join(tmpdir(), "semantest-e2e-out-"));
      const times = [];
      const phases = [];
      for (let i = 0; i <= RUNS; i++) {
        const name = `big-${i}.png`;
        const served = chatgpt.imageRequests.length;
        const started = Date.now();
        // Asynchronously: the ChatGPT stand-in serving the image runs in this process.
        const run = await semantest(["request-image", "--latest", "--out", out, "--name", name, "--timeout", "30"], local.url);
        const ended = Date.now();
        assert.equal(run.status, 0, `run ${i}: semantest request-image failed: ${run.stdout}${run.stderr}`);
        const written = run.stdout.trim();
        assert.equal(written, join(out, name));
        const bytes = readFileSync(written);
        assert.equal(bytes.length, bigImage.length, `run ${i}: the size written`);
        assert.equal(sha256(bytes), want, `run ${i}: the bytes ChatGPT served are the bytes written`);
        if (i === 0) continue; // the warm-up
        times.push(ended - started);
        phases.push(await whereTheTimeGoes(s, local, chatgpt.imageRequests.slice(served), name, started, ended));
      }
      const stored = readdirSync(local.imagesDir).filter((f) => /-big-\d\.png$/.test(f));
      assert.equal(stored.length, RUNS + 1, `the server kept every upload: ${stored}`);
      const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
      console.log(`measure: k2) 5 MB image round trip: runs ${times.join(", ")} ms (median ${median} ms)`);
      console.log(`measure: k2) the image: ${bigImage.length} bytes, a ${size} px PNG; spawn → exit of semantest request-image, after one warm-up run`);
      for (const [i, p] of phases.entries()) console.log(`measure: k2) run ${i + 1}: ${p}`);
    });
  });
});

/**
 * Stops the extension's service worker the way Chrome does when it is idle, through DevTools'
 * ServiceWorker.stopAllWorkers on a session attached to `page`, and checks it really stopped:
 * its running status (same domain) goes to "stopped" and the local server sees its socket close.
 * Returns `restarted(timeout)`, which waits — without touching the worker — until it runs again.
 */
async function stopWorker(s, page, local) {
  assert.equal(await local.metric("semantest_connections_open"), 1, "one socket from the extension");
  const cdp = await s.context.newCDPSession(page);
  const transitions = [];
  cdp.on("ServiceWorker.workerVersionUpdated", ({ versions }) => {
    for (const v of versions) {
      if (v.scriptURL.startsWith(s.origin) && transitions.at(-1)?.status !== v.runningStatus) {
        transitions.push({ status: v.runningStatus, t: Date.now() });
      }
    }
  });
  await cdp.send("ServiceWorker.enable");
  await waitFor("the worker reported running", () => transitions.at(-1)?.status === "running", { timeout: 5000 });
  await cdp.send("ServiceWorker.stopAllWorkers");
  const stopped = await waitFor("the worker stopped", () => transitions.find((x) => x.status === "stopped"), { timeout: 10_000 });
  await waitFor("the local server sees no socket", async () => (await local.metric("semantest_connections_open")) === 0, { timeout: 10_000 });
  return {
    async restarted(timeout) {
      const starting = await waitFor("the worker started again", () => transitions.find((x) => x.t >= stopped.t && x.status === "starting"), { timeout, interval: 250 });
      await waitFor("the worker running again", () => transitions.findLast((x) => x.status === "running" && x.t >= starting.t), { timeout: 10_000 });
      return { stopped, starting };
    },
    detach: () => cdp.detach(),
  };
}
