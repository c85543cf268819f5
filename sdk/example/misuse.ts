// sdk/example/misuse.ts — what the package's types refuse. Type-checked only (never run), by
// tests/e2e/sdk.test.mjs with `tsc --strict`: each `@ts-expect-error` line must be an error,
// so a type that slid back to `any` fails the check.
import { SemantestClient, testConnection } from "@semantest/sdk";
import type { SemantestError, SemantestErrorCode } from "@semantest/sdk";

// @ts-expect-error a misspelt option (the core refuses unknown keys at run time too)
new SemantestClient({ preferlocal: true });
// @ts-expect-error a strategy that does not exist
new SemantestClient({ strategy: "fastest" });
// @ts-expect-error retry.baseMs is a number of ms
new SemantestClient({ retry: { baseMs: "1s" } });

const client = new SemantestClient();
// @ts-expect-error a request's options are { timeoutMs?: number }
void client.request("ping", {}, { timeoutMs: "5s" });
// @ts-expect-error a payload is an object
void client.request("ping", 42);
// @ts-expect-error a status's mode is one of connecting, local, cloud, offline
const online: "online" = client.status().mode;
// @ts-expect-error the settings never show the access key
void client.settings().token;
// @ts-expect-error updateSettings takes settings, not resume
client.updateSettings({ resume: { failures: 1 } });

export async function narrowing(): Promise<number> {
  const frame = await client.request("ping", { t: 1 });
  // @ts-expect-error the payload's type follows `type`: narrow first
  void frame.payload.t;
  if (frame.type === "pong") return frame.payload.t;
  const ready = await client.connect();
  // @ts-expect-error latencyMs may be null
  const ms: number = ready.latencyMs;
  const report = await testConnection({ localUrl: "http://localhost:3003" });
  // @ts-expect-error a side's signature may be null (nothing connected)
  void report.local.signature.version;
  return ms + online.length;
}

client.on("imageDownloaded", (event) => {
  // @ts-expect-error an event's data is unknown JSON until checked
  void event.data.url;
});

export function code(e: unknown): SemantestErrorCode {
  const error = e as SemantestError;
  // @ts-expect-error the codes are known: FailureCode | ErrorCode | "offline"
  const wrong: SemantestErrorCode = "time_out";
  return error.code === "offline" ? error.code : wrong;
}
