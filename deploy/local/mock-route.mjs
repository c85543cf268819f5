// deploy/local/mock-route.mjs — a WebSocket route with a MOCK integration, answered the way API
// Gateway answers it, with no Lambda: the request template's output gives the `statusCode`; the
// integration response whose key matches it renders the reply (two-way routes send it back).
// The routes come from the files the Pulumi program deploys (deploy/ping-route.json), so the
// stand-in and the real stack use the same templates.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { render } from "./mapping-template.mjs";

/** deploy/ping-route.json: `ping` answered by API Gateway itself. */
export const PING_ROUTE_FILE = join(dirname(fileURLToPath(import.meta.url)), "..", "ping-route.json");

export function loadRoute(file = PING_ROUTE_FILE) {
  const spec = JSON.parse(readFileSync(file, "utf8"));
  if (spec.integration?.integrationType !== "MOCK") throw new Error(`${file}: not a MOCK integration`);
  return spec;
}

/** A selection expression the stand-in can evaluate: a static value (not `${request.body...}`). */
function staticKey(expression, what) {
  if (expression.startsWith("$") && expression !== "$default") throw new Error(`mock route: ${what} ${expression} is not a static value; the stand-in applies static ones only`);
  return expression;
}

/** Whether an integration response key (`$default` or `/regex/`) matches the status code. */
function keyMatches(key, status) {
  if (key === "$default") return true;
  const m = key.match(/^\/(.*)\/$/);
  if (!m) throw new Error(`mock route: integration response key ${key} is neither $default nor /regex/`);
  return new RegExp(`^(?:${m[1]})$`).test(String(status));
}

/**
 * The reply of `spec`'s mock to a frame (`body`, text) with the request context `context`:
 * `{ statusCode, reply }`, `reply` null when no integration response matches. Throws when the
 * request template gives no integer statusCode (API Gateway: "Internal server error").
 */
export function answerMock(spec, { body, context }) {
  const { integration, integrationResponse: response } = spec;
  const requestTemplate = integration.requestTemplates[staticKey(integration.templateSelectionExpression, "templateSelectionExpression")];
  if (requestTemplate === undefined) throw new Error("mock route: no request template for the selection");
  const request = render(requestTemplate, { body, context });
  let statusCode;
  try {
    statusCode = JSON.parse(request).statusCode;
  } catch {
    // not JSON: no status code
  }
  if (!Number.isInteger(statusCode)) throw new Error(`mock route: the request template gave no integer statusCode: ${request}`);
  if (!keyMatches(response.integrationResponseKey, statusCode)) return { statusCode, reply: null };
  const responseTemplate = response.responseTemplates[staticKey(response.templateSelectionExpression, "templateSelectionExpression")];
  // Rendered over the client's frame. API Gateway's documentation does not say which payload a
  // MOCK integration's response template reads; the request template keeps the frame's shape so
  // that the other reading (its own output) gives the same reply (tested).
  const reply = responseTemplate === undefined ? "" : render(responseTemplate, { body, context });
  return { statusCode, reply };
}
