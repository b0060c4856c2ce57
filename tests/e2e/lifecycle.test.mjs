// The whole lifecycle across services, as a platform user and another team
// would see it: claim-ingest, provisioner, indexer and expirer running
// together; claims written with the AWS SDK; events and index queries over
// NATS with the official JavaScript client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ListObjectsV2Command, HeadObjectCommand } from '@aws-sdk/client-s3';
import { connect } from 'nats';
import { EventLog, Service, s3, putObject, env, uniq, proto } from './lib/harness.mjs';

const DYN = () => env('EP_BUCKET_DYNAMIC');
const STATIC = () => env('EP_BUCKET_STATIC');
const STATE = () => env('EP_BUCKET_STATE');

let log, client, nc, root;
const services = [];

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

function claim(name, type, over = {}) {
  return {
    user: `${name}@company.com`, environment_pool: 'lifecycle', creation_date: iso(Date.now() - 1000),
    environment_name: name, environment_type: type, expiration_date: null,
    services: { 'user-service': 'v1.2.3', 'auth-service': '^2.0.0' }, ...over,
  };
}

const on = (subject, name) => (e) => e.subject === subject && e.ce.subject === name;

async function query(q) {
  const Query = root.lookupType('envplane.index.v1.Query');
  const Reply = root.lookupType('envplane.index.v1.QueryReply');
  const m = await nc.request('platform.index.v1.query', Query.encode(Query.fromObject(q)).finish(), { timeout: 5000 });
  return Reply.toObject(Reply.decode(m.data), { enums: String, longs: Number, defaults: true, arrays: true });
}

async function keysUnder(prefix) {
  const out = await client.send(new ListObjectsV2Command({ Bucket: STATE(), Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key).sort();
}

async function exists(bucket, key) {
  try {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (e) {
    if (e.$metadata?.httpStatusCode === 404) return false;
    throw e;
  }
}

before(async () => {
  root = await proto();
  log = await EventLog.open();
  client = s3();
  nc = await connect({ servers: env('EP_NATS_URL') });
  for (const [name, extra] of [
    ['claim-ingest', {}], ['provisioner', {}], ['indexer', {}],
    ['expirer', { EP_LEAD_TIME: '2s' }],
  ]) {
    services.push(await new Service(name, extra).start());
  }
});

after(async () => {
  for (const s of services.reverse()) assert.equal(await s.stop(), 0, `${s.name} exits 0 on SIGTERM`);
  await nc?.close();
  await log?.close();
  client?.destroy();
});

test('a dev claim ends ready, with its rendered state and an index entry found by user and by type', async () => {
  const name = uniq('dev-life');
  await putObject(client, DYN(), `${name}.json`, claim(name, 'dev'));
  await log.waitFor(on('platform.env.v1.provisioning', name), `provisioning ${name}`);
  const ready = await log.waitFor(on('platform.env.v1.ready', name), `ready ${name}`);
  assert.equal(ready.data.generation, 1);
  assert.ok(ready.data.documents.length >= 2, 'rendered documents are listed');
  assert.deepEqual(await keysUnder(`${name}/`), ready.data.documents.slice().sort());

  await log.waitFor((e) => e.subject === 'platform.index.v1.updated' && e.data.doc?.environmentName === name
    && e.data.doc.state === 'ENV_STATE_READY', `index entry of ${name} ready`);
  const byUser = await query({ user: `${name}@company.com` });
  assert.deepEqual(byUser.items.map((d) => d.environmentName), [name]);
  assert.equal(byUser.items[0].state, 'ENV_STATE_READY');
  const byType = await query({ environmentType: 'ENVIRONMENT_TYPE_DEV', environmentPool: 'lifecycle' });
  assert.ok(byType.items.some((d) => d.environmentName === name));
  assert.ok(byType.items.every((d) => d.environmentType === 'ENVIRONMENT_TYPE_DEV'));

  // An upgrade is a new generation with new rendered state; the same
  // bytes again change nothing.
  const up = claim(name, 'dev', { services: { 'user-service': 'v1.3.0' } });
  await putObject(client, DYN(), `${name}.json`, up);
  const ready2 = await log.waitFor((e) => on('platform.env.v1.ready', name)(e) && e.data.generation === 2, `ready ${name} gen 2`);
  assert.deepEqual(await keysUnder(`${name}/`), ready2.data.documents.slice().sort());
  await putObject(client, DYN(), `${name}.json`, up);
  const other = uniq('dev-barrier');
  await putObject(client, DYN(), `${other}.json`, claim(other, 'dev'));
  await log.waitFor(on('platform.env.v1.ready', other), `ready ${other}`);
  assert.equal(log.matching(on('platform.env.v1.ready', name)).length, 2, 'identical bytes: no third generation');
});

test('a sue claim with a 3-second expiration goes expiring, expired, deleted and leaves bucket and index', async () => {
  const name = uniq('sue-short');
  const now = Date.now();
  await putObject(client, DYN(), `${name}.json`,
    claim(name, 'sue', { creation_date: iso(now - 1000), expiration_date: iso(now + 3000) }));
  await log.waitFor(on('platform.env.v1.ready', name), `ready ${name}`);
  await log.waitFor(on('platform.env.v1.expiring', name), `expiring ${name}`);
  const expired = await log.waitFor(on('platform.env.v1.expired', name), `expired ${name}`, 30000);
  assert.equal(expired.data.claimDeleted, true);
  await log.waitFor(on('platform.claim.v1.deleted', name), `claim deleted ${name}`);
  const del = await log.waitFor(on('platform.env.v1.deleted', name), `env deleted ${name}`);
  assert.equal(del.data.generation, 1);
  assert.equal(await exists(DYN(), `${name}.json`), false, 'the claim object is gone');
  assert.deepEqual(await keysUnder(`${name}/`), [], 'the rendered state is gone');
  await log.waitFor((e) => e.subject === 'platform.index.v1.updated' && e.data.doc?.environmentName === name
    && e.data.removed, `index removal of ${name}`);
  assert.deepEqual((await query({ environmentName: name })).items, []);
  // Order of the lifecycle as another team sees it.
  const order = log.matching((e) => e.ce.subject === name && e.subject.startsWith('platform.env.v1.')).map((e) => e.subject.split('.').pop());
  // (ready and expiring are independent: inside the lead time the warning
  // may well come before provisioning finishes.)
  assert.ok(order.indexOf('expiring') < order.indexOf('expired'));
  assert.ok(order.indexOf('expired') < order.indexOf('deleted'));
});

test('a static claim past its expiration is not deleted: a warning instead', async () => {
  const name = uniq('prod-static');
  const now = Date.now();
  await putObject(client, STATIC(), `${name}.json`, claim(name, 'prod', {
    creation_date: iso(now - 7200e3), expiration_date: iso(now - 3600e3),
    deployment_method: 'git', git_repository: 'https://git.example.com/platform/prod', branch: 'main',
  }));
  const warn = await log.waitFor(on('platform.env.v1.expiry_warning', name), `expiry warning ${name}`);
  assert.ok(warn.data.reason.length > 0);
  await log.waitFor(on('platform.env.v1.ready', name), `ready ${name}`);
  assert.equal(await exists(STATIC(), `${name}.json`), true, 'the static claim object is still there');
  assert.equal(log.matching(on('platform.env.v1.expired', name)).length, 0);
  assert.equal(log.matching(on('platform.claim.v1.deleted', name)).length, 0);
});
