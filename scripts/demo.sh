#!/usr/bin/env bash
# demo.sh — bring the local stack up, start envplane's services, upload the
# seed's example claims into MinIO and print the events as they arrive.
# Everything keeps running afterwards so you can play; `make down` stops it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DIR="$ROOT/.run"
export PATH="$HOME/go/bin:$PATH"

# A demo starts from empty buckets and an empty index unless a stack from an
# earlier `make up`/`make demo` is still running (then it is reused).
if ! { [ -f "$DIR/pids/nats.pid" ] && kill -0 "$(cat "$DIR/pids/nats.pid")" 2>/dev/null; }; then
    rm -rf "$DIR"
fi
scripts/stack.sh up --dir "$DIR"
set -a; . "$DIR/stack.env"; set +a
export MC_CONFIG_DIR="$DIR/mc"
export MC_HOST_envplane="http://$EP_S3_ACCESS_KEY:$EP_S3_SECRET_KEY@${EP_S3_ENDPOINT#http://}"

# Start every service that is built, once; their pids join the stack's so
# `make down` stops them too.  Each gets its own metrics port.
port=18080
for svc in claim-ingest provisioner indexer expirer; do
    port=$((port + 1))
    [ -x "build/bin/$svc" ] || continue
    pidf="$DIR/pids/svc-$svc.pid"
    if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then continue; fi
    EP_HTTP_LISTEN="127.0.0.1:$port" "build/bin/$svc" >> "$DIR/logs/$svc.log" 2>&1 &
    echo $! > "$pidf"
    echo "started $svc (logs: $DIR/logs/$svc.log, metrics: http://127.0.0.1:$port/metrics)"
done
for svc in claim-ingest provisioner indexer expirer; do
    [ -x "build/bin/$svc" ] || continue
    p=$(( 18081 + $(echo "claim-ingest provisioner indexer expirer" | tr ' ' '\n' | grep -n "^$svc\$" | cut -d: -f1) - 1 ))
    for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$p/readyz" >/dev/null && break; sleep 0.1; done
done

# Watch the events while we upload.
: > "$DIR/logs/epctl-demo.log"
build/bin/epctl tail --idle-timeout 5 > "$DIR/demo-events.jsonl" 2> "$DIR/logs/epctl-demo.log" &
tail_pid=$!
# tail prints its banner once subscribed; wait for it rather than guessing.
for _ in $(seq 1 200); do grep -q tailing "$DIR/logs/epctl-demo.log" && break; sleep 0.05; done

echo
echo "uploading the seed's example claims:"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for f in examples/claims/*.json; do
    name=$(basename "$f")
    bucket=environments
    [ "$name" = prod-main.json ] && bucket=static-environments   # git-managed
    if [ "$name" = sue-vendor-eval.json ]; then
        # A sue environment lives 24 h from its creation: make it "now".
        sed "s/\"creation_date\": \"[^\"]*\"/\"creation_date\": \"$now\"/" "$f" > "$DIR/$name"
        mc cp --quiet "$DIR/$name" "envplane/$bucket/$name" > /dev/null
    else
        mc cp --quiet "$f" "envplane/$bucket/$name" > /dev/null
    fi
    echo "  $bucket/$name"
done

echo
echo "events (platform.>), as they arrive:"
python3 - "$DIR/demo-events.jsonl" "$tail_pid" <<'PY'
import json, os, sys, time
path, pid = sys.argv[1], int(sys.argv[2])
seen = 0
def alive():
    try: os.kill(pid, 0); return True
    except OSError: return False
while True:
    with open(path) as f:
        lines = f.readlines()
    for line in lines[seen:]:
        e = json.loads(line)
        d = e.get("data", {})
        extra = ""
        if "doc" in d:
            doc = d["doc"]
            extra = "removed from the index" if d.get("removed") else f"indexed: {doc.get('environment_type', '')} pool {doc.get('environment_pool', '')} state {doc.get('state', '')}"
        elif "errors" in d:
            extra = "; ".join(f"{x.get('field') or '(document)'}: {x['message']}" for x in d["errors"])
        elif "generation" in d:
            extra = f"generation {d['generation']}"
        if "state" in d:
            extra += f" state {d['state']}"
        print(f"  {e['subject']:<34} {e['ce'].get('subject', ''):<22} {extra}")
    seen = len(lines)
    if not alive():
        break
    time.sleep(0.2)
PY
echo
echo "the environment index (build/bin/epctl query --sort creation):"
if build/bin/epctl query --sort creation > "$DIR/demo-index.json" 2>/dev/null; then
    python3 - "$DIR/demo-index.json" <<'PY'
import json, sys
for d in json.load(open(sys.argv[1])).get("items", []):
    name, typ, state = d["environment_name"], d.get("environment_type", ""), d.get("state", "")
    print(f"  {name:<22} {typ:<26} {state:<22} expires {d.get('expiration_date') or 'never'}")
PY
else
    echo "  (indexer not running)"
fi
cat <<MSG

The stack and services keep running.  To watch events yourself:
  source .run/stack.env && build/bin/epctl tail          # every platform.> event, decoded
  (or any NATS client: subscribe to 'platform.>'; payloads are protobuf, see proto/)
Upload or delete claims with any S3 client, e.g.:
  export MC_CONFIG_DIR=.run/mc MC_HOST_envplane=$MC_HOST_envplane
  mc cp my-claim.json envplane/environments/dev-mine.json
  mc rm envplane/environments/dev-mine.json
Stop everything with: make down
MSG
