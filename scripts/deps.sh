#!/usr/bin/env bash
# deps.sh — install everything envplane's build, demo and tests need, pinned,
# idempotently.  A second run on a prepared machine finishes in about a second:
# every step first checks whether its result is already there.
#
#   scripts/deps.sh            Debian packages, MinIO + mc, npm packages
#   scripts/deps.sh --check    only report what is missing (exit 1 if any)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHECK=0
[ "${1:-}" = --check ] && CHECK=1

# Pinned versions.  MinIO and mc publish no semver module tags, so Go's
# pseudo-versions pin the exact commits.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MC_VERSION=v0.0.0-20250313080218-cf909e1063a9
HELM_VERSION=v3.22.0

APT_PACKAGES=(
    build-essential pkg-config clang libclang-rt-14-dev valgrind curl python3
    nats-server redis-server redis-tools
    libnats-dev libprotobuf-c-dev protobuf-c-compiler libuv1-dev libssl-dev
    libhiredis-dev libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev
    libxml2-dev libjwt-dev libgit2-dev librdkafka-dev libcmocka-dev
    libcjose-dev libyaml-dev
    golang-go nodejs npm
)

missing=()
status=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${APT_PACKAGES[@]}" 2>/dev/null || true)
for p in "${APT_PACKAGES[@]}"; do
    # golang-go, nodejs and npm may come from the machine image rather than
    # Debian; a working command is as good as the package.
    case $p in
        golang-go) command -v go >/dev/null && continue ;;
        nodejs) command -v node >/dev/null && continue ;;
        npm) command -v npm >/dev/null && continue ;;
    esac
    grep -qx "$p installed" <<<"$status" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ $CHECK = 1 ]; then echo "missing Debian packages: ${missing[*]}"; exit 1; fi
    echo "deps: installing Debian packages: ${missing[*]}"
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi

# kubectl (its built-in kustomize checks the rendered desired state in the
# provisioner's tests): the kubectl package where an apt source offers it,
# else Debian's own kubernetes-client.
if ! command -v kubectl >/dev/null; then
    if [ $CHECK = 1 ]; then echo "missing: kubectl"; exit 1; fi
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    echo "deps: installing kubectl"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq kubectl > /dev/null 2>&1 ||
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq kubernetes-client > /dev/null
fi

# MinIO and mc, installed the way MinIO recommends: go install, pinned.
GOBIN=${GOBIN:-$(go env GOPATH)/bin}
go_tool() { # name module version
    local name=$1 mod=$2 ver=$3 stamp="$GOBIN/.$1.version"
    if [ -x "$GOBIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$ver" ]; then return 0; fi
    if [ $CHECK = 1 ]; then echo "missing: $name $ver"; exit 1; fi
    echo "deps: go install $mod@$ver (takes a few minutes the first time)"
    (cd /tmp && GOFLAGS=-buildvcs=false go install "$mod@$ver")
    echo "$ver" > "$stamp"
}
go_tool minio github.com/minio/minio "$MINIO_VERSION"
go_tool mc github.com/minio/mc "$MC_VERSION"
# helm, for linting and rendering the chart in deploy/k8s.
go_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"

# npm packages for the end-to-end tests (official NATS and AWS S3 clients),
# installed from the committed lock file.
if [ -f "$ROOT/tests/e2e/package-lock.json" ]; then
    lock="$ROOT/tests/e2e/package-lock.json"
    stamp="$ROOT/tests/e2e/node_modules/.lock-sha"
    want=$(sha256sum "$lock" | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        if [ $CHECK = 1 ]; then echo "missing: npm packages for tests/e2e"; exit 1; fi
        echo "deps: npm ci in tests/e2e"
        (cd "$ROOT/tests/e2e" && npm ci --no-audit --no-fund --loglevel=error)
        echo "$want" > "$stamp"
    fi
fi
# npm packages for the Cedar differential tests (the reference implementation
# @cedar-policy/cedar-wasm), installed from the committed lock file.
if [ -f "$ROOT/tests/cedar/package-lock.json" ]; then
    lock="$ROOT/tests/cedar/package-lock.json"
    stamp="$ROOT/tests/cedar/node_modules/.lock-sha"
    want=$(sha256sum "$lock" | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        if [ $CHECK = 1 ]; then echo "missing: npm packages for tests/cedar"; exit 1; fi
        echo "deps: npm ci in tests/cedar"
        (cd "$ROOT/tests/cedar" && npm ci --no-audit --no-fund --loglevel=error)
        echo "$want" > "$stamp"
    fi
fi
[ $CHECK = 1 ] && echo "deps: all present"
exit 0
