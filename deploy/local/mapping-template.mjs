// deploy/local/mapping-template.mjs — the part of API Gateway's mapping templates (VTL) that the
// stand-in's mock routes use, applied as API Gateway documents it for WebSocket APIs:
//
//   $input.json('$.a.b')   the value at that JSONPath of the payload, as JSON text
//   $input.path('$.a.b')   the same value (a string is written without quotes)
//   $input.body            the payload as it came
//   $context.name          a request context variable ($context.requestTimeEpoch, $context.identity.sourceIp, ...)
//
// Only dotted JSONPaths from `$` are read; a path that is not there is `null`. Anything else a
// template could hold (#set, #if, $util, $stageVariables, other $input functions) is refused with
// an error rather than passed through, so a template the stand-in cannot apply fails its tests
// instead of answering something API Gateway would not.

const EXPRESSION = /\$input\.(json|path)\('([^']*)'\)|\$input\.body\b|\$context\.([A-Za-z0-9_.]*[A-Za-z0-9_])/g;

/** The value at a dotted JSONPath (`$`, `$.id`, `$.payload.t`) of `document`, or undefined. */
export function jsonPath(document, path) {
  if (!/^\$(\.[A-Za-z0-9_]+)*$/.test(path)) throw new Error(`mapping template: unsupported JSONPath ${JSON.stringify(path)}`);
  let value = document;
  for (const key of path.split(".").slice(1)) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key)) return undefined;
    value = value[key];
  }
  return value;
}

/**
 * Renders `template` for a payload (`body`, text) and a request context (`context`, the event's
 * requestContext). Throws on what it does not support.
 */
export function render(template, { body, context }) {
  // What is left once the supported expressions are taken out must be plain text: a `$` or `#`
  // there is VTL this renderer does not know.
  const rest = template.replace(EXPRESSION, "");
  const unknown = rest.match(/[#$][A-Za-z{!]/);
  if (unknown) {
    const at = rest.indexOf(unknown[0]);
    throw new Error(`mapping template: unsupported VTL near ${JSON.stringify(rest.slice(at, at + 30))}`);
  }
  let parsed;
  const payload = () => {
    if (parsed === undefined) {
      try {
        parsed = { value: JSON.parse(body) };
      } catch {
        parsed = { value: undefined };
      }
    }
    return parsed.value;
  };
  return template.replace(EXPRESSION, (_whole, fn, path, contextName) => {
    if (contextName !== undefined) {
      const value = contextName.split(".").reduce((v, k) => (v === null || typeof v !== "object" ? undefined : v[k]), context);
      return value === undefined || value === null ? "" : String(value);
    }
    if (fn === undefined) return body; // $input.body
    const value = jsonPath(payload(), path);
    if (fn === "json") return JSON.stringify(value === undefined ? null : value);
    return value === undefined || value === null ? "" : typeof value === "string" ? value : JSON.stringify(value);
  });
}
