// provisioner end to end: claims written into MinIO go through claim-ingest
// (claim.accepted / claim.deleted) into the provisioner, which renders the
// desired state into the state bucket and announces env.* transitions.  The
// stream itself (read back with a JetStream ordered consumer) is the event
// log that must hold every transition exactly once; the core-NATS EventLog
// also sees publishes that JetStream dropped as duplicates, so it is used to
// wait, not to count.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect } from 'nats';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import {
  EventLog, Service, s3, putObject, deleteObject, env, uniq, proto, metricValue,
} from './lib/harness.mjs';

const DYN = () => env('EP_BUCKET_DYNAMIC');
const STATE = 'platform-state';
// A durable of our own: the stream may hold other tests' events, which the
// provisioner then also works through (harmlessly).
const DURABLE = uniq('prov-e2e');
const PROV_ENV = { EP_DURABLE: DURABLE, EP_ACK_WAIT: '2s', EP_BUCKET_STATE: STATE };

let log, ingest, prov, client, nc, root;

function claim(name, services, over = {}) {
  return {
    user: 'john.doe@company.com',
    environment_pool: 'team1',
    creation_date: '2024-01-15T10:30:00Z',
    environment_name: name,
    environment_type: name.split('-')[0],
    expiration_date: null,
    services,
    ...over,
  };
}

const SEED_SERVICES = {
  'user-service': {
    version: 'v1.2.3',
    docker_image: 'artifactory/docker-releases/user-service:v1.2.3',
    ansible_artifact: 'artifactory/oci-releases/user-service-ansible:v1.2.3',
  },
  'auth-service': '^1.0.0.0',
  'api-gateway': '1.x.x.x',
};

const on = (subject, name, gen) => (e) => e.subject === subject && e.ce.subject === name &&
  (gen === undefined || e.data?.generation === gen);
const ready = (name, gen) => on('platform.env.v1.ready', name, gen);
const accepted = (name, gen) => on('platform.claim.v1.accepted', name, gen);

async function listKeys(prefix) {
  const keys = [];
  let token;
  do {
    const r = await client.send(new ListObjectsV2Command({ Bucket: STATE, Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) keys.push(o.Key);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

async function getText(key) {
  const r = await client.send(new GetObjectCommand({ Bucket: STATE, Key: key }));
  return r.Body.transformToString();
}

// Every env.* message the stream holds for the given environments.
async function streamTransitions(names) {
  const want = new Set(names);
  const T = root.lookupType('envplane.env.v1.EnvTransition');
  const js = nc.jetstream();
  const c = await js.consumers.get('PLATFORM', { filterSubjects: 'platform.env.v1.*' });
  const out = [];
  const msgs = await c.consume();
  for await (const m of msgs) {
    const subj = m.headers?.get('ce-subject');
    if (want.has(subj) && m.subject !== 'platform.env.v1.expiring' && m.subject !== 'platform.env.v1.expired' &&
        m.subject !== 'platform.env.v1.expiry_warning') {
      const d = T.toObject(T.decode(m.data), { enums: String, longs: Number, defaults: true, arrays: true });
      out.push({ subject: m.subject, env: subj, id: m.headers.get('ce-id'), gen: d.generation, data: d });
    }
    if (m.info.pending === 0) break;
  }
  await msgs.close?.();
  return out;
}

// Processing is serial and the stream ordered: once the provisioner has
// made ready a claim uploaded after X, X has been handled.
async function barrier() {
  const name = uniq('dev-barrier');
  await putObject(client, DYN(), `${name}.json`, claim(name, { web: 'v1.0.0' }));
  await log.waitFor(ready(name), `barrier ${name}`);
}

async function publishAccepted(name, generation, services, type = 'ENVIRONMENT_TYPE_DEV') {
  const T = root.lookupType('envplane.claim.v1.ClaimAccepted');
  const msg = T.fromObject({
    claim: {
      user: 'e2e@company.com', environmentPool: 'e2e', environmentName: name, environmentType: type,
      creationDate: '2024-01-15T10:30:00Z', deploymentMethod: 'platform',
      services: Object.entries(services).map(([n, v]) => ({ name: n, version: v })),
    },
    contentHash: `sha256:${String(generation).padStart(64, '0')}`,
    generation, source: 'CLAIM_SOURCE_DYNAMIC',
  });
  // A fresh message id: this is a second delivery as far as the stream is
  // concerned, exactly what a late or repeated event looks like.
  await nc.jetstream().publish('platform.claim.v1.accepted', T.encode(msg).finish(), { msgID: uniq('e2e-acc') });
}

before(async () => {
  root = await proto();
  log = await EventLog.open();
  nc = await connect({ servers: env('EP_NATS_URL'), name: 'e2e-provisioner' });
  client = s3();
  ingest = await new Service('claim-ingest', { EP_RESYNC_INTERVAL: '10m' }).start();
  prov = await new Service('provisioner', PROV_ENV).start();
});

after(async () => {
  if (prov) assert.equal(await prov.stop(), 0, 'provisioner exits 0 on SIGTERM');
  if (ingest) assert.equal(await ingest.stop(), 0, 'claim-ingest exits 0 on SIGTERM');
  if (log) await log.close();
  if (nc) await nc.drain();
  client?.destroy();
});

test('a dev claim ends in env.ready with its rendered documents in the state bucket', async () => {
  const name = uniq('dev-team1');
  await putObject(client, DYN(), `${name}.json`, claim(name, SEED_SERVICES));
  const rd = await log.waitFor(ready(name, 1), `env.ready ${name}`);
  const pv = await log.waitFor(on('platform.env.v1.provisioning', name, 1), `env.provisioning ${name}`);

  assert.equal(pv.ce.id, `env-provisioning/${name}/1`);
  assert.equal(pv.data.previousState, 'ENV_STATE_PENDING');
  assert.equal(rd.ce.id, `env-ready/${name}/1`);
  assert.equal(rd.headers['nats-msg-id'], rd.ce.id);
  assert.equal(rd.ce.source, '/envplane/provisioner');
  assert.equal(rd.data.state, 'ENV_STATE_READY');
  assert.equal(rd.data.previousState, 'ENV_STATE_PROVISIONING');
  assert.equal(rd.data.environmentType, 'ENVIRONMENT_TYPE_DEV');
  assert.equal(rd.data.source, 'CLAIM_SOURCE_DYNAMIC');
  assert.equal(rd.data.stateBucket, STATE);
  assert.equal(rd.data.statePrefix, `${name}/`);
  const expected = ['kustomization.yaml', 'cluster-claim.yaml', 'platform-bindings.yaml',
    'services/api-gateway.yaml', 'services/auth-service.yaml', 'services/user-service.yaml'].map((k) => `${name}/${k}`);
  assert.deepEqual([...rd.data.documents].sort(), [...expected].sort());
  assert.deepEqual(await listKeys(`${name}/`), [...expected].sort());

  const cluster = await getText(`${name}/cluster-claim.yaml`);
  assert.match(cluster, /^kind: EnvironmentCluster$/m);
  assert.match(cluster, /^ {2}highAvailability: false$/m);
  assert.match(cluster, /^ {4}profile: aggressive$/m);
  assert.match(cluster, /- name: spot\n/);
  assert.doesNotMatch(cluster, /- name: memory\n/);
  assert.match(cluster, /envplane.io\/generation: "1"/);
  const bindings = await getText(`${name}/platform-bindings.yaml`);
  for (const c of ['logging', 'monitoring', 'api-gateway', 'authorization']) {
    assert.match(bindings, new RegExp(`component: ${c}\\n`));
  }
  const user = await getText(`${name}/services/user-service.yaml`);
  assert.match(user, /kind: OCIRepository/);
  assert.match(user, /url: oci:\/\/artifactory\/oci-releases\/user-service-ansible/);
  assert.match(user, /pattern: \^v1\\\.2\\\.3\$/);
  const auth = await getText(`${name}/services/auth-service.yaml`);
  assert.match(auth, /range: '>=1\.0\.0, <2\.0\.0'/);

  // The set builds as a kustomization.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ep-prov-'));
  try {
    for (const k of expected) {
      const f = path.join(dir, k.slice(name.length + 1));
      fs.mkdirSync(path.dirname(f), { recursive: true });
      fs.writeFileSync(f, await getText(k));
    }
    const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
    assert.equal((out.match(/^kind: /gm) ?? []).length, 1 + 4 + 2 * 3 + 1, 'cluster + 4 bindings + 3 services (2 objects) + 1 OCI');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('staging and prod get dedicated components, Cloudflare WAF and HA', async () => {
  const stg = uniq('staging-qa');
  const prd = uniq('prod-eu');
  await putObject(client, DYN(), `${stg}.json`, claim(stg, { search: '>=1.2.0, <2.0.0' }));
  await putObject(client, DYN(), `${prd}.json`, claim(prd, { search: 'v2.0.1' }));
  const rs = await log.waitFor(ready(stg, 1), `env.ready ${stg}`);
  const rp = await log.waitFor(ready(prd, 1), `env.ready ${prd}`);
  for (const [name, ev] of [[stg, rs], [prd, rp]]) {
    const keys = ev.data.documents.map((k) => k.slice(name.length + 1)).sort();
    assert.deepEqual(keys, ['cloudflare-waf.yaml', 'cluster-claim.yaml', 'dedicated-stack.yaml',
      'kustomization.yaml', 'services/search.yaml']);
    const cluster = await getText(`${name}/cluster-claim.yaml`);
    assert.match(cluster, /^ {2}highAvailability: true$/m);
  }
  assert.match(await getText(`${stg}/cluster-claim.yaml`), /profile: moderate[\s\S]*- name: memory\n/);
  const prodCluster = await getText(`${prd}/cluster-claim.yaml`);
  assert.match(prodCluster, /profile: conservative/);
  for (const pool of ['general-restricted', 'general-public', 'memory', 'storage', 'spot', 'ai']) {
    assert.match(prodCluster, new RegExp(`- name: ${pool}\\n`));
  }
});

test('upgrading a claim renders a new generation; the same bytes again change nothing', async () => {
  const name = uniq('dev-upgrade');
  await putObject(client, DYN(), `${name}.json`, claim(name, { a: 'v1.0.0', b: '^1.0.0', c: '*' }));
  await log.waitFor(ready(name, 1), `env.ready ${name} gen 1`);
  assert.deepEqual(await listKeys(`${name}/services/`), ['a', 'b', 'c'].map((s) => `${name}/services/${s}.yaml`));

  // New versions, one service dropped: generation 2, and c's document goes.
  const v2 = claim(name, { a: 'v1.1.0', b: '~1.4' });
  await putObject(client, DYN(), `${name}.json`, v2);
  const r2 = await log.waitFor(ready(name, 2), `env.ready ${name} gen 2`);
  assert.equal(r2.ce.id, `env-ready/${name}/2`);
  assert.deepEqual(await listKeys(`${name}/services/`), ['a', 'b'].map((s) => `${name}/services/${s}.yaml`));
  const a = await getText(`${name}/services/a.yaml`);
  assert.match(a, /envplane.io\/generation: "2"/);
  assert.match(a, /pattern: \^v1\\\.1\\\.0\$/);
  assert.match(await getText(`${name}/services/b.yaml`), /range: '>=1\.4\.0, <1\.5\.0'/);

  // The same bytes again: claim-ingest makes no generation 3, and nothing
  // happens here either.
  await putObject(client, DYN(), `${name}.json`, v2);
  await barrier();
  assert.equal(log.matching((e) => e.ce.subject === name && e.data?.generation === 3).length, 0);
  const t = await streamTransitions([name]);
  assert.deepEqual(t.map((x) => `${x.subject.split('.').pop()}/${x.gen}`),
    ['provisioning/1', 'ready/1', 'provisioning/2', 'ready/2']);
});

test('an older generation arriving late, or an event delivered twice, changes nothing', async () => {
  const name = uniq('dev-late');
  await publishAccepted(name, 1, { a: 'v1.0.0' });
  await log.waitFor(ready(name, 1), `env.ready ${name} gen 1`);
  await publishAccepted(name, 3, { a: 'v3.0.0' });
  await log.waitFor(ready(name, 3), `env.ready ${name} gen 3`);
  await publishAccepted(name, 2, { a: 'v2.0.0' });   // late
  await publishAccepted(name, 3, { a: 'v3.0.0' });   // twice
  await publishAccepted(name, 1, { a: 'v1.0.0' });   // very late
  await barrier();
  assert.match(await getText(`${name}/services/a.yaml`), /pattern: \^v3\\\.0\\\.0\$/);
  const t = await streamTransitions([name]);
  assert.deepEqual(t.map((x) => `${x.subject.split('.').pop()}/${x.gen}`),
    ['provisioning/1', 'ready/1', 'provisioning/3', 'ready/3']);
  assert.ok(metricValue(await prov.metrics(), 'provisioner_stale_total') >= 1);
});

test('deleting the claim removes the rendered state and ends in env.deleted', async () => {
  const name = uniq('dev-gone');
  await putObject(client, DYN(), `${name}.json`, claim(name, { a: 'v1.0.0', b: 'v2.0.0' }));
  await log.waitFor(ready(name, 1), `env.ready ${name}`);
  assert.ok((await listKeys(`${name}/`)).length > 0);
  await deleteObject(client, DYN(), `${name}.json`);
  const del = await log.waitFor(on('platform.env.v1.deleted', name, 1), `env.deleted ${name}`);
  assert.equal(del.ce.id, `env-deleted/${name}/1`);
  assert.equal(del.data.reason, 'claim deleted');
  assert.equal(del.data.previousState, 'ENV_STATE_DEPROVISIONING');
  assert.deepEqual(await listKeys(`${name}/`), []);

  // Re-delivery of the deletion is harmless; a re-created claim starts over
  // with the next generation.
  await putObject(client, DYN(), `${name}.json`, claim(name, { a: 'v1.0.0' }));
  await log.waitFor(ready(name, 2), `env.ready ${name} gen 2 after re-creation`);
  const t = await streamTransitions([name]);
  assert.deepEqual(t.map((x) => `${x.subject.split('.').pop()}/${x.gen}`),
    ['provisioning/1', 'ready/1', 'deprovisioning/1', 'deleted/1', 'provisioning/2', 'ready/2']);
  assert.deepEqual(await listKeys(`${name}/`), [`${name}/cluster-claim.yaml`, `${name}/kustomization.yaml`,
    `${name}/platform-bindings.yaml`, `${name}/services/a.yaml`]);
});

async function publishExpired(name, generation, claimDeleted) {
  const T = root.lookupType('envplane.env.v1.EnvExpiry');
  const msg = T.fromObject({
    environmentName: name, generation, expirationDate: '2024-01-16T10:30:00Z', source: 'CLAIM_SOURCE_DYNAMIC',
    secondsLeft: 0, claimDeleted,
  });
  await nc.jetstream().publish('platform.env.v1.expired', T.encode(msg).finish(), { msgID: uniq('e2e-exp') });
}

test('an expiry that deleted the claim deprovisions; one that did not is ignored', async () => {
  const kept = uniq('sue-kept');
  const gone = uniq('sue-gone');
  await publishAccepted(kept, 1, { a: 'v1.0.0' }, 'ENVIRONMENT_TYPE_SUE');
  await publishAccepted(gone, 1, { a: 'v1.0.0' }, 'ENVIRONMENT_TYPE_SUE');
  await log.waitFor(ready(gone, 1), `env.ready ${gone}`);
  await publishExpired(kept, 1, false);
  await publishExpired(gone, 1, true);
  const del = await log.waitFor(on('platform.env.v1.deleted', gone, 1), `env.deleted ${gone}`);
  assert.equal(del.data.reason, 'expired');
  assert.equal(del.data.environmentType, 'ENVIRONMENT_TYPE_SUE');
  assert.deepEqual(await listKeys(`${gone}/`), []);
  // claim-ingest's claim.deleted for the same generation follows: no-op.
  const T = root.lookupType('envplane.claim.v1.ClaimDeleted');
  await nc.jetstream().publish('platform.claim.v1.deleted',
    T.encode(T.fromObject({ environmentName: gone, generation: 1, source: 'CLAIM_SOURCE_DYNAMIC' })).finish(),
    { msgID: uniq('e2e-del') });
  await barrier();
  const t = await streamTransitions([kept, gone]);
  assert.deepEqual(t.filter((x) => x.env === gone).map((x) => `${x.subject.split('.').pop()}/${x.gen}`),
    ['provisioning/1', 'ready/1', 'deprovisioning/1', 'deleted/1']);
  assert.deepEqual(t.filter((x) => x.env === kept).map((x) => `${x.subject.split('.').pop()}/${x.gen}`),
    ['provisioning/1', 'ready/1']);
  assert.ok((await listKeys(`${kept}/`)).length > 0);
});

async function uploadBatch(names, services) {
  const queue = [...names];
  const workers = Array.from({ length: 16 }, async () => {
    while (queue.length) {
      const n = queue.shift();
      await putObject(client, DYN(), `${n}.json`, claim(n, services));
    }
  });
  await Promise.all(workers);
}

test('throughput: 200 claims through claim-ingest alone, then through the provisioner alone', async () => {
  const batch = Array.from({ length: 200 }, (_, i) => `dev-tp-${DURABLE.slice(9)}-${i}`);
  assert.equal(await prov.stop(), 0);
  prov = null;
  const t0 = performance.now();
  await uploadBatch(batch, { web: 'v1.0.0', api: '^2.1.0', worker: '*' });
  await Promise.all(batch.map((n) => log.waitFor(accepted(n, 1), `accepted ${n}`, 120000)));
  const tIngest = performance.now();
  prov = await new Service('provisioner', PROV_ENV).start();
  const t1 = performance.now();
  await Promise.all(batch.map((n) => log.waitFor(ready(n, 1), `ready ${n}`, 120000)));
  const t2 = performance.now();
  const ingestRate = 200 / ((tIngest - t0) / 1000);
  const provRate = 200 / ((t2 - t1) / 1000);
  console.log(`# throughput: claim-ingest ${ingestRate.toFixed(0)} claims/s (upload + accept), ` +
    `provisioner ${provRate.toFixed(0)} claims/s (render 5 documents + state + 2 events), ratio ${(provRate / ingestRate).toFixed(2)}`);
  const m = await prov.metrics();
  const sum = metricValue(m, 'provisioner_apply_seconds_sum');
  const cnt = metricValue(m, 'provisioner_apply_seconds_count');
  console.log(`# provisioner: ${(1000 * sum / cnt).toFixed(1)} ms per generation in render + state bucket + Redis + events`);
  assert.ok(provRate > 0);
});

test('kill -9 in the middle of a batch of 200 claims: every claim reaches ready exactly once', async () => {
  const batch = Array.from({ length: 200 }, (_, i) => `dev-k9-${DURABLE.slice(9)}-${i}`);
  const seen = new Set(batch);
  let readyCount = 0;
  const killAt = new Promise((resolve) => {
    log.waitFor((e) => {
      if (e.subject === 'platform.env.v1.ready' && seen.has(e.ce.subject)) readyCount++;
      return readyCount >= 60;
    }, 'sixty ready', 120000).then(resolve);
  });
  const upload = uploadBatch(batch, { web: 'v1.0.0', api: '^2.1.0' });
  await killAt;
  prov.proc.kill('SIGKILL');
  await prov.exited;
  const readyAtKill = readyCount;
  await upload;
  prov = await new Service('provisioner', PROV_ENV).start();
  await Promise.all(batch.map((n) => log.waitFor(ready(n, 1), `ready ${n} after restart`, 120000)));
  console.log(`# kill -9 after ${readyAtKill} of 200 ready; all 200 ready after restart`);

  const t = await streamTransitions(batch);
  const per = new Map(batch.map((n) => [n, []]));
  for (const x of t) per.get(x.env).push(`${x.subject.split('.').pop()}/${x.gen}`);
  for (const [n, list] of per) {
    assert.deepEqual(list, ['provisioning/1', 'ready/1'], `transitions of ${n}`);
  }
  const keys = await listKeys('dev-k9-');
  for (const n of batch) assert.ok(keys.includes(`${n}/kustomization.yaml`), `${n} rendered`);
});

test('a state bucket that cannot be written ends the generation in env.failed after bounded retries', async () => {
  // The provisioner restarted with a wrong bucket (a real failure, nothing
  // injected): same durable and Redis, so it takes over where the first
  // one stopped.  Each write failure is retried by redelivery (back-off
  // 0.4 s, 0.8 s, 1.6 s, 3.2 s); the last delivery ends in env.failed.
  assert.equal(await prov.stop(), 0);
  prov = null;
  const broken = await new Service('provisioner', {
    ...PROV_ENV, EP_BUCKET_STATE: 'no-such-state-bucket', EP_CREATE_BUCKET: 'false',
  }).start();
  try {
    const name = uniq('dev-broken');
    await publishAccepted(name, 1, { a: 'v1.0.0' });
    const f = await log.waitFor(on('platform.env.v1.failed', name, 1), `env.failed ${name}`, 60000);
    assert.equal(f.ce.id, `env-failed/${name}/1`);
    assert.equal(f.data.state, 'ENV_STATE_FAILED');
    assert.equal(f.data.previousState, 'ENV_STATE_PROVISIONING');
    assert.match(f.data.reason, /no-such-state-bucket/);
    assert.equal(log.matching(ready(name)).length, 0);
    assert.equal(metricValue(await broken.metrics(), 'provisioner_failed_total'), 1);
    const t = await streamTransitions([name]);
    assert.deepEqual(t.map((x) => `${x.subject.split('.').pop()}/${x.gen}`), ['provisioning/1', 'failed/1']);
  } finally {
    assert.equal(await broken.stop(), 0);
  }
  prov = await new Service('provisioner', PROV_ENV).start();
});
