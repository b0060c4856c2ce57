#!/usr/bin/env bash
# bench-attest.sh — how fast libs/snp verifies SEV-SNP evidence, compared
# with the raw ECDSA P-384 verification rate of this machine.
#
#   scripts/bench-attest.sh [BUILD_DIR]     (default: build)
#
# One verification = report parse + chain lookup in the warm cache + ECDSA
# P-384/SHA-384 signature check + certificate-vs-report TCB/chip checks, on
# a real Milan report (../shared/testdata/sev-snp/milan-vcek-trustee).  The
# reference is `openssl speed -seconds 3 ecdsap384`, whose verify/s is the
# ceiling: the ratio says how much the rest of the pipeline costs.
# Environment: EP_TESTDATA (testdata directory), BENCH_SECONDS (default 3),
# BENCH_THREADS (default 1; openssl speed runs one thread too).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
BIN=$ROOT/$BUILD/bin/snp-verify
SECS=${BENCH_SECONDS:-3}
THREADS=${BENCH_THREADS:-1}
TD=${EP_TESTDATA:-$ROOT/../shared/testdata}
SET=$TD/sev-snp/milan-vcek-trustee

[ -x "$BIN" ] || { echo "bench-attest: $BIN not built (make build)" >&2; exit 1; }
[ -f "$SET/report.bin" ] || { echo "bench-attest: no test data at $TD (set EP_TESTDATA)" >&2; exit 1; }

ours_json=$("$BIN" --report "$SET/report.bin" --cert "$SET/vcek.der" \
    --ark "$TD/sev-snp/certs/milan/ark.pem" --ask "$TD/sev-snp/certs/milan/ask.pem" \
    --bench "$SECS" --threads "$THREADS")
ours=$(sed -n 's/.*"verifications_per_sec": \([0-9.]*\).*/\1/p' <<<"$ours_json")
grep -q '"all_valid": true' <<<"$ours_json" || { echo "bench-attest: verification failed: $ours_json" >&2; exit 1; }

# openssl speed prints "384 bits ecdsa (nistp384) <sign s> <verify s> <sign/s> <verify/s>".
ossl=$(openssl speed -seconds 3 ecdsap384 2>/dev/null | awk '/nistp384/ {v=$NF} END {print v}')
[ -n "$ossl" ] || { echo "bench-attest: could not read openssl speed output" >&2; exit 1; }

ratio=$(awk -v a="$ours" -v b="$ossl" 'BEGIN {printf "%.3f", a / b}')
echo "snp verifications/s (warm chain cache, $THREADS thread(s)): $ours"
echo "openssl speed ecdsap384 verify/s:                        $ossl"
echo "ratio:                                                   $ratio"
echo "detail: $ours_json"
