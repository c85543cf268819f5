// Finds the Lambda zip the stack deploys and refuses to go on without it.
import * as fs from "fs";
import * as path from "path";

/** Resolves the configured artifact against the program's directory; throws if it was not built. */
export function lambdaArtifact(programDir: string, configured: string): string {
    const file = path.resolve(programDir, configured);
    if (!fs.existsSync(file)) {
        throw new Error(`Lambda artifact ${configured} is missing: run ./build.sh lambda first (or set semantest:lambdaArtifact)`);
    }
    return file;
}
