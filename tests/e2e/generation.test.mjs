// tests/e2e/generation.test.mjs — image generation through the ChatGPT tab, on the local server.
//
// One browser with the real extension, one real local semantest-server, the ChatGPT stand-in
// (tests/e2e/chatgpt/index.html: a ProseMirror-like composer that takes only real edits, a
// send/stop pair, an assistant turn that shows "Creating image" and then a new image, and the
// failure variants), and the real `semantest` command, shared by every scenario (a fresh
// browser per scenario would cost more than the scenarios). The scenarios common to both
// backends are in lib/generation.mjs (aws.test.mjs runs them through the Lambda); this file adds
// --latest and the SDK's generateImage() in a web page.
// Functions passed to page.evaluate run in the browser:
/* global window */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExtensionSession, LOCAL_LABEL, lastGeneratedImageId, setStandIn } from "./lib/browser.mjs";
import { ALL_STAGES, generationScenarios, sha256 } from "./lib/generation.mjs";
import { testCertificate } from "./lib/certs.mjs";
import { CLI_BIN, extensionIdFromManifest, requireBuilt } from "./lib/env.mjs";
import { ChatGptStandIn, SemantestServer, StaticServer, freePort } from "./lib/servers.mjs";

const TEST_TIMEOUT = 120_000;

let chatgpt;
let local;
let lonely;
let web;
let s;
let page;
const out = mkdtempSync(join(tmpdir(), "semantest-e2e-gen-"));

before(async () => {
  requireBuilt();
  const extensionId = extensionIdFromManifest();
  chatgpt = await new ChatGptStandIn(testCertificate()).start();
  web = await new StaticServer().start();
  local = await new SemantestServer("generation-local", { allowOrigins: [`chrome-extension://${extensionId}`, web.origin] }).start();
  // A server no extension is connected to, which holds a request for one second.
  lonely = await new SemantestServer("generation-lonely", { allowOrigins: [web.origin], holdSecs: 1 }).start();
  // Nothing listens where the public service would be: this file is about the local server.
  s = await ExtensionSession.launch({ name: "generation", extensionId, chatgptPort: chatgpt.port, publicPort: await freePort() });
  await s.setSettings({ preferLocal: true, localUrl: local.url });
  page = await s.openChatGpt();
  await s.waitForLabel(LOCAL_LABEL);
});

after(async () => {
  await s?.close();
  await local?.kill();
  await lonely?.kill();
  await web?.close();
  await chatgpt?.close();
});

/** `semantest ARGS` against the local server: {status, stdout, stderr}. */
async function semantest(args) {
  const env = { ...process.env, SEMANTEST_SERVER: "local", SEMANTEST_LOCAL_URL: local.url, XDG_CONFIG_HOME: join(tmpdir(), "semantest-e2e-no-config") };
  try {
    const { stdout, stderr } = await new Promise((ok, fail) => {
      execFile(CLI_BIN, args, { env, timeout: 90_000 }, (e, stdout, stderr) => (e ? fail(Object.assign(e, { stdout, stderr })) : ok({ stdout, stderr })));
    });
    return { status: 0, stdout, stderr };
  } catch (e) {
    return { status: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? String(e) };
  }
}

/** What the stand-in's composer sent to "ChatGPT", in order. */
const sent = () => page.evaluate(() => window.__standInLog.filter((e) => e.what === "send").map((e) => e.text));

describe("image generation through the ChatGPT tab (local server)", { timeout: 15 * 60_000 }, () => {
  generationScenarios("g", { session: () => s, page: () => page, setPage: (p) => { page = p; }, chatgpt: () => chatgpt, label: LOCAL_LABEL, semantest });

  test("g10) --latest still takes the newest image already on the page (no generation)", { timeout: TEST_TIMEOUT }, async () => {
    const before = (await sent()).length;
    const latest = await semantest(["request-image", "--latest", "--out", out, "--name", "latest.png", "--timeout", "30"]);
    assert.equal(latest.status, 0, latest.stdout + latest.stderr);
    assert.equal(sha256(readFileSync(join(out, "latest.png"))), sha256(chatgpt.generatedImage(await lastGeneratedImageId(page))), "--latest: the newest image on the page");
    assert.equal((await sent()).length, before, "nothing was sent to ChatGPT");
  });

  test("g11) the SDK: client.generateImage(prompt, {onProgress}) in a web page resolves with the stored image, after every stage; with no extension it rejects no_extension", { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(page, { mode: "image", delayMs: 1000 });
    const app = await s.context.newPage();
    try {
      await app.goto(`${web.origin}/www/`, { timeout: 20_000 });
      const result = await app.evaluate(async ({ localUrl, lonelyUrl }) => {
        const { default: init, SemantestClient } = await import("/pkg/semantest_connect.js");
        await init();
        const client = new SemantestClient({ strategy: "localOnly", localUrl, clientId: "sdk-e2e" });
        await client.connect();
        const progress = [];
        const image = await client.generateImage("an owl, from the SDK", { filename: "owl.png", onProgress: (p) => progress.push(p.stage) });
        let failure = null;
        try {
          await client.generateImage("", {});
        } catch (e) {
          failure = { code: e.code, message: e.message };
        }
        client.close();
        // Where no extension is connected: the server holds the request, then says so.
        const alone = new SemantestClient({ strategy: "localOnly", localUrl: lonelyUrl, clientId: "sdk-e2e-alone" });
        await alone.connect();
        let unserved = null;
        try {
          await alone.generateImage("an owl nobody draws", { timeoutSecs: 5 });
        } catch (e) {
          unserved = { code: e.code, message: e.message };
        }
        alone.close();
        return { image, progress, failure, unserved };
      }, { localUrl: local.url, lonelyUrl: lonely.url });
      assert.deepEqual(result.progress, ALL_STAGES);
      assert.equal(result.image.prompt, "an owl, from the SDK");
      assert.equal(result.image.sha256, sha256(chatgpt.generatedImage(await lastGeneratedImageId(page))), "the image the stand-in generated");
      assert.equal(result.failure?.code, "generation_failed");
      assert.match(result.failure?.message ?? "", /no prompt/);
      assert.equal(result.unserved?.code, "no_extension", JSON.stringify(result.unserved));
      assert.match(result.unserved?.message ?? "", /no extension took 'imageGenerationRequested'/);
    } finally {
      await app.close();
    }
  });
});
