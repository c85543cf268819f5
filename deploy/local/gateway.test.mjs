// deploy/local/gateway.test.mjs — the API Gateway stand-in, with fixture-runtime.mjs as its
// Lambda function (no Rust build needed). Run: node --test deploy/local/gateway.test.mjs
// Loopback only; every wait is bounded; nothing asserts how long something took.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { smokePing } from "../smoke-ping.mjs";
import { startGateway } from "./gateway.mjs";

const FIXTURE = [process.execPath, fileURLToPath(new URL("./fixture-runtime.mjs", import.meta.url))];

/** A WebSocket client whose messages queue up until a test takes them. */
class Client {
  static open(url, { protocols, headers } = {}) {
    const client = new Client(new WebSocket(url, protocols, { headers }));
    return within(5000, `opening ${url}`, new Promise((ok, fail) => {
      client.ws.once("open", () => ok(client));
      client.ws.once("error", fail);
      client.ws.once("unexpected-response", (_req, res) => fail(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    }));
  }

  constructor(ws) {
    this.ws = ws;
    this.messages = [];
    this.waiters = [];
    this.closed = new Promise((ok) => ws.once("close", (code, reason) => ok({ code, reason: reason.toString() })));
    ws.on("message", (data) => {
      this.messages.push(data.toString());
      this.waiters.splice(0).forEach((w) => w());
    });
    ws.on("error", () => {}); // closes follow
  }

  send(value) {
    this.ws.send(typeof value === "string" || Buffer.isBuffer(value) ? value : JSON.stringify(value));
  }

  /** The next message (parsed when it is JSON), within `ms`. */
  async next(ms = 5000) {
    const deadline = Date.now() + ms;
    while (this.messages.length === 0) {
      if (Date.now() > deadline) throw new Error(`no message within ${ms} ms`);
      await within(deadline - Date.now() + 1, "a message", new Promise((ok) => this.waiters.push(ok))).catch(() => {});
    }
    const text = this.messages.shift();
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }

  close() {
    this.ws.close();
    return within(5000, "the close", this.closed);
  }
}

function within(ms, what, promise) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, fail) => {
      timer = setTimeout(() => fail(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

async function until(what, probe, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 20));
  }
}

/** The id of the connection opened last (the gateway's view). */
const newest = (gw) => gw.connections().at(-1).connectionId;
const connectionPath = (gw, id) => `${gw.managementUrl}/@connections/${encodeURIComponent(id)}`;

describe("the API Gateway stand-in, default limits", () => {
  let gw;
  before(async () => {
    gw = await startGateway({ bootstrap: FIXTURE, env: { SEMANTEST_TABLE: "t1" } });
  });
  after(() => gw?.close());

  test("$connect gets API Gateway's event; a 2xx accepts the handshake and its Sec-WebSocket-Protocol is the one chosen", async () => {
    const c = await Client.open(`${gw.wsUrl}/?client=a&client=b`, { protocols: ["semantest.v1", "bearer.k123"], headers: { Authorization: "Bearer good", "User-Agent": "test-agent" } });
    assert.equal(c.ws.protocol, "semantest.v1");
    const connect = gw.invocations.findLast((i) => i.function === "connect");
    const { requestContext: rc, headers, multiValueHeaders, queryStringParameters, multiValueQueryStringParameters, isBase64Encoded } = connect.event;
    assert.equal(rc.routeKey, "$connect");
    assert.equal(rc.eventType, "CONNECT");
    assert.equal(rc.messageDirection, "IN");
    assert.equal(rc.stage, "dev");
    assert.match(rc.connectionId, /^[A-Za-z0-9]{15}=$/);
    assert.equal(rc.connectionId, newest(gw));
    assert.equal(rc.identity.sourceIp, "127.0.0.1");
    assert.equal(rc.identity.userAgent, "test-agent");
    for (const field of ["requestId", "apiId", "domainName"]) assert.equal(typeof rc[field], "string", field);
    for (const field of ["connectedAt", "requestTimeEpoch"]) assert.equal(typeof rc[field], "number", field);
    assert.match(rc.requestTime, /^\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d \+0000$/);
    assert.equal(headers.Authorization, "Bearer good");
    assert.equal(headers["Sec-WebSocket-Protocol"], "semantest.v1,bearer.k123");
    assert.deepEqual(multiValueHeaders.Authorization, ["Bearer good"]);
    assert.deepEqual(queryStringParameters, { client: "b" });
    assert.deepEqual(multiValueQueryStringParameters, { client: ["a", "b"] });
    assert.equal(isBase64Encoded, false);
    await c.close();
  });

  test("a non-2xx $connect refuses the handshake with that status", async () => {
    await assert.rejects(Client.open(gw.wsUrl, { headers: { Authorization: "Bearer bad" } }), { status: 403 });
    await assert.rejects(Client.open(`${gw.wsUrl}/?status=401`), { status: 401 });
    assert.equal(gw.connections().length, 0);
  });

  test("route selection on $request.body.action; the function's body is the two-way reply; binary frames arrive base64", async () => {
    const c = await Client.open(gw.wsUrl);
    c.send({ action: "subscribe", t: 1 });
    assert.deepEqual(await c.next(), { routeKey: "subscribe", connectionId: newest(gw), body: '{"action":"subscribe","t":1}', isBase64Encoded: false });
    c.send({ action: "noSuchRoute" });
    assert.equal((await c.next()).routeKey, "$default");
    c.send({ action: 42 });
    assert.equal((await c.next()).routeKey, "$default");
    c.send("not json");
    assert.deepEqual(await c.next(), { routeKey: "$default", connectionId: newest(gw), body: "not json", isBase64Encoded: false });
    c.send(Buffer.from([0, 1, 2, 250]));
    assert.deepEqual(await c.next(), { routeKey: "$default", connectionId: newest(gw), body: Buffer.from([0, 1, 2, 250]).toString("base64"), isBase64Encoded: true });
    // No body, no reply: the next message the client gets answers the frame after it.
    c.send({ action: "publish", do: "silent" });
    c.send({ action: "hello" });
    assert.equal((await c.next()).routeKey, "hello");
    await c.close();
  });

  test("ping is answered by the gateway from deploy/ping-route.json's templates, with no Lambda invocation", async () => {
    const c = await Client.open(gw.wsUrl);
    const before = gw.invocations.length;
    const mockedBefore = gw.mocked.length;
    const sent = Date.now();
    c.send({ action: "ping", id: "k7-abcdefgh", payload: { t: 1234 } });
    const pong = await c.next();
    assert.deepEqual({ ...pong, payload: { ...pong.payload, serverTime: 0 } }, { type: "pong", replyTo: "k7-abcdefgh", payload: { t: 1234, serverTime: 0 } });
    assert.ok(pong.payload.serverTime >= sent && pong.payload.serverTime <= Date.now(), "serverTime is the request time");
    assert.equal(gw.invocations.length, before, "no function ran");
    assert.deepEqual(gw.mocked.slice(mockedBefore).map((m) => [m.routeKey, m.connectionId, m.statusCode]), [["ping", newest(gw), 200]]);
    // Other frames on the same socket still reach the default function.
    c.send({ action: "hello", id: "h1" });
    assert.equal((await c.next()).routeKey, "hello");
    assert.equal(gw.invocations.length, before + 1);
    await c.close();
  });

  test("the mock's pong is what the client's core accepts: its ping's id as replyTo, t echoed, a numeric serverTime", async () => {
    const c = await Client.open(gw.wsUrl);
    // The core's own ping frame (ClientFrame::to_json: action, id, payload).
    const ping = '{"action":"ping","id":"k12-0z9y8x7w","payload":{"t":987654321}}';
    c.send(ping);
    const pong = await c.next();
    assert.deepEqual(Object.keys(pong), ["type", "replyTo", "payload"]);
    assert.equal(pong.replyTo, "k12-0z9y8x7w");
    assert.deepEqual(Object.keys(pong.payload), ["t", "serverTime"]);
    assert.equal(pong.payload.t, 987654321);
    assert.ok(Number.isSafeInteger(pong.payload.serverTime));
    // A ping the Lambda would refuse (no id) still gets a pong, with no replyTo to match.
    c.send({ action: "ping", payload: { t: 1 } });
    assert.equal((await c.next()).replyTo, null);
    await c.close();
  });

  test("deploy/smoke-ping.mjs (the check of a deployed stack's ping route) passes against the stand-in, and fails without the mock", async () => {
    assert.equal((await smokePing(gw.wsUrl)).ok, true);
    const plain = await startGateway({ bootstrap: FIXTURE, mocks: [] });
    try {
      const result = await smokePing(plain.wsUrl, { timeoutMs: 5000 });
      assert.equal(result.ok, false);
      assert.match(result.why, /not the pong the client needs/);
    } finally {
      await plain.close();
    }
  });

  test("with mocks: [] ping goes to the default function like any action", async () => {
    const plain = await startGateway({ bootstrap: FIXTURE, mocks: [] });
    try {
      const c = await Client.open(plain.wsUrl);
      c.send({ action: "ping", id: "p1" });
      assert.equal((await c.next()).routeKey, "ping");
      assert.equal(plain.mocked.length, 0);
      await c.close();
    } finally {
      await plain.close();
    }
  });

  test("a connection's invocations keep their order, even when an early one is slow", async () => {
    const c = await Client.open(gw.wsUrl);
    c.send({ action: "hello", n: 0, do: "sleep", ms: 150 });
    for (let n = 1; n < 30; n++) c.send({ action: "hello", n });
    for (let n = 0; n < 30; n++) assert.equal(JSON.parse((await c.next()).body).n, n);
    await c.close();
  });

  test("$disconnect is invoked when the client closes, with its close code", async () => {
    const c = await Client.open(gw.wsUrl);
    const id = newest(gw);
    c.ws.close(4001, "bye");
    const disconnect = await until("$disconnect", () => gw.invocations.find((i) => i.routeKey === "$disconnect" && i.connectionId === id && "result" in i));
    assert.equal(disconnect.function, "disconnect");
    assert.equal(disconnect.event.requestContext.eventType, "DISCONNECT");
    assert.equal(disconnect.event.requestContext.disconnectStatusCode, 4001);
    assert.equal(disconnect.event.requestContext.disconnectReason, "bye");
    assert.equal(gw.connections().some((x) => x.connectionId === id), false);
  });

  test("@connections: POST reaches a live socket as text, GET describes it; with or without the stage in the path", async () => {
    const c = await Client.open(gw.wsUrl, { headers: { "User-Agent": "ua-1" } });
    const id = newest(gw);
    const withoutStage = connectionPath(gw, id).replace(/\/dev\/@connections/, "/@connections");
    let r = await fetch(connectionPath(gw, id), { method: "POST", body: '{"type":"event"}', headers: { authorization: "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=00" } });
    assert.equal(r.status, 200);
    assert.deepEqual(await c.next(), { type: "event" });
    r = await fetch(withoutStage, { method: "POST", body: "plain text" });
    assert.equal(r.status, 200);
    assert.equal(await c.next(), "plain text");
    r = await fetch(withoutStage);
    assert.equal(r.status, 200);
    const info = await r.json();
    assert.deepEqual(info.identity, { sourceIp: "127.0.0.1", userAgent: "ua-1" });
    assert.ok(!Number.isNaN(Date.parse(info.connectedAt)) && !Number.isNaN(Date.parse(info.lastActiveAt)), JSON.stringify(info));
    await c.close();
  });

  test("@connections: 410 GoneException for an unknown, a closed and a forgotten connection; DELETE closes the socket", async () => {
    let r = await fetch(connectionPath(gw, "AAAAAAAAAAAAAAA="), { method: "POST", body: "x" });
    assert.equal(r.status, 410);
    assert.equal(r.headers.get("x-amzn-errortype"), "GoneException");
    assert.match((await r.json()).message, /GoneException/);

    const closed = await Client.open(gw.wsUrl);
    const closedId = newest(gw);
    await closed.close();
    assert.equal((await fetch(connectionPath(gw, closedId), { method: "POST", body: "x" })).status, 410);

    const forgotten = await Client.open(gw.wsUrl);
    const forgottenId = newest(gw);
    assert.equal(gw.forget(forgottenId), true);
    for (const method of ["POST", "GET", "DELETE"]) assert.equal((await fetch(connectionPath(gw, forgottenId), { method, body: method === "POST" ? "x" : undefined })).status, 410, method);
    assert.equal(forgotten.ws.readyState, WebSocket.OPEN, "the forgotten socket does not know");
    forgotten.send({ action: "hello" }); // dropped
    await assert.rejects(forgotten.next(300));
    forgotten.ws.terminate();

    const deleted = await Client.open(gw.wsUrl);
    const deletedId = newest(gw);
    r = await fetch(connectionPath(gw, deletedId), { method: "DELETE" });
    assert.equal(r.status, 204);
    const { code } = await within(5000, "the socket closed by DELETE", deleted.closed);
    assert.equal(code, 1000);
    assert.equal((await fetch(connectionPath(gw, deletedId), { method: "DELETE" })).status, 410);
    await until("$disconnect of the deleted connection", () => gw.invocations.find((i) => i.routeKey === "$disconnect" && i.connectionId === deletedId));
    assert.equal(gw.invocations.some((i) => i.routeKey === "$disconnect" && i.connectionId === forgottenId), false, "no $disconnect for a forgotten connection");
    assert.deepEqual(gw.managementCalls.filter((c) => c.connectionId === forgottenId).map((c) => c.status), [410, 410, 410]);
  });

  test("the HTTP API answers GET /health through the http function (payload format 2.0); other paths are 404", async () => {
    const r = await fetch(`${gw.httpUrl}/health?verbose=1`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("x-fixture"), "yes");
    assert.deepEqual(await r.json(), { version: "2.0", routeKey: "GET /health", rawPath: "/health", rawQueryString: "verbose=1", method: "GET" });
    const event = gw.invocations.findLast((i) => i.function === "http").event;
    assert.equal(event.requestContext.stage, "$default");
    assert.equal(event.requestContext.http.sourceIp, "127.0.0.1");
    assert.equal(typeof event.requestContext.timeEpoch, "number");
    assert.equal((await fetch(`${gw.httpUrl}/signature`)).status, 200);
    assert.equal((await fetch(`${gw.httpUrl}/nothing-here`)).status, 404);
  });

  test("each function runs with Lambda's environment, the management endpoint and the caller's variables", async () => {
    const c = await Client.open(gw.wsUrl);
    c.send({ action: "hello", do: "env" });
    const env = await c.next();
    assert.equal(env.SEMANTEST_HANDLER, "default");
    assert.equal(env.SEMANTEST_TABLE, "t1");
    assert.equal(env.SEMANTEST_MANAGEMENT_ENDPOINT, gw.managementUrl);
    assert.equal(env.AWS_LAMBDA_FUNCTION_VERSION, "$LATEST");
    assert.equal(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, "128");
    assert.equal(env.AWS_REGION, "us-east-1");
    for (const name of ["AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]) {
      assert.ok(env[name], name);
    }
    await c.close();
  });

  test("a function that fails: the client gets API Gateway's 'Internal server error' and the connection stays usable", async () => {
    const c = await Client.open(gw.wsUrl);
    c.send({ action: "hello", do: "fail" });
    const reply = await c.next();
    assert.equal(reply.message, "Internal server error");
    assert.equal(reply.connectionId, newest(gw));
    assert.match(gw.invocations.findLast((i) => i.error).error, /failing on purpose/);
    c.send({ action: "hello" });
    assert.equal((await c.next()).routeKey, "hello");
    await c.close();
  });

  test("a crashed function process is reported (exit status and its last output) and started again for the next invocation", async () => {
    const c = await Client.open(gw.wsUrl);
    const starts = gw.functions.default.starts;
    c.send({ action: "hello", do: "crash" });
    assert.equal((await c.next()).message, "Internal server error");
    const [crash] = gw.crashes();
    assert.equal(crash.function, "default");
    assert.equal(crash.code, 3);
    assert.equal(crash.invocation, "hello");
    assert.match(crash.lastLines, /crashing on purpose/);
    assert.match(gw.invocations.findLast((i) => i.error).error, /exited with status 3[^]*crashing on purpose/);
    c.send({ action: "hello" });
    assert.equal((await c.next()).routeKey, "hello");
    assert.equal(gw.functions.default.starts, starts + 1);
    await c.close();
  });
});

describe("the API Gateway stand-in, small limits", () => {
  let gw;
  const limits = { messageBytes: 1024, frameBytes: 512, idleMs: 1500, maxDurationMs: 3000 };
  before(async () => {
    gw = await startGateway({ bootstrap: FIXTURE, limits });
  });
  after(() => gw?.close());

  test("a message over the message limit closes the socket with 1009; fragments within both limits pass", async () => {
    const c = await Client.open(gw.wsUrl);
    // Three frames of 300 bytes: a 900-byte message.
    const part = "x".repeat(300);
    c.ws.send(part, { fin: false });
    c.ws.send(part, { fin: false });
    c.ws.send(part, { fin: true });
    assert.equal((await c.next()).body.length, 900);
    // Three frames of 400 bytes: each frame is allowed, the 1200-byte message is not.
    const big = "y".repeat(400);
    c.ws.send(big, { fin: false });
    c.ws.send(big, { fin: false });
    c.ws.send(big, { fin: true });
    assert.equal((await within(5000, "the close", c.closed)).code, 1009);
  });

  test("a frame over the frame limit closes the socket with 1009", async () => {
    const c = await Client.open(gw.wsUrl);
    c.send("z".repeat(600));
    assert.equal((await within(5000, "the close", c.closed)).code, 1009);
  });

  test("@connections POST over the message limit is 413 PayloadTooLargeException", async () => {
    const c = await Client.open(gw.wsUrl);
    const r = await fetch(connectionPath(gw, newest(gw)), { method: "POST", body: "p".repeat(1025) });
    assert.equal(r.status, 413);
    assert.equal(r.headers.get("x-amzn-errortype"), "PayloadTooLargeException");
    await c.close();
  });

  test("an idle connection is closed with 1001 'Going away' and $disconnect says so", async () => {
    const c = await Client.open(gw.wsUrl);
    const id = newest(gw);
    const { code, reason } = await within(5000, "the idle close", c.closed);
    assert.deepEqual({ code, reason }, { code: 1001, reason: "Going away" });
    const disconnect = await until("$disconnect", () => gw.invocations.find((i) => i.routeKey === "$disconnect" && i.connectionId === id));
    assert.equal(disconnect.event.requestContext.disconnectStatusCode, 1001);
  });

  test("a busy connection is still closed at the maximum connection duration", async () => {
    const c = await Client.open(gw.wsUrl);
    let sent = 0;
    const keepBusy = setInterval(() => {
      if (c.ws.readyState === WebSocket.OPEN) {
        c.send({ action: "hello", do: "silent" });
        sent += 1;
      }
    }, 100);
    try {
      const { code } = await within(8000, "the duration close", c.closed);
      assert.equal(code, 1001);
      assert.ok(sent > Math.floor(limits.maxDurationMs / limits.idleMs), `the client kept it busy (${sent} messages)`);
    } finally {
      clearInterval(keepBusy);
    }
  });
});

describe("the API Gateway stand-in, a short invocation timeout", () => {
  let gw;
  before(async () => {
    gw = await startGateway({ bootstrap: FIXTURE, limits: { invocationTimeoutMs: 300 } });
  });
  after(() => gw?.close());

  test("an invocation over the timeout fails, its process is killed, and the next invocation gets a new one", async () => {
    const c = await Client.open(gw.wsUrl);
    const starts = gw.functions.default.starts;
    c.send({ action: "hello", do: "hang" });
    assert.equal((await c.next()).message, "Internal server error");
    assert.match(gw.invocations.findLast((i) => i.error).error, /timed out after 300 ms/);
    c.send({ action: "hello" });
    assert.equal((await c.next()).routeKey, "hello");
    assert.equal(gw.functions.default.starts, starts + 1);
    assert.equal(gw.crashes().length, 0, "a timeout is not reported as a crash");
    c.ws.terminate();
  });
});

describe("the API Gateway stand-in, unordered with 3 instances per function", () => {
  let gw;
  before(async () => {
    gw = await startGateway({ bootstrap: FIXTURE, concurrency: 3, ordered: false });
  });
  after(() => gw?.close());

  test("a slow message does not hold up the next one (as on AWS, where nothing orders them)", async () => {
    const c = await Client.open(gw.wsUrl);
    c.send({ action: "hello", n: 0, do: "sleep", ms: 3000 }); // far longer than a quick invocation
    c.send({ action: "hello", n: 1 });
    assert.equal(JSON.parse((await c.next()).body).n, 1);
    assert.equal(JSON.parse((await c.next()).body).n, 0);
    assert.equal(gw.instances.default.length, 3);
    await c.close();
  });
});
