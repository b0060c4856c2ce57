#!/usr/bin/env bash
# test.sh BUILD_DIR — the whole test suite, as `make test` runs it:
#   1. unit tests (cmocka) against real servers,
#   2. end-to-end tests through official clients,
#   3. the same end-to-end tests with every service binary under valgrind
#      (memory errors and leaks on the normal path fail the test),
#   4. unit tests and end-to-end tests again with everything built with
#      AddressSanitizer + UndefinedBehaviorSanitizer,
#   5. the Helm chart and docker-compose.yml (lint, render, structure),
#      and the Cedar engine's differential test against the reference,
#   6. every fuzz target over its committed corpus (ASan+UBSan, libFuzzer).
# Each step gets a fresh stack of real servers on random loopback ports.
# The last line is the combined summary "N passed, M failed".
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
cd "$ROOT"
total_pass=0; total_fail=0
count() { # parse "... N passed, M failed" or node's "# pass N" / "# fail M"
    local log=$1 p f
    p=$(grep -Eo '[0-9]+ passed' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
    f=$(grep -Eo '[0-9]+ failed' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
    if [ -z "$p" ]; then
        p=$(grep -E '^ℹ pass [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
        f=$(grep -E '^ℹ fail [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
    fi
    total_pass=$((total_pass + ${p:-0})); total_fail=$((total_fail + ${f:-0}))
}
status=0
run_step() { # title cmd...
    local title=$1; shift
    local log; log=$(mktemp)
    echo "== $title"
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    count "$log"
    if [ "$rc" -ne 0 ]; then
        status=1
        # A step that failed without reporting a failed test still fails.
        grep -Eq '[1-9][0-9]* failed|^ℹ fail [1-9]' "$log" || total_fail=$((total_fail + 1))
    fi
    rm -f "$log"
}
run_step "unit tests ($BUILD)" scripts/with-stack.sh scripts/run-unit.sh "$BUILD"
run_step "end-to-end tests ($BUILD)" scripts/run-e2e.sh "$BUILD"
if [ "${EP_SKIP_VALGRIND:-0}" != 1 ]; then
    # The normal paths of every service, under valgrind: claim-ingest's own
    # suite and the cross-service lifecycle (the kill -9 batches would only
    # measure valgrind's slowness).
    EP_E2E_FILES="${EP_VALGRIND_E2E_FILES:-claim_ingest.test.mjs lifecycle.test.mjs attester.test.mjs}" \
    EP_SERVICE_WRAPPER="valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99" \
        run_step "end-to-end tests, services under valgrind" scripts/run-e2e.sh "$BUILD"
fi
if [ "${EP_SKIP_ASAN:-0}" != 1 ]; then
    run_step "ASan+UBSan build" make --no-print-directory BUILD=build-asan CC=clang OPT=-O1 \
        SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=all" build
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_step "unit tests under ASan+UBSan" scripts/with-stack.sh scripts/run-unit.sh build-asan
    # The service binaries under ASan+UBSan through the whole e2e suite: a
    # sanitizer report aborts the service, and a leak at exit fails its
    # exit-code check.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_step "end-to-end tests, services under ASan+UBSan" scripts/run-e2e.sh build-asan
fi
run_step "deployment artefacts (helm, compose)" scripts/check-deploy.sh
if grep -q '^test-cedar:' Makefile; then
    run_step "Cedar engine vs the reference (cedar-wasm), differential" make --no-print-directory test-cedar BUILD="$BUILD"
fi
if [ "${EP_SKIP_FUZZ:-0}" != 1 ]; then
    run_step "fuzz targets over their corpora" scripts/fuzz.sh --regress
fi
echo
echo "all: $total_pass passed, $total_fail failed"
exit $status
