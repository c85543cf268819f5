#!/usr/bin/env bash
# build.sh — the one entry point for developers and CI.
#
#   ./build.sh setup   install what is missing (idempotent; one line per tool)
#   ./build.sh build   native workspace (release) + the wasm package in pkg/ + dist/extension/
#                      + the npm package dist/semantest-sdk-<version>.tgz
#   ./build.sh sdk     the wasm package in pkg/, then the npm package @semantest/sdk (sdk/build.sh)
#   ./build.sh package build, then the store zip dist/semantest-extension-<version>.zip
#   ./build.sh run     build, then run semantest-server on port 3003 in the foreground
#   ./build.sh lambda  the public service's Lambda artifact: deploy/lambda/dist/semantest-lambda.zip
#   ./build.sh test    setup, fmt, eslint, clippy (native + wasm32), cargo test, browser tests, e2e tests,
#                      deploy tests (Pulumi under mocks, the API Gateway stand-in, actionlint)
#   ./build.sh bench   build, then the browser and server benchmarks into BENCHMARKS.md
#   ./build.sh fuzz [SECONDS]  each cargo-fuzz target in fuzz/ for SECONDS (default 60); not part of test
#
# Only package registries are reachable on our machines, so every tool comes from crates.io or
# Debian, and wasm-pack always runs with `--mode no-install` (it must never try to download).
# The measured reasons behind each choice are in shared/TOOLCHAIN.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=scripts/common.sh
source scripts/common.sh

WASM_TARGET=wasm32-unknown-unknown
PKG_DIR=pkg
EXT_SRC=extension
EXT_DIST=dist/extension
LOG_DIR=.build/logs

usage() {
    cat <<'EOF'
Usage: ./build.sh <command> [args]

Commands:
  setup    Install what is missing: the wasm32 and x86_64-musl Rust targets, clippy and rustfmt,
           wasm-bindgen-cli (the version pinned in Cargo.toml), wasm-pack, chromium,
           chromium-driver and musl-tools (apt), moto in .build/moto-venv (PyPI), the npm
           packages of the repo and of deploy/pulumi. Skips what is already there.
  build    cargo build --workspace --release, then wasm-pack build --target web into pkg/,
           then the loadable extension in dist/extension/ (extension/ + the wasm package),
           the npm package dist/semantest-sdk-<version>.tgz (as `sdk`, from the same pkg/),
           then the Lambda artifact (as `lambda`).
  sdk      wasm-pack build --target web into pkg/ (release, wasm-opt), then the npm package
           @semantest/sdk: sdk/package.json, sdk/README.md and pkg/'s .js, .d.ts and .wasm,
           packed with npm pack into dist/semantest-sdk-<version>.tgz (see sdk/README.md).
  lambda   The public service's Lambda handlers as a static x86_64 `bootstrap` (musl), zipped
           for provided.al2023: deploy/lambda/dist/semantest-lambda.zip (see deploy/README.md).
  package  build, then zip dist/extension into dist/semantest-extension-<version>.zip for the
           Chrome Web Store (without the manifest's `key`: the store assigns its own id).
  run      build, then run semantest-server in the foreground (port 3003, or SEMANTEST_PORT).
           Arguments after `run` go to the server, e.g. ./build.sh run --allow-origin http://localhost:8080
  test     setup, cargo fmt --check, eslint, clippy (native and wasm32), cargo test (with the
           Lambda handlers against moto), browser tests, e2e tests (tests/e2e/run.sh: build, then
           the extension, www/ and the public service's loop in headless Chromium), deploy tests
           (deploy/test.sh: the Pulumi program under mocks, the API Gateway stand-in, actionlint).
           Exits non-zero if any step fails; prints a summary with durations.
  bench    build, then measure and update BENCHMARKS.md: connect() in headless Chromium (RUNS=30),
           the extension's worker restart (bench/restart.mjs, RUNS=30), and the server beside
           Node ws, Python websockets and raw TCP with the Rust load client (REPEATS=3;
           BENCH_QUICK=1 for short runs), with the idle sockets and the connect burst;
           then print the Lambda handlers' numbers (bench/lambda.mjs, with moto); then where the
           .wasm's bytes go (bench/module.mjs, twiggy, installed if missing) and the public
           service's cost table (deploy/cost.mjs). About 15 minutes; loopback only.
  fuzz [SECONDS]
           Run each cargo-fuzz target in fuzz/ (the protocol parsers) for SECONDS (default 60),
           starting from fuzz/seeds/<target>; prints the executions per target. Installs
           cargo-fuzz (cargo install) and g++ (apt) if missing. Works on stable Rust
           (RUSTC_BOOTSTRAP=1), with AddressSanitizer (FUZZ_SANITIZER=none to build without).
           Not part of `test`. A crash leaves its input in fuzz/artifacts/<target>/.
  help     This text.

First run on a bare machine: setup about 15 min (wasm-bindgen-cli ~7 min, wasm-pack ~5-10 min to
compile from crates.io, chromium ~1 min, moto and the Pulumi packages ~1 min), then `test`
about 19 min (the AWS SDK is compiled for the tests and again, static, for the Lambda artifact).
A fresh clone's target/ takes about 12 GB.
EOF
}

ok() { printf 'ok: %s\n' "$*"; }
installing() { printf 'installing %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }

# Run a command quietly, its output in a log file; on failure show the log's tail and stop.
quietly() {
    local name=$1
    shift
    mkdir -p "$LOG_DIR"
    local log="$LOG_DIR/setup-$name.log"
    if ! "$@" >"$log" 2>&1; then
        printf 'failed: %s (last lines of %s follow)\n' "$*" "$log" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    else
        sudo "$@"
    fi
}

# --- setup ----------------------------------------------------------------------------------

setup_rust() {
    command -v rustup >/dev/null 2>&1 || die "rustup is required (https://rustup.rs); Rust from a distro package cannot add the wasm32 target"
    if rustup target list --installed | grep -x "$WASM_TARGET" >/dev/null; then
        ok "rust target $WASM_TARGET"
    else
        installing "rust target $WASM_TARGET"
        quietly rustup-target rustup target add "$WASM_TARGET"
    fi
    local component
    # rust-src: the .wasm is built with its own std (see build_wasm_pkg).
    for component in clippy rustfmt rust-src; do
        if rustup component list --installed | grep "^$component-" >/dev/null; then
            ok "rustup component $component"
        else
            installing "rustup component $component"
            quietly "rustup-$component" rustup component add "$component"
        fi
    done
}

setup_wasm_tools() {
    local want have
    want=$(pinned_wasm_bindgen_version)
    have=$(installed_wasm_bindgen_version)
    if [[ "$have" == "$want" ]]; then
        ok "wasm-bindgen-cli $want"
    else
        installing "wasm-bindgen-cli $want${have:+ (found $have)} — about 7 min on 2 cores"
        # Not --locked: its lockfile pins a webpki-roots version the registry here lacks.
        quietly wasm-bindgen-cli cargo install wasm-bindgen-cli --version "$want"
        have=$(installed_wasm_bindgen_version)
        [[ "$have" == "$want" ]] || die "installed wasm-bindgen-cli but \`wasm-bindgen --version\` says '$have', want $want (is another wasm-bindgen earlier on PATH?)"
    fi
    local locked
    locked=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock 2>/dev/null || true)
    if [[ -n "$locked" && "$locked" != "$want" ]]; then
        warn "Cargo.lock has wasm-bindgen $locked but Cargo.toml pins $want; run cargo update -p wasm-bindgen"
    fi

    if command -v wasm-pack >/dev/null 2>&1; then
        ok "wasm-pack $(wasm-pack --version | awk '{print $2}')"
    else
        installing "wasm-pack — about 5-10 min on 2 cores"
        quietly wasm-pack cargo install wasm-pack --locked
    fi

    # Debian's binaryen (wasm-opt 108) produces modules that fail at run time. wasm-opt is off
    # in Cargo.toml, so it is not used, but say so rather than leave a trap on PATH.
    if [[ $(dpkg-query -W -f='${Status}' binaryen 2>/dev/null || true) == 'install ok installed' ]]; then
        warn "Debian's binaryen package is installed; its wasm-opt breaks modules (WebAssembly.Table.set(): Argument 1 is invalid). Remove it: apt-get remove binaryen"
    fi
}

# The Lambda artifact is a static musl binary: the rustup target, and musl-gcc for ring's C code.
setup_lambda() {
    local target=x86_64-unknown-linux-musl
    if rustup target list --installed | grep -x "$target" >/dev/null; then
        ok "rust target $target"
    else
        installing "rust target $target"
        quietly rustup-musl rustup target add "$target"
    fi
    if command -v musl-gcc >/dev/null 2>&1; then
        ok "musl-gcc"
    else
        installing "musl-tools (apt)"
        quietly apt-update as_root apt-get update
        quietly apt-musl as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y musl-tools
    fi
}

# The deploy tests: moto in a venv (PyPI), and the Pulumi program's own npm packages.
setup_deploy() {
    if ! python3 -m venv --help >/dev/null 2>&1; then
        installing "python3-venv (apt) for the moto venv"
        quietly apt-update as_root apt-get update
        quietly apt-venv as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y python3 python3-venv
    fi
    quietly moto deploy/local/setup.sh
    ok "moto (deploy/local/requirements.txt) in .build/moto-venv"
    if [[ deploy/pulumi/node_modules/.package-lock.json -nt deploy/pulumi/package-lock.json ]]; then
        ok "deploy/pulumi npm packages (@pulumi/pulumi $(node -p 'require("./deploy/pulumi/node_modules/@pulumi/pulumi/package.json").version'))"
    else
        installing "deploy/pulumi npm packages (npm ci)"
        quietly npm-ci-pulumi npm ci --prefix deploy/pulumi --no-audit --no-fund
    fi
}

setup_browser() {
    if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
        ok "chromium and chromedriver $(chromium_major)"
    else
        installing "chromium and chromium-driver (apt) — about 1 min"
        quietly apt-update as_root apt-get update
        quietly apt-chromium as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y chromium chromium-driver
    fi
    local browser driver
    browser=$(chromium_major)
    driver=$(chromedriver_major)
    [[ "$browser" == "$driver" ]] ||
        die "chromium $browser and chromedriver $driver differ; reinstall both: apt-get install chromium chromium-driver"
}

# npm tools (package.json + package-lock.json): binaryen's wasm-opt 132 (never Debian's 108, see
# TOOLCHAIN.md), playwright-core for the browser benchmark, eslint for the extension's
# JavaScript. Skipped when the lock is unchanged.
setup_npm() {
    command -v npm >/dev/null 2>&1 || die "npm is required (Node 20 + npm)"
    if [[ node_modules/.package-lock.json -nt package-lock.json && -x node_modules/.bin/wasm-opt &&
        -x node_modules/.bin/eslint ]]; then
        ok "npm packages (binaryen $(node -p 'require("./node_modules/binaryen/package.json").version'), playwright-core, eslint, ws)"
    else
        installing "npm packages (npm ci)"
        quietly npm-ci npm ci --no-audit --no-fund
    fi
}

cmd_setup() {
    setup_rust
    setup_wasm_tools
    setup_npm
    setup_browser
    setup_lambda
    setup_deploy
}

# --- build and run --------------------------------------------------------------------------

server_binary() {
    printf '%s/release/semantest-server\n' "${CARGO_TARGET_DIR:-target}"
}

cmd_build() {
    setup_rust
    setup_wasm_tools
    echo "==> cargo build --workspace --release"
    cargo build --workspace --release
    build_wasm_pkg
    assemble_extension
    assemble_sdk
    cmd_lambda
}

# pkg/: the release wasm package (wasm-pack, then wasm-opt -Oz), which the extension, the www
# demo and the npm package all take.
build_wasm_pkg() {
    echo "==> wasm-pack build --profile wasm-release --target web --out-dir $PKG_DIR"
    # The wasm-release profile (Cargo.toml) is release built for size, and with std rebuilt so
    # that a panic aborts at once: on wasm32-unknown-unknown a panic's message is printed
    # nowhere (no stderr, no hook), yet its formatting code took 36 KB of the .wasm
    # (BENCHMARKS.md). The two flags are unstable in rustc 1.95, so RUSTC_BOOTSTRAP enables
    # them for this one build; RUSTFLAGS reaches only the wasm32 code, not build scripts.
    RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none" \
        wasm-pack build --mode no-install --profile wasm-release --target web --out-dir "$PKG_DIR" . \
        -- -Z build-std=std,panic_abort
    local wasm="$PKG_DIR/semantest_connect_bg.wasm"
    [[ -f "$wasm" ]] || die "wasm-pack reported success but $wasm is missing"
    setup_npm
    echo "==> wasm-opt -Oz, import and export names shortened (binaryen from npm)"
    # The names are only a contract between the .wasm and its glue (8 KB of them): wasm-opt
    # renames them and prints the map, which scripts/minify-names.mjs applies to the glue.
    # --low-memory-unused (1.4 KB): the module's first KiB is never read or written, as the
    # stack starts at 1 MiB and grows down toward it (data lies above). The producers and
    # target-features sections are read by no browser. The options are listed once, in
    # scripts/wasm-opt.flags, which bench/module.mjs reads too for its named twin.
    local flags
    mapfile -t flags <scripts/wasm-opt.flags
    node_modules/.bin/wasm-opt "${flags[@]}" "$wasm" -o "$wasm.opt" >"$wasm.names.json"
    # The renamed module replaces the package's only once its glue is renamed too (and what
    # --low-memory-unused assumes is checked).
    if ! node scripts/check-low-memory.mjs "$wasm.opt" ||
        ! node scripts/minify-names.mjs "$PKG_DIR" "$wasm.opt" "$wasm.names.json"; then
        rm -f "$wasm.opt" "$wasm.names.json"
        die "the optimized module did not pass its checks (see README, troubleshooting: minify-names or check-low-memory)"
    fi
    mv "$wasm.opt" "$wasm"
    rm -f "$wasm.names.json"
    local raw gz
    raw=$(wc -c <"$wasm")
    gz=$(gzip -9 -c "$wasm" | wc -c)
    printf 'wasm: %s  %d bytes (%d KiB), gzipped %d bytes (%d KiB)\n' \
        "$wasm" "$raw" $((raw / 1024)) "$gz" $((gz / 1024))
}

# dist/semantest-sdk-<version>.tgz from pkg/ as built (no second wasm build).
assemble_sdk() {
    echo "==> sdk/build.sh: the npm package @semantest/sdk from $PKG_DIR/"
    sdk/build.sh "$PKG_DIR" dist
}

cmd_sdk() {
    setup_rust
    setup_wasm_tools
    build_wasm_pkg
    assemble_sdk
}

# The public service's Lambda artifact (static musl `bootstrap`, zipped); see deploy/README.md.
cmd_lambda() {
    setup_rust
    setup_lambda
    echo "==> deploy/lambda/build.sh (static x86_64 bootstrap for provided.al2023)"
    deploy/lambda/build.sh
}

# dist/extension: everything in extension/, plus the wasm package in pkg/ (what Chrome loads).
assemble_extension() {
    echo "==> $EXT_DIST (load it unpacked from there)"
    local js="$PKG_DIR/semantest_connect.js" wasm="$PKG_DIR/semantest_connect_bg.wasm"
    [[ -f "$js" && -f "$wasm" ]] || die "$js or $wasm is missing; the wasm build must run first"
    local id
    id=$(node scripts/extension-id.mjs --check) || die "extension/EXTENSION_ID does not match the manifest's key"
    rm -rf "$EXT_DIST"
    mkdir -p "$EXT_DIST"
    cp -R "$EXT_SRC"/. "$EXT_DIST"/
    rm -rf "$EXT_DIST/pkg"
    mkdir -p "$EXT_DIST/pkg"
    cp "$js" "$wasm" "$EXT_DIST/pkg/"
    node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$EXT_DIST/manifest.json" ||
        die "$EXT_DIST/manifest.json is not valid JSON"
    printf 'extension: %s (id %s with the development key)\n' "$EXT_DIST" "$id"
}

# The store zip: dist/extension without the manifest's `key` and the EXTENSION_ID note (the
# store assigns its own id), manifest.json at the root of the zip.
cmd_package() {
    cmd_build
    local version stage zip
    version=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).version' "$EXT_DIST/manifest.json")
    stage=.build/package
    zip=dist/semantest-extension-$version.zip
    echo "==> $zip"
    rm -rf "$stage" "$zip"
    mkdir -p "$(dirname "$stage")"
    cp -R "$EXT_DIST" "$stage"
    rm -f "$stage/EXTENSION_ID"
    node -e '
        const fs = require("fs"), file = process.argv[1];
        const manifest = JSON.parse(fs.readFileSync(file, "utf8"));
        delete manifest.key;
        fs.writeFileSync(file, JSON.stringify(manifest, null, 2) + "\n");
    ' "$stage/manifest.json"
    # python3's zipfile (the test harness needs python3 anyway), so no `zip` package is needed.
    python3 -m zipfile -c "$zip" "$stage/."
    python3 -m zipfile -l "$zip"
    printf 'package: %s (%d bytes)\n' "$zip" "$(wc -c <"$zip")"
}

cmd_run() {
    cmd_build
    local port=${SEMANTEST_PORT:-3003}
    local bin
    bin=$(server_binary)
    [[ -x "$bin" ]] || die "$bin was not built (is the server crate in the workspace?)"
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port is already in use (another semantest-server?). Stop it, or pick another port: SEMANTEST_PORT=3004 ./build.sh run"
    fi
    cat <<EOF

Starting semantest-server on port $port (Ctrl-C stops it). What next, in another terminal:
  curl http://localhost:$port/signature     # what the extension's probe sees
  curl http://localhost:$port/health
  ./build.sh test                            # everything CI runs
The wasm package (--target web) is in $PKG_DIR/: semantest_connect.js + semantest_connect_bg.wasm.

EOF
    exec "$bin" --port "$port" "$@"
}

# --- bench ----------------------------------------------------------------------------------

cmd_bench() {
    cmd_build
    setup_browser
    echo "==> the load client and the peers (Node ws from npm, Python websockets from PyPI)"
    cargo build --release -p semantest-load
    local python
    python=$(bench/peers/setup.sh)
    echo "==> bench/connect.mjs: connect() to open socket in headless Chromium"
    node bench/connect.mjs --server "$(server_binary)" --pkg "$PKG_DIR" --runs "${RUNS:-30}" --write
    echo "==> bench/restart.mjs: the extension's worker stopped and woken, to its first local status"
    node bench/restart.mjs --server "$(server_binary)" --extension "$EXT_DIST" --runs "${RUNS:-30}" --write
    node bench/failover.mjs --server "$(server_binary)" --pkg "$PKG_DIR" --runs "${FAILOVER_RUNS:-5}" --write
    echo "==> bench/server.mjs: our server beside Node ws, Python websockets and raw TCP"
    node bench/server.mjs --server "$(server_binary)" --load target/release/semantest-load \
        --python "$python" --repeats "${REPEATS:-3}" ${BENCH_QUICK:+--quick} --write
    echo "==> bench/lambda.mjs: the Lambda binary's init and a frame's round trip through the stand-in"
    setup_deploy
    node bench/lambda.mjs
    echo "==> bench/module.mjs: where the bytes of the .wasm go (twiggy)"
    setup_twiggy
    node bench/module.mjs --write
    echo "==> deploy/cost.mjs: the public service's cost per 1000 always-on installs a month"
    node deploy/cost.mjs
}

# twiggy (crates.io), the .wasm's size profiler: only the benchmarks use it.
setup_twiggy() {
    if command -v twiggy >/dev/null 2>&1; then
        ok "twiggy"
    else
        installing "twiggy (cargo install; about 2 min)"
        quietly twiggy cargo install twiggy --locked
    fi
}

# --- fuzz -----------------------------------------------------------------------------------

FUZZ_DIR=fuzz

setup_fuzz() {
    if command -v c++ >/dev/null 2>&1; then
        ok "c++ compiler (libFuzzer is built from C++)"
    else
        installing "g++ (apt), to build libFuzzer"
        quietly apt-update as_root apt-get update
        quietly apt-gxx as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y g++
    fi
    if cargo fuzz --version >/dev/null 2>&1; then
        ok "cargo-fuzz $(cargo fuzz --version | awk '{print $2}')"
    else
        installing "cargo-fuzz — about 2 min"
        quietly cargo-fuzz cargo install cargo-fuzz --locked
    fi
}

# fuzz_stat LOG NAME — the value of libFuzzer's `stat::NAME: VALUE` line (-print_final_stats=1).
fuzz_stat() {
    sed -nE "s/^stat::$2:[[:space:]]*([0-9]+).*/\1/p" "$1" | tail -n 1
}

cmd_fuzz() {
    local seconds=${1:-60}
    [[ "$seconds" =~ ^[1-9][0-9]*$ ]] || die "usage: ./build.sh fuzz [SECONDS] (whole seconds per target, got '$seconds')"
    setup_fuzz
    # cargo fuzz passes -Z flags to cargo and rustc (-Zsanitizer, ...): RUSTC_BOOTSTRAP lets the
    # stable toolchain take them, as no nightly toolchain can be downloaded here.
    export RUSTC_BOOTSTRAP=1
    local sanitizer=${FUZZ_SANITIZER:-address}
    mkdir -p "$LOG_DIR"
    echo "==> cargo fuzz build --sanitizer $sanitizer (stable Rust with RUSTC_BOOTSTRAP=1)"
    if ! cargo fuzz build --sanitizer "$sanitizer" 2>&1 | tee "$LOG_DIR/fuzz-build.log"; then
        [[ "$sanitizer" == address ]] || die "cargo fuzz build failed (log: $LOG_DIR/fuzz-build.log)"
        warn "the AddressSanitizer build failed; building without a sanitizer (FUZZ_SANITIZER=none)"
        sanitizer=none
        cargo fuzz build --sanitizer none
    fi

    local targets=() target
    mapfile -t targets < <(cargo fuzz list)
    ((${#targets[@]} > 0)) || die "cargo fuzz list found no targets in $FUZZ_DIR/"
    local started=$SECONDS results=() crashed=()
    for target in "${targets[@]}"; do
        local corpus="$FUZZ_DIR/corpus/$target" seeds="$FUZZ_DIR/seeds/$target"
        local log="$LOG_DIR/fuzz-$target.log"
        mkdir -p "$corpus"
        local dirs=("$corpus")
        [[ -d "$seeds" ]] && dirs+=("$seeds")
        printf '\n==> %s: %ss (sanitizer %s), corpus %s, seeds %s (log: %s)\n' \
            "$target" "$seconds" "$sanitizer" "$corpus" "${seeds}" "$log"
        local rc=0 start=$SECONDS
        cargo fuzz run --sanitizer "$sanitizer" "$target" "${dirs[@]}" -- \
            -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || rc=$?
        local took=$((SECONDS - start)) runs
        runs=$(fuzz_stat "$log" number_of_executed_units)
        if [[ $rc -eq 0 ]]; then
            results+=("$(printf '%-14s %12s executions in %s, no crash' "$target" "${runs:-?}" "$(duration "$took")")")
        else
            crashed+=("$target")
            local artifact
            artifact=$(sed -nE 's/.*Test unit written to ([^ ]+).*/\1/p' "$log" | tail -n 1)
            results+=("$(printf '%-14s %12s executions in %s, FAILED (exit %d)%s' "$target" "${runs:-?}" \
                "$(duration "$took")" "$rc" "${artifact:+: $artifact}")")
            local why
            why=$({ grep -E -A 2 'panicked at' "$log"; grep -E '^SUMMARY|^==[0-9]+==ERROR' "$log"; } |
                head -n 20 || true)
            if [[ -n "$why" ]]; then printf '%s\n' "$why" >&2; else tail -n 30 "$log" >&2; fi
            if [[ -n "$artifact" ]]; then
                printf 'reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer %s %s %s\n' \
                    "$sanitizer" "$target" "$artifact" >&2
            fi
        fi
        printf '%s\n' "${results[-1]}"
    done

    printf '\n==> fuzz summary (%s, %ss per target, sanitizer %s)\n' \
        "$(duration $((SECONDS - started)))" "$seconds" "$sanitizer"
    printf '  %s\n' "${results[@]}"
    if ((${#crashed[@]} > 0)); then
        printf 'build.sh fuzz: FAILED: %s (inputs in %s/artifacts/)\n' "${crashed[*]}" "$FUZZ_DIR"
        return 1
    fi
    echo "build.sh fuzz: no crash"
}

# --- test -----------------------------------------------------------------------------------

STEP_NAMES=()
STEP_RESULTS=()
STEP_SECONDS=()
STEP_LOGS=()

# run_step NAME CMD... — run one step as its own process, output shown and kept in a log.
run_step() {
    local name=$1
    shift
    local n=$((${#STEP_NAMES[@]} + 1))
    local log
    log="$LOG_DIR/test-$n-$(printf '%s' "$name" | tr -cs 'a-zA-Z0-9' '-' | sed 's/-$//').log"
    printf '\n==> [%d] %s\n    $ %s\n' "$n" "$name" "$*"
    local start=$SECONDS rc=0
    # A step is always an external command (never a shell function), so `set -e` inside it
    # keeps its meaning; pipefail gives us the command's status rather than tee's.
    "$@" 2>&1 | tee "$log" || rc=$?
    local took=$((SECONDS - start))
    STEP_NAMES+=("$name")
    STEP_SECONDS+=("$took")
    STEP_LOGS+=("$log")
    if [[ $rc -eq 0 ]]; then
        STEP_RESULTS+=(pass)
        printf '==> [%d] %s: ok (%s)\n' "$n" "$name" "$(duration "$took")"
    else
        STEP_RESULTS+=(FAIL)
        printf '==> [%d] %s: FAILED with exit code %d (%s)\n' "$n" "$name" "$rc" "$(duration "$took")"
    fi
    return "$rc"
}

skip_step() {
    STEP_NAMES+=("$1")
    STEP_RESULTS+=(skipped)
    STEP_SECONDS+=(0)
    STEP_LOGS+=("")
}

duration() {
    local s=$1
    if ((s >= 60)); then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}

# Sum cargo's and wasm-bindgen-test-runner's "test result: ok. N passed; M failed; ..." lines.
count_tests() {
    local passed=0 failed=0 p f line
    local log
    for log in "$@"; do
        [[ -f "$log" ]] || continue
        while IFS= read -r line; do
            p=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$line")
            f=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$line")
            passed=$((passed + ${p:-0}))
            failed=$((failed + ${f:-0}))
        done < <(grep -E '^test result: ' "$log" || true)
    done
    printf '%d passed, %d failed\n' "$passed" "$failed"
}

cmd_test() {
    mkdir -p "$LOG_DIR"
    rm -f "$LOG_DIR"/test-*.log
    local started=$SECONDS
    if run_step "setup" ./build.sh setup; then
        run_step "cargo fmt --check" cargo fmt --all --check || true
        run_step "eslint" node_modules/.bin/eslint --max-warnings 0 extension scripts eslint.config.js bench tests/e2e www deploy || true
        run_step "clippy (native)" cargo clippy --workspace --all-targets -- -D warnings || true
        run_step "clippy ($WASM_TARGET)" \
            cargo clippy -p semantest-connect --target "$WASM_TARGET" --all-targets -- -D warnings || true
        run_step "cargo test" cargo test --workspace || true
        run_step "browser tests" tests/browser/run.sh || true
        run_step "e2e tests" tests/e2e/run.sh || true
        run_step "deploy tests" deploy/test.sh || true
    else
        local s
        for s in "cargo fmt --check" "eslint" "clippy (native)" "clippy ($WASM_TARGET)" "cargo test" "browser tests" "e2e tests" "deploy tests"; do
            skip_step "$s"
        done
    fi

    printf '\n==> summary (%s)\n' "$(duration $((SECONDS - started)))"
    local i failed=() test_logs=()
    for i in "${!STEP_NAMES[@]}"; do
        printf '  %-8s %-34s %s\n' "${STEP_RESULTS[$i]}" "${STEP_NAMES[$i]}" "$(duration "${STEP_SECONDS[$i]}")"
        [[ "${STEP_RESULTS[$i]}" == pass ]] || failed+=("${STEP_NAMES[$i]}")
        case "${STEP_NAMES[$i]}" in
        "cargo test" | "browser tests" | "e2e tests" | "deploy tests") test_logs+=("${STEP_LOGS[$i]}") ;;
        esac
    done
    if ((${#failed[@]} == 0)); then
        echo "build.sh test: all steps passed (logs in $LOG_DIR/)"
    else
        local list
        list=$(printf '%s, ' "${failed[@]}")
        printf 'build.sh test: FAILED: %s (logs in %s/)\n' "${list%, }" "$LOG_DIR"
    fi
    # Counted from the runners' own "test result:" lines (native, browser and e2e).
    echo "tests: $(count_tests "${test_logs[@]}")"
    ((${#failed[@]} == 0))
}

# --- main -----------------------------------------------------------------------------------

main() {
    local cmd=${1:-help}
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
    setup) cmd_setup ;;
    build) cmd_build ;;
    sdk) cmd_sdk ;;
    lambda) cmd_lambda ;;
    package) cmd_package ;;
    run) cmd_run "$@" ;;
    test) cmd_test ;;
    bench) cmd_bench ;;
    fuzz) cmd_fuzz "$@" ;;
    help | -h | --help) usage ;;
    *)
        printf 'unknown command: %s\n\n' "$cmd" >&2
        usage >&2
        exit 2
        ;;
    esac
}

main "$@"
