// tests/e2e/lib/servers.mjs — the peers of the end-to-end tests, all on loopback:
//
//   SemantestServer   a real target/release/semantest-server process (the developer's local
//                     server, or the backend of the public stand-in) that a test can start, stop
//                     (SIGTERM), kill (SIGKILL) and start again on the same port;
//   TlsTerminator     a Node TLS server that pipes raw bytes to a backend port, so the default
//                     remote URL wss://api.extension.semantest.com reaches a real server
//                     unchanged (the browser maps the host name to this port); stoppable;
//   PublicStandIn     the two above together: "the public service";
//   ChatGptStandIn    https://chatgpt.com/ (every path answers tests/e2e/chatgpt/index.html);
//   StaticServer      plain HTTP for the www demo (only www/ and pkg/ of the repository).
//
// Every child process is registered, and killed when the test process exits, whatever happens.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer as createHttpServer, get as httpGet } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect as netConnect, createServer as createNetServer } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { extname, join, normalize, resolve } from "node:path";
import { LOGS, ROOT, SERVER_BIN, WORK } from "./env.mjs";
import { pseudoRandomPng } from "./png.mjs";
import { sleep, waitFor } from "./wait.mjs";

const live = new Set();
process.on("exit", () => {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
});

/** A loopback port that was free a moment ago (bound, read, released). */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createNetServer();
    srv.on("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** A port that accepts TCP connections and never answers (a hung local server). */
export async function hungServer() {
  const sockets = new Set();
  const srv = createNetServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((ok) => srv.listen(0, "127.0.0.1", ok));
  return {
    port: srv.address().port,
    close: () => new Promise((ok) => { for (const s of sockets) s.destroy(); srv.close(() => ok()); }),
  };
}

/** GET http://127.0.0.1:port/path → { status, body }, bounded by `timeout` ms. */
export function httpGetText(port, path, timeout = 2000) {
  return new Promise((ok, fail) => {
    const req = httpGet({ host: "127.0.0.1", port, path, timeout }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => { body += d; });
      res.on("end", () => ok({ status: res.statusCode, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on("error", fail);
  });
}

export class SemantestServer {
  /**
   * @param {string} name   log file name (.build/e2e-logs/NAME.log, appended across restarts)
   * @param {object} opts   environment ("local" | "production"), port (0 = pick one on first
   *                        start, then keep it), allowOrigins (CORS), apiKey (production: an
   *                        operator key clients may show), registration (production: whether a
   *                        keyless extension may register; false = --no-registration),
   *                        pairAttemptsPerHour, pairCodeTtlSecs, holdSecs (how long an image
   *                        request waits for an extension), bin.
   *                        A production server keeps its installs in .build/e2e/identity/NAME.json
   *                        (emptied once per test run), and lets 1000
   *                        registrations and pairings an hour through: every test client is 127.0.0.1.
   */
  constructor(name, { environment = "local", port = 0, allowOrigins = [], apiKey = null, registration = true, pairAttemptsPerHour = 1000, pairCodeTtlSecs = null, holdSecs = null, bin = SERVER_BIN } = {}) {
    Object.assign(this, { name, environment, port, allowOrigins, apiKey, registration, pairAttemptsPerHour, pairCodeTtlSecs, holdSecs, bin });
    this.child = null;
  }

  /** `http://localhost:PORT`: what a user types as the local server's URL. */
  get url() {
    return `http://localhost:${this.port}`;
  }

  get running() {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process and waits (≤ 30 s) until it listens and GET /health answers 200. */
  async start() {
    if (this.running) throw new Error(`${this.name} is already running`);
    // Right after a kill the port can take a moment to be free again: retry the bind briefly.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#spawn();
        return this;
      } catch (e) {
        if (attempt >= 20 || !/exited/.test(e.message) || this.port === 0) throw e;
        await sleep(250);
      }
    }
  }

  async #spawn() {
    const log = createWriteStream(join(LOGS, `${this.name}.log`), { flags: "a" });
    // Uploaded images go to a folder of the test run, never to the user's Downloads.
    const images = join(WORK, "images", this.name);
    this.imagesDir = images;
    this.identityFile = join(WORK, "identity", `${this.name}.json`);
    if (!this.running && !this.imagesCleared) {
      rmSync(images, { recursive: true, force: true }); // each test run starts empty
      rmSync(this.identityFile, { force: true });
      mkdirSync(join(WORK, "identity"), { recursive: true });
      this.imagesCleared = true;
    }
    const args = ["--bind", "127.0.0.1", "--port", String(this.port), "--environment", this.environment, "--images-dir", images];
    for (const origin of this.allowOrigins) args.push("--allow-origin", origin);
    if (this.holdSecs) args.push("--hold-secs", String(this.holdSecs));
    if (this.environment === "production") {
      if (this.apiKey) args.push("--api-key", this.apiKey);
      if (!this.registration) args.push("--no-registration");
      // Installs outlive a restart of the server, as they would for real; each test run starts with none.
      args.push("--identity-file", this.identityFile, "--registrations-per-hour", "1000", "--pair-attempts-per-hour", String(this.pairAttemptsPerHour));
      if (this.pairCodeTtlSecs) args.push("--pair-code-ttl-secs", String(this.pairCodeTtlSecs));
    }
    log.write(`\n=== ${new Date().toISOString()} ${this.bin} ${args.join(" ")}\n`);
    const env = { ...process.env, NO_COLOR: "1" };
    for (const k of ["SEMANTEST_PORT", "SEMANTEST_BIND", "SEMANTEST_ENVIRONMENT", "SEMANTEST_ALLOW_ORIGINS", "SEMANTEST_IMAGES_DIR", "SEMANTEST_API_KEYS", "SEMANTEST_API_KEYS_FILE", "SEMANTEST_ALLOW_ANONYMOUS", "SEMANTEST_IDENTITY_FILE", "SEMANTEST_NO_REGISTRATION", "SEMANTEST_HOLD_SECS"]) delete env[k];
    const child = spawn(this.bin, args, { stdio: ["ignore", "pipe", "pipe"], env });
    live.add(child);
    this.child = child;
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.on("exit", (code, signal) => {
      live.delete(child);
      log.write(`=== exited (${signal ?? code})\n`);
    });
    const port = await new Promise((ok, fail) => {
      let out = "";
      const timer = setTimeout(() => fail(new Error(`${this.name}: no "listening on" line within 30 s`)), 30_000);
      child.stdout.on("data", (d) => {
        out += d;
        const m = /listening on http:\/\/[^ \s]+:(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          ok(Number(m[1]));
        }
      });
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        fail(new Error(`${this.name} exited (${signal ?? code}) before it listened; see .build/e2e-logs/${this.name}.log`));
      });
    });
    this.port = port;
    await waitFor(`${this.name} GET /health = 200`, async () => (await httpGetText(port, "/health")).status === 200, { timeout: 30_000 });
  }

  /** Ends the process with `signal` (SIGKILL = "killed", SIGTERM = "stopped") and waits for it. */
  async kill(signal = "SIGKILL") {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((ok) => child.once("exit", ok));
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }

  stop() {
    return this.kill("SIGTERM");
  }

  /** The value of a Prometheus sample such as `semantest_connections_open` (NaN if absent). */
  async metric(name) {
    const { body } = await httpGetText(this.port, "/metrics");
    const line = body.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line ? Number(line.split(/\s+/).at(-1)) : NaN;
  }
}

export class TlsTerminator {
  constructor(name, { key, cert, targetPort }) {
    Object.assign(this, { name, key, cert, targetPort });
    this.port = 0;
    this.server = null;
    this.sockets = new Set();
    this.log = createWriteStream(join(LOGS, `${name}.log`), { flags: "a" });
  }

  /** Listens (on the same port as before, if it ran before): TLS in, raw bytes out to the backend. */
  async start() {
    if (this.server) return this;
    const server = createTlsServer({ key: this.key, cert: this.cert, minVersion: "TLSv1.2" }, (tls) => {
      const backend = netConnect(this.targetPort, "127.0.0.1");
      for (const s of [tls, backend]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => { tls.destroy(); backend.destroy(); });
      }
      tls.pipe(backend).pipe(tls);
      this.log.write(`${new Date().toISOString()} connection from ${tls.remotePort}\n`);
    });
    server.on("tlsClientError", (e) => this.log.write(`${new Date().toISOString()} tls error: ${e.message}\n`));
    await new Promise((ok, fail) => {
      server.once("error", fail);
      server.listen(this.port, "127.0.0.1", ok);
    });
    this.port = server.address().port;
    this.server = server;
    this.log.write(`${new Date().toISOString()} listening on ${this.port} -> ${this.targetPort}\n`);
    return this;
  }

  /** Stops listening and cuts every open connection (the browser sees them drop). */
  async stop() {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise((ok) => server.close(() => ok()));
    for (const s of this.sockets) s.destroy();
    await closed;
    this.log.write(`${new Date().toISOString()} stopped\n`);
  }
}

/** The public service: a production semantest-server behind TLS on a fixed port. */
export class PublicStandIn {
  constructor({ key, cert, allowOrigins = [], apiKey, registration = true, name = "public" }) {
    this.backend = new SemantestServer(`${name}-backend`, { environment: "production", allowOrigins, apiKey, registration });
    this.tls = new TlsTerminator(`${name}-tls`, { key, cert, targetPort: 0 });
  }

  get port() {
    return this.tls.port;
  }

  get up() {
    return this.tls.server !== null;
  }

  async start() {
    if (!this.backend.running) await this.backend.start();
    this.tls.targetPort = this.backend.port;
    await this.tls.start();
    return this;
  }

  /** "The public service is down": connections are refused and open ones are cut. */
  stop() {
    return this.tls.stop();
  }

  async close() {
    await this.tls.stop();
    await this.backend.stop();
  }
}

/** https://chatgpt.com/ on loopback: every path answers the stand-in page. */
/** The "generated image" of the stand-in: the extension's 128 px icon, a real PNG. */
export const GENERATED_IMAGE = readFileSync(join(ROOT, "extension/icons/icon128.png"));

export class ChatGptStandIn {
  /**
   * The images the page generates: GET /backend-api/estuary/content?id=file_…, a PNG of
   * GENERATED_SIZE bytes and GENERATED_WIDTH pixels wide per id (see generatedImage()).
   */
  static ESTUARY_PATH = "/backend-api/estuary/content";
  static GENERATED_SIZE = 96 * 1024;
  static GENERATED_WIDTH = 256;

  constructor({ key, cert }) {
    const page = join(ROOT, "tests/e2e/chatgpt/index.html");
    const log = createWriteStream(join(LOGS, "chatgpt-standin.log"), { flags: "a" });
    /** The images it serves, by path (query strings ignored); see offer(). */
    this.images = new Map([["/backend-api/generated.png", GENERATED_IMAGE]]);
    /** The images the page generated and the server served, by file id (`file_…`) → PNG bytes. */
    this.generated = new Map();
    /** Each image request: { path, id (estuary only), at (received), done (last byte handed to the socket) }. */
    this.imageRequests = [];
    this.server = createHttpsServer({ key, cert }, (req, res) => {
      log.write(`${new Date().toISOString()} ${req.method} ${req.url}\n`);
      if (req.url === "/favicon.ico") return res.writeHead(404).end();
      // What ChatGPT serves a generated image as, for the image flow (scenarios k, k2).
      const path = req.url.split("?")[0];
      const image = this.images.get(path);
      if (image) {
        const served = { path, at: Date.now(), done: null };
        this.imageRequests.push(served);
        res.on("finish", () => { served.done = Date.now(); });
        return res.writeHead(200, { "content-type": "image/png", "cache-control": "no-store" }).end(image);
      }
      // The images the page "generates": /backend-api/estuary/content?id=file_…&ts=…, a PNG per id.
      if (path === ChatGptStandIn.ESTUARY_PATH) {
        const id = new URLSearchParams(req.url.slice(path.length)).get("id") ?? "";
        if (!/^file_[A-Za-z0-9_-]{1,128}$/.test(id)) return res.writeHead(404, { "content-type": "application/json" }).end('{"detail":"File not found"}');
        const served = { path, id, at: Date.now(), done: null };
        this.imageRequests.push(served);
        const bytes = this.generatedImage(id);
        this.generated.set(id, bytes);
        res.on("finish", () => { served.done = Date.now(); });
        return res.writeHead(200, { "content-type": "image/png", "cache-control": "no-store" }).end(bytes);
      }
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(readFileSync(page));
    });
  }

  /**
   * The PNG the stand-in serves for file id `id` (what the page's <img> shows): the bytes it
   * served, or the same bytes computed now. Deterministic: GENERATED_SIZE bytes of noise,
   * GENERATED_WIDTH pixels wide, seeded by the id.
   */
  generatedImage(id) {
    const known = this.generated.get(id);
    if (known) return known;
    const seed = createHash("sha256").update(id).digest().readUInt32BE(0);
    return pseudoRandomPng(ChatGptStandIn.GENERATED_SIZE, { width: ChatGptStandIn.GENERATED_WIDTH, seed });
  }

  /** Serves `bytes` (a PNG) at `path` too, e.g. "/backend-api/generated-5mb.png". */
  offer(path, bytes) {
    this.images.set(path, bytes);
  }

  async start() {
    await new Promise((ok) => this.server.listen(0, "127.0.0.1", ok));
    this.port = this.server.address().port;
    return this;
  }

  close() {
    this.server.closeAllConnections?.();
    return new Promise((ok) => this.server.close(() => ok()));
  }
}

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".wasm": "application/wasm", ".json": "application/json", ".png": "image/png" };

/** Serves the repository's www/ and pkg/ folders (nothing else) over plain HTTP on loopback. */
export class StaticServer {
  constructor({ dirs = { "/www/": join(ROOT, "www"), "/pkg/": join(ROOT, "pkg") } } = {}) {
    this.server = createHttpServer((req, res) => {
      const path = decodeURIComponent(req.url.split("?")[0]);
      if (path === "/" || path === "/www") return res.writeHead(302, { location: "/www/" }).end();
      const prefix = Object.keys(dirs).find((p) => path.startsWith(p));
      if (!prefix) return res.writeHead(404).end("not found");
      const base = resolve(dirs[prefix]);
      let file = normalize(join(base, path.slice(prefix.length)));
      if (!file.startsWith(base)) return res.writeHead(403).end();
      if (existsSync(file) && statSync(file).isDirectory()) file = join(file, "index.html");
      if (!existsSync(file)) return res.writeHead(404).end("not found");
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" })
        .end(readFileSync(file));
    });
  }

  async start() {
    await new Promise((ok) => this.server.listen(0, "127.0.0.1", ok));
    this.port = this.server.address().port;
    this.origin = `http://127.0.0.1:${this.port}`;
    return this;
  }

  close() {
    this.server.closeAllConnections?.();
    return new Promise((ok) => this.server.close(() => ok()));
  }
}
