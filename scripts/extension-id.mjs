// scripts/extension-id.mjs — the extension id that the manifest's `key` pins, and a check that
// extension/EXTENSION_ID says the same (build.sh runs it with --check).
//
// Chrome derives the id from the public key: sha256 of its DER bytes (the base64 in `key`), the
// first 32 hex digits, each digit 0-f written as a letter a-p.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

const root = new URL("../extension/", import.meta.url);
const manifest = JSON.parse(readFileSync(new URL("manifest.json", root), "utf8"));
if (typeof manifest.key !== "string") {
    console.error("extension/manifest.json has no `key`");
    process.exit(1);
}
const hex = createHash("sha256").update(Buffer.from(manifest.key, "base64")).digest("hex").slice(0, 32);
const id = [...hex].map((d) => String.fromCharCode(97 + parseInt(d, 16))).join("");

if (process.argv.includes("--check")) {
    const written = readFileSync(new URL("EXTENSION_ID", root), "utf8").trim();
    if (written !== id) {
        console.error(`extension/EXTENSION_ID says ${written}, but the manifest key gives ${id}`);
        process.exit(1);
    }
}
console.log(id);
