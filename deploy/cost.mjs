// deploy/cost.mjs — what the public service costs per 1000 always-on extension installs a month,
// from the client's traffic (read from the code, below) and AWS's published us-east-1 prices. It
// prints the Markdown tables of deploy/README.md ("What an always-on install costs");
// deploy/cost.test.mjs checks that the README shows exactly this output.
//
// Usage: node deploy/cost.mjs
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";

/** The prices, us-east-1, looked up on the date below; no free tier (see the README for the sources). */
export const PRICES = {
  lookedUp: "2026-12-06",
  /** API Gateway WebSocket: per million messages (first billion a month; sent or received, 32 KB each). */
  messagePerMillion: 1.0,
  /** API Gateway WebSocket: per million connection minutes. */
  connectionMinutePerMillion: 0.25,
  /** Lambda: per million requests, and per GB-second on x86_64 (the stack's architecture). */
  lambdaRequestPerMillion: 0.2,
  lambdaGbSecond: 0.0000166667,
  /** DynamoDB on-demand, since the 1 November 2024 reduction: per million write and read request units. */
  wruPerMillion: 0.625,
  rruPerMillion: 0.125,
  /** CloudWatch Logs: per GB ingested (standard class). */
  logGb: 0.5,
  /** Data transfer out to the internet: per GB (the first 10 TB a month). */
  egressGb: 0.09,
};

/** A month of 30 days. */
const MONTH_S = 30 * 24 * 3600;
/** API Gateway closes every WebSocket after 2 hours; the core reconnects about 1 s later. */
const CONNECTION_S = 2 * 3600;
/** The Lambda functions' memory (deploy/pulumi/src/functions.ts: memorySize 128). */
const LAMBDA_GB = 128 / 1024;
/**
 * Billed milliseconds per invocation (1 ms granularity). BENCHMARKS.md "The public service's
 * handlers": a ping through the handler (a GetItem on moto) took 4.9 ms at the median, a hello
 * (GetItem + UpdateItem) 6.8 ms, both round trips through the stand-in; the handlers that make
 * two to four DynamoDB calls are taken as 10 ms. Not measured on AWS.
 */
const BILLED_MS = { ping: 5, other: 10 };

/** Sample frames, as the core and the handlers write them (sizes only: every one is one 32 KB message). */
const FRAMES = {
  pong: '{"type":"pong","replyTo":"k123-abcdefgh","payload":{"t":1234567890,"serverTime":1764979200123}}',
  welcome: '{"type":"welcome","replyTo":"h1-abcdefgh","payload":{"connectionId":"Xk1bYdOvoAMCJfA=","server":{"service":"semantest","version":"1.0.0","protocol":1,"environment":"production"},"heartbeatSecs":20}}',
  ack: '{"type":"ack","replyTo":"s2-abcdefgh","payload":{"action":"subscribe","events":["imageDownloadRequested","imageGenerationRequested"]}}',
};
/** One line of the stage's access log (deploy/pulumi/src/websocket.ts, accessLogSettings.format), per message received. */
const ACCESS_LOG_LINE = '{"requestId":"Xk1bZFqvIAMFoBg=","connectionId":"Xk1bYdOvoAMCJfA=","eventType":"MESSAGE","routeKey":"ping","status":"200","integrationLatency":"5","error":"-","requestTime":"1764979200123","sourceIp":"203.0.113.42"}';
/** One JSON line of the handlers' log (tracing's JSON format); only $connect and $disconnect log per connection at INFO. */
const LAMBDA_LOG_LINE = '{"timestamp":"2026-12-06T10:00:00.123Z","level":"INFO","fields":{"message":"connected","connection":"Xk1bYdOvoAMCJfA=","authed":true,"wrong_key":false},"target":"semantest_lambda::connect","requestId":"8f5e2c1a-4b7d-4e0f-9a3b-2c6d8e1f0a7b"}';
/** What a server → client frame costs on the wire: the WebSocket header (2 B) and a TLS 1.3 record (22 B). */
const WIRE_OVERHEAD = 2 + 22;

/**
 * The ways the keepalive can run. `pingEveryS`: a client frame every so many seconds (the core's
 * pingIntervalMs, capped by the welcome's heartbeatSecs); `pingLambda`: a ping reaches the
 * default function (before the cut) or API Gateway answers it (MOCK, after); `pongEvery`: only
 * every n-th keepalive frame is a ping that wants a pong, the others a one-way `keepalive`.
 */
export const SCENARIOS = [
  { key: "before", title: "before: ping → λ, every 20 s", pingEveryS: 20, pingLambda: true, pongEvery: 1 },
  { key: "cut", title: "after the cut: ping → mock", pingEveryS: 20, pingLambda: false, pongEvery: 1 },
  { key: "every25", title: "cut + ping every 25 s", pingEveryS: 25, pingLambda: false, pongEvery: 1 },
  { key: "oneWay", title: "cut + 25 s, pong every 5 min", pingEveryS: 25, pingLambda: false, pongEvery: 12 },
];

/**
 * One always-on install's traffic in a month (the extension's socket; a paired CLI's sockets
 * come and go with its commands and are not counted).
 */
export function traffic(s) {
  const connections = MONTH_S / CONNECTION_S; // 360
  // After the welcome: a ping at once and a second at its pong (the first is a warm-up,
  // src/machine/mod.rs), then one every pingEveryS until the close at 2 h.
  const beats = Math.ceil(CONNECTION_S / s.pingEveryS) - 1;
  const pingsPerConnection = 2 + Math.floor(beats / s.pongEvery);
  const keepalivesPerConnection = beats - Math.floor(beats / s.pongEvery);
  // hello → welcome and subscribe (imageDownloadRequested, imageGenerationRequested) → ack on
  // every socket (src/machine/session.rs); the ping's pong.
  const inPerConnection = 2 + pingsPerConnection + keepalivesPerConnection;
  const outPerConnection = 2 + pingsPerConnection;
  // Lambda invocations: $connect, hello, subscribe, $disconnect, and every ping before the cut.
  const otherInvocations = 4;
  const pingInvocations = s.pingLambda ? pingsPerConnection : 0;
  // DynamoDB (deploy/lambda/src): $connect GetItem token# + PutItem conn#; hello GetItem conn# +
  // UpdateItem; subscribe GetItem conn# + UpdateItem + 2 subscription puts; $disconnect GetItem
  // conn# + 3 deletes; a ping through the Lambda GetItem conn# (strongly consistent: 1 RRU each).
  const rru = 4 + (s.pingLambda ? pingsPerConnection : 0);
  const wru = 1 + 1 + 3 + 3;
  const perConnection = {
    messages: inPerConnection + outPerConnection,
    lambdaRequests: otherInvocations + pingInvocations,
    gbSeconds: LAMBDA_GB * (otherInvocations * BILLED_MS.other + pingInvocations * BILLED_MS.ping) / 1000,
    rru,
    wru,
    // Access log: a line per message received plus $connect and $disconnect; the handlers: 2 lines.
    logBytes: (inPerConnection + 2) * ACCESS_LOG_LINE.length + 2 * LAMBDA_LOG_LINE.length,
    egressBytes:
      pingsPerConnection * (FRAMES.pong.length + WIRE_OVERHEAD) + FRAMES.welcome.length + FRAMES.ack.length + 2 * WIRE_OVERHEAD,
  };
  const month = Object.fromEntries(Object.entries(perConnection).map(([k, v]) => [k, v * connections]));
  return { connections, pingsPerConnection, keepalivesPerConnection, connectionMinutes: MONTH_S / 60, ...month };
}

/** Registration, once per install: register → registered (1 invocation: GetItem conn#, 4 writes). */
const REGISTRATION = { messages: 2, lambdaRequests: 1, gbSeconds: (LAMBDA_GB * BILLED_MS.other) / 1000, rru: 1, wru: 4 };

/** The cost rows for 1000 installs: [item, dollars per scenario]. */
export function costRows(prices = PRICES) {
  const per = SCENARIOS.map((s) => traffic(s));
  const k = 1000;
  const m = 1e6;
  const gb = 1e9;
  const rows = [
    ["WebSocket messages", (t) => (t.messages * k * prices.messagePerMillion) / m],
    ["Connection minutes", (t) => (t.connectionMinutes * k * prices.connectionMinutePerMillion) / m],
    ["Lambda requests", (t) => (t.lambdaRequests * k * prices.lambdaRequestPerMillion) / m],
    ["Lambda duration (128 MB, x86_64)", (t) => t.gbSeconds * k * prices.lambdaGbSecond],
    ["DynamoDB reads (on-demand)", (t) => (t.rru * k * prices.rruPerMillion) / m],
    ["DynamoDB writes (on-demand)", (t) => (t.wru * k * prices.wruPerMillion) / m],
    ["CloudWatch Logs ingestion (access log, handlers)", (t) => (t.logBytes * k * prices.logGb) / gb],
    ["Data transfer out (pongs, welcomes, acks)", (t) => (t.egressBytes * k * prices.egressGb) / gb],
    [
      "Registration (once per install; shown in full)",
      () =>
        k *
        ((REGISTRATION.messages * prices.messagePerMillion + REGISTRATION.lambdaRequests * prices.lambdaRequestPerMillion) / m +
          REGISTRATION.gbSeconds * prices.lambdaGbSecond +
          (REGISTRATION.rru * prices.rruPerMillion + REGISTRATION.wru * prices.wruPerMillion) / m),
    ],
  ];
  return { per, rows: rows.map(([item, f]) => [item, per.map(f)]) };
}

const money = (v) => (v > 0 && v < 0.005 ? "< $0.01" : `$${v.toFixed(2)}`);
const count = (v) => Math.round(v).toLocaleString("en-US");

/** The two Markdown tables of the README, as one string. */
export function tables(prices = PRICES) {
  const { per, rows } = costRows(prices);
  const totals = SCENARIOS.map((_, i) => rows.reduce((sum, [, v]) => sum + v[i], 0));
  const head = `| per 1000 installs, per month | ${SCENARIOS.map((s) => s.title).join(" | ")} |`;
  const rule = `|---|${SCENARIOS.map(() => "---:").join("|")}|`;
  const cost = [
    head,
    rule,
    ...rows.map(([item, v]) => `| ${item} | ${v.map(money).join(" | ")} |`),
    `| **total** | ${totals.map((t) => `**${money(t)}**`).join(" | ")} |`,
    `| saving against before | ${totals.map((t) => (t === totals[0] ? "–" : `${money(totals[0] - t)} (${Math.round((100 * (totals[0] - t)) / totals[0])} %)`)).join(" | ")} |`,
  ];
  const quantities = [
    `| one install, per month | ${SCENARIOS.map((s) => s.title).join(" | ")} |`,
    rule,
    ["connections (2 h each)", (t) => count(t.connections)],
    ["pings per connection (incl. the 2 after the welcome)", (t) => count(t.pingsPerConnection)],
    ["one-way keepalives per connection", (t) => count(t.keepalivesPerConnection)],
    ["messages (in + out)", (t) => count(t.messages)],
    ["connection minutes", (t) => count(t.connectionMinutes)],
    ["Lambda invocations", (t) => count(t.lambdaRequests)],
    ["Lambda GB-seconds", (t) => t.gbSeconds.toFixed(1)],
    ["DynamoDB read request units", (t) => count(t.rru)],
    ["DynamoDB write request units", (t) => count(t.wru)],
    ["log bytes ingested", (t) => `${(t.logBytes / 1e6).toFixed(1)} MB`],
    ["bytes out", (t) => `${(t.egressBytes / 1e6).toFixed(1)} MB`],
  ].map((row) => (typeof row === "string" ? row : `| ${row[0]} | ${per.map(row[1]).join(" | ")} |`));
  return `${cost.join("\n")}\n\n${quantities.join("\n")}\n`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.stdout.write(tables());
}
