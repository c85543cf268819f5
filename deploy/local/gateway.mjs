// deploy/local/gateway.mjs — a local stand-in for what AWS runs in front of the Lambda handlers:
//
//   - the Lambda Runtime API (2018-06-01), one small HTTP server per function, and the function
//     itself: the real `bootstrap` binary as its own process (one invocation at a time, queued;
//     a timeout per invocation; a crashed process is reported and started again);
//   - an API Gateway WebSocket API: `$connect` decides the handshake, `$request.body.action`
//     selects the route, every message goes to the `default` function (two-way: its `body` is
//     sent back) except `ping`, which API Gateway answers itself from the templates of
//     deploy/ping-route.json (a MOCK integration, see mock-route.mjs), `$disconnect` on close;
//     API Gateway's limits (128 KB message, 32 KB frame, 10 min idle, 2 h per connection),
//     smaller when a test asks;
//   - the `@connections` management API (POST, GET, DELETE) on its own port;
//   - an HTTP API (payload format 2.0) for GET /health, /signature, /semantest-signature.
//
// Events follow AWS's documented shapes (aws_lambda_events' ApiGatewayWebsocketProxyRequest and
// ApiGatewayV2httpRequest). Everything listens on 127.0.0.1 only.
//
// Library: `const gw = await startGateway({ bootstrap, env })`, then gw.wsUrl, gw.httpUrl,
// gw.managementUrl, gw.connections(), gw.forget(id), gw.invocations, gw.mocked, gw.crashes(), gw.close().
// Command line: node deploy/local/gateway.mjs [--moto] [--bootstrap PATH] [--port N] [--http-port N]
//   [--management-port N] [--env NAME=VALUE]... ; prints the three URLs, runs until Ctrl-C.
//   --moto also starts moto with a fresh table and bucket and points the handlers at them.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { createServer, STATUS_CODES } from "node:http";
import { randomBytes, randomUUID } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "ws";
import { answerMock, loadRoute } from "./mock-route.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const DEFAULT_BOOTSTRAP = join(ROOT, "deploy/lambda/dist/bootstrap");
export const DEFAULT_ROUTES = ["hello", "ping", "subscribe", "unsubscribe", "publish", "reply", "requestUpload", "register", "pairCode", "pair", "devices", "revoke"];
export const FUNCTIONS = ["connect", "disconnect", "default", "http"];
export const HTTP_PATHS = ["/health", "/signature", "/semantest-signature"];

/** API Gateway's quotas for WebSocket APIs, and Lambda's timeouts (all in bytes or ms). */
export const AWS_LIMITS = {
  messageBytes: 128 * 1024,
  frameBytes: 32 * 1024,
  idleMs: 10 * 60_000,
  maxDurationMs: 2 * 3600_000,
  invocationTimeoutMs: 10_000,
  initTimeoutMs: 10_000,
};

const REGION = "us-east-1";
const ACCOUNT = "000000000000";
const LOG_LINES_KEPT = 200;

// Every process started here dies with this one, whatever happens.
const children = new Set();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** `09/Feb/2024:18:11:43 +0000`, the requestTime format of API Gateway's events. */
function requestTime(date = new Date()) {
  const [, day, month, year, time] = date.toUTCString().match(/^\w+, (\d+) (\w+) (\d+) ([\d:]+)/);
  return `${day.padStart(2, "0")}/${month}/${year}:${time} +0000`;
}

/** An id like API Gateway's connection ids (`L0SM9cOFvHcCIhw=`), without `/` or `+`. */
function awsLikeId() {
  for (;;) {
    const id = randomBytes(11).toString("base64");
    if (!/[/+]/.test(id)) return id;
  }
}

const sourceIp = (socket) => (socket.remoteAddress ?? "").replace(/^::ffff:/, "");

/** The request's headers twice, as API Gateway passes them: last value wins, and all values. */
function headerMaps(rawHeaders, extra = {}) {
  const headers = {};
  const multiValueHeaders = {};
  const add = (name, value) => {
    headers[name] = value;
    (multiValueHeaders[name] ??= []).push(value);
  };
  for (let i = 0; i < rawHeaders.length; i += 2) add(rawHeaders[i], rawHeaders[i + 1]);
  for (const [name, value] of Object.entries(extra)) add(name, value);
  return { headers, multiValueHeaders };
}

function queryMaps(searchParams) {
  const single = {};
  const multi = {};
  for (const [k, v] of searchParams) {
    single[k] = v;
    (multi[k] ??= []).push(v);
  }
  return Object.keys(single).length ? { queryStringParameters: single, multiValueQueryStringParameters: multi } : {};
}

/** Reads a request body, at most `limit` bytes (then `tooBig` is true and the rest is dropped). */
function readBody(req, limit = 6 * 1024 * 1024) {
  return new Promise((ok, fail) => {
    const chunks = [];
    let size = 0;
    let tooBig = false;
    req.on("data", (c) => {
      size += c.length;
      if (size > limit) tooBig = true;
      else chunks.push(c);
    });
    req.on("end", () => ok({ body: Buffer.concat(chunks), tooBig }));
    req.on("error", fail);
  });
}

const json = (res, status, value, headers = {}) =>
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(value === undefined ? "" : JSON.stringify(value));

async function listen(server, port) {
  // The AWS SDK and the Lambda runtime keep connections open between requests: do not close
  // them after Node's default 5 s (a request racing the close is an error for the client).
  server.keepAliveTimeout = 60_000;
  await new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", ok);
  });
  return server.address().port;
}

function closeServer(server) {
  server.closeAllConnections?.();
  return new Promise((ok) => server.close(() => ok()));
}

/**
 * One Lambda function: the runtime API it polls and the process that runs it. invoke(event)
 * resolves with the function's result (parsed JSON, or the raw text) or rejects with its error,
 * a timeout or the crash of its process.
 */
export class LambdaFunction {
  /**
   * @param {object} o
   * @param {string} o.name           connect | disconnect | default | http (SEMANTEST_HANDLER)
   * @param {string[]} o.command      the executable and its arguments
   * @param {Record<string,string>} o.env  the function's configuration (added to the Lambda variables)
   * @param {number} o.timeoutMs      per invocation; on expiry the process is killed, as on AWS
   * @param {number} o.initTimeoutMs  from start to the first /next
   * @param {import("node:stream").Writable} [o.log]  where the process's output goes, line by line
   */
  constructor({ name, command, env, timeoutMs, initTimeoutMs, log }) {
    Object.assign(this, { name, command, env, timeoutMs, initTimeoutMs, log });
    this.functionName = `semantest-local-${name}`;
    this.arn = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${this.functionName}`;
    this.queue = []; // invocations not yet handed to the process
    this.current = null; // the invocation the process is working on
    this.waiting = null; // the process's pending GET /next (a response to answer)
    this.child = null;
    this.lines = []; // the last lines of its output
    this.crashes = []; // { at, code, signal, invocation, lastLines }
    this.starts = 0;
    this.server = createServer((req, res) => this.#runtimeApi(req, res).catch((e) => json(res, 500, { errorMessage: e.message })));
  }

  async start() {
    this.port = await listen(this.server, 0);
    this.#spawn();
    return this;
  }

  /** Queues an invocation; resolves with what the function returned. */
  invoke(event) {
    return new Promise((ok, fail) => {
      this.queue.push({ id: randomUUID(), event, ok, fail, timer: null });
      this.#dispatch();
    });
  }

  /** The last `n` lines the process wrote (stdout and stderr). */
  lastLines(n = 20) {
    return this.lines.slice(-n).join("\n");
  }

  async close() {
    this.closed = true;
    for (const inv of this.queue.splice(0)) inv.fail(new Error("the gateway is closing"));
    if (this.current) this.#settle(this.current, new Error("the gateway is closing"));
    if (this.child) {
      const child = this.child;
      const exited = new Promise((ok) => child.once("exit", ok));
      child.kill("SIGKILL");
      await exited;
    }
    await closeServer(this.server);
  }

  #note(line) {
    this.lines.push(line);
    if (this.lines.length > LOG_LINES_KEPT) this.lines.shift();
    if (this.log && !this.log.writableEnded) this.log.write(`${new Date().toISOString()} [${this.name}] ${line}\n`);
  }

  #spawn() {
    if (this.closed || this.child) return;
    this.starts += 1;
    this.ready = false;
    const [file, ...args] = this.command;
    const stream = `${new Date().toISOString().slice(0, 10).replaceAll("-", "/")}/[$LATEST]${randomBytes(16).toString("hex")}`;
    const child = spawn(file, args, {
      cwd: dirname(file),
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: process.env.PATH,
        TZ: ":UTC",
        LAMBDA_TASK_ROOT: dirname(file),
        AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${this.port}`,
        AWS_LAMBDA_FUNCTION_NAME: this.functionName,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "128",
        AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
        AWS_LAMBDA_LOG_STREAM_NAME: stream,
        AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${this.functionName}`,
        AWS_REGION: REGION,
        AWS_DEFAULT_REGION: REGION,
        AWS_ACCESS_KEY_ID: "local-test-access-key",
        AWS_SECRET_ACCESS_KEY: "local-test-secret-key",
        SEMANTEST_HANDLER: this.name,
        ...this.env,
      },
    });
    this.child = child;
    children.add(child);
    this.#note(`START process ${this.starts} (pid ${child.pid})`);
    for (const out of [child.stdout, child.stderr]) {
      let partial = "";
      out.setEncoding("utf8");
      out.on("data", (text) => {
        const lines = (partial + text).split("\n");
        partial = lines.pop();
        for (const line of lines) this.#note(line);
      });
      out.on("end", () => partial && this.#note(partial));
    }
    const initTimer = setTimeout(() => {
      if (this.child === child && !this.ready) {
        this.#note(`INIT did not reach /next within ${this.initTimeoutMs} ms: killing it`);
        this.initFailure = `its init did not finish within ${this.initTimeoutMs} ms`;
        child.kill("SIGKILL");
      }
    }, this.initTimeoutMs);
    let gone = false;
    const onGone = (code, signal, error) => {
      if (gone) return;
      gone = true;
      clearTimeout(initTimer);
      children.delete(child);
      this.child = null;
      this.waiting = null;
      const how = error ? `could not start: ${error.message}` : signal ? `killed by ${signal}` : `exited with status ${code}`;
      this.#note(`END process ${this.starts}: ${how}`);
      if (this.closed) return;
      // The invocation it was working on, or (if it died before asking for one) the next one.
      const victim = this.current ?? (!this.ready ? this.queue.shift() : undefined);
      if (victim || !this.killedOnPurpose) {
        const crash = { at: new Date(), code, signal, error: error?.message, invocation: victim?.event?.requestContext?.routeKey ?? victim?.id, lastLines: this.lastLines() };
        this.crashes.push(crash);
      }
      this.killedOnPurpose = false;
      if (victim) {
        const why = this.initFailure ?? this.initError ?? `Runtime exited: ${how}`;
        this.#settle(victim, new Error(`${this.functionName}: ${why}; its last output:\n${this.lastLines()}`));
      }
      this.initFailure = this.initError = null;
      this.#dispatch(); // starts a new process if anything is queued
    };
    child.on("exit", (code, signal) => onGone(code, signal));
    child.on("error", (e) => onGone(null, null, e));
  }

  #dispatch() {
    if (this.closed || this.current || this.queue.length === 0) return;
    if (!this.child) return this.#spawn();
    if (!this.waiting) return; // the process is starting, or between /response and /next
    const inv = this.queue.shift();
    const res = this.waiting;
    this.waiting = null;
    this.current = inv;
    const deadline = Date.now() + this.timeoutMs;
    const trace = `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString("hex")};Parent=${randomBytes(8).toString("hex")};Sampled=0`;
    res.writeHead(200, {
      "content-type": "application/json",
      "Lambda-Runtime-Aws-Request-Id": inv.id,
      "Lambda-Runtime-Deadline-Ms": String(deadline),
      "Lambda-Runtime-Invoked-Function-Arn": this.arn,
      "Lambda-Runtime-Trace-Id": trace,
    }).end(JSON.stringify(inv.event));
    inv.timer = setTimeout(() => {
      this.#note(`TIMEOUT ${inv.id} after ${this.timeoutMs} ms: killing the process`);
      this.#settle(inv, new Error(`${this.functionName}: Task timed out after ${this.timeoutMs} ms; its last output:\n${this.lastLines()}`));
      this.killedOnPurpose = true;
      this.child?.kill("SIGKILL");
    }, this.timeoutMs);
  }

  /** Ends an invocation with a result (`error` null) or an error, then hands out the next one. */
  #settle(inv, error, result) {
    clearTimeout(inv.timer);
    if (this.current === inv) this.current = null;
    if (error) inv.fail(error);
    else inv.ok(result);
    setImmediate(() => this.#dispatch());
  }

  /** The Runtime API, as documented for custom runtimes (AWS Lambda Developer Guide). */
  async #runtimeApi(req, res) {
    const path = req.url.split("?")[0];
    const base = "/2018-06-01/runtime";
    if (req.method === "GET" && path === `${base}/invocation/next`) {
      this.ready = true;
      this.waiting = res;
      req.socket.once("close", () => {
        if (this.waiting === res) this.waiting = null;
      });
      return this.#dispatch();
    }
    const invocation = path.match(/^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/);
    if (req.method === "POST" && invocation) {
      const { body } = await readBody(req);
      const [, id, kind] = invocation;
      const inv = this.current;
      if (!inv || inv.id !== decodeURIComponent(id)) {
        return json(res, 400, { errorMessage: `no invocation ${id} is in progress`, errorType: "InvalidRequestID" });
      }
      json(res, 202, { status: "OK" });
      const text = body.toString("utf8");
      if (kind === "response") {
        let result = text;
        try {
          result = JSON.parse(text);
        } catch {
          // a function may return plain text
        }
        return this.#settle(inv, null, result);
      }
      let detail = text;
      try {
        const e = JSON.parse(text);
        detail = `${e.errorType ?? req.headers["lambda-runtime-function-error-type"] ?? "Error"}: ${e.errorMessage ?? text}`;
      } catch {
        // not JSON: keep the text
      }
      this.#note(`ERROR ${inv.id}: ${detail}`);
      return this.#settle(inv, new Error(`${this.functionName} failed: ${detail}`));
    }
    if (req.method === "POST" && path === `${base}/init/error`) {
      const { body } = await readBody(req);
      this.initError = `init error: ${body.toString("utf8")}`;
      this.#note(`INIT ERROR ${body.toString("utf8")}`);
      return json(res, 202, { status: "OK" });
    }
    json(res, 404, { errorMessage: `unknown runtime API path ${req.method} ${path}`, errorType: "NotFound" });
  }
}

/**
 * Calls `onFrame(opcode, payloadLength)` for each frame header in the client's bytes: `ws` checks
 * the size of whole messages, API Gateway also that of each frame.
 */
function watchFrames(socket, onFrame) {
  let pending = Buffer.alloc(0);
  let skip = 0; // payload bytes still to pass over
  const feed = (chunk) => {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      return;
    }
    pending = Buffer.concat([pending, chunk.subarray(skip)]);
    skip = 0;
    for (;;) {
      if (pending.length < 2) return;
      let length = pending[1] & 0x7f;
      let at = 2;
      if (length === 126) {
        if (pending.length < 4) return;
        length = pending.readUInt16BE(2);
        at = 4;
      } else if (length === 127) {
        if (pending.length < 10) return;
        length = Number(pending.readBigUInt64BE(2));
        at = 10;
      }
      if (pending[1] & 0x80) at += 4; // the mask
      if (pending.length < at) return;
      onFrame(pending[0] & 0x0f, length);
      const available = pending.length - at;
      if (available >= length) {
        pending = pending.subarray(at + length);
      } else {
        skip = length - available;
        pending = Buffer.alloc(0);
        return;
      }
    }
  };
  socket.on("data", feed); // also gets the bytes that came with the handshake (ws unshifts them)
}

/**
 * Starts the stand-in. Options (all optional):
 *   bootstrap   the Lambda binary (default deploy/lambda/dist/bootstrap), or [file, ...args]
 *   env         the functions' environment (SEMANTEST_TABLE, AWS_ENDPOINT_URL, ...)
 *   routes      the WebSocket route keys besides $default (default DEFAULT_ROUTES)
 *   mocks       the routes API Gateway answers itself (MOCK integrations), as read by
 *               mock-route.mjs's loadRoute (default: ping, from deploy/ping-route.json); [] sends
 *               ping to the default function like any other action
 *   limits      overrides of AWS_LIMITS (invocationTimeoutMs may be { connect, disconnect, default, http })
 *   port, httpPort, managementPort   0 (the default) picks free ports
 *   stage       the WebSocket API's stage (default "dev"); apiId (default "local0api1")
 *   log         a file to append every function's output and the gateway's notes to
 *   concurrency instances (processes) per function (default 1)
 *   ordered     true (default): one connection's messages are invoked one after the other, in
 *               order. API Gateway promises neither: with `ordered: false` and `concurrency` > 1
 *               they run side by side, as they may on AWS.
 *   beforeInvoke  async (functionName, event) => {}: awaited before each invocation (a test can
 *               delay one, to make a race happen every time)
 * @returns {Promise<Gateway>}
 */
export async function startGateway(options = {}) {
  const gateway = new Gateway(options);
  try {
    await gateway.start();
  } catch (e) {
    await gateway.close();
    throw e;
  }
  return gateway;
}

export class Gateway {
  constructor({ bootstrap = DEFAULT_BOOTSTRAP, env = {}, routes = DEFAULT_ROUTES, mocks = [loadRoute()], limits = {}, port = 0, httpPort = 0, managementPort = 0, stage = "dev", apiId = "local0api1", log, concurrency = 1, ordered = true, beforeInvoke } = {}) {
    this.command = Array.isArray(bootstrap) ? bootstrap : [resolve(bootstrap)];
    Object.assign(this, { env, routes: new Set(routes), stage, apiId, concurrency, ordered, beforeInvoke, ports: { port, httpPort, managementPort } });
    /** The mock routes by route key. */
    this.mocks = new Map(mocks.map((spec) => [spec.routeKey, spec]));
    for (const key of this.mocks.keys()) this.routes.add(key);
    this.limits = { ...AWS_LIMITS, ...limits };
    this.domainName = `${apiId}.execute-api.${REGION}.amazonaws.com`;
    this.log = log ? createWriteStream(log, { flags: "a" }) : null;
    /** Live connections by id: { id, ws, connectedAt, lastActiveAt, sourceIp, userAgent, headers, query, chain }. */
    this.live = new Map();
    /** Every invocation, oldest first: { function, routeKey, connectionId, event, result | error }. */
    this.invocations = [];
    /** Every message a mock route answered, oldest first: { routeKey, connectionId, body, statusCode, reply | error }. */
    this.mocked = [];
    /** Every management API call: { method, connectionId, status }. */
    this.managementCalls = [];
    /** The first instance of each function; `instances` has all of them (see `concurrency`). */
    this.functions = {};
    this.instances = {};
  }

  note(line) {
    if (this.log && !this.log.writableEnded) this.log.write(`${new Date().toISOString()} [gateway] ${line}\n`);
  }

  async start() {
    this.wsServer = createServer((req, res) => res.writeHead(426, { "content-type": "application/json" }).end('{"message":"Upgrade Required"}'));
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.limits.messageBytes,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (_offered, req) => req.selectedProtocol ?? false,
    });
    this.wsServer.on("upgrade", (req, socket, head) => this.#upgrade(req, socket, head).catch((e) => {
      this.note(`upgrade failed: ${e.stack}`);
      socket.destroy();
    }));
    this.httpServer = createServer((req, res) => this.#http(req, res).catch((e) => json(res, 500, { message: e.message })));
    this.managementServer = createServer((req, res) => this.#management(req, res).catch((e) => json(res, 500, { message: e.message })));
    const wsPort = await listen(this.wsServer, this.ports.port);
    const httpPort = await listen(this.httpServer, this.ports.httpPort);
    const managementPort = await listen(this.managementServer, this.ports.managementPort);
    this.wsUrl = `ws://127.0.0.1:${wsPort}`;
    this.httpUrl = `http://127.0.0.1:${httpPort}`;
    this.managementUrl = `http://127.0.0.1:${managementPort}/${this.stage}`;
    const env = { SEMANTEST_MANAGEMENT_ENDPOINT: this.managementUrl, ...this.env };
    const timeouts = this.limits.invocationTimeoutMs; // one for all, or { connect: ms, ... }
    for (const name of FUNCTIONS) {
      this.instances[name] = [];
      for (let i = 0; i < this.concurrency; i++) {
        const instance = new LambdaFunction({
          name, command: this.command, env, log: this.log,
          timeoutMs: typeof timeouts === "object" ? timeouts[name] ?? AWS_LIMITS.invocationTimeoutMs : timeouts,
          initTimeoutMs: this.limits.initTimeoutMs,
        });
        this.instances[name].push(instance);
        await instance.start();
      }
      this.functions[name] = this.instances[name][0];
    }
    this.note(`listening: ${this.wsUrl} ${this.httpUrl} ${this.managementUrl}`);
    return this;
  }

  /** The live connections: { connectionId, connectedAt, lastActiveAt, sourceIp, userAgent, headers, query }. */
  connections() {
    return [...this.live.values()].map(({ id, connectedAt, lastActiveAt, sourceIp, userAgent, headers, query }) => ({ connectionId: id, connectedAt, lastActiveAt, sourceIp, userAgent, headers, query }));
  }

  /**
   * Makes a connection "gone" without its socket knowing (a lost $disconnect): the management API
   * answers 410 for it, what its client sends is dropped, and no $disconnect is invoked.
   */
  forget(connectionId) {
    const conn = this.live.get(connectionId);
    if (!conn) return false;
    this.live.delete(connectionId);
    conn.forgotten = true;
    clearTimeout(conn.idleTimer);
    clearTimeout(conn.lifeTimer);
    this.note(`forgot ${connectionId}`);
    return true;
  }

  /** Every process crash: { function, at, code, signal, invocation, lastLines }. */
  crashes() {
    return Object.entries(this.instances).flatMap(([name, all]) => all.flatMap((f) => f.crashes.map((c) => ({ function: name, ...c }))));
  }

  async close() {
    this.closing = true; // no $disconnect for the sockets cut here
    for (const conn of this.live.values()) conn.ws.terminate();
    this.live.clear();
    await Promise.all([this.wsServer, this.httpServer, this.managementServer].filter((s) => s?.listening).map(closeServer));
    await Promise.all(Object.values(this.instances).flat().map((f) => f.close()));
    this.log?.end();
  }

  async #invoke(name, event, connectionId) {
    const record = { function: name, routeKey: event.requestContext?.routeKey, connectionId, event };
    this.invocations.push(record);
    try {
      await this.beforeInvoke?.(name, event);
      // An idle instance if there is one, else the one with the shortest queue.
      const load = (f) => f.queue.length + (f.current ? 1 : 0);
      const instance = this.instances[name].reduce((best, f) => (load(f) < load(best) ? f : best));
      record.result = await instance.invoke(event);
      return record.result;
    } catch (e) {
      record.error = e.message;
      this.note(`${name} (${record.routeKey}) failed: ${e.message}`);
      throw e;
    }
  }

  #context(conn, fields) {
    const now = Date.now();
    const requestId = randomBytes(6).toString("base64");
    return {
      stage: this.stage,
      requestId,
      extendedRequestId: requestId,
      apiId: this.apiId,
      domainName: this.domainName,
      connectionId: conn.id,
      connectedAt: conn.connectedAt,
      requestTime: requestTime(new Date(now)),
      requestTimeEpoch: now,
      messageDirection: "IN",
      identity: { sourceIp: conn.sourceIp, userAgent: conn.userAgent },
      ...fields,
    };
  }

  async #upgrade(req, socket, head) {
    socket.on("error", () => {}); // a client that goes away mid-handshake
    const url = new URL(req.url, "http://localhost");
    const conn = {
      id: awsLikeId(),
      connectedAt: Date.now(),
      sourceIp: sourceIp(req.socket),
      userAgent: req.headers["user-agent"],
      query: Object.fromEntries(url.searchParams),
      chain: Promise.resolve(),
    };
    conn.lastActiveAt = conn.connectedAt;
    const { headers, multiValueHeaders } = headerMaps(req.rawHeaders, {
      "X-Amzn-Trace-Id": `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString("hex")}`,
      "X-Forwarded-For": conn.sourceIp,
      "X-Forwarded-Port": String(req.socket.localPort),
      "X-Forwarded-Proto": "http",
    });
    conn.headers = headers;
    const event = {
      headers,
      multiValueHeaders,
      ...queryMaps(url.searchParams),
      requestContext: this.#context(conn, { routeKey: "$connect", eventType: "CONNECT" }),
      isBase64Encoded: false,
    };
    let result;
    try {
      result = await this.#invoke("connect", event, conn.id);
    } catch {
      return refuse(socket, 500, '{"message": "Internal server error"}');
    }
    const status = Number(result?.statusCode ?? 200);
    if (status < 200 || status > 299) {
      this.note(`$connect refused ${conn.id}: ${status}`);
      return refuse(socket, status, typeof result?.body === "string" ? result.body : "");
    }
    const selected = Object.entries(result?.headers ?? {}).find(([k]) => k.toLowerCase() === "sec-websocket-protocol")?.[1];
    req.selectedProtocol = selected;
    if (socket.destroyed) return this.#disconnected(conn, 1006, "Client disconnected during $connect");
    this.wss.handleUpgrade(req, socket, head, (ws) => this.#opened(conn, ws, socket));
  }

  #opened(conn, ws, socket) {
    conn.ws = ws;
    this.live.set(conn.id, conn);
    this.note(`connected ${conn.id} from ${conn.sourceIp}`);
    const { frameBytes, maxDurationMs } = this.limits;
    watchFrames(socket, (opcode, length) => {
      if (length > frameBytes && ws.readyState === ws.OPEN) {
        this.note(`${conn.id}: a frame of ${length} bytes (limit ${frameBytes}): closing 1009`);
        ws.close(1009, "Frame size exceeded");
      }
    });
    this.#touch(conn);
    conn.lifeTimer = setTimeout(() => ws.close(1001, "Going away"), maxDurationMs);
    ws.on("error", (e) => this.note(`${conn.id}: ${e.message}`)); // ws closes with 1009 itself for a message over the limit
    ws.on("message", (data, isBinary) => {
      // After a DELETE (or any close) API Gateway routes nothing more from the socket.
      if (conn.forgotten || ws.readyState !== ws.OPEN) return;
      this.#touch(conn);
      const handled = () => this.#message(conn, data, isBinary).catch((e) => this.note(`${conn.id}: ${e.stack}`));
      if (this.ordered) conn.chain = conn.chain.then(handled);
      else handled();
    });
    ws.on("close", (code, reason) => {
      clearTimeout(conn.idleTimer);
      clearTimeout(conn.lifeTimer);
      if (conn.forgotten || this.closing) return;
      this.live.delete(conn.id);
      this.#disconnected(conn, code, reason.toString());
    });
  }

  /** Data moved on the connection: the idle timer starts again. */
  #touch(conn) {
    conn.lastActiveAt = Date.now();
    clearTimeout(conn.idleTimer);
    conn.idleTimer = setTimeout(() => conn.ws.close(1001, "Going away"), this.limits.idleMs);
  }

  #disconnected(conn, code, reason) {
    this.note(`disconnected ${conn.id}: ${code} ${reason}`);
    const event = {
      headers: { Host: this.domainName, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": "" },
      multiValueHeaders: { Host: [this.domainName], "x-api-key": [""], "X-Forwarded-For": [""], "x-restapi": [""] },
      requestContext: this.#context(conn, { routeKey: "$disconnect", eventType: "DISCONNECT", disconnectStatusCode: code, disconnectReason: reason }),
      isBase64Encoded: false,
    };
    conn.chain = conn.chain.then(() => this.#invoke("disconnect", event, conn.id).catch(() => {}));
    return conn.chain;
  }

  async #message(conn, data, isBinary) {
    const text = isBinary ? null : data.toString("utf8");
    let routeKey = "$default";
    if (text !== null) {
      try {
        const action = JSON.parse(text)?.action;
        if (typeof action === "string" && this.routes.has(action)) routeKey = action;
      } catch {
        // not JSON: $default
      }
    }
    const event = {
      requestContext: this.#context(conn, { routeKey, eventType: "MESSAGE", messageId: awsLikeId() }),
      body: isBinary ? Buffer.from(data).toString("base64") : text,
      isBase64Encoded: isBinary,
    };
    const mock = this.mocks.get(routeKey);
    const reply = mock ? this.#mockAnswer(mock, conn, event) : await this.#functionAnswer(conn, event);
    if (typeof reply === "string" && reply !== "" && !conn.forgotten && conn.ws.readyState === conn.ws.OPEN) {
      this.#touch(conn);
      conn.ws.send(reply);
    }
  }

  /** What API Gateway sends back for a mock route: the rendered integration response; no function runs. */
  #mockAnswer(mock, conn, event) {
    const record = { routeKey: mock.routeKey, connectionId: conn.id, body: event.body };
    this.mocked.push(record);
    try {
      Object.assign(record, answerMock(mock, { body: event.body, context: event.requestContext }));
      return record.reply;
    } catch (e) {
      record.error = e.message;
      this.note(`${mock.routeKey} (mock) failed: ${e.message}`);
      return internalError(conn, event);
    }
  }

  /** What API Gateway sends back for a route to the default function: its result's body. */
  async #functionAnswer(conn, event) {
    try {
      const result = await this.#invoke("default", event, conn.id);
      return typeof result === "string" ? result : result?.body;
    } catch {
      return internalError(conn, event);
    }
  }

  /**
   * The `@connections` API. Requests are SigV4-signed by the AWS SDK; the signature is not
   * verified here (nor is any credential: this is loopback-only test plumbing). The path may
   * carry the stage (`/dev/@connections/ID`) or not, depending on the endpoint the SDK was given.
   */
  async #management(req, res) {
    const match = req.url.split("?")[0].match(/^(?:\/[^/]+)?\/@connections\/([^/]+)$/);
    const id = match ? decodeURIComponent(match[1]) : null;
    const conn = id === null ? null : this.live.get(id);
    const { body, tooBig } = await readBody(req, this.limits.messageBytes);
    const answer = (status, value, headers) => {
      this.managementCalls.push({ method: req.method, connectionId: id, status });
      json(res, status, value, { "x-amzn-RequestId": randomUUID(), ...headers });
    };
    const error = (status, type, message) => answer(status, { message }, { "x-amzn-ErrorType": type });
    if (!match || !["POST", "GET", "DELETE"].includes(req.method)) return error(404, "NotFoundException", `no route for ${req.method} ${req.url}`);
    if (req.method === "POST" && tooBig) return error(413, "PayloadTooLargeException", `Message too long (over ${this.limits.messageBytes} bytes)`);
    if (!conn || conn.ws.readyState !== conn.ws.OPEN) return error(410, "GoneException", `GoneException: connection ${id} is gone`);
    if (req.method === "POST") {
      this.#touch(conn);
      conn.ws.send(body.toString("utf8"));
      return answer(200);
    }
    if (req.method === "GET") {
      return answer(200, {
        connectedAt: new Date(conn.connectedAt).toISOString(),
        identity: { sourceIp: conn.sourceIp, userAgent: conn.userAgent },
        lastActiveAt: new Date(conn.lastActiveAt).toISOString(),
      });
    }
    conn.ws.close(1000);
    return answer(204);
  }

  /** The HTTP API (payload format 2.0) for the paths in HTTP_PATHS. */
  async #http(req, res) {
    const url = new URL(req.url, "http://localhost");
    if (!HTTP_PATHS.includes(url.pathname) || req.method !== "GET") { // the routes are "GET /health", ...
      return json(res, 404, { message: "Not Found" });
    }
    const headers = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i].toLowerCase();
      headers[name] = headers[name] ? `${headers[name]},${req.rawHeaders[i + 1]}` : req.rawHeaders[i + 1];
    }
    const now = Date.now();
    const requestId = randomBytes(6).toString("base64");
    const routeKey = `${req.method} ${url.pathname}`;
    const event = {
      version: "2.0",
      routeKey,
      rawPath: url.pathname,
      rawQueryString: url.search.slice(1),
      headers,
      ...(url.search ? { queryStringParameters: Object.fromEntries(url.searchParams) } : {}),
      requestContext: {
        accountId: ACCOUNT,
        apiId: `${this.apiId}http`,
        domainName: headers.host ?? this.domainName,
        domainPrefix: (headers.host ?? this.apiId).split(".")[0],
        http: { method: req.method, path: url.pathname, protocol: `HTTP/${req.httpVersion}`, sourceIp: sourceIp(req.socket), userAgent: headers["user-agent"] ?? "" },
        requestId,
        routeKey,
        stage: "$default",
        time: requestTime(new Date(now)),
        timeEpoch: now,
      },
      isBase64Encoded: false,
    };
    let result;
    try {
      result = await this.#invoke("http", event);
    } catch {
      return json(res, 500, { message: "Internal Server Error" });
    }
    // Format 2.0: without a statusCode, the result itself is the JSON body of a 200.
    if (result === null || typeof result !== "object" || !("statusCode" in result)) {
      return json(res, 200, result);
    }
    const out = { ...(result.headers ?? {}) };
    if (result.cookies?.length) out["set-cookie"] = result.cookies;
    const body = result.body === undefined || result.body === null ? "" : result.body;
    res.writeHead(Number(result.statusCode), out).end(result.isBase64Encoded ? Buffer.from(body, "base64") : body);
  }
}

/** What API Gateway tells the client when the integration fails. */
function internalError(conn, event) {
  return JSON.stringify({ message: "Internal server error", connectionId: conn.id, requestId: event.requestContext.requestId });
}

/** Answers a handshake with an HTTP error, as API Gateway does when $connect does not return 2xx. */
function refuse(socket, status, body) {
  if (socket.destroyed) return;
  const text = Buffer.from(body ?? "");
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\nContent-Type: application/json\r\nContent-Length: ${text.length}\r\nConnection: close\r\n\r\n${text}`);
}

async function main(argv) {
  const options = { env: {} };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    i += 1;
    if (flag === "--bootstrap") options.bootstrap = value;
    else if (flag === "--port") options.port = Number(value);
    else if (flag === "--http-port") options.httpPort = Number(value);
    else if (flag === "--management-port") options.managementPort = Number(value);
    else if (flag === "--stage") options.stage = value;
    else if (flag === "--log") options.log = value;
    else if (flag === "--env" && value?.includes("=")) options.env[value.slice(0, value.indexOf("="))] = value.slice(value.indexOf("=") + 1);
    else if (flag === "--moto") {
      options.moto = true;
      i -= 1; // a flag without a value
    } else {
      console.error("usage: node deploy/local/gateway.mjs [--moto] [--bootstrap PATH] [--port N] [--http-port N] [--management-port N] [--stage NAME] [--log FILE] [--env NAME=VALUE]...");
      process.exit(2);
    }
  }
  // --moto: the whole public service on this machine — moto (DynamoDB, S3) with a fresh table
  // and bucket, and the handlers configured for them (an open stack unless --env gives keys).
  let moto;
  if (options.moto) {
    const { startMoto, createResources } = await import("./moto.mjs");
    moto = await startMoto();
    const names = { table: "semantest-connections", bucket: "semantest-images" };
    await createResources(moto.url, names);
    options.env = {
      SEMANTEST_TABLE: names.table,
      SEMANTEST_BUCKET: names.bucket,
      SEMANTEST_ENVIRONMENT: "development",
      SEMANTEST_S3_FORCE_PATH_STYLE: "true",
      AWS_ENDPOINT_URL: moto.url,
      ...options.env,
    };
    console.log(`moto:       ${moto.url} (table ${names.table}, bucket ${names.bucket})`);
  }
  const gateway = await startGateway(options);
  console.log(`websocket:  ${gateway.wsUrl}`);
  console.log(`http:       ${gateway.httpUrl}`);
  console.log(`management: ${gateway.managementUrl}`);
  const stop = () => gateway.close().then(() => moto?.stop()).then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`gateway: ${e.message}`);
    process.exit(1);
  });
}
