// tests/e2e/identity.test.mjs — zero-setup identity on a self-hosted production server (behind
// the TLS stand-in, as api.extension.semantest.com), in real headless Chromium:
//
//   two fresh profiles, no key, no setting but "remote only": each is registered by the server
//   and green; each pairs its own CLI through its popup's Pair a device; a CLI reaches its own
//   extension only (the other one's page would have answered differently); wrong and used codes
//   are refused; Revoke in one options page shuts that CLI out and leaves the other's alone; an
//   expired code is told apart and pairing attempts are rate limited (n4, its own strict server).
//
// The CLIs reach the same server on its plain port (the TLS stand-in's certificate is the tests'
// own). The image-generation path through the Lambda is aws.test.mjs i1)–i3).
/* global chrome */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CLOUD_LABEL, ExtensionSession, GREEN, inContentScript, showGeneratedImage } from "./lib/browser.mjs";
import { testCertificate } from "./lib/certs.mjs";
import { ARTIFACTS, CLI_BIN, extensionIdFromManifest, requireBuilt } from "./lib/env.mjs";
import WebSocket from "ws";
import { ChatGptStandIn, GENERATED_IMAGE, PublicStandIn, SemantestServer } from "./lib/servers.mjs";
import { sleep, waitFor, within } from "./lib/wait.mjs";

const TEST_TIMEOUT = 120_000;
const REMOTE_ONLY = { preferLocal: false, retry: { baseMs: 300, factor: 2, capMs: 2000, maxAttempts: 0 } };

let chatgpt;
let service;
const users = {}; // a, b: { session, page, config }

/** `semantest ARGS` as user `who`'s CLI: its own config folder (credentials), no SEMANTEST_TOKEN. */
function cli(who, args) {
  return cliAt(`ws://127.0.0.1:${service.backend.port}`, users[who].config, args);
}

async function cliAt(url, config, args) {
  const env = { ...process.env, SEMANTEST_SERVER: "remote", SEMANTEST_REMOTE_URL: url, XDG_CONFIG_HOME: config };
  delete env.SEMANTEST_TOKEN;
  try {
    const { stdout, stderr } = await promisify(execFile)(CLI_BIN, args, { env, timeout: 60_000 });
    return { status: 0, stdout, stderr };
  } catch (e) {
    return { status: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? String(e) };
  }
}

/** The code user `who`'s popup shows under Pair a device. */
async function pairingCode(who) {
  const popup = await users[who].session.openExtensionPage("popup.html");
  await popup.locator("#pair").click({ timeout: 5000 });
  await popup.locator("#pairing").waitFor({ state: "visible", timeout: 10_000 });
  const code = (await popup.locator("#pairCode").textContent()).trim();
  await popup.close();
  return code;
}

before(async () => {
  requireBuilt();
  const tls = testCertificate();
  const extensionId = extensionIdFromManifest();
  chatgpt = await new ChatGptStandIn(tls).start();
  service = await new PublicStandIn({ ...tls, name: "identity", allowOrigins: [`chrome-extension://${extensionId}`] }).start();
  for (const who of ["a", "b"]) {
    const session = await ExtensionSession.launch({ name: `identity-${who}`, extensionId, chatgptPort: chatgpt.port, publicPort: service.port });
    users[who] = { session, config: mkdtempSync(join(tmpdir(), `semantest-e2e-identity-${who}-`)) };
  }
});

after(async () => {
  for (const u of Object.values(users)) await u.session?.close();
  await service?.close();
  await chatgpt?.close();
});

/** Runs `body`; on failure leaves both users' state in the artifacts. */
async function both(name, body) {
  try {
    await body();
  } catch (e) {
    for (const [who, u] of Object.entries(users)) await u.session.dumpFailure(`${name}-${who}`);
    throw e;
  }
}

describe("zero-setup identity on a self-hosted production server", { timeout: 10 * 60_000 }, () => {
  test("n1) two fresh profiles with no key are each registered by the server and green, each its own install", { timeout: TEST_TIMEOUT }, async () => {
    await both("n1", async () => {
      const installs = [];
      for (const u of Object.values(users)) {
        await u.session.setSettings(REMOTE_ONLY);
        u.page = await u.session.openChatGpt();
        await u.session.waitForLabel(CLOUD_LABEL, { timeout: 30_000 });
        assert.equal(await u.session.boxBackground(), GREEN);
        const token = await u.session.savedToken();
        assert.match(token ?? "", /^sti_[0-9a-f]{64}$/);
        assert.ok(!JSON.stringify(await u.session.allStorage()).includes(token), "the token is in no chrome.storage area");
        const { install } = await u.session.inWorker(() => chrome.storage.local.get("install"));
        installs.push(install.installId);
      }
      assert.notEqual(installs[0], installs[1], "two installs, two tenants");
      // The server's book holds digests, never a token.
      const book = readFileSync(service.backend.identityFile, "utf8");
      for (const u of Object.values(users)) assert.ok(!book.includes(await u.session.savedToken()));
    });
  });

  test("n2) each CLI pairs with its own extension's code; a used or wrong code is refused; each request reaches its own extension only", { timeout: TEST_TIMEOUT }, async () => {
    await both("n2", async () => {
      const unpaired = await cli("a", ["status"]);
      assert.equal(unpaired.status, 1);
      assert.match(unpaired.stdout, /not paired/);
      // A pairing code is worth a device token: the ChatGPT page's content script cannot get one.
      const asked = await inContentScript(users.a.session, users.a.page, String(async () => {
        const answers = {};
        for (const type of ["pairCode", "devices", "revoke"]) answers[type] = await chrome.runtime.sendMessage({ type, deviceId: "dev_0000000000000000" });
        return answers;
      }));
      for (const [type, answer] of Object.entries(asked)) assert.match(answer?.error ?? "", /is for the extension's own pages/, `${type}: ${JSON.stringify(answer)}`);
      for (const who of ["a", "b"]) {
        const code = await pairingCode(who);
        const paired = await cli(who, ["pair", code, "--name", `cli ${who}`]);
        assert.equal(paired.status, 0, paired.stdout + paired.stderr);
        const used = await cli(who, ["pair", code]);
        assert.equal(used.status, 1, "single use");
        assert.match(used.stdout, /pairing refused/);
      }
      const wrong = await cli("a", ["pair", "ZZZZ-ZZZZ"]);
      assert.match(wrong.stdout, /pairing refused: this pairing code is not valid/);

      // Only A's ChatGPT page has an image: A's CLI gets it, B's CLI gets B's own answer.
      await showGeneratedImage(users.a.page);
      const out = mkdtempSync(join(tmpdir(), "semantest-e2e-identity-out-"));
      const a = await cli("a", ["request-image", "--latest", "--out", out, "--name", "a.png", "--timeout", "30"]);
      assert.equal(a.status, 0, a.stdout + a.stderr);
      assert.deepEqual(readFileSync(join(out, "a.png")), GENERATED_IMAGE, "the bytes A's ChatGPT served");
      const b = await cli("b", ["request-image", "--latest", "--out", out, "--name", "b.png", "--timeout", "30"]);
      assert.equal(b.status, 1, b.stdout + b.stderr);
      assert.equal(b.stdout, "the extension could not get the image: no generated image on the ChatGPT page\n", "B's own extension answered");
      const recorded = async (who) => (await users[who].session.inWorker(() => chrome.storage.local.get("lastImage"))).lastImage;
      const lastA = await waitFor("A recorded its answer", () => recorded("a"), { timeout: 10_000 });
      const lastB = await waitFor("B recorded its answer", () => recorded("b"), { timeout: 10_000 });
      assert.equal(lastA.event, "imageDownloaded");
      assert.equal(lastB.event, "imageDownloadFailed");
      assert.notEqual(lastA.requestId, lastB.requestId, "each got only its own CLI's request");
    });
  });

  test("n3) Revoke in A's options page refuses A's CLI with the reason; B's CLI goes on", { timeout: TEST_TIMEOUT }, async () => {
    await both("n3", async () => {
      const options = await users.a.session.openExtensionPage("options.html");
      const row = options.locator("#deviceRows tr", { hasText: "cli a" });
      await row.waitFor({ state: "visible", timeout: 10_000 });
      assert.equal(await options.locator("#deviceRows tr", { hasText: "cli b" }).count(), 0, "A lists only its own devices");
      await options.screenshot({ path: join(ARTIFACTS, "identity-devices-a.png"), fullPage: true, timeout: 10_000 });
      await row.locator("button", { hasText: "Revoke" }).click({ timeout: 5000 });
      await waitFor("A's device gone from the list", async () => (await options.locator("#deviceRows tr", { hasText: "cli a" }).count()) === 0, { timeout: 10_000 });
      const refused = await cli("a", ["status"]);
      assert.equal(refused.status, 1);
      assert.match(refused.stdout + refused.stderr, /revoked/);
      const fine = await cli("b", ["status"]);
      assert.equal(fine.status, 0, fine.stdout + fine.stderr);
    });
  });

  test("n4) an expired code is refused as expired; pairing attempts are limited per address, with when to try again", { timeout: TEST_TIMEOUT }, async () => {
    // Its own server: codes live 1 s, three attempts an hour; the install is a plain WebSocket.
    const strict = await new SemantestServer("identity-strict", { environment: "production", pairAttemptsPerHour: 3, pairCodeTtlSecs: 1 }).start();
    const install = new WebSocket(`ws://127.0.0.1:${strict.port}`);
    try {
      const answers = new Map();
      install.on("message", (d) => {
        const f = JSON.parse(d.toString());
        answers.get(f.replyTo)?.(f);
      });
      await within(10_000, "the install's socket", new Promise((ok, fail) => { install.once("open", ok); install.once("error", fail); }));
      const ask = (frame) => within(10_000, frame.action, new Promise((ok) => { answers.set(frame.id, ok); install.send(JSON.stringify(frame)); }));
      await ask({ action: "hello", id: "h", payload: { role: "extension", clientId: "strict", version: "1" } });
      assert.equal((await ask({ action: "register", id: "r", payload: { role: "extension", name: "strict" } })).type, "registered");
      const { payload: { code } } = await ask({ action: "pairCode", id: "c", payload: {} });
      await sleep(1500);
      const config = mkdtempSync(join(tmpdir(), "semantest-e2e-identity-strict-"));
      const url = `ws://127.0.0.1:${strict.port}`;
      const late = await cliAt(url, config, ["pair", code]);
      assert.equal(late.status, 1);
      assert.match(late.stdout, /pairing refused: this pairing code expired/);
      for (const guess of ["ZZZZ-ZZZZ", "ZZZZ-ZZZY"]) assert.match((await cliAt(url, config, ["pair", guess])).stdout, /this pairing code is not valid/);
      const limited = await cliAt(url, config, ["pair", "ZZZZ-ZZZX"]);
      assert.equal(limited.status, 1);
      assert.match(limited.stdout, /pairing refused: too many pairing attempts from this address: at most 3 an hour \(try again in \d+ s\)/);
    } finally {
      install.terminate();
      await strict.stop();
    }
  });
});
