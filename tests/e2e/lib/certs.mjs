// tests/e2e/lib/certs.mjs — a throwaway self-signed certificate for the HTTPS stand-ins.
//
// One certificate names both stand-in hosts (chatgpt.com and the public service) plus loopback.
// It is made with openssl at test time into .build/e2e/tls/ and never committed; the browser is
// started with --ignore-certificate-errors, so it does not have to be trusted.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { PUBLIC_HOST, WORK } from "./env.mjs";

const DIR = join(WORK, "tls");
const KEY = join(DIR, "key.pem");
const CERT = join(DIR, "cert.pem");
const MAX_AGE_MS = 12 * 3600 * 1000; // the certificate is valid 2 days; make a new one twice a day

/** `{ key, cert }` (PEM text), generated if missing or older than half a day. */
export function testCertificate() {
  const fresh = existsSync(CERT) && existsSync(KEY) && Date.now() - statSync(CERT).mtimeMs < MAX_AGE_MS;
  if (!fresh) {
    mkdirSync(DIR, { recursive: true });
    const tmp = `.${process.pid}`;
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", KEY + tmp, "-out", CERT + tmp, "-days", "2", "-subj", "/CN=chatgpt.com",
      "-addext", `subjectAltName=DNS:chatgpt.com,DNS:${PUBLIC_HOST},DNS:localhost,IP:127.0.0.1`,
    ], { stdio: ["ignore", "ignore", "pipe"] });
    renameSync(KEY + tmp, KEY);
    renameSync(CERT + tmp, CERT);
  }
  return { key: readFileSync(KEY), cert: readFileSync(CERT) };
}
