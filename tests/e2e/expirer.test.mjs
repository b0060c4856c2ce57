// expirer end to end: claims written into MinIO with the AWS SDK S3 client,
// accepted by the real claim-ingest, expired by the real expirer; events
// observed with the NATS JavaScript client and decoded with protobufjs.
//
// No test waits for time to pass on its own: short deadlines (3 s) are
// waited for through the events they cause, and long ones are reached by
// starting the expirer with EP_CLOCK_OFFSET (its injectable clock).  When the
// provisioner and indexer binaries exist in the build, the first test also
// follows the deletion through them (env.deleted, removal from the index).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import {
  EventLog, Service, s3, putObject, env, uniq, metricValue, BUILD, proto,
} from './lib/harness.mjs';

const DYN = () => env('EP_BUCKET_DYNAMIC');
const STATIC = () => env('EP_BUCKET_STATIC');

let log, ingest, client;

function sueClaim(name, creation, expiration, over = {}) {
  return {
    user: 'jane.doe@example.com',
    environment_pool: 'team1',
    creation_date: creation,
    environment_name: name,
    environment_type: 'sue',
    expiration_date: expiration,
    services: { 'user-service': 'v1.2.3' },
    ...over,
  };
}

const iso = (ms) => new Date(ms).toISOString();
const on = (subject, name) => (e) => e.subject === subject && e.ce.subject === name;
const EXPIRING = 'platform.env.v1.expiring';
const EXPIRED = 'platform.env.v1.expired';
const WARNING = 'platform.env.v1.expiry_warning';
const ACCEPTED = 'platform.claim.v1.accepted';
const DELETED = 'platform.claim.v1.deleted';
const ENV_DELETED = 'platform.env.v1.deleted';

function redis(...args) {
  return execFileSync('redis-cli', ['-u', env('EP_REDIS_URL'), ...args], { encoding: 'utf8' }).trim();
}

async function objectExists(bucket, key) {
  try {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (e) {
    if (e.$metadata?.httpStatusCode === 404) return false;
    throw e;
  }
}

// Upload n claims, at most 16 requests in flight.
async function putMany(bucket, claims) {
  const queue = [...claims];
  await Promise.all(Array.from({ length: 16 }, async () => {
    for (let c = queue.shift(); c; c = queue.shift()) await putObject(client, bucket, `${c.environment_name}.json`, c);
  }));
}

// Wait until every name has an event on subject.
async function waitAll(subject, names, what, timeoutMs = 60000) {
  for (const n of names) await log.waitFor(on(subject, n), `${what} ${n}`, timeoutMs);
}

// The expirer consumes claim events in stream order, so once it has
// expired a claim uploaded after others, it has scheduled those others.
async function expirerBarrier() {
  const name = uniq('sue-barrier');
  const past = Date.now() - 3600e3;
  await putObject(client, DYN(), `${name}.json`, sueClaim(name, iso(past - 1000), iso(past)));
  await log.waitFor(on(EXPIRED, name), `barrier ${name} expired`);
  return name;
}

function expirer(extra = {}) {
  return new Service('expirer', { EP_LEAD_TIME: '2s', EP_LEASE: '2s', EP_RETRY_INTERVAL: '200ms', ...extra });
}

before(async () => {
  log = await EventLog.open();
  client = s3();
  ingest = await new Service('claim-ingest', { EP_RESYNC_INTERVAL: '10m' }).start();
});

after(async () => {
  if (ingest) assert.equal(await ingest.stop(), 0, 'claim-ingest exits 0 on SIGTERM');
  if (log) await log.close();
  client?.destroy();
});

test('a sue claim with a 3-second expiration goes expiring -> expired -> deleted', async (t) => {
  const extra = [];
  for (const name of ['provisioner', 'indexer']) {
    if (existsSync(path.join(BUILD, 'bin', name))) extra.push(await new Service(name).start());
  }
  const provisioner = extra.find((s) => s.name === 'provisioner');
  const indexer = extra.find((s) => s.name === 'indexer');
  const ex = await expirer().start();
  try {
    const name = uniq('sue-3s');
    const now = Date.now();
    await putObject(client, DYN(), `${name}.json`, sueClaim(name, iso(now), iso(now + 3000)));
    const acc = await log.waitFor(on(ACCEPTED, name), `accepted ${name}`);
    const expiring = await log.waitFor(on(EXPIRING, name), `expiring ${name}`);
    const expired = await log.waitFor(on(EXPIRED, name), `expired ${name}`);
    const deleted = await log.waitFor(on(DELETED, name), `claim.deleted ${name}`);

    assert.equal(expiring.ce.id, `env-expiring/${name}/1`);
    assert.equal(expiring.headers['nats-msg-id'], expiring.ce.id);
    assert.equal(expiring.ce.type, 'io.envplane.env.v1.expiring');
    assert.equal(expiring.ce.source, '/envplane/expirer');
    assert.equal(expiring.data.generation, 1);
    assert.equal(expiring.data.expirationDate, acc.data.claim.expirationDate);
    assert.equal(expiring.data.source, 'CLAIM_SOURCE_DYNAMIC');
    assert.ok(expiring.data.secondsLeft >= 1 && expiring.data.secondsLeft <= 3, `seconds left ${expiring.data.secondsLeft}`);
    assert.equal(expired.ce.id, `env-expired/${name}/1`);
    assert.ok(expired.data.secondsLeft <= 0);
    assert.equal(expired.data.claimDeleted, true);
    assert.ok(Date.parse(expired.data.at) >= now + 3000, 'not expired before its deadline');
    // expiring -> expired -> claim.deleted, in that order in the log
    const idx = (ev) => log.events.indexOf(ev);
    assert.ok(idx(acc) < idx(expiring) && idx(expiring) < idx(expired) && idx(expired) < idx(deleted));
    assert.equal(deleted.data.generation, 1);
    assert.equal(await objectExists(DYN(), `${name}.json`), false, 'claim object is gone from the bucket');

    if (provisioner) {
      const envDeleted = await log.waitFor(on('platform.env.v1.deleted', name), `env.deleted ${name}`);
      // The provisioner may act on env.expired or on claim.deleted, whichever
      // it sees first: env.deleted follows the expiry, in either order with
      // claim.deleted.
      assert.ok(idx(expired) < idx(envDeleted));
      assert.equal(envDeleted.data.generation, 1);
    } else {
      t.diagnostic('provisioner not built: env.deleted not checked');
    }
    if (indexer) {
      await log.waitFor((e) => e.subject === 'platform.index.v1.updated' && e.ce.subject === name && e.data.removed,
        `index removal of ${name}`);
      const root = await proto();
      const Q = root.lookupType('envplane.index.v1.Query');
      const R = root.lookupType('envplane.index.v1.QueryReply');
      const reply = await log.nc.request('platform.index.v1.query', Q.encode({ environmentName: name }).finish(), { timeout: 5000 });
      assert.equal(R.decode(reply.data).items.length, 0, 'gone from the index');
    } else {
      t.diagnostic('indexer not built: index removal not checked');
    }
    // The timer is finished and remembers its generation.
    assert.equal(redis('ZSCORE', 'ep:expirer:due', name), '');
    assert.match(redis('HGET', `ep:expirer:env:${name}`, 'phase'), /^(done|deleted)$/);
  } finally {
    assert.equal(await ex.stop(), 0, 'expirer exits 0 on SIGTERM');
    for (const s of extra) await s.stop();
  }
});

test('a static claim past its expiration is not deleted: env.expiry_warning instead', async () => {
  const ex = await expirer().start();
  try {
    const name = uniq('sue-static');
    await putObject(client, STATIC(), `${name}.json`, sueClaim(name, '2024-01-15T10:30:00Z', '2024-01-16T10:30:00Z', {
      deployment_method: 'git', git_repository: 'https://git.example.com/platform/sue-environments', branch: 'main',
    }));
    const warn = await log.waitFor(on(WARNING, name), `expiry_warning ${name}`);
    assert.equal(warn.ce.id, `env-expiry-warning/${name}/1`);
    assert.equal(warn.data.source, 'CLAIM_SOURCE_STATIC');
    assert.equal(warn.data.claimDeleted, false);
    assert.equal(warn.data.expirationDate, '2024-01-16T10:30:00Z');
    assert.ok(warn.data.secondsLeft < 0);
    assert.match(warn.data.reason, /never deleted/);
    // A later dynamic claim that expires proves the expirer went past it.
    await expirerBarrier();
    assert.equal(log.matching(on(EXPIRED, name)).length, 0, 'no env.expired for a static claim');
    assert.equal(log.matching(on(EXPIRING, name)).length, 0, 'no env.expiring for a static claim');
    assert.equal(log.matching(on(DELETED, name)).length, 0, 'no claim.deleted');
    assert.equal(log.matching(on(WARNING, name)).length, 1, 'one warning per generation');
    assert.equal(await objectExists(STATIC(), `${name}.json`), true, 'the static claim object is still there');
    assert.equal(redis('HGET', `ep:expirer:env:${name}`, 'phase'), 'done');
  } finally {
    assert.equal(await ex.stop(), 0);
  }
});

test('a claim updated before its deadline follows its new expiration; one without expiration never expires', async () => {
  const a = uniq('sue-upd');
  const b = uniq('dev-never');
  const now = Date.now();
  const ex = await expirer().start();
  try {
    // a: first an expiration in an hour, then pushed to four days; b: a dev claim.
    await putObject(client, DYN(), `${a}.json`, sueClaim(a, iso(now), iso(now + 3600e3)));
    await log.waitFor(on(ACCEPTED, a), `accepted ${a}`);
    await putObject(client, DYN(), `${a}.json`, sueClaim(a, iso(now), iso(now + 4 * 86400e3)));
    await log.waitFor((e) => on(ACCEPTED, a)(e) && e.data.generation === 2, `generation 2 of ${a}`);
    await putObject(client, DYN(), `${b}.json`, sueClaim(b, iso(now), null, { environment_type: 'dev' }));
    await log.waitFor(on(ACCEPTED, b), `accepted ${b}`);
    await expirerBarrier();
    assert.equal(redis('HGET', `ep:expirer:env:${a}`, 'generation'), '2');
    assert.equal(Number(redis('ZSCORE', 'ep:expirer:due', a)), now + 4 * 86400e3 - 2000, 'due at the new lead time');
    assert.equal(redis('ZSCORE', 'ep:expirer:due', b), '', 'a dev claim has no timer');
    assert.equal(redis('HGET', `ep:expirer:env:${b}`, 'phase'), 'none');
  } finally {
    assert.equal(await ex.stop(), 0);
  }
  // Two days later by the expirer's clock nothing happens to either (the
  // first expiration, replaced, is not honoured); five days later the
  // claim expires at generation 2 and the dev claim still does not.
  const later = await expirer({ EP_CLOCK_OFFSET: String(2 * 86400e3) }).start();
  await expirerBarrier();
  assert.equal(await later.stop(), 0);
  assert.equal(log.matching((e) => e.subject.startsWith('platform.env.v1.expir') && e.ce.subject === a).length, 0);
  const much = await expirer({ EP_CLOCK_OFFSET: String(5 * 86400e3) }).start();
  const expiredA = await log.waitFor(on(EXPIRED, a), `expired ${a}`);
  assert.equal(expiredA.ce.id, `env-expired/${a}/2`);
  await log.waitFor(on(DELETED, a), `claim.deleted ${a}`);
  await expirerBarrier();
  assert.equal(await much.stop(), 0);
  assert.equal(log.matching(on(EXPIRING, a)).length, 0, 'deadline already passed: no lead-time warning');
  assert.equal(log.matching((e) => e.subject.startsWith('platform.env.v1.expir') && e.ce.subject === b).length, 0);
  assert.equal(await objectExists(DYN(), `${b}.json`), true);
});

test('kill -9 in the middle of a batch of 200 claims: every claim reaches its final state exactly once', async (t) => {
  const N = 200;
  // With the provisioner built, the final state is env.deleted.
  const provisioner = existsSync(path.join(BUILD, 'bin', 'provisioner')) ? await new Service('provisioner').start() : null;
  if (!provisioner) t.diagnostic('provisioner not built: final state is claim.deleted');
  const FINAL = provisioner ? [EXPIRING, EXPIRED, DELETED, ENV_DELETED] : [EXPIRING, EXPIRED, DELETED];
  const now = Date.now();
  const exp = now + 2 * 3600e3;   // two hours away; the clock offset takes us there
  const names = Array.from({ length: N }, (_, i) => `${uniq('sue-k9')}-${i}`);

  // Schedule all 200 with an expirer on the real clock (nothing is due yet).
  const a = await expirer({ EP_LEAD_TIME: '1h' }).start();
  await putMany(DYN(), names.map((n) => sueClaim(n, iso(now), iso(exp))));
  await waitAll(ACCEPTED, names, 'accepted');
  await expirerBarrier();
  assert.equal(await a.stop(), 0);
  for (const n of names.slice(0, 3)) assert.equal(Number(redis('ZSCORE', 'ep:expirer:due', n)), exp - 3600e3);

  // Stage 1: inside the lead window.  Stage 2: past the deadline.  In each,
  // kill -9 the expirer after 30 steps and let a fresh one finish the batch.
  const stages = [
    { offset: exp - now - 1800e3, subject: EXPIRING },
    { offset: exp - now + 60e3, subject: EXPIRED },
  ];
  const opts = (offset) => ({ EP_LEAD_TIME: '1h', EP_CLOCK_OFFSET: String(Math.round(offset)), EP_MAX_RATE: '50', EP_BATCH: '8' });
  for (const st of stages) {
    const mine = (e) => e.subject === st.subject && names.includes(e.ce.subject);
    const victim = new Service('expirer', { EP_LEASE: '2s', ...opts(st.offset) });
    const started = victim.start().catch(() => {});
    await log.waitFor(() => log.matching(mine).length >= 30, `30 ${st.subject} events`);
    victim.proc.kill('SIGKILL');
    await victim.exited;
    await started;
    const atKill = log.matching(mine).length;
    assert.ok(atKill < N, `killed in the middle (${atKill} of ${N} done)`);
    const fresh = await new Service('expirer', { EP_LEASE: '2s', ...opts(st.offset) }).start();
    await waitAll(st.subject, names, st.subject);
    if (st.subject === EXPIRED) await waitAll(DELETED, names, 'claim.deleted');
    if (st.subject === EXPIRED && provisioner) await waitAll(ENV_DELETED, names, 'env.deleted');
    assert.equal(await fresh.stop(), 0);
    t_diag(`${st.subject}: killed after ${atKill}, restarted expirer finished the other ${N - atKill}`);
  }
  // The event log of record is the PLATFORM stream: read it back and count.
  const stream = await streamEvents();
  const wanted = new Set(names);
  const count = new Map();
  const order = new Map();
  if (provisioner) assert.equal(await provisioner.stop(), 0);
  for (const [i, e] of stream.entries()) {
    if (!wanted.has(e.env)) continue;
    const k = `${e.subject} ${e.env}`;
    count.set(k, (count.get(k) || 0) + 1);
    order.set(k, i);
  }
  for (const n of names) {
    for (const s of FINAL) {
      assert.equal(count.get(`${s} ${n}`), 1, `${n}: ${count.get(`${s} ${n}`) || 0} ${s} events in the stream`);
    }
    // No transition of any kind appears twice (one generation per claim here).
    for (const [k, c] of count) if (k.endsWith(` ${n}`)) assert.equal(c, 1, `${k}: ${c} times in the stream`);
    // expiring -> expired -> claim.deleted; env.deleted after expired (the
    // provisioner acts on env.expired or claim.deleted, whichever comes first).
    const at = (s) => order.get(`${s} ${n}`);
    assert.ok(at(EXPIRING) < at(EXPIRED) && at(EXPIRED) < at(DELETED), `${n}: expiring, expired, claim.deleted in order`);
    if (provisioner) assert.ok(at(EXPIRED) < at(ENV_DELETED), `${n}: env.deleted after expired`);
    assert.equal(await objectExists(DYN(), `${n}.json`), false);
  }
  // Publishes on the wire (the core NATS log) may repeat a step the killed
  // expirer had published but not recorded; the stream dropped those.
  const wire = log.matching((e) => [EXPIRING, EXPIRED].includes(e.subject) && wanted.has(e.ce.subject)).length;
  t_diag(`expiry events published on the wire ${wire}, in the stream ${2 * N}: ${wire - 2 * N} repeats de-duplicated`);
});

// Every message of the PLATFORM stream, in order, through an ordered consumer.
async function streamEvents() {
  const js = log.nc.jetstream();
  const c = await js.consumers.get('PLATFORM');
  const out = [];
  const msgs = await c.consume();
  for await (const m of msgs) {
    out.push({ subject: m.subject, id: m.headers?.get('ce-id'), env: decodeURIComponent(m.headers?.get('ce-subject') || '') });
    if (m.info.pending === 0) break;
  }
  return out;
}

test('two expirer replicas on 50 short-lived claims: each env.expired exactly once, no double action', async () => {
  const N = 50;
  const from = log.events.length;
  const r1 = await expirer({ EP_BATCH: '2' }).start();
  const r2 = await expirer({ EP_BATCH: '2' }).start();
  try {
    const now = Date.now();
    const names = Array.from({ length: N }, (_, i) => `${uniq('sue-rep')}-${i}`);
    await putMany(DYN(), names.map((n) => sueClaim(n, iso(now), iso(now + 4000))));
    await waitAll(EXPIRED, names, 'expired');
    await waitAll(DELETED, names, 'claim.deleted');
    for (const n of names) {
      assert.equal(log.matching(on(EXPIRED, n)).length, 1, `${n} expired once`);
      assert.ok(log.matching(on(EXPIRING, n)).length <= 1, `${n} warned at most once`);
    }
    // Publishes counted by the replicas themselves: a step taken by both
    // would be counted twice even though the stream dropped the duplicate.
    const m1 = metricValue(await r1.metrics(), 'expirer_expired_total');
    const m2 = metricValue(await r2.metrics(), 'expirer_expired_total');
    const unique = new Set(log.events.slice(from).filter((e) => e.subject === EXPIRED).map((e) => e.ce.id));
    t_diag(`replica 1 expired ${m1}, replica 2 expired ${m2}, distinct env.expired ${unique.size}`);
    assert.equal(m1 + m2, unique.size, 'no expiry was acted on by both replicas');
    assert.ok(m1 > 0 && m2 > 0, 'both replicas took part');
  } finally {
    assert.equal(await r1.stop(), 0);
    assert.equal(await r2.stop(), 0);
  }
});

function t_diag(msg) {
  process.stderr.write(`# ${msg}\n`);
}
