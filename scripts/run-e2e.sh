#!/usr/bin/env bash
# run-e2e.sh BUILD_DIR — run the end-to-end tests (node:test, official NATS
# and AWS S3 JavaScript clients) with the service binaries of BUILD_DIR.
# Each test file gets a fresh stack of real servers (scripts/with-stack.sh),
# so one file's backlog of events never slows or confuses another's durable
# consumers.  EP_E2E_FILES limits the run to some files.  The last line is
# "e2e: N passed, M failed".
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export EP_BUILD_DIR=${1:-build}
cd "$ROOT/tests/e2e"
files=${EP_E2E_FILES:-$(ls ./*.test.mjs)}
pass=0; fail=0; status=0
for f in $files; do
    log=$(mktemp)
    echo "-- $f"
    "$ROOT/scripts/with-stack.sh" node --test --test-concurrency=1 --test-reporter=spec "$f" 2>&1 \
        | grep -vE 'NodeVersionSupportWarning|versions published after|will require node|To continue receiving|security updates please|More information can be found|trace-warnings' \
        | tee "$log"
    rc=${PIPESTATUS[0]}
    p=$(grep -E '^ℹ pass [0-9]+' "$log" | grep -Eo '[0-9]+' | tail -1)
    n=$(grep -E '^ℹ fail [0-9]+' "$log" | grep -Eo '[0-9]+' | tail -1)
    pass=$((pass + ${p:-0})); fail=$((fail + ${n:-0}))
    if [ "$rc" -ne 0 ]; then
        status=1
        [ "${n:-0}" -eq 0 ] && fail=$((fail + 1))   # died without reporting a failure
    fi
    rm -f "$log"
done
echo "e2e: $pass passed, $fail failed"
exit $status
