#!/usr/bin/env bash
# check-deploy.sh — validate what we ship for users but cannot run here (no
# Docker engine, no cluster): the Helm chart lints and renders, every
# rendered object has apiVersion/kind/metadata.name, and docker-compose.yml is
# well-formed with every envplane service wired to the stack.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$HOME/go/bin:$PATH"
pass=0; fail=0
check() { # title cmd...
    local title=$1; shift
    if "$@" > /tmp/envplane-check.log 2>&1; then pass=$((pass + 1)); echo "ok   $title"
    else fail=$((fail + 1)); echo "FAIL $title"; sed 's/^/     /' /tmp/envplane-check.log | tail -20; fi
}
check "helm lint deploy/k8s/envplane" helm lint --strict deploy/k8s/envplane
check "helm template renders" bash -c 'helm template envplane deploy/k8s/envplane > /tmp/envplane-rendered.yaml'
check "rendered objects are complete" python3 - <<'PY'
import yaml, sys
docs = [d for d in yaml.safe_load_all(open('/tmp/envplane-rendered.yaml')) if d]
kinds = {}
for d in docs:
    for k in ('apiVersion', 'kind', 'metadata'):
        assert k in d, f"object without {k}: {d}"
    assert d['metadata'].get('name'), f"unnamed {d['kind']}"
    kinds[d['kind']] = kinds.get(d['kind'], 0) + 1
    if d['kind'] == 'Deployment':
        c = d['spec']['template']['spec']['containers'][0]
        assert c['readinessProbe']['httpGet']['path'] == '/readyz'
        assert c['livenessProbe']['httpGet']['path'] == '/healthz'
        assert c['securityContext']['readOnlyRootFilesystem'] is True
assert kinds.get('Deployment', 0) >= 4, kinds
print(kinds)
PY
check "docker-compose.yml is well-formed" python3 - <<'PY'
import yaml
c = yaml.safe_load(open('docker-compose.yml'))
svcs = c['services']
for name in ('nats', 'redis', 'minio', 'setup', 'streams', 'claim-ingest', 'provisioner', 'indexer', 'expirer'):
    assert name in svcs, f"service {name} missing"
env = svcs['minio']['environment']
assert env['MINIO_NOTIFY_NATS_JETSTREAM_ENVPLANE'] == 'on'
for name, s in svcs.items():
    for dep in (s.get('depends_on') or {}):
        assert dep in svcs, f"{name} depends on unknown {dep}"
print(sorted(svcs))
PY
echo "deploy: $pass passed, $fail failed"
[ $fail -eq 0 ]
