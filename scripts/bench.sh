#!/usr/bin/env bash
# bench.sh — envplane's benchmarks (make bench).  Each prints its figures as
# ratios against a baseline measured in the same run.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
echo "== claim-ingest throughput"
scripts/with-stack.sh bash -c 'cd tests/e2e && EP_BUILD_DIR=build node bench/ingest.mjs'
for t in bench-cedar bench-attest; do
    if grep -q "^$t:" Makefile; then echo "== $t"; make --no-print-directory "$t"; fi
done
