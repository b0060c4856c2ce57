#!/usr/bin/env bash
# run-unit.sh BUILD_DIR — run every cmocka unit test binary in BUILD_DIR/test
# (against the real servers exported by with-stack.sh) and print one summary
# line "unit: N passed, M failed".  Exit status is non-zero if any failed.
set -uo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export EP_TESTDATA=${EP_TESTDATA:-$(cd "$ROOT/.." && pwd)/shared/testdata}
export EP_ROOT=$ROOT
pass=0; fail=0; failed=(); cases_pass=0; cases_fail=0
for t in "$ROOT/$BUILD"/test/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    log="/tmp/envplane-unit-$name.log"
    (cd "$ROOT" && "$t") > "$log" 2>&1
    rc=$?
    # cmocka's own counts: "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)"
    p=$(grep -Eo '^\[  PASSED  \] [0-9]+' "$log" | grep -Eo '[0-9]+$' | awk '{s+=$1} END {print s+0}')
    f=$(grep -Eo '^\[  FAILED  \] [0-9]+' "$log" | grep -Eo '[0-9]+$' | awk '{s+=$1} END {print s+0}')
    cases_pass=$((cases_pass + ${p:-0})); cases_fail=$((cases_fail + ${f:-0}))
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1))
        echo "ok   $name"
    else
        fail=$((fail + 1)); failed+=("$name")
        echo "FAIL $name"
        tail -40 "$log" | sed 's/^/     /'
    fi
done
[ ${#failed[@]} -gt 0 ] && echo "failed unit test programs: ${failed[*]}"
echo "unit test programs: $pass passed, $fail failed"
# A program that died without cmocka's summary still counts as a failure.
[ $fail -gt 0 ] && [ $cases_fail -eq 0 ] && cases_fail=$fail
echo "unit: $cases_pass passed, $cases_fail failed"
[ $fail -eq 0 ]
