#!/usr/bin/env bash
# stack.sh — start or stop envplane's local stack of real servers.
#
#   scripts/stack.sh up   [--dir DIR] [--random-ports]
#   scripts/stack.sh down [--dir DIR]
#   scripts/stack.sh env  [--dir DIR]      print DIR/stack.env
#
# "up" starts nats-server with JetStream, redis-server and MinIO (built with
# go install by scripts/deps.sh) on loopback, with all data under DIR
# (default .run/).  MinIO is configured with its NATS notification target in
# JetStream mode, and the buckets `environments` and `static-environments`
# send put and delete events to it, exactly as in production.  The
# endpoints are printed and written as shell variables to DIR/stack.env.
# "down" stops, by pid, everything "up" started in DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR="$ROOT/.run"
RANDOM_PORTS=0
CMD=${1:-}
[ $# -gt 0 ] && shift
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) DIR=$2; shift 2 ;;
        --random-ports) RANDOM_PORTS=1; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "stack.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

export PATH="$HOME/go/bin:$PATH"
NOTIFY_SUBJECT=${EP_NOTIFY_SUBJECT:-minio.notify.claims}
# The pinned MinIO build ignores MINIO_ROOT_USER/PASSWORD and keeps its
# default root account; it is bound to loopback and used only to administer.
ROOT_USER=minioadmin
ROOT_PASSWORD=minioadmin
ACCESS_KEY=envplane
SECRET_KEY=envplane-secret-key
REGION=us-east-1
TARGET_ID=ENVPLANE

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for DESCRIPTION SECONDS CMD... — poll a readiness probe (not a sleep
# for synchronisation: we poll the server's own health answer).
wait_for() {
    local what=$1 secs=$2; shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            echo "stack.sh: $what did not become ready within ${secs}s; see $DIR/logs" >&2
            return 1
        fi
        sleep 0.1
    done
}

start() { # name cmd... — start in background, remember the pid
    local name=$1; shift
    "$@" > "$DIR/logs/$name.log" 2>&1 &
    echo $! > "$DIR/pids/$name.pid"
}

up() {
    mkdir -p "$DIR/logs" "$DIR/pids" "$DIR/nats" "$DIR/redis" "$DIR/minio" "$DIR/minio-queue"
    if [ -f "$DIR/stack.env" ] && [ -f "$DIR/pids/nats.pid" ] && kill -0 "$(cat "$DIR/pids/nats.pid")" 2>/dev/null; then
        echo "stack.sh: a stack is already running in $DIR (scripts/stack.sh down first)" >&2
        cat "$DIR/stack.env"; return 0
    fi
    local nats_port=4222 nats_mon=8222 redis_port=6379 s3_port=9000 console_port=9001
    if [ $RANDOM_PORTS = 1 ]; then
        nats_port=$(free_port); nats_mon=$(free_port); redis_port=$(free_port)
        s3_port=$(free_port); console_port=$(free_port)
    fi
    for bin in nats-server redis-server minio mc; do
        command -v $bin >/dev/null || { echo "stack.sh: $bin not found; run scripts/deps.sh" >&2; exit 1; }
    done

    start nats nats-server -a 127.0.0.1 -p "$nats_port" -m "$nats_mon" -js -sd "$DIR/nats"
    start redis redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$DIR/redis" \
        --appendonly yes --save "" --daemonize no
    wait_for nats-server 20 curl -sf "http://127.0.0.1:$nats_mon/healthz?js-enabled-only=true"
    wait_for redis-server 20 redis-cli -p "$redis_port" ping

    # MinIO publishes with JetStream, so the stream that captures the
    # notification subject must exist before the first event.
    if [ -x "$ROOT/build/bin/epctl" ]; then
        "$ROOT/build/bin/epctl" streams --nats-url "nats://127.0.0.1:$nats_port" \
            --notify-subject "$NOTIFY_SUBJECT" >> "$DIR/logs/epctl.log" 2>&1
    else
        echo "stack.sh: warning: build/bin/epctl missing, streams not created (run make)" >&2
    fi

    # With a queue directory MinIO keeps events on disk while NATS is down
    # and replays them (what production wants), at the price of sending from
    # a background replay loop: about a second more per event.  Tests turn
    # it off with EP_MINIO_QUEUE=off to keep their latency down.
    local QUEUE_ENV=
    [ "${EP_MINIO_QUEUE:-on}" = on ] && QUEUE_ENV="MINIO_NOTIFY_NATS_QUEUE_DIR_$TARGET_ID=$DIR/minio-queue"
    start minio env MINIO_ROOT_USER=$ROOT_USER MINIO_ROOT_PASSWORD=$ROOT_PASSWORD \
        MINIO_REGION=$REGION MINIO_BROWSER=off MINIO_UPDATE=off \
        "MINIO_NOTIFY_NATS_ENABLE_$TARGET_ID=on" \
        "MINIO_NOTIFY_NATS_ADDRESS_$TARGET_ID=127.0.0.1:$nats_port" \
        "MINIO_NOTIFY_NATS_SUBJECT_$TARGET_ID=$NOTIFY_SUBJECT" \
        "MINIO_NOTIFY_NATS_JETSTREAM_$TARGET_ID=on" \
        ${QUEUE_ENV:+"$QUEUE_ENV"} \
        minio server "$DIR/minio" --quiet \
            --address "127.0.0.1:$s3_port" --console-address "127.0.0.1:$console_port"
    wait_for minio 60 curl -sf "http://127.0.0.1:$s3_port/minio/health/ready"

    export MC_CONFIG_DIR="$DIR/mc"
    export MC_HOST_ep="http://$ROOT_USER:$ROOT_PASSWORD@127.0.0.1:$s3_port"
    # Services never use the root account: they get a user of their own with
    # the readwrite policy, as they would on the platform.
    mc admin user add ep "$ACCESS_KEY" "$SECRET_KEY" > /dev/null
    mc admin policy attach ep readwrite --user "$ACCESS_KEY" > /dev/null 2>&1 || true
    for b in environments static-environments platform-state; do
        mc mb --ignore-existing --region "$REGION" "ep/$b" > /dev/null
    done
    for b in environments static-environments; do
        mc event add --ignore-existing "ep/$b" "arn:minio:sqs::$TARGET_ID:nats" --event put,delete > /dev/null
    done

    cat > "$DIR/stack.env" <<ENV
# envplane local stack — source this file to reach it from any client.
EP_STACK_DIR='$DIR'
EP_NATS_URL='nats://127.0.0.1:$nats_port'
EP_NATS_MONITOR_URL='http://127.0.0.1:$nats_mon'
EP_REDIS_URL='redis://127.0.0.1:$redis_port'
EP_S3_ENDPOINT='http://127.0.0.1:$s3_port'
EP_S3_REGION='$REGION'
EP_S3_ACCESS_KEY='$ACCESS_KEY'
EP_S3_SECRET_KEY='$SECRET_KEY'
EP_S3_ROOT_USER='$ROOT_USER'
EP_S3_ROOT_PASSWORD='$ROOT_PASSWORD'
EP_BUCKET_DYNAMIC='environments'
EP_BUCKET_STATIC='static-environments'
EP_BUCKET_STATE='platform-state'
EP_NOTIFY_SUBJECT='$NOTIFY_SUBJECT'
EP_NOTIFY_STREAM='MINIO_NOTIFY'
EP_EVENT_STREAM='PLATFORM'
ENV
    echo "envplane stack is up (data and logs in $DIR):"
    sed -n 's/^EP_/  EP_/p' "$DIR/stack.env"
    echo "  source $DIR/stack.env to use it; scripts/stack.sh down to stop it."
}

down() {
    [ -d "$DIR/pids" ] || { echo "stack.sh: nothing running in $DIR"; return 0; }
    local f pid
    # envplane services first (they drain into the servers), then the servers.
    for f in $(ls "$DIR"/pids/svc-*.pid 2>/dev/null) $(ls "$DIR"/pids/*.pid 2>/dev/null | grep -v /svc-); do
        [ -e "$f" ] || continue
        pid=$(cat "$f")
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$f"
    done
    echo "envplane stack in $DIR stopped."
}

case "$CMD" in
    up) up ;;
    down) down ;;
    env) cat "$DIR/stack.env" ;;
    *) echo "usage: scripts/stack.sh up|down|env [--dir DIR] [--random-ports]" >&2; exit 2 ;;
esac
