// claim-ingest end to end: claims written with the AWS SDK S3 client into
// MinIO, notifications delivered by MinIO's own NATS target, events observed
// with the NATS JavaScript client and decoded with protobufjs from proto/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  EventLog, Service, s3, putObject, deleteObject, env, uniq, metricValue,
} from './lib/harness.mjs';
import { connect, headers as natsHeaders } from 'nats';
import {
  GetBucketNotificationConfigurationCommand, PutBucketNotificationConfigurationCommand,
} from '@aws-sdk/client-s3';

const DYN = () => env('EP_BUCKET_DYNAMIC');
const STATIC = () => env('EP_BUCKET_STATIC');

let log, svc, client;

function claim(name, over = {}) {
  return {
    user: 'john.doe@Company.com',
    environment_pool: 'team1',
    creation_date: '2024-01-15T10:30:00Z',
    environment_name: name,
    environment_type: name.split('-')[0] === 'stage' ? 'staging' : name.split('-')[0],
    expiration_date: null,
    services: { 'user-service': 'v1.2.3', 'auth-service': 'v2.1.0', 'api-gateway': '^1.0.0.0' },
    ...over,
  };
}

const accepted = (name) => (e) => e.subject === 'platform.claim.v1.accepted' && e.ce.subject === name;
const rejectedKey = (key) => (e) => e.subject === 'platform.claim.v1.rejected' && e.data.object.key === key;
const deleted = (name) => (e) => e.subject === 'platform.claim.v1.deleted' && e.ce.subject === name;

// Processing is serial and the notification stream is ordered, so once the
// accepted event of a claim uploaded *after* X is seen, X has been handled.
async function barrier() {
  const name = uniq('dev-barrier');
  await putObject(client, DYN(), `${name}.json`, claim(name));
  await log.waitFor(accepted(name), `barrier ${name}`);
}

before(async () => {
  log = await EventLog.open();
  client = s3();
  svc = await new Service('claim-ingest', { EP_RESYNC_INTERVAL: '10m' }).start();
});

after(async () => {
  if (svc) assert.equal(await svc.stop(), 0, 'claim-ingest exits 0 on SIGTERM');
  if (log) await log.close();
  client?.destroy();
});

test('a valid claim becomes claim.accepted with CloudEvents headers and a decodable payload', async () => {
  const name = uniq('dev-team1');
  await putObject(client, DYN(), `${name}.json`, claim(name));
  const ev = await log.waitFor(accepted(name), `accepted ${name}`);

  assert.equal(ev.ce.specversion, '1.0');
  assert.equal(ev.ce.type, 'io.envplane.claim.v1.accepted');
  assert.equal(ev.ce.source, '/envplane/claim-ingest');
  assert.equal(ev.ce.subject, name);
  assert.equal(ev.ce.id, `claim-accepted/${name}/1`);
  assert.equal(ev.headers['nats-msg-id'], ev.ce.id, 'the ce-id is the de-duplication id');
  assert.match(ev.ce.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assert.equal(ev.headers['content-type'], 'application/protobuf');

  const d = ev.data;
  assert.equal(d.generation, 1);
  assert.match(d.contentHash, /^sha256:[0-9a-f]{64}$/);
  assert.equal(d.source, 'CLAIM_SOURCE_DYNAMIC');
  assert.equal(d.object.bucket, DYN());
  assert.equal(d.object.key, `${name}.json`);
  assert.equal(d.claim.environmentName, name);
  assert.equal(d.claim.environmentType, 'ENVIRONMENT_TYPE_DEV');
  assert.equal(d.claim.user, 'john.doe@company.com', 'domain lower-cased');
  assert.equal(d.claim.creationDate, '2024-01-15T10:30:00Z');
  assert.equal(d.claim.expirationDate, '', 'dev never expires');
  assert.deepEqual(d.claim.services.map((s) => [s.name, s.version, s.kind]), [
    ['api-gateway', '^1.0.0.0', 'CONSTRAINT_KIND_CARET'],
    ['auth-service', 'v2.1.0', 'CONSTRAINT_KIND_TAG'],
    ['user-service', 'v1.2.3', 'CONSTRAINT_KIND_TAG'],
  ]);
});

test('sue claims expire 24 h after creation by default; static claims say so', async () => {
  const name = uniq('sue-poc');
  // Static claims come from GitOps: they name their repository.
  await putObject(client, STATIC(), `${name}-claim.json`, claim(name, {
    services: { svc: '*' }, deployment_method: 'git',
    git_repository: 'https://git.example.com/platform/sue-environments', branch: 'main',
  }));
  const ev = await log.waitFor(accepted(name), `accepted ${name}`);
  assert.equal(ev.data.claim.expirationDate, '2024-01-16T10:30:00Z');
  assert.equal(ev.data.source, 'CLAIM_SOURCE_STATIC');
  assert.equal(ev.data.claim.services[0].kind, 'CONSTRAINT_KIND_LATEST');
  assert.equal(ev.data.claim.deploymentMethod, 'git');
});

test('a static claim without its git repository is rejected', async () => {
  const name = uniq('prod-main');
  await putObject(client, STATIC(), `${name}.json`, claim(name));
  const ev = await log.waitFor(rejectedKey(`${name}.json`), `rejection of ${name}`);
  assert.equal(ev.data.source, 'CLAIM_SOURCE_STATIC');
  assert.ok(ev.data.errors.some((e) => e.field === 'git_repository' && e.code === 'required'));
});

test('re-uploading identical content is a no-op; a change is a new generation', async () => {
  const name = uniq('staging-qa');
  const body = claim(name);
  await putObject(client, DYN(), `${name}.json`, body);
  await log.waitFor(accepted(name), `accepted ${name}`);

  // Same content, different bytes (key order, whitespace): still a no-op.
  const reordered = JSON.stringify(Object.fromEntries(Object.entries(body).reverse()), null, 2);
  await putObject(client, DYN(), `${name}.json`, body);
  await putObject(client, DYN(), `${name}.json`, reordered);
  await barrier();
  assert.equal(log.matching(accepted(name)).length, 1, 'no new generation for identical content');

  await putObject(client, DYN(), `${name}.json`, claim(name, { services: { 'user-service': '>=1.2.0, <2.0.0' } }));
  const ev2 = await log.waitFor((e) => accepted(name)(e) && e.data.generation === 2, `generation 2 of ${name}`);
  assert.equal(ev2.data.claim.services[0].kind, 'CONSTRAINT_KIND_RANGE');
  assert.notEqual(ev2.data.contentHash, log.matching(accepted(name))[0].data.contentHash);
});

// Twenty malformed claims, each with the field errors it must produce.
const MALFORMED = [
  ['not JSON at all', () => 'this is not json', [['', 'syntax']]],
  ['a JSON array', () => '[1,2,3]', [['', 'syntax']]],
  ['truncated JSON', (n) => JSON.stringify(claim(n)).slice(0, 40), [['', 'syntax']]],
  ['duplicate keys', (n) => JSON.stringify(claim(n)).replace('{', '{"user":"a@b.co",'), [['', 'syntax']]],
  ['user missing', (n) => { const c = claim(n); delete c.user; return c; }, [['user', 'required']]],
  ['user not an e-mail', (n) => claim(n, { user: 'john' }), [['user', 'format']]],
  ['user of the wrong type', (n) => claim(n, { user: 42 }), [['user', 'type']]],
  ['pool not a DNS label', (n) => claim(n, { environment_pool: 'Team 1' }), [['environment_pool', 'format']]],
  ['unknown environment type', (n) => claim(n, { environment_type: 'qa' }), [['environment_type', 'value']]],
  ['name prefix disagrees with type', (n) => claim(n, { environment_type: 'prod' }), [['environment_name', 'mismatch']]],
  ['name does not match the key', (n) => claim(n, { environment_name: 'dev-somebody-else' }), [['environment_name', 'mismatch']]],
  ['creation date not RFC 3339', (n) => claim(n, { creation_date: 'yesterday' }), [['creation_date', 'format']]],
  ['creation date impossible', (n) => claim(n, { creation_date: '2024-02-30T10:00:00Z' }), [['creation_date', 'format']]],
  ['expiry before creation', (n) => claim(n, { expiration_date: '2024-01-01T00:00:00Z' }), [['expiration_date', 'value']]],
  ['services missing', (n) => { const c = claim(n); delete c.services; return c; }, [['services', 'required']]],
  ['services of the wrong type', (n) => claim(n, { services: 'all of them' }), [['services', 'type']]],
  ['malformed version range', (n) => claim(n, { services: { 'user-service': '>= abc' } }), [['services.user-service', 'format']]],
  ['service object without version', (n) => claim(n, { services: { 'user-service': { docker_image: 'x' } } }), [['services.user-service.version', 'required']]],
  ['three errors at once', (n) => claim(n, { user: '', environment_type: 'qa', creation_date: 'soon' }),
    [['user', 'required'], ['environment_type', 'value'], ['creation_date', 'format']]],
  ['object over the size limit', (n) => claim(n, { padding: 'x'.repeat(70 * 1024) }), [['', 'too_large']]],
];

test('twenty malformed claims give twenty rejections naming every field error', async () => {
  const keys = [];
  for (const [i, [, make]] of MALFORMED.entries()) {
    const name = uniq(`dev-bad${i}`);
    const key = `${name}.json`;
    keys.push(key);
    const body = make(name);
    await putObject(client, DYN(), key, typeof body === 'string' ? body : JSON.stringify(body));
  }
  for (const [i, [what, , want]] of MALFORMED.entries()) {
    const ev = await log.waitFor(rejectedKey(keys[i]), `rejection of "${what}"`);
    const got = ev.data.errors.map((e) => [e.field, e.code]);
    for (const w of want) {
      assert.ok(got.some(([f, c]) => f === w[0] && c === w[1]),
        `"${what}": expected error ${JSON.stringify(w)} among ${JSON.stringify(ev.data.errors)}`);
    }
    for (const e of ev.data.errors) assert.ok(e.message.length > 0, `"${what}": every error has a message`);
    assert.equal(ev.ce.type, 'io.envplane.claim.v1.rejected');
    assert.match(ev.data.contentHash, /^sha256:[0-9a-f]{64}$/);
  }
  assert.equal(log.matching((e) => e.subject === 'platform.claim.v1.rejected' && keys.includes(e.data.object.key)).length, 20);
  assert.equal(log.matching((e) => e.subject === 'platform.claim.v1.accepted' && keys.includes(e.data.object.key)).length, 0);
});

test('object keys arrive URL-encoded from MinIO and are decoded', async () => {
  const key = `odd key+${uniq('x')} %41.json`;
  await putObject(client, DYN(), key, '{}');
  const ev = await log.waitFor(rejectedKey(key), `rejection of "${key}"`);
  assert.equal(ev.data.object.key, key);
});

test('a rejected update keeps the accepted claim', async () => {
  const name = uniq('dev-keep');
  await putObject(client, DYN(), `${name}.json`, claim(name));
  await log.waitFor(accepted(name), `accepted ${name}`);
  await putObject(client, DYN(), `${name}.json`, claim(name, { user: 'nobody' }));
  await log.waitFor(rejectedKey(`${name}.json`), `rejection of ${name}`);
  // Restoring the accepted content is not a new generation: it never left.
  await putObject(client, DYN(), `${name}.json`, claim(name));
  await barrier();
  assert.equal(log.matching(accepted(name)).length, 1);
  assert.equal(log.matching(deleted(name)).length, 0);
});

test('deleting a claim object gives claim.deleted with the last generation', async () => {
  const name = uniq('dev-gone');
  await putObject(client, DYN(), `${name}.json`, claim(name));
  await log.waitFor(accepted(name), `accepted ${name}`);
  await deleteObject(client, DYN(), `${name}.json`);
  const ev = await log.waitFor(deleted(name), `deleted ${name}`);
  assert.equal(ev.data.generation, 1);
  assert.equal(ev.data.environmentName, name);
  assert.equal(ev.ce.id, `claim-deleted/${name}/1`);
});

test('a malformed bucket notification is dead-lettered with its reason', async () => {
  const nc = await connect({ servers: env('EP_NATS_URL') });
  const js = nc.jetstream();
  const h = natsHeaders();
  h.set('x-test', 'garbage');
  await js.publish(env('EP_NOTIFY_SUBJECT'), new TextEncoder().encode('{"Records": 7}'), { headers: h });
  const ev = await log.waitFor((e) => e.subject === 'platform.dlq.v1.claim-ingest' && e.headers['x-test'] === 'garbage',
    'dead-lettered notification');
  assert.match(decodeURIComponent(ev.headers['ep-dlq-reason']), /Records/);
  assert.equal(ev.headers['ep-dlq-subject'], env('EP_NOTIFY_SUBJECT'));
  await nc.close();
  // The service is still there and still working.
  await barrier();
  assert.ok(metricValue(await svc.metrics(), 'claim_ingest_notifications_malformed_total') >= 1);
});

test('claims written while claim-ingest is down are accepted exactly once after restart', async () => {
  assert.equal(await svc.stop(), 0);
  const name = uniq('dev-offline');
  await putObject(client, DYN(), `${name}.json`, claim(name));
  svc = await new Service('claim-ingest', { EP_RESYNC_INTERVAL: '10m' }).start();
  await log.waitFor(accepted(name), `accepted ${name} after restart`);
  await barrier();
  const evs = log.matching(accepted(name));
  assert.equal(evs.length, 1, 'exactly once');
  assert.equal(evs[0].data.generation, 1);
});

test('an object that vanished before it could be read is skipped with a reason', async () => {
  // A well-formed notification, as MinIO sends it, for a key that is not there.
  const name = uniq('dev-ghost');
  const note = {
    EventName: 's3:ObjectCreated:Put',
    Key: `${DYN()}/${name}.json`,
    Records: [{
      eventVersion: '2.0', eventSource: 'minio:s3', awsRegion: '', eventTime: new Date().toISOString(),
      eventName: 's3:ObjectCreated:Put', userIdentity: { principalId: 'envplane' },
      s3: {
        s3SchemaVersion: '1.0', configurationId: 'Config',
        bucket: { name: DYN(), ownerIdentity: { principalId: 'envplane' }, arn: `arn:aws:s3:::${DYN()}` },
        object: { key: `${name}.json`, size: 10, eTag: 'd41d8cd98f00b204e9800998ecf8427e', sequencer: '1800000000000000' },
      },
    }],
  };
  const before = metricValue(await svc.metrics(), 'claim_ingest_objects_vanished_total');
  const nc = await connect({ servers: env('EP_NATS_URL') });
  await nc.jetstream().publish(env('EP_NOTIFY_SUBJECT'), new TextEncoder().encode(JSON.stringify(note)));
  await nc.close();
  await barrier();
  assert.equal(metricValue(await svc.metrics(), 'claim_ingest_objects_vanished_total'), before + 1);
  assert.equal(log.matching((e) => e.ce.subject === name).length, 0, 'no event for a vanished object');
  assert.ok(svc.lines.some((l) => l.includes('vanished') && l.includes(name)), 'the log says why');
});

test('a lost notification is repaired by the periodic resync', async () => {
  assert.equal(await svc.stop(), 0);
  svc = await new Service('claim-ingest', { EP_RESYNC_INTERVAL: '1s' }).start();
  // Switch the bucket's notifications off with the S3 API, so MinIO sends
  // nothing for the next writes: exactly a lost notification.
  const saved = await client.send(new GetBucketNotificationConfigurationCommand({ Bucket: DYN() }));
  assert.ok((saved.QueueConfigurations ?? []).length > 0, 'the stack configured bucket notifications');
  await client.send(new PutBucketNotificationConfigurationCommand({ Bucket: DYN(), NotificationConfiguration: {} }));
  const name = uniq('dev-lost');
  try {
    await putObject(client, DYN(), `${name}.json`, claim(name));
    const ev = await log.waitFor(accepted(name), `accepted ${name} through resync`);
    assert.equal(ev.data.generation, 1);
    await deleteObject(client, DYN(), `${name}.json`);
    await log.waitFor(deleted(name), `deleted ${name} through resync`);
  } finally {
    await client.send(new PutBucketNotificationConfigurationCommand({
      Bucket: DYN(),
      NotificationConfiguration: { QueueConfigurations: saved.QueueConfigurations },
    }));
  }
  assert.ok(metricValue(await svc.metrics(), 'claim_ingest_resync_repaired_total') >= 2);
  // Notifications flow again.
  await barrier();
});
