#!/usr/bin/env bash
# with-stack.sh CMD [ARGS...] — run CMD against a fresh local stack of real
# servers (nats-server, redis-server, MinIO) on random loopback ports in a
# temporary directory, with the stack's variables exported; stop the stack
# afterwards whatever CMD's outcome.  Exit status is CMD's.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$(mktemp -d /tmp/envplane-stack.XXXXXX)
cleanup() {
    "$ROOT/scripts/stack.sh" down --dir "$DIR" > /dev/null || true
    if [ "${EP_KEEP_STACK_DIR:-0}" != 1 ]; then rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM HUP
EP_MINIO_QUEUE=${EP_MINIO_QUEUE:-off} "$ROOT/scripts/stack.sh" up --dir "$DIR" --random-ports > "$DIR.up.log" 2>&1 || {
    cat "$DIR.up.log" >&2; rm -f "$DIR.up.log"; exit 1; }
rm -f "$DIR.up.log"
set -a; . "$DIR/stack.env"; set +a
set +e
"$@"
rc=$?
exit $rc
