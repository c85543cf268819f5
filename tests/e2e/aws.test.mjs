// tests/e2e/aws.test.mjs — the public service as it runs on AWS, end to end, without AWS: the
// real Lambda binary (deploy/lambda/dist/bootstrap, all four handlers) behind the API Gateway
// stand-in (deploy/local/gateway.mjs: WebSocket API, @connections, HTTP API), with DynamoDB and
// S3 from moto on loopback. Its clients are the real ones: the `semantest` command
// (SEMANTEST_SERVER=remote) and the extension in headless Chromium (strategy remoteOnly).
//
// Every wait is bounded; timings are printed as "measure:" lines, never asserted. Logs:
// .build/e2e-logs/aws-gateway.log (every function's output); screenshots: .build/e2e-artifacts/.
// Functions passed to s.inWorker run in the extension's service worker:
/* global chrome */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import WebSocket from "ws";
import { CLOUD_LABEL, ExtensionSession, GREEN, showGeneratedImage } from "./lib/browser.mjs";
import { generationScenarios } from "./lib/generation.mjs";
import { testCertificate } from "./lib/certs.mjs";
import { ARTIFACTS, CLI_BIN, EXTENSION_DIR, LOGS, ROOT, extensionIdFromManifest } from "./lib/env.mjs";
import { ChatGptStandIn, GENERATED_IMAGE, freePort } from "./lib/servers.mjs";
import { waitFor, within } from "./lib/wait.mjs";
import { startGateway } from "../../deploy/local/gateway.mjs";
import { createResources, scanItems, startMoto } from "../../deploy/local/moto.mjs";

const BOOTSTRAP = resolve(ROOT, process.env.E2E_LAMBDA ?? "deploy/lambda/dist/bootstrap");
const TEST_TIMEOUT = 120_000;
/** The stack's API key (the handlers get its SHA-256, as the Pulumi program configures them). */
const KEY = "e2e-aws-key-0123456789abcdef";
const TABLE = "semantest-e2e-connections";
const BUCKET = "semantest-e2e-images";
/** What the extension answers on the cloud (extension/background.js, downloadImage). */

/** Keys the service refuses, and the message of its `error unauthorized` (protocol/src/keys.rs). */
const REFUSED_KEYS = [
  { what: "wrong key", token: "not-the-key-0123456789", message: "the API key is not valid" },
];

let moto;
let gateway;

before(async () => {
  const missing = [
    [BOOTSTRAP, "the Lambda binary"],
    [CLI_BIN, "the release semantest command"],
    [join(EXTENSION_DIR, "manifest.json"), "the unpacked extension"],
  ].filter(([path]) => !existsSync(path));
  if (missing.length) throw new Error(`not built: ${missing.map(([p, what]) => `${what} (${p})`).join(", ")}; run ./build.sh build`);
  const started = Date.now();
  moto = await startMoto();
  await createResources(moto.url, { table: TABLE, bucket: BUCKET });
  gateway = await startGateway({ bootstrap: BOOTSTRAP, log: join(LOGS, "aws-gateway.log"), env: lambdaEnv() });
  console.log(`e2e aws: moto ${moto.url}; gateway ${gateway.wsUrl} (http ${gateway.httpUrl}, management ${gateway.managementUrl}); ready in ${Date.now() - started} ms`);
});

after(async () => {
  await gateway?.close();
  await moto?.stop();
});

/** The functions' configuration, as the Pulumi program sets it (with moto for AWS). */
function lambdaEnv() {
  return {
    SEMANTEST_TABLE: TABLE,
    SEMANTEST_BUCKET: BUCKET,
    SEMANTEST_API_KEY_SHA256: createHash("sha256").update(KEY).digest("hex"),
    SEMANTEST_ENVIRONMENT: "dev",
    SEMANTEST_S3_FORCE_PATH_STYLE: "true",
    AWS_ENDPOINT_URL: moto.url,
    RUST_LOG: "info",
  };
}

/** Runs the `semantest` command against the gateway (or `url`): { status, stdout, stderr }. */
async function semantest(args, { token = KEY, url = gateway.wsUrl, config = join(tmpdir(), "semantest-e2e-no-config") } = {}) {
  // The config folder is where semantest pair keeps its token: never the one of whoever runs the tests.
  const env = { ...process.env, SEMANTEST_SERVER: "remote", SEMANTEST_REMOTE_URL: url, XDG_CONFIG_HOME: config };
  delete env.SEMANTEST_TOKEN;
  if (token) env.SEMANTEST_TOKEN = token;
  try {
    const { stdout, stderr } = await promisify(execFile)(CLI_BIN, args, { env, timeout: 60_000 });
    return { status: 0, stdout, stderr };
  } catch (e) {
    return { status: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? String(e) };
  }
}

/** `semantest listen EVENTS... --count N` in the background: { output(), done (exit code) }. */
function listen(events, count) {
  const env = { ...process.env, SEMANTEST_SERVER: "remote", SEMANTEST_REMOTE_URL: gateway.wsUrl, SEMANTEST_TOKEN: KEY };
  const child = spawn(CLI_BIN, ["listen", ...events, "--count", String(count)], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (t) => { out += t; });
  child.stderr.setEncoding("utf8").on("data", (t) => { out += t; });
  const done = new Promise((ok) => child.once("exit", (code) => ok(code)));
  return { child, output: () => out, done };
}

/** The invocations of the `default` function for `routeKey` that have finished. */
const finished = (routeKey) => gateway.invocations.filter((i) => i.function === "default" && i.routeKey === routeKey && ("result" in i || "error" in i));

/** Waits until a subscribe to `event` went through the Lambda and was acknowledged. */
function subscribed(event, { timeout = 20_000 } = {}) {
  return waitFor(`a subscribe to ${event} acknowledged by the Lambda`, () => finished("subscribe").find((i) => {
    return JSON.parse(i.event.body).payload?.events?.includes(event) && /"type":"ack"/.test(i.result?.body ?? "");
  }), { timeout });
}

/** A raw WebSocket client of the gateway, with its frames queued. */
async function rawClient(query, protocols) {
  const ws = new WebSocket(`${gateway.wsUrl}/?${query}`, protocols);
  const frames = [];
  const closed = new Promise((ok) => ws.once("close", (code, reason) => ok({ code, reason: reason.toString() })));
  ws.on("message", (d) => frames.push(JSON.parse(d.toString())));
  await within(10_000, "the raw client's handshake", new Promise((ok, fail) => {
    ws.once("open", ok);
    ws.once("error", fail);
  }));
  const reply = (id) => waitFor(`the reply to ${id}`, () => frames.find((f) => f.replyTo === id), { timeout: 10_000 });
  return { ws, frames, reply, closed, send: (frame) => ws.send(JSON.stringify(frame)) };
}

/** The items of the table that mention `connectionId` anywhere (its keys or attributes). */
async function itemsOf(connectionId) {
  return (await scanItems(moto.url, TABLE)).filter((item) => JSON.stringify(item).includes(connectionId));
}

describe("the public service on AWS (Lambda behind the API Gateway stand-in, moto)", { timeout: 10 * 60_000 }, () => {
  test("a) the semantest CLI pings through API Gateway, which answers the pongs itself (no Lambda)", { timeout: TEST_TIMEOUT }, async () => {
    const health = await fetch(`${gateway.httpUrl}/health`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(health.status, 200, "GET /health through the http function");
    console.log(`info: a) GET /health: ${await health.text()}`);
    const signature = await fetch(`${gateway.httpUrl}/signature`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(signature.status, 200);
    const signed = await signature.json();
    console.log(`info: a) GET /signature: ${JSON.stringify(signed)}`);
    assert.match(JSON.stringify(signed), /"dev"/, "the stack's environment");

    const pingsBefore = finished("ping").length;
    const mockedBefore = gateway.mocked.length;
    const started = Date.now();
    const run = await semantest(["ping", "--count", "3"]);
    console.log(`measure: a) semantest ping --count 3 through the gateway: ${Date.now() - started} ms`);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const lines = run.stdout.trim().split("\n");
    assert.equal(lines.length, 3, run.stdout);
    for (const line of lines) assert.match(line, /^pong from ws:\/\/127\.0\.0\.1:\d+\/?: seq=\d time=[\d.]+ ms$/);
    // The core's own pings and the command's three: all answered by the ping route's mock.
    const pongs = gateway.mocked.slice(mockedBefore).filter((m) => m.routeKey === "ping" && /"type":"pong"/.test(m.reply ?? ""));
    assert.ok(pongs.length >= 3, `API Gateway answered the pings (${pongs.length} pongs)`);
    assert.equal(finished("ping").length, pingsBefore, "no ping reached the Lambda");

    const send = await semantest(["send", "ping", '{"t":12345}']);
    assert.equal(send.status, 0, send.stdout + send.stderr);
    const frame = JSON.parse(send.stdout);
    assert.equal(frame.type, "pong");
    assert.equal(frame.payload.t, 12345);
    assert.equal(typeof frame.payload.serverTime, "number");
  });

  test("a1) without a token a socket is welcomed and may ping, nothing else; semantest status says to pair and exits 1", { timeout: TEST_TIMEOUT }, async () => {
    const client = await rawClient("who=a1-keyless");
    try {
      client.send({ action: "hello", id: "h1", payload: { role: "client", clientId: "a1", version: "0.0.0" } });
      assert.equal((await client.reply("h1")).type, "welcome");
      client.send({ action: "ping", id: "p1", payload: { t: 1 } });
      assert.equal((await client.reply("p1")).type, "pong");
      client.send({ action: "subscribe", id: "s1", payload: { events: ["x"] } });
      const refused = await client.reply("s1");
      assert.equal(refused.payload.code, "unauthorized", JSON.stringify(refused));
      assert.match(refused.payload.message, /register .* pair/);
    } finally {
      client.ws.terminate();
    }
    const run = await semantest(["status"], { token: null });
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /not paired: .*semantest pair CODE/s);
  });

  test("a2) a wrong key is refused: the Lambda sends 'error unauthorized' with the reason, then deletes the connection; the CLI exits 1", { timeout: TEST_TIMEOUT }, async () => {
    for (const { what, token, message } of REFUSED_KEYS) {
      // What the service sends, as a raw client sees it.
      const client = await rawClient(`who=a2-${what.replace(/\W/g, "-")}`);
      client.send({ action: "hello", id: "h1", payload: { role: "client", clientId: "a2", version: "0.0.0", ...(token ? { token } : {}) } });
      const error = await client.reply("h1");
      assert.deepEqual({ type: error.type, payload: error.payload }, { type: "error", payload: { code: "unauthorized", message } }, what);
      const { code } = await within(10_000, `${what}: the close after the refusal`, client.closed);
      assert.equal(code, 1000, `${what}: closed through DELETE @connections`);

      // What the command makes of it.
      const run = await semantest(["ping", "--count", "1"], { token });
      console.log(`info: a2) ${what}: semantest ping exits ${run.status}: ${JSON.stringify(run.stdout + run.stderr)}`);
      assert.equal(run.status, 1, `${what}: ${run.stdout}${run.stderr}`);
      assert.match(run.stdout, /^remote: connection closed/m, what);
    }
    // Through the handshake's Authorization header, a wrong key never gets a socket.
    const refused = new WebSocket(gateway.wsUrl, { headers: { Authorization: "Bearer not-the-key-0123456789" } });
    const status = await within(10_000, "the refused handshake", new Promise((ok) => {
      refused.once("unexpected-response", (_req, res) => ok(res.statusCode));
      refused.once("open", () => ok("opened"));
      refused.once("error", (e) => ok(e.message));
    }));
    assert.equal(status, 401);
  });

  // API Gateway's DeleteConnection gives no close reason: the core takes the reason from the
  // 'error unauthorized' frame that comes just before the close.
  test("a2') the CLI names the refusal ('unauthorized') when the key is wrong", { timeout: TEST_TIMEOUT }, async () => {
    for (const { what, token } of REFUSED_KEYS) {
      const run = await semantest(["ping", "--count", "1"], { token });
      assert.match(run.stdout, /unauthorized/, `${what}: ${run.stdout}`);
    }
  });

  test("a3) a key in the bearer subprotocol authenticates the handshake, and semantest.v1 is selected", { timeout: TEST_TIMEOUT }, async () => {
    const client = await rawClient("who=a3", ["semantest.v1", `bearer.${KEY}`]);
    try {
      assert.equal(client.ws.protocol, "semantest.v1");
      client.send({ action: "ping", id: "p1", payload: { t: 7 } });
      const pong = await client.reply("p1");
      assert.equal(pong.type, "pong", JSON.stringify(pong));
      assert.equal(pong.payload.t, 7);
    } finally {
      client.ws.terminate();
    }
  });

  // API Gateway neither orders a connection's messages nor waits for one to be handled before
  // invoking the next (each may reach another Lambda instance). The core shows its key in the
  // handshake (bearer subprotocol), so $connect knows it before any frame, and a frame handled
  // before the hello is fine. Here the hello is held back 1 s, as a cold instance might hold it.
  test("a4) frames handled before the hello (no ordering on AWS) do not get the connection refused", { timeout: TEST_TIMEOUT }, async () => {
    const racing = await startGateway({
      bootstrap: BOOTSTRAP,
      log: join(LOGS, "aws-gateway-unordered.log"),
      env: lambdaEnv(),
      concurrency: 2,
      ordered: false,
      beforeInvoke: (_name, event) => event.requestContext?.routeKey === "hello" && new Promise((ok) => setTimeout(ok, 1000)),
    });
    try {
      const run = await semantest(["ping", "--count", "1"], { url: racing.wsUrl });
      console.log(`info: a4) hello held back 1 s: semantest ping exits ${run.status}: ${JSON.stringify(run.stdout)}`);
      assert.equal(run.status, 0, run.stdout + run.stderr);
    } finally {
      await racing.close();
    }
  });

  test("c) semantest listen in one process, semantest send publish in another: the event arrives through the Lambda's fan-out; $disconnect removes the listener", { timeout: TEST_TIMEOUT }, async () => {
    const listener = listen(["greeting"], 1);
    try {
      const { connectionId } = await subscribed("greeting");
      assert.ok((await itemsOf(connectionId)).length >= 2, "the listener and its subscription are in the table");
      const started = Date.now();
      const publish = await semantest(["send", "publish", '{"event":"greeting","data":{"n":1}}']);
      assert.equal(publish.status, 0, publish.stdout + publish.stderr);
      const ack = JSON.parse(publish.stdout);
      assert.equal(ack.type, "ack");
      assert.equal(ack.payload.delivered, 1, publish.stdout);
      const code = await within(20_000, "the listener's exit after one event", listener.done);
      console.log(`measure: c) publish → the listener printed the event and exited: ${Date.now() - started} ms`);
      assert.equal(code, 0, listener.output());
      assert.match(listener.output(), /^greeting from \S+: \{"n":1\}$/m);
      assert.ok(gateway.managementCalls.some((c) => c.connectionId === connectionId && c.method === "POST" && c.status === 200), "delivered through @connections");
      await waitFor("the listener's items deleted by $disconnect", async () => (await itemsOf(connectionId)).length === 0, { timeout: 10_000, interval: 200 });
    } finally {
      listener.child.kill();
    }
  });

  test("d) a subscriber API Gateway no longer knows (410 Gone) is pruned from DynamoDB at the next publish", { timeout: TEST_TIMEOUT }, async () => {
    const client = await rawClient("who=d-subscriber");
    try {
      const id = gateway.connections().find((c) => c.query.who === "d-subscriber").connectionId;
      client.send({ action: "hello", id: "h1", payload: { role: "client", clientId: "d-subscriber", version: "0.0.0", token: KEY } });
      assert.equal((await client.reply("h1")).type, "welcome");
      client.send({ action: "subscribe", id: "s1", payload: { events: ["dEvent"] } });
      assert.equal((await client.reply("s1")).type, "ack");
      const before = await itemsOf(id);
      console.log(`info: d) the subscriber's items: ${JSON.stringify(before)}`);
      assert.ok(before.length >= 1, "the subscriber is in the table");

      assert.equal(gateway.forget(id), true);
      const publish = await semantest(["send", "publish", '{"event":"dEvent","data":{}}']);
      assert.equal(publish.status, 0, publish.stdout + publish.stderr);
      assert.equal(JSON.parse(publish.stdout).payload.delivered, 0, publish.stdout);
      assert.ok(gateway.managementCalls.some((c) => c.connectionId === id && c.method === "POST" && c.status === 410), "the fan-out got 410 for it");
      await waitFor("the gone subscriber's items deleted", async () => (await itemsOf(id)).length === 0, { timeout: 10_000, interval: 200 });
      assert.equal(client.frames.filter((f) => f.type === "event").length, 0);
    } finally {
      client.ws.terminate();
    }
  });

  test("f) requestUpload hands out presigned S3 URLs: the PUT stores the bytes in the bucket, the GET returns them", { timeout: TEST_TIMEOUT }, async () => {
    const client = await rawClient("who=f", ["semantest.v1", `bearer.${KEY}`]);
    try {
      const bytes = GENERATED_IMAGE;
      const sha256 = createHash("sha256").update(bytes).digest("hex");
      client.send({ action: "requestUpload", id: "u1", payload: { filename: "cat.png", size: bytes.length, sha256, contentType: "image/png" } });
      const frame = await client.reply("u1");
      assert.equal(frame.type, "uploadUrl", JSON.stringify(frame));
      const { imageId, putUrl, getUrl, expiresInSecs, headers = {} } = frame.payload;
      console.log(`info: f) uploadUrl for ${imageId}: expires in ${expiresInSecs} s; PUT headers ${JSON.stringify(headers)}`);
      assert.ok(putUrl.startsWith(`${moto.url}/${BUCKET}/`), putUrl);
      // What S3 checks: the type, the exact size and the SHA-256; nothing of the Lambda's own
      // (its X-Ray trace id) is left for the uploader to send.
      assert.deepEqual(Object.keys(headers).sort(), ["content-length", "content-type", "x-amz-checksum-sha256"]);
      assert.equal(headers["content-type"], "image/png");
      assert.equal(headers["x-amz-checksum-sha256"], createHash("sha256").update(bytes).digest("base64"));
      const put = await fetch(putUrl, { method: "PUT", headers, body: bytes, signal: AbortSignal.timeout(10_000) });
      assert.equal(put.status, 200, await put.text());
      const got = await fetch(getUrl, { signal: AbortSignal.timeout(10_000) });
      assert.equal(got.status, 200);
      assert.deepEqual(Buffer.from(await got.arrayBuffer()), bytes);
    } finally {
      client.ws.terminate();
    }
  });

  describe("the extension on the cloud", () => {
    let chatgpt;
    let session;
    let page; // the ChatGPT tab b) opens

    before(async () => {
      chatgpt = await new ChatGptStandIn(testCertificate()).start();
      session = await ExtensionSession.launch({ name: "aws", extensionId: extensionIdFromManifest(), chatgptPort: chatgpt.port, publicPort: await freePort() });
      await session.setSettings({
        strategy: "remoteOnly",
        remoteUrl: gateway.wsUrl,
        token: KEY,
        retry: { baseMs: 300, factor: 2, capMs: 2000, maxAttempts: 0 },
      });
    });

    after(async () => {
      await session?.close();
      await chatgpt?.close();
    });

    test("b) the extension (remoteOnly, the gateway's URL and the key) shows green 'Semantest Cloud - <n>ms'", { timeout: TEST_TIMEOUT }, async (t) => {
      try {
        page = await session.openChatGpt();
        const text = await session.waitForLabel(CLOUD_LABEL, { timeout: 30_000 });
        console.log(`info: b) the indicator says "${text}"`);
        assert.equal(await session.boxBackground(), GREEN);
        const status = await session.status();
        assert.equal(status.mode, "cloud");
        assert.ok(status.url.startsWith(gateway.wsUrl), `status url ${status.url}`);
        assert.equal(typeof status.latencyMs, "number");
        const hello = finished("hello").find((i) => JSON.parse(i.event.body).payload?.role === "extension");
        assert.match(hello?.result?.body ?? "", /"type":"welcome"/, "the Lambda welcomed the extension");
        await session.screenshot("aws-cloud");
      } catch (e) {
        await session.dumpFailure(t.name);
        throw e;
      }
    });

    test("e) semantest request-image through the cloud: the extension uploads to S3 with a presigned PUT, the CLI fetches the presigned GET", { timeout: TEST_TIMEOUT }, async (t) => {
      try {
        await subscribed("imageDownloadRequested");
        await showGeneratedImage(page);
        const out = mkdtempSync(join(tmpdir(), "semantest-e2e-aws-"));
        const started = Date.now();
        const run = await semantest(["request-image", "--latest", "--out", out, "--name", "cat.png", "--timeout", "30"]);
        console.log(`measure: e) request-image through the cloud → file written: ${Date.now() - started} ms (${GENERATED_IMAGE.length} bytes)`);
        assert.equal(run.status, 0, run.stdout + run.stderr);
        const written = join(out, "cat.png");
        assert.equal(run.stdout, `${written}\n`);
        assert.deepEqual(readFileSync(written), GENERATED_IMAGE, "the bytes ChatGPT served are the bytes written");
        // The outcome is recorded once the reply is acknowledged: the CLI may be faster.
        const lastImage = await waitFor("the extension recorded the outcome", async () => (await session.inWorker(() => chrome.storage.local.get("lastImage"))).lastImage, { timeout: 10_000 });
        assert.equal(lastImage.event, "imageDownloaded", JSON.stringify(lastImage));
        assert.equal(lastImage.sha256, createHash("sha256").update(GENERATED_IMAGE).digest("hex"));
        // The image is in the bucket under the id the service issued; the socket carried only URLs.
        const listing = await (await fetch(`${moto.url}/${BUCKET}?list-type=2`)).text();
        assert.match(listing, new RegExp(`<Key>images/${lastImage.imageId}/[^<]*-cat\\.png</Key>`), listing);
        assert.ok(lastImage.url.startsWith(`${moto.url}/${BUCKET}/images/${lastImage.imageId}/`), lastImage.url);
        await session.screenshot("aws-cloud-after-image-request");
      } catch (e) {
        await session.dumpFailure(t.name);
        throw e;
      }
    });

    test("e2) the extension takes image generation requests through the Lambda (its subscription is stored)", { timeout: TEST_TIMEOUT }, async () => {
      await subscribed("imageGenerationRequested");
    });

    // The generation scenarios of lib/generation.mjs, through API Gateway, the Lambda and S3.
    generationScenarios("c", {
      session: () => session,
      page: () => page,
      setPage: (p) => {
        page = p;
      },
      chatgpt: () => chatgpt,
      label: CLOUD_LABEL,
      semantest: (args) => semantest(args),
    });
  });

  describe("zero-setup identity: a fresh install registers, a CLI pairs with it by a code, request-image reaches it, revoke shuts the CLI out", () => {
    let chatgpt;
    let session;
    let page;
    const config = mkdtempSync(join(tmpdir(), "semantest-e2e-paired-"));
    /** The CLI as paired: its token comes from the credentials file, never from the environment. */
    const paired = (args) => semantest(args, { token: null, config });

    before(async () => {
      chatgpt = await new ChatGptStandIn(testCertificate()).start();
      session = await ExtensionSession.launch({ name: "aws-identity", extensionId: extensionIdFromManifest(), chatgptPort: chatgpt.port, publicPort: await freePort() });
      // Only where the service is (the gateway stand-in instead of api.extension.semantest.com): no key.
      await session.setSettings({ strategy: "remoteOnly", remoteUrl: gateway.wsUrl, retry: { baseMs: 300, factor: 2, capMs: 2000, maxAttempts: 0 } });
    });

    after(async () => {
      await session?.close();
      await chatgpt?.close();
    });

    test("i1) a fresh profile with no key is registered by the service and green; the token is in the extension's IndexedDB only", { timeout: TEST_TIMEOUT }, async (t) => {
      try {
        page = await session.openChatGpt();
        await session.waitForLabel(CLOUD_LABEL, { timeout: 30_000 });
        assert.equal(await session.boxBackground(), GREEN);
        const token = await session.savedToken();
        assert.match(token ?? "", /^sti_[0-9a-f]{64}$/, "an install token, kept in secrets.js");
        const everything = JSON.stringify(await session.allStorage());
        assert.ok(!everything.includes(token), "the token is in no chrome.storage area");
        const { install } = await session.inWorker(() => chrome.storage.local.get("install"));
        assert.match(install?.installId ?? "", /^inst_/);
        const register = finished("register");
        assert.equal(register.length, 1, "one registration");
        assert.doesNotMatch(readFileSync(join(LOGS, "aws-gateway.log"), "utf8"), new RegExp(token), "the token is not logged");
      } catch (e) {
        await session.dumpFailure(t.name);
        throw e;
      }
    });

    test("i2) Pair a device in the popup → semantest pair CODE → semantest request-image through the cloud writes the bytes ChatGPT served", { timeout: TEST_TIMEOUT }, async (t) => {
      try {
        const unpaired = await paired(["status"]);
        assert.equal(unpaired.status, 1);
        assert.match(unpaired.stdout, /not paired/);
        const popup = await session.openExtensionPage("popup.html");
        await popup.locator("#pair").click({ timeout: 5000 });
        await popup.locator("#pairing").waitFor({ state: "visible", timeout: 10_000 });
        const code = (await popup.locator("#pairCode").textContent()).trim();
        assert.match(code, /^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$/, "8 letters without 0, O, 1 or I");
        assert.equal((await popup.locator("#pairLine").textContent()).trim(), `semantest pair ${code}`);
        await popup.screenshot({ path: join(ARTIFACTS, "pairing-popup.png"), timeout: 10_000 });
        const wrong = await paired(["pair", "AAAA-AAAA"]);
        assert.equal(wrong.status, 1);
        assert.match(wrong.stdout, /pairing refused: this pairing code is not valid/);
        const pairing = await paired(["pair", code, "--name", "e2e laptop"]);
        assert.equal(pairing.status, 0, pairing.stdout + pairing.stderr);
        assert.match(pairing.stdout, /paired with your extension as "e2e laptop"/);
        const again = await paired(["pair", code, "--name", "thief"]);
        assert.equal(again.status, 1, "a code is used once");

        await showGeneratedImage(page);
        const out = mkdtempSync(join(tmpdir(), "semantest-e2e-paired-out-"));
        const run = await paired(["request-image", "--latest", "--out", out, "--name", "paired-cat.png", "--timeout", "30"]);
        assert.equal(run.status, 0, run.stdout + run.stderr);
        assert.deepEqual(readFileSync(join(out, "paired-cat.png")), GENERATED_IMAGE, "the bytes ChatGPT served");
      } catch (e) {
        await session.dumpFailure(t.name);
        throw e;
      }
    });

    test("i3) the options page lists the paired CLI; Revoke refuses it from then on, with the reason", { timeout: TEST_TIMEOUT }, async (t) => {
      try {
        const options = await session.openExtensionPage("options.html");
        const row = options.locator("#deviceRows tr", { hasText: "e2e laptop" });
        await row.waitFor({ state: "visible", timeout: 10_000 });
        await options.screenshot({ path: join(ARTIFACTS, "paired-devices.png"), fullPage: true, timeout: 10_000 });
        await row.locator("button", { hasText: "Revoke" }).click({ timeout: 5000 });
        await waitFor("the device gone from the list", async () => (await options.locator("#deviceRows tr", { hasText: "e2e laptop" }).count()) === 0, { timeout: 10_000 });
        const refused = await paired(["status"]);
        assert.equal(refused.status, 1, refused.stdout);
        assert.match(refused.stdout, /revoked/);
      } catch (e) {
        await session.dumpFailure(t.name);
        throw e;
      }
    });
  });
});
