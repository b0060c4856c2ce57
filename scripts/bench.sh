#!/usr/bin/env bash
# bench.sh — envplane's benchmarks (make bench).  Each prints its figures as
# ratios against a baseline measured in the same run.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
echo "== claim-ingest throughput"
scripts/with-stack.sh bash -c 'cd tests/e2e && EP_BUILD_DIR=build node bench/ingest.mjs'
# expirer: timer steps/s vs JetStream publish and S3 DELETE baselines; the
# unit bench compares its Redis timer store with a plain ZADD/ZRANGEBYSCORE loop.
echo "== expirer throughput"
scripts/with-stack.sh bash -c 'cd tests/e2e && EP_BUILD_DIR=build node bench/expirer.mjs'
scripts/with-stack.sh build/test/test_expirer_bench | grep -E '^ *(schedule|process):|due timers'
for t in bench-cedar bench-attest; do
    if grep -q "^$t:" Makefile; then echo "== $t"; make --no-print-directory "$t"; fi
done
