#!/usr/bin/env bash
# run-e2e.sh BUILD_DIR — run the end-to-end tests (node:test, official NATS
# and AWS S3 JavaScript clients) against the stack exported by
# with-stack.sh, using the service binaries of BUILD_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export EP_BUILD_DIR=${1:-build}
cd "$ROOT/tests/e2e"
# EP_E2E_FILES limits the run to some files (the valgrind pass uses it).
files=${EP_E2E_FILES:-$(ls ./*.test.mjs)}
exec node --test --test-concurrency=1 --test-reporter=spec $files
