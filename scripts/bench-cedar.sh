#!/usr/bin/env bash
# bench-cedar.sh — `make bench-cedar`: libs/cedar against cedar-wasm and the
# Rust reference CLI (cedar-policy-cli, installed here with cargo, pinned, and
# skipped when already present) on the workloads of bench/cedar/workload.mjs.
# A benchmark, not a test: it prints numbers and ratios, it does not fail on
# them.  CEDAR_BENCH_SECONDS sets the time per engine and scenario (default 2).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
CEDAR_CLI_VERSION=4.13.0     # the Cedar release cedar-wasm 4.13.0 is built from
cd "$ROOT"

RUST_CEDAR="${CARGO_HOME:-$HOME/.cargo}/bin/cedar"
stamp="${CARGO_HOME:-$HOME/.cargo}/bin/.cedar-policy-cli.version"
if command -v cargo >/dev/null; then
    if [ ! -x "$RUST_CEDAR" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$CEDAR_CLI_VERSION" ]; then
        echo "bench-cedar: cargo install cedar-policy-cli $CEDAR_CLI_VERSION (a few minutes the first time)"
        cargo install cedar-policy-cli --version "$CEDAR_CLI_VERSION" --locked
        echo "$CEDAR_CLI_VERSION" > "$stamp"
    fi
else
    echo "bench-cedar: cargo not found; the Rust reference is left out"
    RUST_CEDAR=
fi
exec node bench/cedar/run.mjs "$BUILD" $RUST_CEDAR
