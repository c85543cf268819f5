// deploy/cost.test.mjs — deploy/README.md shows the cost tables that deploy/cost.mjs computes, and
// the model counts what the code sends. Run: node --test deploy/cost.test.mjs
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { SCENARIOS, tables, traffic } from "./cost.mjs";

const README = new URL("./README.md", import.meta.url);

test("deploy/README.md's cost tables are deploy/cost.mjs's output (run it and paste between the markers)", () => {
  const text = readFileSync(README, "utf8");
  const m = text.match(/<!-- cost:start[^>]*-->\n([\s\S]*?)<!-- cost:end -->/);
  assert.ok(m, "the README has the cost:start / cost:end markers");
  assert.equal(m[1], tables());
});

test("one always-on install: 360 sockets a month, a ping every 20 s with 2 after each welcome, 43 200 connection minutes", () => {
  const before = traffic(SCENARIOS.find((s) => s.key === "before"));
  assert.equal(before.connections, 360);
  assert.equal(before.pingsPerConnection, 2 + 359);
  assert.equal(before.connectionMinutes, 43_200);
  // hello/welcome, subscribe/ack and each ping/pong, in and out.
  assert.equal(before.messages, 360 * (4 + 2 * 361));
  assert.equal(before.lambdaRequests, 360 * (4 + 361));
});

test("the cut takes the pings off the Lambda and DynamoDB and leaves the messages as they were", () => {
  const [before, cut] = ["before", "cut"].map((k) => traffic(SCENARIOS.find((s) => s.key === k)));
  assert.equal(cut.messages, before.messages);
  assert.equal(before.lambdaRequests - cut.lambdaRequests, 360 * 361);
  assert.equal(before.rru - cut.rru, 360 * 361);
  assert.equal(cut.wru, before.wru);
});
