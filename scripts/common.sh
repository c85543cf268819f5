# scripts/common.sh — helpers shared by build.sh and tests/browser/run.sh.
#
# Sourced, never run. The caller must already be in the repository root. It sets up the
# environment every build and test step relies on, so that wasm-pack never tries to download
# a tool (it cannot here: only package registries are reachable):
#   - cargo-installed tools (wasm-bindgen, wasm-pack) first on PATH;
#   - WASM_PACK_CACHE inside the ignored build dir, so runs don't depend on ~/.cache.
# shellcheck shell=bash

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export WASM_PACK_CACHE="$PWD/.build/wasm-pack-cache"

# The single place the wasm-bindgen version is written down is Cargo.toml (`wasm-bindgen = "=X"`,
# or `wasm-bindgen = { version = "=X", ... }`). wasm-bindgen-cli must equal it exactly.
pinned_wasm_bindgen_version() {
    local v
    v=$(sed -nE \
        -e 's/^wasm-bindgen[[:space:]]*=[[:space:]]*"=?([0-9][^"]*)".*/\1/p' \
        -e 's/^wasm-bindgen[[:space:]]*=[[:space:]]*\{.*version[[:space:]]*=[[:space:]]*"=?([0-9][^"]*)".*/\1/p' \
        Cargo.toml | awk 'NR == 1')
    [[ -n "$v" ]] || die "cannot find the pinned wasm-bindgen version in Cargo.toml"
    printf '%s\n' "$v"
}

# Version of the wasm-bindgen CLI on PATH, or nothing if there is none.
installed_wasm_bindgen_version() {
    command -v wasm-bindgen >/dev/null 2>&1 || return 0
    wasm-bindgen --version 2>/dev/null | awk '{print $2}'
}

# Major version of Chromium and of chromedriver (they must match).
chromium_major() {
    # /usr/bin/chromium is a wrapper script that prints a harmless "unexpected operator" line
    # on stderr; the version goes to stdout.
    chromium --version 2>/dev/null | grep -oE '[0-9]+\.[0-9.]+' | awk 'NR == 1' | cut -d. -f1
}
chromedriver_major() {
    chromedriver --version 2>/dev/null | grep -oE '[0-9]+\.[0-9.]+' | awk 'NR == 1' | cut -d. -f1
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Everything the browser tests and the wasm build need, with the reason when something is off.
require_wasm_tools() {
    local want have
    want=$(pinned_wasm_bindgen_version)
    have=$(installed_wasm_bindgen_version)
    command -v wasm-pack >/dev/null 2>&1 || die "wasm-pack is not installed; run ./build.sh setup"
    [[ -n "$have" ]] || die "wasm-bindgen-cli is not installed; run ./build.sh setup"
    [[ "$have" == "$want" ]] ||
        die "wasm-bindgen-cli $have is on PATH but Cargo.toml pins $want; run ./build.sh setup"
}

require_browser_tools() {
    require_wasm_tools
    command -v chromium >/dev/null 2>&1 || die "chromium is not installed; run ./build.sh setup"
    command -v chromedriver >/dev/null 2>&1 || die "chromedriver is not installed; run ./build.sh setup"
    local browser driver
    browser=$(chromium_major)
    driver=$(chromedriver_major)
    [[ "$browser" == "$driver" ]] ||
        die "chromium $browser and chromedriver $driver differ; install both from the same source (apt-get install chromium chromium-driver)"
}
