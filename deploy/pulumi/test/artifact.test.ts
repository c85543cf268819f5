// The Lambda artifact the program deploys: it must be built, and hold one `bootstrap` at its root.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { lambdaArtifact } from "../src/artifact";
import { programDir } from "../src/config";
import { DEFAULT_LAMBDA_ARTIFACT } from "../src/settings";

/** The names in a zip's central directory (enough of the format to list entries). */
function zipEntries(zip: Buffer): string[] {
    const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    assert.ok(end >= 0, "not a zip file (no end of central directory)");
    const count = zip.readUInt16LE(end + 10);
    let at = zip.readUInt32LE(end + 16);
    const names: string[] = [];
    for (let i = 0; i < count; i++) {
        assert.equal(zip.readUInt32LE(at), 0x02014b50, "corrupt central directory");
        const nameLength = zip.readUInt16LE(at + 28);
        const extra = zip.readUInt16LE(at + 30);
        const comment = zip.readUInt16LE(at + 32);
        names.push(zip.toString("utf8", at + 46, at + 46 + nameLength));
        at += 46 + nameLength + extra + comment;
    }
    return names;
}

test("the Lambda artifact has been built", () => {
    const file = path.resolve(programDir(), DEFAULT_LAMBDA_ARTIFACT);
    assert.ok(fs.existsSync(file), `${path.relative(path.resolve(programDir(), "../.."), file)} is missing: run ./build.sh lambda first`);
});

test("the Lambda artifact holds bootstrap at its root", { skip: !fs.existsSync(path.resolve(programDir(), DEFAULT_LAMBDA_ARTIFACT)) && "no artifact (see the test above)" }, () => {
    const names = zipEntries(fs.readFileSync(path.resolve(programDir(), DEFAULT_LAMBDA_ARTIFACT)));
    assert.ok(names.includes("bootstrap"), `entries: ${names.join(", ")}`);
});

test("a missing artifact stops the program with the command that builds it", () => {
    assert.throws(() => lambdaArtifact(programDir(), "../lambda/dist/no-such.zip"), /missing: run \.\/build\.sh lambda first/);
    assert.equal(lambdaArtifact(programDir(), "tsconfig.json"), path.join(programDir(), "tsconfig.json"));
});
