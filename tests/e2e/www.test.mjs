// tests/e2e/www.test.mjs — j) the www/ demo page: the same wasm SDK in an ordinary web page.
//
// The page is served over plain HTTP on loopback (www/ and pkg/ of the repository, the layout a
// developer gets with `python3 -m http.server` in the repository root), in headless Chromium
// without the extension. It connects to a real local semantest-server that allows the page's
// origin (CORS for the probe), pings it and shows the round trip, sends a message and logs what
// arrives; with the local server's port closed it falls back to a second, "remote" server.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { ARTIFACTS, CHROMIUM, requireBuilt } from "./lib/env.mjs";
import { SemantestServer, StaticServer, freePort } from "./lib/servers.mjs";
import { waitFor } from "./lib/wait.mjs";

let web;
let local;
let remote;
let browser;

before(async () => {
  requireBuilt();
  web = await new StaticServer().start();
  local = await new SemantestServer("www-local", { allowOrigins: [web.origin] }).start();
  remote = await new SemantestServer("www-remote", { environment: "production", allowOrigins: [web.origin] }).start();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
});

after(async () => {
  await browser?.close();
  await local?.stop();
  await remote?.stop();
  await web?.close();
});

const text = (page, selector) => page.locator(selector).textContent({ timeout: 1000 }).then((t) => t?.trim() ?? "");

test("j) the www demo connects to the local server, shows a ping's round trip, sends a message and logs what arrives", { timeout: 60_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  try {
    await page.goto(`${web.origin}/www/`, { timeout: 20_000 });
    await page.locator("html[data-ready=true]").waitFor({ state: "attached", timeout: 20_000 });

    await page.locator("#localUrl").fill(local.url);
    await page.locator("#remoteUrl").fill(`ws://127.0.0.1:${remote.port}`);
    await page.locator("#connect").click({ timeout: 5000 });
    await waitFor("#status: local", async () => (await text(page, "#status")).startsWith(`local — ws://localhost:${local.port}`), {
      timeout: 15_000,
      describe: async () => `#status=${JSON.stringify(await text(page, "#status"))} #reason=${JSON.stringify(await text(page, "#reason"))} errors=${JSON.stringify(errors)}`,
    });
    await waitFor("#latency in ms", async () => /^\d+ ms$/.test(await text(page, "#latency")), { timeout: 10_000 });

    await page.locator("#ping").click({ timeout: 5000 });
    const rtt = await waitFor("#pingResult", async () => {
      const t = await text(page, "#pingResult");
      return /^\d+(\.\d+)? ms round trip$/.test(t) ? t : null;
    }, { timeout: 10_000 });
    console.log(`measure: j) www demo ping to the local server: ${rtt}`);
    assert.ok((await page.locator("#log li[data-kind=frame]", { hasText: '"type":"pong"' }).count()) >= 1, "the pong is in the log");

    await page.locator("#action").fill("nope");
    await page.locator("#payload").fill("{}");
    await page.locator("#send").click({ timeout: 5000 });
    await page.locator("#log li[data-kind=frame]", { hasText: "unknown_action" }).first().waitFor({ timeout: 5000 });
    await page.screenshot({ path: join(ARTIFACTS, "www-demo.png"), timeout: 10_000 });

    // Same client, new settings: nothing listens at the local URL any more → the remote.
    await page.locator("#localUrl").fill(`http://localhost:${await freePort()}`);
    await page.locator("#connect").click({ timeout: 5000 });
    await waitFor("#status: cloud on the remote", async () => (await text(page, "#status")).startsWith(`cloud — ws://127.0.0.1:${remote.port}`), {
      timeout: 15_000,
      describe: async () => `#status=${JSON.stringify(await text(page, "#status"))} #reason=${JSON.stringify(await text(page, "#reason"))}`,
    });
    assert.deepEqual(errors, []);
  } catch (e) {
    await page.screenshot({ path: join(ARTIFACTS, "FAILED-j-www-demo.png"), timeout: 5000 }).catch(() => {});
    throw e;
  } finally {
    await page.close();
  }
});
