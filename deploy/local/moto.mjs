// deploy/local/moto.mjs — moto (DynamoDB and S3 on loopback) for the deploy tests, and the
// resources the Lambda handlers expect, created with hand-written requests to moto's HTTP API
// (moto does not check signatures, so no AWS SDK is needed here).
//
//   const moto = await startMoto();            // deploy/local/setup.sh made the venv
//   await createResources(moto.url, { table: "connections", bucket: "images" });
//   const items = await scanItems(moto.url, "connections");
//   await moto.stop();
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const MOTO_PYTHON = join(ROOT, ".build/moto-venv/bin/python");
const SCRIPT = join(ROOT, "deploy/local/moto_on_loopback.py");
const REGION = "us-east-1";

/**
 * Starts moto_on_loopback.py and waits (≤ `timeoutMs`) for the URL it prints. Its stdin stays
 * open; stop() closes it, and moto exits (as it does if this process dies).
 * @returns {Promise<{url: string, stop: () => Promise<void>, output: () => string}>}
 */
export async function startMoto({ python = MOTO_PYTHON, timeoutMs = 30_000 } = {}) {
  if (!existsSync(python)) throw new Error(`moto is not installed (${python}); run deploy/local/setup.sh`);
  const child = spawn(python, [SCRIPT], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  child.stderr.setEncoding("utf8").on("data", (t) => { output = (output + t).slice(-4000); });
  const exited = new Promise((ok) => child.once("exit", ok));
  const url = await new Promise((ok, fail) => {
    let stdout = "";
    const timer = setTimeout(() => fail(new Error(`moto printed no URL within ${timeoutMs} ms: ${output}`)), timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (t) => {
      stdout += t;
      const line = stdout.split("\n").find((l, i, all) => i < all.length - 1 && l.startsWith("http"));
      if (line) {
        clearTimeout(timer);
        ok(line.trim());
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`moto exited (${code}) before printing its URL: ${output}`));
    });
    child.once("error", fail);
  }).catch((e) => {
    child.kill("SIGKILL");
    throw e;
  });
  const onExit = () => child.kill("SIGKILL");
  process.on("exit", onExit);
  return {
    url,
    output: () => output,
    async stop() {
      process.off("exit", onExit);
      child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** An Authorization header moto reads the region from (it checks nothing else). */
const authorization = (service) =>
  `AWS4-HMAC-SHA256 Credential=local-test-access-key/20260101/${REGION}/${service}/aws4_request, SignedHeaders=host, Signature=0`;

/** One DynamoDB JSON API call (`operation` like "CreateTable"); the parsed answer, or an error. */
export async function dynamo(url, operation, body) {
  const r = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": `DynamoDB_20120810.${operation}`,
      authorization: authorization("dynamodb"),
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`DynamoDB ${operation}: HTTP ${r.status} ${text}`);
  return JSON.parse(text);
}

/** One S3 REST call on a path-style URL (`/bucket/key`); the response, or an error. */
export async function s3(url, method, path, body) {
  const r = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: authorization("s3"), "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
    body: body === undefined ? undefined : Buffer.from(body),
    signal: AbortSignal.timeout(10_000),
  });
  if (!r.ok) throw new Error(`S3 ${method} ${path}: HTTP ${r.status} ${await r.text()}`);
  return r;
}

/**
 * The handlers' resources: the table (hash key `pk`, range key `sk`, both strings; on demand;
 * TTL on `expiresAt`) and the image bucket.
 */
export async function createResources(url, { table, bucket }) {
  await dynamo(url, "CreateTable", {
    TableName: table,
    AttributeDefinitions: [
      { AttributeName: "pk", AttributeType: "S" },
      { AttributeName: "sk", AttributeType: "S" },
    ],
    KeySchema: [
      { AttributeName: "pk", KeyType: "HASH" },
      { AttributeName: "sk", KeyType: "RANGE" },
    ],
    BillingMode: "PAY_PER_REQUEST",
  });
  await dynamo(url, "UpdateTimeToLive", {
    TableName: table,
    TimeToLiveSpecification: { Enabled: true, AttributeName: "expiresAt" },
  });
  await s3(url, "PUT", `/${bucket}`);
}

/** Every item of `table` (all pages), in DynamoDB's JSON (`{ pk: { S: "..." }, ... }`). */
export async function scanItems(url, table) {
  const items = [];
  let start;
  do {
    const page = await dynamo(url, "Scan", { TableName: table, ...(start ? { ExclusiveStartKey: start } : {}) });
    items.push(...page.Items);
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}
