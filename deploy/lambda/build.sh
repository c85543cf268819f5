#!/usr/bin/env bash
# deploy/lambda/build.sh — the Lambda artifact: a static x86_64 Linux `bootstrap` (musl), zipped.
#
#   deploy/lambda/dist/bootstrap              the executable (the local gateway runs it as is)
#   deploy/lambda/dist/semantest-lambda.zip   what Pulumi uploads (provided.al2023, x86_64)
#
# Static musl, so it does not depend on the glibc of the machine that built it (Debian's is
# newer than Amazon Linux 2023's). Needs the rustup target and musl-gcc (for ring's C code);
# ./build.sh setup installs both.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
TARGET=x86_64-unknown-linux-musl
DIST=deploy/lambda/dist
export CC_x86_64_unknown_linux_musl=${CC_x86_64_unknown_linux_musl:-musl-gcc}
cargo build --profile lambda --locked -p semantest-lambda --bin bootstrap --target "$TARGET"
mkdir -p "$DIST"
bin="${CARGO_TARGET_DIR:-target}/$TARGET/lambda/bootstrap"
cp "$bin" "$DIST/bootstrap.tmp" && mv "$DIST/bootstrap.tmp" "$DIST/bootstrap"
# A zip with one file at its root, the same bytes every time for the same binary (fixed time
# stamp, no extra attributes), so Pulumi sees no change when the code did not change.
python3 - "$DIST/bootstrap" "$DIST/semantest-lambda.zip" <<'PY'
import sys, zipfile
src, out = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
info.external_attr = (0o100755 << 16)
info.compress_type = zipfile.ZIP_DEFLATED
info.create_system = 3
with open(src, "rb") as f, zipfile.ZipFile(out + ".tmp", "w") as z:
    z.writestr(info, f.read(), compresslevel=9)
import os
os.replace(out + ".tmp", out)
PY
size=$(wc -c <"$DIST/bootstrap")
zipped=$(wc -c <"$DIST/semantest-lambda.zip")
printf 'lambda: %s (%d KiB), %s (%d KiB)\n' "$DIST/bootstrap" $((size / 1024)) "$DIST/semantest-lambda.zip" $((zipped / 1024))
