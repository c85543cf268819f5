// sdk/example/example.ts — the quick start of sdk/README.md as one program, with the package's
// own types: connect(), request() (a ping, and an action the server refuses), on() with a
// second client that publishes, onStatus(), settings(). tests/e2e/sdk.test.mjs installs the
// packed package, type-checks this file with `tsc --strict` and runs it in headless Chromium
// against a real semantest-server.
import init, { SemantestClient } from "@semantest/sdk";
import type { ClientOptions, EventPayload, Mode, Pong, SemantestError, Status } from "@semantest/sdk";

/** The event the example publishes to itself. */
const GREETING = "sdk-example.greeting";

/** What the example saw (also printed on the console, one line each). */
export interface ExampleResult {
  /** What `connect()` resolved with. */
  ready: Status;
  /** Every mode `onStatus` reported, in order. */
  modes: Mode[];
  /** The `t` the ping carried. */
  sentT: number;
  /** The answer to the ping. */
  pong: Pong;
  /** How `request("noSuchAction")` was refused. */
  refused: Pick<SemantestError, "code" | "message">;
  /** What the second client's `on()` handler got. */
  event: EventPayload;
  /** `settings().localUrl`, with every default filled in. */
  localUrl: string;
}

export async function run(options: ClientOptions = {}): Promise<ExampleResult> {
  await init(); // fetches semantest_connect_bg.wasm from next to the module

  const client = new SemantestClient({ ...options, clientId: "sdk-example" });
  const modes: Mode[] = [];
  client.onStatus((status) => {
    modes.push(status.mode);
    console.log(`status: ${status.mode}${status.url ? ` ${status.url}` : ""}${status.reason ? ` (${status.reason})` : ""}`);
  });

  // The first ready status: `local` (your own server) or `cloud` (the public service).
  const ready = await client.connect();
  console.log(`connected: ${ready.mode} ${ready.url}`);

  // An answer is a frame; its `type` says what its payload is.
  const sentT = Date.now();
  const answer = await client.request("ping", { t: sentT }, { timeoutMs: 5000 });
  if (answer.type !== "pong") throw new Error(`ping: expected a pong, got ${answer.type}`);
  const pong: Pong = answer.payload;
  console.log(`pong: t=${pong.t} serverTime=${pong.serverTime} (${Date.now() - sentT} ms round trip)`);

  // What the server refuses rejects with a SemantestError carrying the server's code.
  const refused = await client.request("noSuchAction").then(
    (frame) => {
      throw new Error(`noSuchAction was answered: ${frame.type}`);
    },
    (e: unknown) => e as SemantestError,
  );
  console.log(`refused: ${refused.code}: ${refused.message}`);

  // on(): events other connections publish (the client subscribes again after a reconnect).
  const listener = new SemantestClient({ ...options, clientId: "sdk-example-listener" });
  const event = new Promise<EventPayload>((resolve) => listener.on(GREETING, resolve));
  await listener.connect();
  // The listener's subscription may still be on its way: publish until the ack says delivered.
  for (let attempt = 1; ; attempt++) {
    const ack = await client.request("publish", { event: GREETING, data: { hello: "world" } });
    if (ack.type === "ack" && (ack.payload.delivered ?? 0) > 0) break;
    if (attempt === 50) throw new Error(`${GREETING}: no subscriber after ${attempt} publishes`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const received = await event;
  console.log(`event: ${received.event} from ${received.from}: ${JSON.stringify(received.data)}`);

  const { localUrl } = client.settings();
  client.onStatus(null); // no more status calls: closing goes offline
  listener.close();
  client.close();
  return { ready, modes, sentT, pong, refused: { code: refused.code, message: refused.message }, event: received, localUrl };
}
