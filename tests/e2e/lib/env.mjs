// tests/e2e/lib/env.mjs — where the end-to-end tests find what they run, and where they write.
//
// Every path is relative to the repository root, and each can be overridden by an environment
// variable (tests/e2e/run.sh sets none of them by default):
//   E2E_SERVER     the semantest-server binary          (target/release/semantest-server)
//   E2E_EXTENSION  the unpacked extension               (dist/extension)
//   E2E_PKG        the wasm package for the www demo     (pkg)
//   E2E_ARTIFACTS  screenshots and failure dumps         (.build/e2e-artifacts)
//   E2E_WORK       certificates, browser profiles        (.build/e2e)
//   E2E_LOGS       server and stand-in logs              (.build/e2e-logs)
//   CHROMIUM       the browser                           (/usr/bin/chromium)
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const at = (variable, fallback) => resolve(ROOT, process.env[variable] ?? fallback);

export const SERVER_BIN = at("E2E_SERVER", `${process.env.CARGO_TARGET_DIR ?? "target"}/release/semantest-server`);
export const CLI_BIN = at("E2E_CLI", `${process.env.CARGO_TARGET_DIR ?? "target"}/release/semantest`);
export const EXTENSION_DIR = at("E2E_EXTENSION", "dist/extension");
export const PKG_DIR = at("E2E_PKG", "pkg");
export const WWW_DIR = join(ROOT, "www");
export const ARTIFACTS = at("E2E_ARTIFACTS", ".build/e2e-artifacts");
export const WORK = at("E2E_WORK", ".build/e2e");
export const LOGS = at("E2E_LOGS", ".build/e2e-logs");
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** The public service's host name, exactly as the extension's default remote URL has it. */
export const PUBLIC_HOST = "api.extension.semantest.com";
export const CHATGPT_ORIGIN = "https://chatgpt.com";

for (const dir of [ARTIFACTS, WORK, LOGS]) mkdirSync(dir, { recursive: true });

/** Fails with the command that fixes it when something the tests need was not built. */
export function requireBuilt() {
  const missing = [
    [SERVER_BIN, "the release semantest-server"],
    [CLI_BIN, "the release semantest command"],
    [join(EXTENSION_DIR, "manifest.json"), "the unpacked extension"],
    [join(PKG_DIR, "semantest_connect.js"), "the wasm package"],
  ].filter(([path]) => !existsSync(path));
  if (missing.length) {
    throw new Error(`not built: ${missing.map(([p, what]) => `${what} (${p})`).join(", ")}; run ./build.sh build`);
  }
}

/**
 * The extension's id as Chrome derives it from the manifest `key` (the first 128 bits of the
 * SHA-256 of the public key, as hex digits written with the letters a–p). The tests need it
 * before the browser starts (the local servers allow exactly that origin).
 */
export function extensionIdFromManifest(dir = EXTENSION_DIR) {
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  if (!manifest.key) throw new Error(`${dir}/manifest.json has no "key": the extension id is not pinned`);
  const digest = createHash("sha256").update(Buffer.from(manifest.key, "base64")).digest("hex").slice(0, 32);
  return [...digest].map((h) => String.fromCharCode(97 + parseInt(h, 16))).join("");
}
