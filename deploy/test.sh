#!/usr/bin/env bash
# deploy/test.sh — the public service's offline tests, after the Lambda artifact is built:
#   1. the Pulumi program: tsc --noEmit (strict), then its unit tests under pulumi.runtime.setMocks
#      (no Pulumi CLI, no AWS; they also check the zip the program points at);
#   2. the API Gateway stand-in's own tests (deploy/local/gateway.test.mjs, and mock-route.test.mjs
#      for the ping route that API Gateway answers itself);
#   3. the cost model: deploy/README.md shows what deploy/cost.mjs computes (deploy/cost.test.mjs);
#   4. actionlint on .github/workflows.
# The Lambda handlers' own tests run in `cargo test` (fixtures, moto); the loop through the
# stand-in with the CLI and the extension runs in the e2e tests (tests/e2e/aws.test.mjs).
# Ends with a "test result: ..." line like cargo's, for ./build.sh test's total.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOG_DIR=.build/deploy-logs
rm -rf "$LOG_DIR"
mkdir -p "$LOG_DIR"

[[ -x deploy/pulumi/node_modules/.bin/tsc ]] || {
    echo "deploy/test.sh: the Pulumi program's packages are missing; run ./build.sh setup" >&2
    exit 1
}
echo "==> the Lambda artifact (deploy/lambda/build.sh)"
deploy/lambda/build.sh

rc=0
run_node_tests() {
    local name=$1
    shift
    node --test --test-concurrency=1 --test-timeout=120000 \
        --test-reporter=spec --test-reporter-destination=stdout \
        --test-reporter=tap --test-reporter-destination="$LOG_DIR/$name.tap" "$@" </dev/null || rc=1
}

echo "==> Pulumi: tsc --noEmit (strict)"
(cd deploy/pulumi && node_modules/.bin/tsc --noEmit) || rc=1
echo "==> Pulumi: unit tests under mocks"
rm -rf deploy/pulumi/.build/js
(cd deploy/pulumi && node_modules/.bin/tsc --outDir .build/js) || rc=1
run_node_tests pulumi deploy/pulumi/.build/js/test/*.test.js
echo "==> the API Gateway stand-in"
run_node_tests gateway deploy/local/gateway.test.mjs deploy/local/mock-route.test.mjs
echo "==> the cost model"
run_node_tests cost deploy/cost.test.mjs
echo "==> actionlint"
deploy/pulumi/lint-workflows.sh || rc=1

pass=0
fail=0
for tap in "$LOG_DIR"/*.tap; do
    p=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$tap" | tail -n 1)
    f=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$tap" | tail -n 1)
    pass=$((pass + ${p:-0}))
    fail=$((fail + ${f:-0}))
done
verdict=ok
((rc == 0 && fail == 0)) || verdict=FAILED
echo "test result: $verdict. $pass passed; $fail failed (deploy: Pulumi, gateway stand-in, cost model)"
exit "$rc"
