// tests/e2e/generation.test.mjs — image generation through the ChatGPT tab, end to end.
//
// One browser with the real extension, one real local semantest-server, the ChatGPT stand-in
// (tests/e2e/chatgpt/index.html: a ProseMirror-like composer that takes only real edits, a
// send/stop pair, an assistant turn that shows "Creating image" and then a new image, and the
// failure variants), and the real `semantest` command. Every scenario shares them (a fresh
// browser per scenario would cost more than the scenarios). Each asserts what the requester
// gets: the file (by sha256, against the image the stand-in generated), the stages the CLI
// printed, or the failure's reason and exit 1; and that the queue moves on after each.
// Timings are printed as "measure:" lines, never asserted. The cloud path (presigned S3 through
// the Lambda) is in aws.test.mjs.
// Functions passed to page.evaluate run in the browser:
/* global window, document, chrome */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExtensionSession, LOCAL_LABEL, lastGeneratedImageId, setStandIn } from "./lib/browser.mjs";
import { testCertificate } from "./lib/certs.mjs";
import { ARTIFACTS, CLI_BIN, extensionIdFromManifest, requireBuilt } from "./lib/env.mjs";
import { ChatGptStandIn, SemantestServer, StaticServer, freePort } from "./lib/servers.mjs";
import { waitFor } from "./lib/wait.mjs";

const TEST_TIMEOUT = 120_000;
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

let chatgpt;
let local;
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
  // Nothing listens where the public service would be: this file is about the local server.
  s = await ExtensionSession.launch({ name: "generation", extensionId, chatgptPort: chatgpt.port, publicPort: await freePort() });
  await s.setSettings({ preferLocal: true, localUrl: local.url });
  page = await s.openChatGpt();
  await s.waitForLabel(LOCAL_LABEL);
});

after(async () => {
  await s?.close();
  await local?.kill();
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

const generate = (prompt, name, extra = []) =>
  semantest(["request-image", "--prompt", prompt, "--out", out, "--name", name, "--timeout", "60", ...extra]);

/** The stages the CLI printed on stderr (no terminal): [{stage, secs, position?}]. */
function stages(stderr) {
  return [...stderr.matchAll(/^semantest: (\w+) after ([\d.]+) s(?: \(position (\d+)\))?$/gm)].map((m) => ({
    stage: m[1], secs: Number(m[2]), ...(m[3] ? { position: Number(m[3]) } : {}),
  }));
}

const ALL_STAGES = ["queued", "typing", "sent", "generating", "downloading", "saved"];

/** What the stand-in's composer sent to "ChatGPT", in order. */
const sent = () => page.evaluate(() => window.__standInLog.filter((e) => e.what === "send").map((e) => e.text));

/** Waits until the stand-in received `prompt` (the tab typed and sent it). */
const untilSent = (prompt) => waitFor(`ChatGPT received ${JSON.stringify(prompt)}`, async () => (await sent()).includes(prompt), { timeout: 20_000, describe: () => s.describe(page) });

/** The failure line the CLI prints for `reason`. */
const failedWith = (run, pattern) => {
  assert.equal(run.status, 1, `exit 1 expected: ${run.stdout}${run.stderr}`);
  assert.match(run.stdout, new RegExp(`^image generation failed: ${pattern}`, "m"));
};

describe("image generation through the ChatGPT tab (local server)", { timeout: 15 * 60_000 }, () => {
  test("g1) --prompt types into ChatGPT's composer, sends, waits for the new image and saves exactly it, printing every stage", { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(page, { mode: "image", delayMs: 2500 });
    const prompt = "a red fox in the snow, watercolour";
    const before = await lastGeneratedImageId(page);
    // The user's unsent draft is not sent, and is there again afterwards.
    await page.locator("#prompt-textarea").fill("my unsent draft");
    const running = generate(prompt, "fox.png");
    // Mid-generation: the placeholder is up; a picture of it for the docs.
    await waitFor("ChatGPT's 'Creating image' placeholder", () => page.evaluate(() => /Creating image/.test(document.querySelector("main")?.innerText ?? "")), { timeout: 20_000, describe: () => s.describe(page) });
    await page.screenshot({ path: join(ARTIFACTS, "chatgpt-generating.png"), scale: "css" });
    const run = await running;
    assert.equal(run.status, 0, `semantest request-image --prompt failed: ${run.stdout}${run.stderr}`);
    assert.equal(run.stdout.trim(), join(out, "fox.png"));
    const id = await lastGeneratedImageId(page);
    assert.ok(id && id !== before, `a new image was generated (${before} → ${id})`);
    assert.equal(sha256(readFileSync(join(out, "fox.png"))), sha256(chatgpt.generatedImage(id)), "the saved file is the image the stand-in generated");
    assert.deepEqual(await sent(), [prompt], "ChatGPT received the prompt through its editor, once");
    assert.equal((await page.locator("#prompt-textarea").innerText()).trim(), "my unsent draft", "the draft is back in the composer");
    await page.locator("#prompt-textarea").fill("");
    const seen = stages(run.stderr);
    assert.deepEqual(seen.map((x) => x.stage), ALL_STAGES, run.stderr);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].secs >= seen[i - 1].secs, `stages in time order: ${run.stderr}`);
    const { lastGeneration } = await s.inWorker(() => chrome.storage.session.get("generations").then((g) => ({ lastGeneration: g.generations })));
    assert.deepEqual([lastGeneration.running, lastGeneration.queued], [[], []], "the queue is empty again");
    console.log(`measure: g1) stages (s since the extension took it): ${seen.map((x) => `${x.stage} ${x.secs}`).join(", ")}`);
  });

  test("g2) two requests wait in order: the second is queued while the first generates (the popup shows both), then runs", { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(page, { mode: "image", delayMs: 3000 });
    const first = generate("first: a lighthouse", "one.png");
    await untilSent("first: a lighthouse");
    const second = generate("second: a harbour", "two.png");
    const popup = await s.openExtensionPage("popup.html");
    const lines = await waitFor("the popup shows the running generation and the waiting one", async () => {
      const items = await popup.locator("#generationList li").allTextContents();
      return items.length === 2 && /generating/.test(items[0]) && /waiting #1/.test(items[1]) ? items : null;
    }, { timeout: 15_000 });
    await popup.setViewportSize({ width: 330, height: 260 });
    await popup.screenshot({ path: join(ARTIFACTS, "popup-generations.png") });
    await popup.close();
    const [one, two] = await Promise.all([first, second]);
    assert.equal(one.status, 0, one.stdout + one.stderr);
    assert.equal(two.status, 0, two.stdout + two.stderr);
    assert.deepEqual((await sent()).slice(-2), ["first: a lighthouse", "second: a harbour"], "ChatGPT got them in order");
    const queued = stages(two.stderr);
    assert.deepEqual(queued[0], { stage: "queued", secs: queued[0].secs, position: 1 }, two.stderr);
    assert.deepEqual(queued.map((x) => x.stage), ALL_STAGES, two.stderr);
    assert.notEqual(sha256(readFileSync(join(out, "one.png"))), sha256(readFileSync(join(out, "two.png"))), "two images, not the same one twice");
    console.log(`measure: g2) popup: ${JSON.stringify(lines)}; the second waited ${queued[1].secs} s before typing`);
  });

  test("g3) ChatGPT answers with text only → the reason quotes its answer; exit 1", { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(page, { mode: "text", delayMs: 800 });
    const run = await generate("a cat, but refuse", "text.png");
    failedWith(run, "ChatGPT answered with text and no image: \"I can");
    const quoted = run.stdout.match(/"(.*)"/)?.[1] ?? "";
    assert.ok(quoted.length <= 201, `at most 200 characters quoted: ${quoted.length}`);
    assert.deepEqual(stages(run.stderr).map((x) => x.stage), ["queued", "typing", "sent", "generating"], run.stderr);
  });

  test("g4) ChatGPT's usage limit → named, with ChatGPT's words", { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(page, { mode: "limit", delayMs: 500 });
    failedWith(await generate("a cat over the limit", "limit.png"), "ChatGPT's usage limit is reached: You've hit the free plan limit");
  });

  test("g5) logged out of ChatGPT → named before anything is typed", { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(page, { mode: "loggedOut" });
    const before = (await sent()).length;
    failedWith(await generate("a cat while logged out", "out.png"), "not logged in to ChatGPT");
    assert.equal((await sent()).length, before, "nothing was sent");
  });

  test("g6) no composer on the page → \"ChatGPT's page has changed: no composer\"", { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(page, { mode: "noComposer" });
    failedWith(await generate("a cat on a changed page", "changed.png"), "ChatGPT's page has changed: no composer");
  });

  test("g7) still generating when the timeout ends → named; ChatGPT is stopped so the next request finds the composer free", { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(page, { mode: "never" });
    const run = await semantest(["request-image", "--prompt", "a cat that never comes", "--out", out, "--timeout", "3"]);
    failedWith(run, "ChatGPT was still generating after 3 s");
    await waitFor("the stop button clicked: Send is back", () => page.evaluate(() => Boolean(document.querySelector('[data-testid="send-button"]')) && !document.querySelector('[data-testid="stop-button"]')), { timeout: 5000 });
  });

  test("g8) the tab navigates away mid-generation → named; the queue moves on", { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(page, { mode: "image", delayMs: 8000 });
    const running = generate("a cat, then elsewhere", "nav.png");
    await untilSent("a cat, then elsewhere");
    await page.evaluate(() => window.spaNavigate("/c/rust-wasm"));
    failedWith(await running, "the ChatGPT tab navigated away mid-generation");
  });

  test("g8b) the tab reloads mid-generation → that one is told it navigated away; the one waiting behind it runs in the reloaded tab", { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(page, { mode: "image", delayMs: 6000 });
    const first = generate("a cat, then a reload", "reload1.png");
    await untilSent("a cat, then a reload");
    const second = generate("a cat after the reload", "reload2.png");
    await waitFor("the second request waits", async () => (await s.inWorker(() => chrome.storage.session.get("generations"))).generations?.queued?.length === 1, { timeout: 10_000 });
    await page.reload({ timeout: 20_000 });
    await setStandIn(page, { mode: "image", delayMs: 500 });
    failedWith(await first, "the ChatGPT tab navigated away mid-generation");
    const run = await second;
    assert.equal(run.status, 0, `a reload is not a closed tab: ${run.stdout}${run.stderr}`);
    assert.equal(sha256(readFileSync(join(out, "reload2.png"))), sha256(chatgpt.generatedImage(await lastGeneratedImageId(page))));
  });

  test("g9) the tab is closed mid-generation → named; with no tab open a request fails at once; a new tab serves again", { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(page, { mode: "image", delayMs: 8000 });
    const running = generate("a cat, then closed", "closed.png");
    await untilSent("a cat, then closed");
    await page.close();
    failedWith(await running, "the ChatGPT tab was closed mid-generation");
    failedWith(await generate("a cat with no tab", "none.png"), "no ChatGPT tab is open");
    page = await s.openChatGpt();
    await s.waitForLabel(LOCAL_LABEL);
    await setStandIn(page, { mode: "image", delayMs: 500 });
    const run = await generate("a cat in a new tab", "again.png");
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.equal(sha256(readFileSync(join(out, "again.png"))), sha256(chatgpt.generatedImage(await lastGeneratedImageId(page))));
  });

  test("g10) --latest still takes the newest image already on the page (no generation)", { timeout: TEST_TIMEOUT }, async () => {
    const before = (await sent()).length;
    const latest = await semantest(["request-image", "--latest", "--out", out, "--name", "latest.png", "--timeout", "30"]);
    assert.equal(latest.status, 0, latest.stdout + latest.stderr);
    assert.equal(sha256(readFileSync(join(out, "latest.png"))), sha256(chatgpt.generatedImage(await lastGeneratedImageId(page))), "--latest: the newest image on the page");
    assert.equal((await sent()).length, before, "nothing was sent to ChatGPT");
  });

  test("g11) the SDK: client.generateImage(prompt, {onProgress}) in a web page resolves with the stored image, after every stage", { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(page, { mode: "image", delayMs: 1000 });
    const app = await s.context.newPage();
    try {
      await app.goto(`${web.origin}/www/`, { timeout: 20_000 });
      const result = await app.evaluate(async (localUrl) => {
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
        return { image, progress, failure };
      }, local.url);
      assert.deepEqual(result.progress, ALL_STAGES);
      assert.equal(result.image.prompt, "an owl, from the SDK");
      assert.equal(result.image.sha256, sha256(chatgpt.generatedImage(await lastGeneratedImageId(page))), "the image the stand-in generated");
      assert.equal(result.failure?.code, "generation_failed");
      assert.match(result.failure?.message ?? "", /no prompt/);
    } finally {
      await app.close();
    }
  });
});
