// deploy/local/fixture-runtime.mjs — a tiny Lambda function for gateway.test.mjs: the custom
// runtime loop (GET next, POST response or error) in plain JS, so the gateway's tests do not
// need the Rust build. What it does is chosen by SEMANTEST_HANDLER (like the real binary) and,
// for messages, by the frame's `do`:
//   connect     Authorization "Bearer bad" → 403; query ?status=N → N; otherwise 200, choosing
//               "semantest.v1" when the client offers it
//   default     echoes { routeKey, body, isBase64Encoded, connectionId } as its reply body;
//               do: "crash" exits, "hang" never answers, "fail" reports an error, "silent"
//               answers without a body, "env" replies with its environment, "sleep" waits `ms`
//   disconnect  200
//   http        200 with { version, routeKey, rawPath, rawQueryString, method }
const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime`;
const handler = process.env.SEMANTEST_HANDLER;

async function handle(event) {
  if (handler === "connect") {
    const headers = Object.fromEntries(Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    if (headers.authorization === "Bearer bad") return { statusCode: 403, body: "forbidden" };
    if (event.queryStringParameters?.status) return { statusCode: Number(event.queryStringParameters.status) };
    const offered = (headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
    return offered.includes("semantest.v1") ? { statusCode: 200, headers: { "Sec-WebSocket-Protocol": "semantest.v1" } } : { statusCode: 200 };
  }
  if (handler === "default") {
    let frame = {};
    try {
      frame = JSON.parse(event.body);
    } catch {
      // not JSON
    }
    switch (frame?.do) {
      case "crash":
        process.stderr.write("fixture: crashing on purpose\n");
        process.exit(3);
        break;
      case "hang":
        return new Promise(() => setInterval(() => {}, 1000)); // (the timer keeps node running)
      case "fail":
        throw new Error("failing on purpose");
      case "silent":
        return { statusCode: 200 };
      case "env":
        return { statusCode: 200, body: JSON.stringify(process.env) };
      case "sleep":
        await new Promise((ok) => setTimeout(ok, frame.ms));
        break;
    }
    const { routeKey, connectionId } = event.requestContext;
    return { statusCode: 200, body: JSON.stringify({ routeKey, connectionId, body: event.body, isBase64Encoded: event.isBase64Encoded }) };
  }
  if (handler === "http") {
    const body = { version: event.version, routeKey: event.routeKey, rawPath: event.rawPath, rawQueryString: event.rawQueryString, method: event.requestContext.http.method };
    return { statusCode: 200, headers: { "content-type": "application/json", "x-fixture": "yes" }, body: JSON.stringify(body) };
  }
  return { statusCode: 200 };
}

for (;;) {
  const next = await fetch(`${api}/invocation/next`);
  const id = next.headers.get("lambda-runtime-aws-request-id");
  const event = await next.json();
  try {
    const result = await handle(event);
    await fetch(`${api}/invocation/${id}/response`, { method: "POST", body: JSON.stringify(result) });
  } catch (e) {
    await fetch(`${api}/invocation/${id}/error`, {
      method: "POST",
      headers: { "Lambda-Runtime-Function-Error-Type": "Unhandled" },
      body: JSON.stringify({ errorType: e.constructor.name, errorMessage: e.message }),
    });
  }
}
