#!/usr/bin/env bash
# tests/browser/run.sh — run the wasm-bindgen browser tests against real and stub peers.
#
# The browser tests (tests/browser_page.rs: page mode; tests/browser_worker.rs: service-worker
# mode) read their peers' addresses at compile time (option_env!). This script:
#   1. builds semantest-server (debug);
#   2. picks the test page's port T and starts, each on a free port:
#        LOCAL       semantest-server --environment local      --allow-origin http://127.0.0.1:T
#        REMOTE      semantest-server --environment production (keyless sockets are welcomed) --allow-origin http://127.0.0.1:T
#                    (the connection policies are under test here; API keys are tested by the
#                    server's production tests, the CLI tests and the extension e2e)
#        KEYED       semantest-server --environment production --api-key K (a key the tests never show)
#        NOCORS      semantest-server --environment local (the test origin not allowed)
#        WRONG, INCOMPATIBLE, NOTJSON, HUGE, HUNG   tests/peers/stub_server.py in each mode
#      and picks a port with nothing listening (REFUSED);
#   3. waits (at most 30 s each) until every peer is ready: GET /health for the servers, the
#      "listening on" line for the stubs;
#   4. exports SEMANTEST_TEST_* and WASM_BINDGEN_TEST_ADDRESS=127.0.0.1:T (the origin the test
#      page and its service worker are served from) and runs, for each test binary,
#        wasm-pack test --mode no-install --headless --chrome --chromedriver "$(command -v chromedriver)" . --test NAME
#      (one run per binary so a failure in one mode does not hide the other's results);
#   5. stops everything it started, whatever happens, and exits non-zero if any run failed.
# Peer logs are kept in .build/browser-test-logs/ and printed when something fails.
#
# Usage: tests/browser/run.sh [extra cargo test args, e.g. -- some_test_name]
# Environment: WASM_BINDGEN_TEST_TIMEOUT (seconds per test binary, default 120 here).
set -euo pipefail
# Every background job gets its own process group, so a whole tree (wasm-pack -> cargo ->
# test runner -> chromedriver -> chromium) can be stopped with one signal.
set -m
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=scripts/common.sh
source scripts/common.sh

LOG_DIR=.build/browser-test-logs
READY_TIMEOUT=30
TEST_TARGETS=(browser_page browser_worker)

PIDS=()
NAMES=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # The process groups exist already; without job control bash doesn't announce each
    # "Terminated" job below.
    set +m
    local i pid
    for i in "${!PIDS[@]}"; do
        pid=${PIDS[$i]}
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    # Give each process group (e.g. chromedriver and chromium under wasm-pack) 5 s to shut
    # down gracefully, then insist.
    local deadline=$((SECONDS + 5))
    for i in "${!PIDS[@]}"; do
        pid=${PIDS[$i]}
        while { kill -0 -- "-$pid" || kill -0 "$pid"; } 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.1
        done
        if { kill -0 -- "-$pid" || kill -0 "$pid"; } 2>/dev/null; then
            echo "run.sh: ${NAMES[$i]} (pid $pid) outlived SIGTERM; killing it" >&2
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    if ((rc != 0)); then
        show_logs
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_logs() {
    local log
    for log in "$LOG_DIR"/*.log; do
        [[ -f "$log" ]] || continue
        printf '\n----- %s (last 60 lines) -----\n' "$log" >&2
        tail -n 60 "$log" >&2
    done
}

# start NAME CMD... — run CMD in the background, output to $LOG_DIR/NAME.log.
start() {
    local name=$1
    shift
    NO_COLOR=1 "$@" >"$LOG_DIR/$name.log" 2>&1 </dev/null &
    PIDS+=("$!")
    NAMES+=("$name")
}

# wait_for_port NAME PID REGEX — wait until NAME's log has a line matching REGEX (an ERE whose
# first group is the port) and print that port.
wait_for_port() {
    local name=$1 pid=$2 regex=$3
    local deadline=$((SECONDS + READY_TIMEOUT)) port
    while ((SECONDS < deadline)); do
        port=$(sed -nE "s#.*$regex.*#\\1#p" "$LOG_DIR/$name.log" | awk 'NR == 1')
        if [[ -n "$port" ]]; then
            printf '%s\n' "$port"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || die "$name exited before it was ready (see $LOG_DIR/$name.log)"
        sleep 0.1
    done
    die "$name printed no ready line within ${READY_TIMEOUT}s (see $LOG_DIR/$name.log)"
}

wait_for_health() {
    local name=$1 pid=$2 port=$3
    local deadline=$((SECONDS + READY_TIMEOUT)) status=none
    while ((SECONDS < deadline)); do
        status=$(curl -s -o /dev/null -w '%{http_code}' -m 2 "http://127.0.0.1:$port/health" || true)
        [[ "$status" == 200 ]] && return 0
        kill -0 "$pid" 2>/dev/null || die "$name exited before it was healthy (see $LOG_DIR/$name.log)"
        sleep 0.2
    done
    die "$name: GET /health did not answer 200 within ${READY_TIMEOUT}s (last status: $status)"
}

# free_ports N [EXCLUDE...] — N distinct loopback ports that are free now and not in EXCLUDE.
free_ports() {
    python3 - "$@" <<'EOF'
import socket, sys
n, exclude = int(sys.argv[1]), {int(p) for p in sys.argv[2:]}
held, ports = [], []
while len(ports) < n:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)  # hold each until all are picked, so they differ
    port = s.getsockname()[1]
    if port not in exclude:
        ports.append(port)
print(" ".join(map(str, ports)))
EOF
}

main() {
    require_browser_tools
    local target
    for target in "${TEST_TARGETS[@]}"; do
        [[ -f "tests/$target.rs" ]] || die "tests/$target.rs does not exist: nothing to run for --test $target"
    done
    rm -rf "$LOG_DIR"
    mkdir -p "$LOG_DIR"

    echo "run.sh: building semantest-server (debug)"
    cargo build --quiet -p semantest-server
    local server="${CARGO_TARGET_DIR:-target}/debug/semantest-server"
    [[ -x "$server" ]] || die "$server is missing after cargo build"

    local page_port
    page_port=$(free_ports 1)
    local origin="http://127.0.0.1:$page_port"

    local server_ready='semantest-server listening on http://[^ :]+:([0-9]+)'
    local stub_ready='^listening on ([0-9]+)'
    # The binary also reads SEMANTEST_* settings from the environment; the flags below win,
    # but clear the ones that could change what the tests expect.
    unset SEMANTEST_PORT SEMANTEST_BIND SEMANTEST_ENVIRONMENT SEMANTEST_ALLOW_ORIGINS
    start local-server "$server" --bind 127.0.0.1 --port 0 --environment local --allow-origin "$origin"
    start remote-server "$server" --bind 127.0.0.1 --port 0 --environment production --identity-file "" --registrations-per-hour 1000 --allow-origin "$origin"
    # A production server that wants a key (which the tests never have): refusals in the browser.
    start keyed-server "$server" --bind 127.0.0.1 --port 0 --environment production --identity-file "" --registrations-per-hour 1000 --api-key browser-tests-key-0123456789 --allow-origin "$origin"
    # A real server that does not allow the test page's origin: the probe must say "CORS", not "refused".
    start nocors-server "$server" --bind 127.0.0.1 --port 0 --environment local
    local mode
    for mode in wrong-service incompatible not-json huge hung; do
        start "stub-$mode" python3 tests/peers/stub_server.py --mode "$mode" --port 0
    done

    local -A port
    local i name
    for i in "${!NAMES[@]}"; do
        name=${NAMES[$i]}
        case "$name" in
        *-server)
            port[$name]=$(wait_for_port "$name" "${PIDS[$i]}" "$server_ready")
            wait_for_health "$name" "${PIDS[$i]}" "${port[$name]}"
            ;;
        stub-*) port[$name]=$(wait_for_port "$name" "${PIDS[$i]}" "$stub_ready") ;;
        esac
        echo "run.sh: $name ready on 127.0.0.1:${port[$name]}"
    done

    # Picked last, while every peer holds its port, and distinct from the test page's port.
    local refused_port
    refused_port=$(free_ports 1 "$page_port")
    local p
    for p in "${port[@]}"; do
        [[ "$p" != "$page_port" ]] ||
            die "a peer was given the test page's port $page_port by chance; run again"
    done

    export WASM_BINDGEN_TEST_ADDRESS="127.0.0.1:$page_port"
    # The runner serves its page cross-origin isolated (COEP require-corp) by default; the
    # extension's service worker is not, and under COEP an opaque no-cors probe is blocked too,
    # which would hide the "CORS" classification the tests check.
    export WASM_BINDGEN_TEST_NO_ORIGIN_ISOLATION=1
    export SEMANTEST_TEST_LOCAL="http://127.0.0.1:${port[local-server]}"
    export SEMANTEST_TEST_KEYED="ws://127.0.0.1:${port[keyed-server]}"
    export SEMANTEST_TEST_NOCORS="http://127.0.0.1:${port[nocors-server]}"
    export SEMANTEST_TEST_REMOTE="ws://127.0.0.1:${port[remote-server]}"
    export SEMANTEST_TEST_WRONG="http://127.0.0.1:${port[stub-wrong-service]}"
    export SEMANTEST_TEST_INCOMPATIBLE="http://127.0.0.1:${port[stub-incompatible]}"
    export SEMANTEST_TEST_NOTJSON="http://127.0.0.1:${port[stub-not-json]}"
    export SEMANTEST_TEST_HUGE="http://127.0.0.1:${port[stub-huge]}"
    export SEMANTEST_TEST_HUNG="http://127.0.0.1:${port[stub-hung]}"
    export SEMANTEST_TEST_REFUSED="http://127.0.0.1:$refused_port"
    export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}"
    env | grep -E '^(SEMANTEST_TEST_|WASM_BINDGEN_TEST_)' | sort | sed 's/^/run.sh: /'

    # One wasm-pack run per test binary: cargo stops at the first failing binary, and we want
    # both modes' results every time. Each runs in the background, so INT/TERM reach our trap
    # at once, with its output on the console.
    local rc=0 status
    for target in "${TEST_TARGETS[@]}"; do
        local cmd=(wasm-pack test --mode no-install --headless --chrome
            --chromedriver "$(command -v chromedriver)" . --test "$target" "$@")
        printf '\nrun.sh: %s\n' "${cmd[*]}"
        "${cmd[@]}" </dev/null &
        PIDS+=("$!")
        NAMES+=("wasm-pack ($target)")
        status=0
        wait "$!" || status=$?
        echo "run.sh: wasm-pack test --test $target exited with $status"
        ((rc != 0)) || rc=$status
    done
    return "$rc"
}

main "$@"
