#!/usr/bin/env bash
# sdk/build.sh — the npm package @semantest/sdk, from a wasm package that is already built.
#
#   sdk/build.sh [PKG_DIR [OUT_DIR]]     defaults: pkg (the release build of ./build.sh build), dist
#
# Stages sdk/package.json, sdk/README.md and the three files of the wasm-pack output that the
# package ships (semantest_connect.js, .d.ts, _bg.wasm) in a fresh temporary folder, checks that
# the .d.ts is the typed one, and runs `npm pack` there: OUT_DIR/semantest-sdk-<version>.tgz.
# It never builds wasm itself: ./build.sh sdk (or build) builds pkg/ once and then calls this.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pkg=${1:-pkg}
out=${2:-dist}

die() {
    printf 'sdk/build.sh: %s\n' "$*" >&2
    exit 1
}

files=(semantest_connect.js semantest_connect.d.ts semantest_connect_bg.wasm)
for f in "${files[@]}"; do
    [[ -f "$pkg/$f" ]] || die "$pkg/$f is missing; build the wasm package first (./build.sh sdk)"
done
# A .d.ts without the derived types (an older build) would give TypeScript users `any`.
grep -q 'connect(): Promise<Status>;' "$pkg/semantest_connect.d.ts" ||
    die "$pkg/semantest_connect.d.ts has no typed SemantestClient (connect(): Promise<Status>); rebuild it"

command -v npm >/dev/null 2>&1 || die "npm is required (Node 20 + npm)"
mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$here/package.json" "$here/README.md" "$stage/"
for f in "${files[@]}"; do cp "$pkg/$f" "$stage/"; done

version=$(node -p 'require(process.argv[1]).version' "$stage/package.json")
tgz="$out/semantest-sdk-$version.tgz"
rm -f "$tgz"
# No scripts, no dependencies: packing needs no network.
(cd "$stage" && npm pack --silent --ignore-scripts --pack-destination "$out" >/dev/null)
[[ -f "$tgz" ]] || die "npm pack did not write $tgz"
printf 'sdk: %s (%d bytes)\n' "$tgz" "$(wc -c <"$tgz")"
