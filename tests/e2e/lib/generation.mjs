// tests/e2e/lib/generation.mjs — the image-generation scenarios, written once and run against
// each backend: the developer's local server (generation.test.mjs) and the public service's
// Lambda behind the API Gateway stand-in (aws.test.mjs). Each file gives its own browser session,
// ChatGPT stand-in and `semantest` runner, so the scenarios share what the file already started.
// They assert what the requester gets: the file (by sha256, against the image the stand-in
// generated), the stages the CLI printed, or the failure's reason and exit 1; and that the queue
// moves on after each. Timings are printed as "measure:" lines, never asserted.
// Functions passed to page.evaluate run in the browser:
/* global window, document, chrome */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lastGeneratedImageId, setStandIn } from "./browser.mjs";
import { ARTIFACTS } from "./env.mjs";
import { waitFor } from "./wait.mjs";

const TEST_TIMEOUT = 120_000;
export const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** The stages the CLI printed on stderr (no terminal): [{stage, secs, position?}]. */
export function stages(stderr) {
  return [...stderr.matchAll(/^semantest: (\w+) after ([\d.]+) s(?: \(position (\d+)\))?$/gm)].map((m) => ({
    stage: m[1], secs: Number(m[2]), ...(m[3] ? { position: Number(m[3]) } : {}),
  }));
}

export const ALL_STAGES = ["queued", "typing", "sent", "generating", "downloading", "saved"];

/** The failure line the CLI prints for `reason`. */
export const failedWith = (run, pattern) => {
  assert.equal(run.status, 1, `exit 1 expected: ${run.stdout}${run.stderr}`);
  assert.match(run.stdout, new RegExp(`^image generation failed: ${pattern}`, "m"));
};

/**
 * Defines the scenarios as tests of the enclosing describe, each name starting with `tag`
 * ("g" local, "c" cloud). `ctx`: session() (the ExtensionSession), page() / setPage(p) (the
 * ChatGPT tab), chatgpt() (the ChatGptStandIn), label (the indicator's connected label),
 * semantest(args) → {status, stdout, stderr}.
 */
export function generationScenarios(tag, ctx) {
  const { label, semantest } = ctx;
  const out = mkdtempSync(join(tmpdir(), `semantest-e2e-gen-${tag}-`));
  const generate = (prompt, name, extra = []) =>
    semantest(["request-image", "--prompt", prompt, "--out", out, "--name", name, "--timeout", "60", ...extra]);
  /** What the stand-in's composer sent to "ChatGPT", in order. */
  const sent = () => ctx.page().evaluate(() => window.__standInLog.filter((e) => e.what === "send").map((e) => e.text));
  /** Waits until the stand-in received `prompt` (the tab typed and sent it). */
  const untilSent = (prompt) => waitFor(`ChatGPT received ${JSON.stringify(prompt)}`, async () => (await sent()).includes(prompt), { timeout: 20_000, describe: () => ctx.session().describe(ctx.page()) });
  const name = (text) => text.replace(/^g/, tag);

  test(name("g1) --prompt types into ChatGPT's composer, sends, waits for the new image and saves exactly it, printing every stage"), { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(ctx.page(), { mode: "image", delayMs: 2500 });
    const prompt = "a red fox in the snow, watercolour";
    const before = await lastGeneratedImageId(ctx.page());
    // The user's unsent draft is not sent, and is there again afterwards.
    await ctx.page().locator("#prompt-textarea").fill("my unsent draft");
    const running = generate(prompt, "fox.png");
    // Mid-generation: the placeholder is up; a picture of it for the docs.
    await waitFor("ChatGPT's 'Creating image' placeholder", () => ctx.page().evaluate(() => /Creating image/.test(document.querySelector("main")?.innerText ?? "")), { timeout: 20_000, describe: () => ctx.session().describe(ctx.page()) });
    await ctx.page().screenshot({ path: join(ARTIFACTS, `${tag}-chatgpt-generating.png`), scale: "css" });
    const run = await running;
    assert.equal(run.status, 0, `semantest request-image --prompt failed: ${run.stdout}${run.stderr}`);
    assert.equal(run.stdout.trim(), join(out, "fox.png"));
    const id = await lastGeneratedImageId(ctx.page());
    assert.ok(id && id !== before, `a new image was generated (${before} → ${id})`);
    assert.equal(sha256(readFileSync(join(out, "fox.png"))), sha256(ctx.chatgpt().generatedImage(id)), "the saved file is the image the stand-in generated");
    assert.deepEqual(await sent(), [prompt], "ChatGPT received the prompt through its editor, once");
    assert.equal((await ctx.page().locator("#prompt-textarea").innerText()).trim(), "my unsent draft", "the draft is back in the composer");
    await ctx.page().locator("#prompt-textarea").fill("");
    const seen = stages(run.stderr);
    assert.deepEqual(seen.map((x) => x.stage), ALL_STAGES, run.stderr);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].secs >= seen[i - 1].secs, `stages in time order: ${run.stderr}`);
    const { lastGeneration } = await ctx.session().inWorker(() => chrome.storage.session.get("generations").then((g) => ({ lastGeneration: g.generations })));
    assert.deepEqual([lastGeneration.running, lastGeneration.queued], [[], []], "the queue is empty again");
    console.log(`measure: ${tag}1) stages (s since the extension took it): ${seen.map((x) => `${x.stage} ${x.secs}`).join(", ")}`);
  });

  test(name("g2) two requests wait in order: the second is queued while the first generates (the popup shows both), then runs"), { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(ctx.page(), { mode: "image", delayMs: 3000 });
    const first = generate("first: a lighthouse", "one.png");
    await untilSent("first: a lighthouse");
    const second = generate("second: a harbour", "two.png");
    const popup = await ctx.session().openExtensionPage("popup.html");
    const lines = await waitFor("the popup shows the running generation and the waiting one", async () => {
      const items = await popup.locator("#generationList li").allTextContents();
      return items.length === 2 && /generating/.test(items[0]) && /waiting #1/.test(items[1]) ? items : null;
    }, { timeout: 15_000 });
    await popup.setViewportSize({ width: 330, height: 260 });
    await popup.screenshot({ path: join(ARTIFACTS, `${tag}-popup-generations.png`) });
    await popup.close();
    const [one, two] = await Promise.all([first, second]);
    assert.equal(one.status, 0, one.stdout + one.stderr);
    assert.equal(two.status, 0, two.stdout + two.stderr);
    assert.deepEqual((await sent()).slice(-2), ["first: a lighthouse", "second: a harbour"], "ChatGPT got them in order");
    const queued = stages(two.stderr);
    assert.deepEqual(queued[0], { stage: "queued", secs: queued[0].secs, position: 1 }, two.stderr);
    assert.deepEqual(queued.map((x) => x.stage), ALL_STAGES, two.stderr);
    assert.notEqual(sha256(readFileSync(join(out, "one.png"))), sha256(readFileSync(join(out, "two.png"))), "two images, not the same one twice");
    console.log(`measure: ${tag}2) popup: ${JSON.stringify(lines)}; the second waited ${queued[1].secs} s before typing`);
  });

  test(name("g3) ChatGPT answers with text only → the reason quotes its answer; exit 1"), { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(ctx.page(), { mode: "text", delayMs: 800 });
    const run = await generate("a cat, but refuse", "text.png");
    failedWith(run, "ChatGPT answered with text and no image: \"I can");
    const quoted = run.stdout.match(/"(.*)"/)?.[1] ?? "";
    assert.ok(quoted.length <= 201, `at most 200 characters quoted: ${quoted.length}`);
    assert.deepEqual(stages(run.stderr).map((x) => x.stage), ["queued", "typing", "sent", "generating"], run.stderr);
  });

  test(name("g4) ChatGPT's usage limit → named, with ChatGPT's words"), { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(ctx.page(), { mode: "limit", delayMs: 500 });
    failedWith(await generate("a cat over the limit", "limit.png"), "ChatGPT's usage limit is reached: You've hit the free plan limit");
  });

  test(name("g5) logged out of ChatGPT → named before anything is typed"), { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(ctx.page(), { mode: "loggedOut" });
    const before = (await sent()).length;
    failedWith(await generate("a cat while logged out", "out.png"), "not logged in to ChatGPT");
    assert.equal((await sent()).length, before, "nothing was sent");
  });

  test(name("g6) no composer on the page → \"ChatGPT's page has changed: no composer\""), { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(ctx.page(), { mode: "noComposer" });
    failedWith(await generate("a cat on a changed page", "changed.png"), "ChatGPT's page has changed: no composer");
  });

  test(name("g7) still generating when the timeout ends → named; ChatGPT is stopped so the next request finds the composer free"), { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(ctx.page(), { mode: "never" });
    const run = await semantest(["request-image", "--prompt", "a cat that never comes", "--out", out, "--timeout", "3"]);
    failedWith(run, "ChatGPT was still generating after 3 s");
    await waitFor("the stop button clicked: Send is back", () => ctx.page().evaluate(() => Boolean(document.querySelector('[data-testid="send-button"]')) && !document.querySelector('[data-testid="stop-button"]')), { timeout: 5000 });
  });

  test(name("g8) the tab navigates away mid-generation → named; the queue moves on"), { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(ctx.page(), { mode: "image", delayMs: 8000 });
    const running = generate("a cat, then elsewhere", "nav.png");
    await untilSent("a cat, then elsewhere");
    await ctx.page().evaluate(() => window.spaNavigate("/c/rust-wasm"));
    failedWith(await running, "the ChatGPT tab navigated away mid-generation");
  });

  test(name("g8b) the tab reloads mid-generation → that one is told it navigated away; the one waiting behind it runs in the reloaded tab"), { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(ctx.page(), { mode: "image", delayMs: 6000 });
    const first = generate("a cat, then a reload", "reload1.png");
    await untilSent("a cat, then a reload");
    const second = generate("a cat after the reload", "reload2.png");
    await waitFor("the second request waits", async () => (await ctx.session().inWorker(() => chrome.storage.session.get("generations"))).generations?.queued?.length === 1, { timeout: 10_000 });
    await ctx.page().reload({ timeout: 20_000 });
    await setStandIn(ctx.page(), { mode: "image", delayMs: 500 });
    failedWith(await first, "the ChatGPT tab navigated away mid-generation");
    const run = await second;
    assert.equal(run.status, 0, `a reload is not a closed tab: ${run.stdout}${run.stderr}`);
    assert.equal(sha256(readFileSync(join(out, "reload2.png"))), sha256(ctx.chatgpt().generatedImage(await lastGeneratedImageId(ctx.page()))));
  });

  test(name("g9) the tab is closed mid-generation → named; with no tab open a request fails at once; a new tab serves again"), { timeout: TEST_TIMEOUT }, async () => {
    await setStandIn(ctx.page(), { mode: "image", delayMs: 8000 });
    const running = generate("a cat, then closed", "closed.png");
    await untilSent("a cat, then closed");
    await ctx.page().close();
    failedWith(await running, "the ChatGPT tab was closed mid-generation");
    failedWith(await generate("a cat with no tab", "none.png"), "no ChatGPT tab is open");
    ctx.setPage(await ctx.session().openChatGpt());
    await ctx.session().waitForLabel(label);
    await setStandIn(ctx.page(), { mode: "image", delayMs: 500 });
    const run = await generate("a cat in a new tab", "again.png");
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.equal(sha256(readFileSync(join(out, "again.png"))), sha256(ctx.chatgpt().generatedImage(await lastGeneratedImageId(ctx.page()))));
  });
}
