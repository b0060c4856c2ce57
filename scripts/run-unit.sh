#!/usr/bin/env bash
# run-unit.sh BUILD_DIR — run every cmocka unit test binary in BUILD_DIR/test
# (against the real servers exported by with-stack.sh) and print one summary
# line "unit: N passed, M failed".  Exit status is non-zero if any failed.
set -uo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export EP_TESTDATA=${EP_TESTDATA:-$(cd "$ROOT/.." && pwd)/shared/testdata}
export EP_ROOT=$ROOT
pass=0; fail=0; failed=()
for t in "$ROOT/$BUILD"/test/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    if (cd "$ROOT" && "$t") > "/tmp/envplane-unit-$name.log" 2>&1; then
        pass=$((pass + 1))
        echo "ok   $name"
    else
        fail=$((fail + 1)); failed+=("$name")
        echo "FAIL $name"
        tail -40 "/tmp/envplane-unit-$name.log" | sed 's/^/     /'
    fi
done
[ ${#failed[@]} -gt 0 ] && echo "failed unit test programs: ${failed[*]}"
echo "unit: $pass passed, $fail failed"
[ $fail -eq 0 ]
