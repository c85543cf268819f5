// bench/lambda.mjs — the public service's handlers on this machine: how long the built Lambda
// binary takes from its start to asking the Runtime API for work (what a cold start adds
// before the first event, minus AWS's own sandbox setup), and the round trip of one frame through
// the local API Gateway stand-in: ping, which the stand-in answers itself as API Gateway's MOCK
// integration does (no Lambda); hello to the `default` handler and back (it reads and updates the
// connection's item on moto); publish to 10 subscribers (a Query and 10 management API posts).
// Loopback only; moto stands in for DynamoDB, so the warm numbers include moto's latency, not
// DynamoDB's. Prints a Markdown table; --json FILE writes every sample.
//
// Usage: node bench/lambda.mjs [--bootstrap deploy/lambda/dist/bootstrap] [--runs 20] [--frames 500] [--json FILE]
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { resolve } from "node:path";
import WebSocket from "ws";
import { startGateway } from "../deploy/local/gateway.mjs";
import { createResources, startMoto } from "../deploy/local/moto.mjs";
import { opt } from "./lib/args.mjs";

const BOOTSTRAP = resolve(opt("bootstrap", "deploy/lambda/dist/bootstrap"));
const RUNS = Number(opt("runs", 20));
const FRAMES = Number(opt("frames", 500));
const SUBSCRIBERS = 10;

if (!existsSync(BOOTSTRAP)) {
  console.error(`bench/lambda.mjs: ${BOOTSTRAP} is missing; run ./build.sh lambda first`);
  process.exit(1);
}

const ms = (ns) => Number(ns) / 1e6;
function summary(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { n: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1] };
}

/** Start → first GET .../invocation/next, with a one-shot Runtime API that never hands out work. */
async function initTimes() {
  const samples = [];
  for (let i = 0; i < RUNS; i++) {
    let started;
    let child;
    const polled = new Promise((ok) => {
      const server = createServer((req, res) => {
        if (req.url.endsWith("/invocation/next")) {
          ok(ms(process.hrtime.bigint() - started));
          res.destroy();
          server.close();
        } else res.end();
      });
      server.listen(0, "127.0.0.1", () => {
        started = process.hrtime.bigint();
        child = spawn(BOOTSTRAP, [], {
          stdio: "ignore",
          env: {
            PATH: process.env.PATH,
            AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${server.address().port}`,
            AWS_LAMBDA_FUNCTION_NAME: "bench-default",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "128",
            AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
            AWS_REGION: "us-east-1",
            AWS_ACCESS_KEY_ID: "bench",
            AWS_SECRET_ACCESS_KEY: "bench",
            SEMANTEST_HANDLER: "default",
            SEMANTEST_TABLE: "t",
            SEMANTEST_BUCKET: "b",
            SEMANTEST_MANAGEMENT_ENDPOINT: "http://127.0.0.1:9/bench",
          },
        });
      });
    });
    const timeout = new Promise((_, fail) => setTimeout(() => fail(new Error("the binary did not poll within 10 s")), 10_000));
    samples.push(await Promise.race([polled, timeout]));
    child.kill("SIGKILL");
  }
  return samples;
}

/** The bench clients' operator key (shown in the handshake, as the CLI does). */
const BENCH_KEY = "bench-operator-key-0123456789";

function open(url) {
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${BENCH_KEY}` } });
  const waiting = new Map();
  ws.on("message", (d) => {
    const frame = JSON.parse(d.toString());
    waiting.get(frame.replyTo)?.(frame);
  });
  const ask = (frame) => new Promise((ok) => {
    waiting.set(frame.id, ok);
    ws.send(JSON.stringify(frame));
  });
  return new Promise((ok, fail) => {
    ws.once("open", () => ok({ ws, ask }));
    ws.once("error", fail);
  });
}

async function roundTrips() {
  const moto = await startMoto();
  const names = { table: "bench-connections", bucket: "bench-images" };
  await createResources(moto.url, names);
  const gateway = await startGateway({
    bootstrap: BOOTSTRAP,
    env: {
      SEMANTEST_TABLE: names.table,
      SEMANTEST_BUCKET: names.bucket,
      // One operator key for every bench client: one tenant, as one user's tools and extension.
      SEMANTEST_API_KEY_SHA256: createHash("sha256").update(BENCH_KEY).digest("hex"),
      SEMANTEST_S3_FORCE_PATH_STYLE: "true",
      AWS_ENDPOINT_URL: moto.url,
    },
  });
  try {
    const client = await open(gateway.wsUrl);
    const subscribers = await Promise.all(Array.from({ length: SUBSCRIBERS }, () => open(gateway.wsUrl)));
    for (const [i, s] of subscribers.entries()) {
      await s.ask({ action: "subscribe", id: `s${i}`, payload: { events: ["bench"] } });
    }
    const time = async (frame) => {
      const t = process.hrtime.bigint();
      const answer = await frame();
      if (answer.type === "error") throw new Error(JSON.stringify(answer));
      return ms(process.hrtime.bigint() - t);
    };
    const ping = [];
    const hello = [];
    const publish = [];
    const helloFrame = (id) => ({ action: "hello", id, payload: { role: "client", clientId: "bench", version: "0.0.0" } });
    for (let i = 0; i < 20; i++) await client.ask({ action: "ping", id: `w${i}`, payload: { t: i } }); // warm-up
    for (let i = 0; i < 20; i++) await client.ask(helloFrame(`wh${i}`));
    const lambdaCalls = gateway.invocations.length;
    for (let i = 0; i < FRAMES; i++) ping.push(await time(() => client.ask({ action: "ping", id: `p${i}`, payload: { t: i } })));
    if (gateway.invocations.length !== lambdaCalls) throw new Error("a ping reached the Lambda: the mock route is not in place");
    for (let i = 0; i < FRAMES; i++) hello.push(await time(() => client.ask(helloFrame(`h${i}`))));
    for (let i = 0; i < FRAMES / 5; i++) {
      publish.push(await time(() => client.ask({ action: "publish", id: `b${i}`, payload: { event: "bench", data: { i } } })));
    }
    for (const s of [client, ...subscribers]) s.ws.terminate();
    return { ping, hello, publish };
  } finally {
    await gateway.close();
    await moto.stop();
  }
}

const init = await initTimes();
const { ping, hello, publish } = await roundTrips();
const rows = [
  ["binary start → first Runtime API poll (init)", summary(init)],
  ["ping → pong, answered by the stand-in's mock route (no Lambda)", summary(ping)],
  ["hello → welcome through the default handler (GetItem + UpdateItem on moto)", summary(hello)],
  [`publish → ack, ${SUBSCRIBERS} subscribers (Query + ${SUBSCRIBERS} posts)`, summary(publish)],
];
const f = (v) => v.toFixed(1);
console.log("| | n | p50 ms | p90 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|");
for (const [name, s] of rows) console.log(`| ${name} | ${s.n} | ${f(s.p50)} | ${f(s.p90)} | ${f(s.p99)} | ${f(s.max)} |`);
const json = opt("json", null);
if (json) writeFileSync(json, JSON.stringify({ init, ping, hello, publish }, null, 1));
