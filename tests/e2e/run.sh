#!/usr/bin/env bash
# tests/e2e/run.sh — the end-to-end tests: the extension and the www demo in headless Chromium.
#
#   1. ./build.sh build (release server, pkg/, dist/extension/), output in .build/e2e-logs/build.log
#      — skip it with E2E_SKIP_BUILD=1 when those are fresh;
#   2. node --test over tests/e2e/*.test.mjs, one file at a time (the scenarios start and stop
#      servers and browsers; two cores are not enough to run them side by side with stable
#      timings), spec output on the console, TAP in .build/e2e-logs/results.tap;
#   3. a "test result: ..." line with the counts, like cargo's, for ./build.sh test's summary.
# The tests start their own peers (semantest-server processes, the HTTPS and TLS stand-ins) and
# stop them in after hooks; this script bounds the whole run (E2E_TIMEOUT seconds, default 900)
# and stops the test process group, whatever happens. Screenshots: .build/e2e-artifacts/.
#
# Usage: tests/e2e/run.sh [extra node --test args, e.g. --test-name-pattern='^a\)']
set -euo pipefail
set -m # the test run gets its own process group, so it can be stopped as a whole
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=scripts/common.sh
source scripts/common.sh

LOG_DIR=.build/e2e-logs
ARTIFACTS=.build/e2e-artifacts
TIMEOUT=${E2E_TIMEOUT:-900}

PID=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +m
    if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
        # SIGTERM first: node's exit handlers kill the servers, Playwright closes Chromium.
        kill -TERM -- "-$PID" 2>/dev/null || kill -TERM "$PID" 2>/dev/null || true
        local deadline=$((SECONDS + 10))
        while { kill -0 -- "-$PID" || kill -0 "$PID"; } 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.2
        done
        if { kill -0 -- "-$PID" || kill -0 "$PID"; } 2>/dev/null; then
            echo "run.sh: the test run (pid $PID) outlived SIGTERM; killing it" >&2
            kill -KILL -- "-$PID" 2>/dev/null || kill -KILL "$PID" 2>/dev/null || true
        fi
        wait "$PID" 2>/dev/null || true
    fi
    if ((rc != 0)); then
        local f
        for f in "$LOG_DIR"/*.log; do
            [[ -f "$f" && "$f" != "$LOG_DIR/build.log" ]] || continue
            printf '\n----- %s (last 30 lines) -----\n' "$f" >&2
            tail -n 30 "$f" >&2
        done
        ls "$ARTIFACTS"/FAILED-* >/dev/null 2>&1 && echo "run.sh: failure screenshots and state: $ARTIFACTS/FAILED-*" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

main() {
    command -v node >/dev/null 2>&1 || die "node is required (Node 20)"
    [[ -x /usr/bin/chromium || -n "${CHROMIUM:-}" ]] || die "chromium is not installed; run ./build.sh setup"
    [[ -f node_modules/playwright-core/package.json ]] || die "playwright-core is not installed; run ./build.sh setup (npm ci)"
    command -v openssl >/dev/null 2>&1 || die "openssl is required (the stand-ins' self-signed certificate)"
    rm -rf "$LOG_DIR" "$ARTIFACTS"
    mkdir -p "$LOG_DIR" "$ARTIFACTS"

    if [[ "${E2E_SKIP_BUILD:-}" != 1 ]]; then
        echo "run.sh: ./build.sh build (log: $LOG_DIR/build.log)"
        if ! ./build.sh build >"$LOG_DIR/build.log" 2>&1; then
            tail -n 40 "$LOG_DIR/build.log" >&2
            die "./build.sh build failed (see $LOG_DIR/build.log)"
        fi
    fi

    local files=(tests/e2e/*.test.mjs)
    local cmd=(node --test --test-concurrency=1 --test-timeout=300000
        --test-reporter=spec --test-reporter-destination=stdout
        --test-reporter=tap --test-reporter-destination="$LOG_DIR/results.tap"
        "$@" "${files[@]}")
    echo "run.sh: ${cmd[*]}"
    timeout --kill-after=15 "$TIMEOUT" "${cmd[@]}" </dev/null &
    PID=$!
    local rc=0
    wait "$PID" || rc=$?
    PID=
    ((rc != 124)) || echo "run.sh: the tests did not finish within ${TIMEOUT}s (E2E_TIMEOUT)" >&2

    # The counts, in cargo's words, so ./build.sh test can add them to its total.
    # A TODO test is one that documents a known defect: it runs, and does not fail the run.
    local pass fail todo
    pass=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$LOG_DIR/results.tap" | tail -n 1)
    fail=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$LOG_DIR/results.tap" | tail -n 1)
    todo=$(sed -nE 's/^# todo ([0-9]+)$/\1/p' "$LOG_DIR/results.tap" | tail -n 1)
    local verdict=ok
    ((rc == 0)) || verdict=FAILED
    echo "test result: $verdict. ${pass:-0} passed; ${fail:-0} failed; ${todo:-0} todo (end-to-end, tests/e2e)"
    if [[ "${todo:-0}" != 0 ]]; then
        echo "run.sh: TODO (known defects, see the test names above):"
        grep -E '^ *(not )?ok [0-9]+ .*# TODO' "$LOG_DIR/results.tap" | sed 's/^ */  /' || true
    fi
    echo "run.sh: screenshots in $ARTIFACTS/"
    return "$rc"
}

main "$@"
