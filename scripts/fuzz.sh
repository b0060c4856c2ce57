#!/usr/bin/env bash
# fuzz.sh — build every libFuzzer harness tests/fuzz/fuzz_<name>.c against
# the libraries instrumented for coverage, ASan and UBSan (build-fuzz/), then
#   scripts/fuzz.sh [SECONDS]        fuzz each target for SECONDS (default 60)
#                                    on a scratch copy of its seed corpus
#   scripts/fuzz.sh --regress        run each target once over its committed
#                                    corpus (fast; part of make test)
#   scripts/fuzz.sh --only NAME ...  restrict to one target
# Crashes are written to build-fuzz/crashes/<name>/ and fail the run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MODE=timed; SECS=60; ONLY=
while [ $# -gt 0 ]; do
    case "$1" in
        --regress) MODE=regress; shift ;;
        --only) ONLY=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) SECS=$1; shift ;;
    esac
done
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
make --no-print-directory -s BUILD=build-fuzz CC=clang OPT=-O1 \
    SANITIZE="-fsanitize=fuzzer-no-link $SAN" libs >/dev/null
LIBS=$(ls build-fuzz/lib/*.a | tr '\n' ' ')
PKG_FLAGS=$(make --no-print-directory -s print-pkg-flags)
pass=0; fail=0
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c); name=${name#fuzz_}
    [ -n "$ONLY" ] && [ "$ONLY" != "$name" ] && continue
    bin=build-fuzz/fuzz/fuzz_$name
    mkdir -p build-fuzz/fuzz "build-fuzz/crashes/$name"
    clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer $SAN -Ilibs -Ibuild-fuzz/gen \
        $src -Wl,--start-group $LIBS -Wl,--end-group $PKG_FLAGS -lpthread -lm -o "$bin"
    corpus=tests/fuzz/corpus/$name
    [ -d "$corpus" ] || corpus=$(mktemp -d)
    if [ $MODE = regress ]; then
        args=(-runs=0 "$corpus")
    else
        scratch=build-fuzz/corpus/$name; mkdir -p "$scratch"; cp -r "$corpus"/. "$scratch"/ 2>/dev/null || true
        args=(-max_total_time="$SECS" -print_final_stats=1 "$scratch")
    fi
    if "$bin" -artifact_prefix="build-fuzz/crashes/$name/" "${args[@]}" > "build-fuzz/fuzz_$name.log" 2>&1; then
        pass=$((pass + 1)); echo "ok   fuzz_$name ($(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "build-fuzz/fuzz_$name.log" | grep -Eo '[0-9]+$' || echo corpus) runs)"
    else
        fail=$((fail + 1)); echo "FAIL fuzz_$name (see build-fuzz/fuzz_$name.log)"; tail -30 "build-fuzz/fuzz_$name.log"
    fi
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
