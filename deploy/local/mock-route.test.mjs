// deploy/local/mock-route.test.mjs — the MOCK integration of deploy/ping-route.json, applied by
// mock-route.mjs and mapping-template.mjs without a socket: the pong the client's core accepts,
// whichever payload API Gateway gives the response template. Run: node --test deploy/local/mock-route.test.mjs
import assert from "node:assert/strict";
import { test } from "node:test";
import { jsonPath, render } from "./mapping-template.mjs";
import { answerMock, loadRoute } from "./mock-route.mjs";

const spec = loadRoute();
const context = { requestTimeEpoch: 1764979200123, connectionId: "Xk1bYdOvoAMCJfA=" };
const ping = (id, t) => JSON.stringify({ action: "ping", id, payload: { t } });

test("ping → pong: the ping's id as replyTo, its t, the request time as serverTime", () => {
  const { statusCode, reply } = answerMock(spec, { body: ping("k3-abcdefgh", 42), context });
  assert.equal(statusCode, 200);
  assert.equal(reply, '{"type":"pong","replyTo":"k3-abcdefgh","payload":{"t":42,"serverTime":1764979200123}}');
});

test("the response template gives the same pong over the client's frame and over the request template's output", () => {
  // API Gateway's documentation does not say which of the two a MOCK integration's response
  // template reads; the templates are written so that it does not matter.
  for (const body of [ping("k1-00000000", 0), ping("k99-zzzzzzzz", 9007199254740991), ping('a"b\\c', 5)]) {
    const request = render(spec.integration.requestTemplates["200"], { body, context });
    const responseTemplate = spec.integrationResponse.responseTemplates["200"];
    assert.equal(render(responseTemplate, { body: request, context }), render(responseTemplate, { body, context }), body);
    assert.equal(JSON.parse(request).statusCode, 200);
  }
});

test("an id with quotes or backslashes is escaped into valid JSON", () => {
  const { reply } = answerMock(spec, { body: ping('a"b\\c', 1), context });
  assert.equal(JSON.parse(reply).replyTo, 'a"b\\c');
});

test("a frame without an id or t still gets a pong (null there): the stand-in's assumption, since AWS does not document what $input.json gives for a missing path", () => {
  const { reply } = answerMock(spec, { body: '{"action":"ping"}', context });
  assert.deepEqual(JSON.parse(reply), { type: "pong", replyTo: null, payload: { t: null, serverTime: 1764979200123 } });
});

test("the renderer refuses VTL it does not apply, rather than passing it through", () => {
  for (const template of ["#set($a = 1)", "$util.escapeJavaScript($input.body)", "${stageVariables.x}", "$input.params('x')"]) {
    assert.throws(() => render(template, { body: "{}", context }), /unsupported/, template);
  }
  assert.throws(() => jsonPath({}, "$..deep"), /unsupported JSONPath/);
  assert.equal(render("$input.body|$input.path('$.a')|$context.connectionId", { body: '{"a":"x"}', context }), '{"a":"x"}|x|Xk1bYdOvoAMCJfA=');
});

test("a request template without an integer statusCode is the mock's failure", () => {
  const broken = { ...spec, integration: { ...spec.integration, requestTemplates: { 200: '{"statusCode":"200"}' } } };
  assert.throws(() => answerMock(broken, { body: ping("a", 1), context }), /no integer statusCode/);
});
