// indexer end to end: claims written into MinIO go through claim-ingest,
// the provisioner and the expirer; the indexer folds their events into
// Redis and answers platform.index.v1.query requests, which the test sends
// with the NATS JavaScript client (Query/QueryReply encoded with protobufjs
// from proto/).  The PLATFORM stream, read back with an ordered consumer,
// is the event log that must hold each index.updated exactly once; the
// core-NATS EventLog also sees publishes the stream dropped as duplicates,
// so it is used to wait, not to count.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { connect } from 'nats';
import {
  EventLog, Service, s3, putObject, env, uniq, proto, metricValue, BUILD,
} from './lib/harness.mjs';

const DYN = () => env('EP_BUCKET_DYNAMIC');
const UPDATED = 'platform.index.v1.updated';
// Durables of our own: the stream holds other tests' events too, which
// every service here then also works through (harmlessly).
const IDX_ENV = { EP_DURABLE: uniq('indexer-e2e'), EP_ACK_WAIT: '2s' };
const PROV_ENV = { EP_DURABLE: uniq('prov-idx'), EP_ACK_WAIT: '2s', EP_BUCKET_STATE: 'platform-state' };
const EXP_ENV = { EP_DURABLE: uniq('exp-idx'), EP_LEAD_TIME: '2s', EP_LEASE: '2s', EP_RETRY_INTERVAL: '200ms' };

let log, nc, root, client, ingest, prov, exp, idx;
let Q, R;

const O = { enums: String, longs: Number, defaults: true, arrays: true };

function claim(name, user, over = {}) {
  return {
    user,
    environment_pool: 'idx-pool',
    creation_date: '2024-01-15T10:30:00Z',
    environment_name: name,
    environment_type: name.split('-')[0],
    expiration_date: null,
    services: { 'user-service': 'v1.2.3' },
    ...over,
  };
}

const updated = (name, pred = () => true) => (e) => e.subject === UPDATED && e.ce.subject === name && pred(e.data);
const inState = (state) => (d) => !d.removed && d.doc.state === state;

async function query(q) {
  const m = await nc.request('platform.index.v1.query', Q.encode(Q.fromObject(q)).finish(), { timeout: 5000 });
  return R.toObject(R.decode(m.data), O);
}

// Every index.updated the stream holds for the given environments, read
// with an unfiltered ordered consumer up to the stream's last message at
// the time of the call (a filtered one cannot tell where the end is).
async function streamUpdates(names) {
  const want = new Set(names);
  const T = root.lookupType('envplane.index.v1.IndexUpdated');
  const last = (await (await nc.jetstreamManager()).streams.info('PLATFORM')).state.last_seq;
  const c = await nc.jetstream().consumers.get('PLATFORM');
  const out = [];
  const msgs = await c.consume();
  for await (const m of msgs) {
    const subj = decodeURIComponent(m.headers?.get('ce-subject') || '');
    if (m.subject === UPDATED && want.has(subj)) {
      out.push({ env: subj, id: m.headers.get('ce-id'), data: T.toObject(T.decode(m.data), O) });
    }
    if (m.seq >= last || m.info.pending === 0) break;
  }
  await msgs.close?.();
  return out;
}

// The indexer folds the stream in order with one worker: once it has
// announced a claim uploaded after X, it has folded X.
async function barrier(user) {
  const name = uniq('dev-ibar');
  await putObject(client, DYN(), `${name}.json`, claim(name, user));
  await log.waitFor(updated(name), `barrier ${name}`);
}

async function publish(subject, typeName, obj, id) {
  const T = root.lookupType(typeName);
  const h = (await import('nats')).headers();
  h.set('ce-specversion', '1.0');
  h.set('ce-id', id);
  h.set('ce-type', `io.envplane.${subject.split('.')[1]}.v1.${subject.split('.')[3]}`);
  h.set('ce-source', '/e2e');
  h.set('ce-subject', obj.environmentName ?? obj.claim.environmentName);
  h.set('content-type', 'application/protobuf');
  await nc.jetstream().publish(subject, T.encode(T.fromObject(obj)).finish(), { msgID: id, headers: h });
}

before(async () => {
  root = await proto();
  Q = root.lookupType('envplane.index.v1.Query');
  R = root.lookupType('envplane.index.v1.QueryReply');
  log = await EventLog.open();
  nc = await connect({ servers: env('EP_NATS_URL'), name: 'e2e-indexer' });
  client = s3();
  ingest = await new Service('claim-ingest', { EP_RESYNC_INTERVAL: '10m' }).start();
  idx = await new Service('indexer', IDX_ENV).start();
  prov = await new Service('provisioner', PROV_ENV).start();
  exp = await new Service('expirer', EXP_ENV).start();
});

after(async () => {
  if (idx) assert.equal(await idx.stop(), 0, 'indexer exits 0 on SIGTERM');
  if (exp) assert.equal(await exp.stop(), 0, 'expirer exits 0 on SIGTERM');
  if (prov) assert.equal(await prov.stop(), 0, 'provisioner exits 0 on SIGTERM');
  if (ingest) assert.equal(await ingest.stop(), 0, 'claim-ingest exits 0 on SIGTERM');
  if (log) await log.close();
  await nc?.close();
  client?.destroy();
});

test('a late event of an older generation never overwrites a newer one', async () => {
  // Events are injected in the order a slow provisioner and a quick
  // re-upload would produce them.  The real provisioner also sees the
  // injected claims and may carry generation 2 on to ready: fine, as long
  // as generation 1's late ready never shows.
  const name = uniq('dev-order');
  const user = `${uniq('order')}@company.com`;
  const acc = (gen, pool) => ({
    claim: { user, environmentPool: pool, environmentName: name, environmentType: 'ENVIRONMENT_TYPE_DEV', creationDate: '2024-01-15T10:30:00Z' },
    generation: gen, source: 'CLAIM_SOURCE_DYNAMIC', contentHash: `sha256:${gen}`,
  });
  const tr = (gen, state) => ({ environmentName: name, generation: gen, state, environmentType: 'ENVIRONMENT_TYPE_DEV' });
  await publish('platform.claim.v1.accepted', 'envplane.claim.v1.ClaimAccepted', acc(1, 'p1'), `t-acc/${name}/1`);
  await publish('platform.env.v1.provisioning', 'envplane.env.v1.EnvTransition', tr(1, 'ENV_STATE_PROVISIONING'), `t-prov/${name}/1`);
  await publish('platform.claim.v1.accepted', 'envplane.claim.v1.ClaimAccepted', acc(2, 'p2'), `t-acc/${name}/2`);
  await publish('platform.env.v1.ready', 'envplane.env.v1.EnvTransition', tr(1, 'ENV_STATE_READY'), `t-ready/${name}/1`);
  await barrier(user);

  const r = await query({ environmentName: name });
  assert.equal(r.error, '');
  assert.equal(r.items.length, 1);
  assert.equal(r.items[0].generation, 2, 'generation 1 ready must not regress generation 2');
  assert.equal(r.items[0].environmentPool, 'p2');
  assert.equal((await query({ environmentPool: 'p1', user })).items.length, 0, 'old pool index entry removed');
  // Nothing of generation 1 is announced once generation 2 was (the real
  // provisioner may legitimately make generation 1 ready before that).
  const mine = log.matching(updated(name)).map((e) => e.data.doc.generation);
  assert.ok(mine.indexOf(2) >= 0);
  assert.deepEqual(mine.slice(mine.indexOf(2)).filter((g) => g === 1), [], `generations announced: ${mine}`);

  // Generation 2 becomes ready: now it counts.
  await publish('platform.env.v1.ready', 'envplane.env.v1.EnvTransition', tr(2, 'ENV_STATE_READY'), `t-ready/${name}/2`);
  await log.waitFor(updated(name, (d) => d.doc.generation === 2 && d.doc.state === 'ENV_STATE_READY'), `${name} ready`);
});

test('a dev claim ends with an index entry you can query by user and by type', async () => {
  const user = `${uniq('dev')}@company.com`;
  const name = uniq('dev-idx');
  await putObject(client, DYN(), `${name}.json`, claim(name, user));
  const ev = await log.waitFor(updated(name, inState('ENV_STATE_READY')), `${name} ready in the index`);
  assert.equal(ev.ce.type, 'io.envplane.index.v1.updated');
  assert.equal(ev.data.doc.user, user);

  const byUser = await query({ user });
  assert.equal(byUser.error, '');
  assert.deepEqual(byUser.items.map((d) => d.environmentName), [name]);
  const d = byUser.items[0];
  assert.equal(d.state, 'ENV_STATE_READY');
  assert.equal(d.environmentType, 'ENVIRONMENT_TYPE_DEV');
  assert.equal(d.environmentPool, 'idx-pool');
  assert.equal(d.source, 'CLAIM_SOURCE_DYNAMIC');
  assert.equal(d.generation, 1);
  assert.equal(d.bucket, DYN());
  assert.equal(d.services[0].name, 'user-service');
  assert.equal(byUser.total, 1);

  const byType = await query({ user, environmentType: 'ENVIRONMENT_TYPE_DEV', state: 'ENV_STATE_READY' });
  assert.deepEqual(byType.items.map((x) => x.environmentName), [name]);
  assert.equal((await query({ user, environmentType: 'ENVIRONMENT_TYPE_SUE' })).items.length, 0);
  const byTypeOnly = await query({ environmentType: 'ENVIRONMENT_TYPE_DEV', limit: 1000 });
  assert.ok(byTypeOnly.items.some((x) => x.environmentName === name));
  assert.ok(byTypeOnly.items.every((x) => x.environmentType === 'ENVIRONMENT_TYPE_DEV'));

  // The same through epctl, as an operator would ask.
  const out = execFileSync(path.join(BUILD, 'bin', 'epctl'), ['query', '--user', user, '--type', 'dev'], { encoding: 'utf8' });
  const j = JSON.parse(out);
  assert.equal(j.items[0].environment_name, name);
  assert.equal(j.items[0].state, 'ENV_STATE_READY');
});

test('a sue claim that expires disappears from the index', async () => {
  const user = `${uniq('sue')}@company.com`;
  const name = uniq('sue-idx');
  // Already past its expiration: the expirer deletes the claim at once.
  await putObject(client, DYN(), `${name}.json`,
    claim(name, user, { creation_date: '2024-01-01T00:00:00Z', expiration_date: '2024-01-02T00:00:00Z' }));
  await log.waitFor(updated(name), `${name} indexed`);
  const gone = await log.waitFor(updated(name, (d) => d.removed), `${name} removed from the index`);
  assert.equal(gone.data.doc.state, 'ENV_STATE_DELETED');
  await barrier(user);
  assert.equal((await query({ environmentName: name })).items.length, 0);
  assert.deepEqual((await query({ user })).items.map((x) => x.environmentName).filter((n) => n === name), []);
  assert.equal((await query({ environmentType: 'ENVIRONMENT_TYPE_SUE', limit: 1000 })).items
    .filter((x) => x.environmentName === name).length, 0);
});

test('invalid queries are answered with an error naming the field', async () => {
  for (const [q, field] of [
    [{ limit: 5000 }, 'limit'], [{ cursor: 'not-a-cursor' }, 'cursor'],
    [{ expiresBefore: 'tomorrow' }, 'expires_before'], [{ expiresAfter: '2024-02-30T25:00:00Z' }, 'expires_after'],
  ]) {
    const r = await query(q);
    assert.ok(r.error.startsWith(field), `error '${r.error}' names ${field}`);
    assert.equal(r.items.length, 0);
  }
  const m = await nc.request('platform.index.v1.query', new Uint8Array([0xff, 0xff]), { timeout: 5000 });
  assert.notEqual(R.decode(m.data).error, '');
  assert.ok(metricValue(await idx.metrics(), 'indexer_queries_invalid_total') >= 5);
});

test('kill -9 in the middle of 200 claims: every claim reaches its final state exactly once', async () => {
  const N = 200;
  const user = `${uniq('kill')}@company.com`;
  const names = Array.from({ length: N }, (_, i) => `${uniq('dev-k')}-${i}`);
  const wanted = new Set(names);
  const seen = () => log.matching((e) => e.subject === UPDATED && wanted.has(e.ce.subject)).length;
  const uploads = Promise.all(names.map((n) => putObject(client, DYN(), `${n}.json`, claim(n, user))));
  // Kill once the indexer is well into the batch.
  await log.waitFor((e) => e.subject === UPDATED && wanted.has(e.ce.subject) && seen() >= 40, '40 updates of the batch');
  idx.proc.kill('SIGKILL');
  await idx.exited;
  const before = seen();
  await uploads;
  idx = await new Service('indexer', IDX_ENV).start();
  await Promise.all(names.map((n) => log.waitFor(updated(n, inState('ENV_STATE_READY')), `${n} ready in the index`, 120000)));
  await barrier(user);
  const stream = await streamUpdates(names);
  const byEnv = new Map(names.map((n) => [n, []]));
  for (const u of stream) byEnv.get(u.env).push(u);
  for (const [n, ups] of byEnv) {
    const states = ups.map((u) => u.data.doc.state);
    assert.equal(states.filter((s) => s === 'ENV_STATE_READY').length, 1, `${n}: ready announced once (${states})`);
    assert.equal(new Set(states).size, states.length, `${n}: no state announced twice (${states})`);
    assert.equal(new Set(ups.map((u) => u.id)).size, ups.length, `${n}: ids unique`);
    assert.equal(states[states.length - 1], 'ENV_STATE_READY', `${n}: final state last`);
  }
  const all = [];
  let cursor = '';
  do {
    const r = await query({ user, limit: 64, cursor });
    assert.equal(r.error, '');
    assert.equal(r.total, N + 1);   // + the barrier
    all.push(...r.items);
    cursor = r.nextCursor;
  } while (cursor);
  assert.equal(all.filter((d) => wanted.has(d.environmentName) && d.state === 'ENV_STATE_READY').length, N);
  const wire = log.matching((e) => e.subject === UPDATED && wanted.has(e.ce.subject)).length;
  const replay = idx.lines.map((l) => { try { return JSON.parse(l); } catch { return {}; } })
    .find((j) => j.msg === 'unacknowledged events of the previous run folded first');
  test_diag(`killed after ${before} index.updated of the batch; in the stream ${stream.length}, ` +
    `on the wire ${wire} (${wire - stream.length} repeats dropped by the stream); ` +
    `restart folded ${replay ? `${replay.events} unacknowledged events (seq ${replay.from_seq}-${replay.to_seq})` : 'no unacknowledged events'} first`);
});

function test_diag(msg) {
  process.stderr.write(`# ${msg}\n`);
}

test('--rebuild restores a lost index from the stream without announcing anything', async () => {
  const user = `${uniq('rb')}@company.com`;
  const names = Array.from({ length: 5 }, (_, i) => `${uniq('dev-rb')}-${i}`);
  await Promise.all(names.map((n) => putObject(client, DYN(), `${n}.json`, claim(n, user))));
  await Promise.all(names.map((n) => log.waitFor(updated(n, inState('ENV_STATE_READY')), `${n} ready`)));
  const strip = (r) => r.items.map((d) => ({ ...d, updatedAt: undefined }));
  const snapshot = strip(await query({ user, limit: 1000, sort: 'SORT_BY_EXPIRY' }));
  assert.equal(snapshot.length, names.length);

  // Redis loses the index.
  assert.equal(await idx.stop(), 0);
  execFileSync('redis-cli', ['-u', env('EP_REDIS_URL'), 'EVAL',
    "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 0", '0', 'ep:indexer:*']);
  idx = await new Service('indexer', IDX_ENV).start();
  assert.equal((await query({ user })).items.length, 0, 'index lost');
  assert.equal(await idx.stop(), 0);

  const announcedBefore = log.matching((e) => e.subject === UPDATED).length;
  const rb = spawn(path.join(BUILD, 'bin', 'indexer'), ['--rebuild'],
    { env: { ...process.env, ...IDX_ENV, EP_HTTP_LISTEN: '127.0.0.1:0' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let errText = '';
  rb.stderr.on('data', (d) => { errText += d; });
  const [code] = await once(rb, 'exit');
  assert.equal(code, 0, `indexer --rebuild exits 0:\n${errText.split('\n').slice(-10).join('\n')}`);
  assert.match(errText, /rebuild finished/);

  idx = await new Service('indexer', IDX_ENV).start();
  await barrier(user);
  assert.deepEqual(strip(await query({ user, limit: 1000, sort: 'SORT_BY_EXPIRY' })).filter((d) => names.includes(d.environmentName)), snapshot);
  // The rebuild itself announced nothing (the barrier added its own).
  const rebuilt = log.matching((e) => e.subject === UPDATED).slice(announcedBefore);
  assert.ok(rebuilt.every((e) => e.ce.subject.startsWith('dev-ibar')), 'only the barrier was announced');
});

test('two replicas share the durable and the queries', async () => {
  const N = 100;
  const user = `${uniq('rep')}@company.com`;
  const names = Array.from({ length: N }, (_, i) => `${uniq('dev-rep')}-${i}`);
  const idx2 = await new Service('indexer', IDX_ENV).start();
  try {
    await Promise.all(names.map((n) => putObject(client, DYN(), `${n}.json`, claim(n, user))));
    // Replicas fold different events of one environment concurrently, so a
    // document can be ready before its claim fields arrive from the other
    // replica: wait for the announcement that has both.
    await Promise.all(names.map((n) => log.waitFor(
      updated(n, (d) => !d.removed && d.doc.state === 'ENV_STATE_READY' && d.doc.user === user), `${n} ready`, 120000)));
    const q0 = [metricValue(await idx.metrics(), 'indexer_queries_total'), metricValue(await idx2.metrics(), 'indexer_queries_total')];
    for (let i = 0; i < 40; i++) {
      const r = await query({ user, state: 'ENV_STATE_READY', limit: 1000 });
      assert.equal(r.error, '');
      assert.equal(r.total, N);
    }
    const q1 = [metricValue(await idx.metrics(), 'indexer_queries_total'), metricValue(await idx2.metrics(), 'indexer_queries_total')];
    assert.ok(q1[0] > q0[0] && q1[1] > q0[1], `both replicas answered (${q0} -> ${q1})`);
    const a1 = metricValue(await idx.metrics(), 'indexer_events_total{verdict="applied"}');
    const a2 = metricValue(await idx2.metrics(), 'indexer_events_total{verdict="applied"}');
    assert.ok(a1 > 0 && a2 > 0, `both replicas folded events (${a1}, ${a2})`);
    const stream = await streamUpdates(names);
    for (const n of names) {
      const ups = stream.filter((u) => u.env === n);
      assert.equal(new Set(ups.map((u) => u.id)).size, ups.length, `${n}: each change announced once`);
    }
  } finally {
    assert.equal(await idx2.stop(), 0, 'second replica exits 0 on SIGTERM');
  }
});

test('query throughput over a large index, against a plain NATS echo', async () => {
  const N = Number(process.env.EP_INDEX_BENCH_DOCS || 2000);
  const M = Number(process.env.EP_INDEX_BENCH_QUERIES || 1000);
  // The chain is stopped: the injected claims have no objects behind them.
  assert.equal(await exp.stop(), 0); exp = null;
  assert.equal(await prov.stop(), 0); prov = null;
  const tag = uniq('b');
  const T = root.lookupType('envplane.claim.v1.ClaimAccepted');
  const h = (await import('nats')).headers;
  const js = nc.jetstream();
  let last = '';
  const t0 = performance.now();
  for (let i = 0; i < N; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, N - i) }, (_, k) => {
      const j = i + k;
      const name = `${j % 2 ? 'sue' : 'dev'}-${tag}-${j}`;
      last = name;
      const day = String(1 + (j % 28)).padStart(2, '0');
      const msg = T.encode(T.fromObject({
        claim: {
          user: `u${j % 100}@${tag}.com`, environmentPool: `p${j % 10}`, environmentName: name,
          environmentType: j % 2 ? 'ENVIRONMENT_TYPE_SUE' : 'ENVIRONMENT_TYPE_DEV',
          creationDate: `2024-01-${day}T00:00:00Z`, expirationDate: j % 3 ? `2030-02-${day}T00:00:00Z` : '',
        },
        generation: 1, source: 'CLAIM_SOURCE_DYNAMIC', contentHash: 'sha256:0',
      })).finish();
      const hh = h();
      hh.set('ce-subject', name);
      return js.publish('platform.claim.v1.accepted', msg, { msgID: `bench/${name}`, headers: hh });
    }));
  }
  await log.waitFor(updated(last), `last of ${N} bench claims indexed`, 600000);
  const foldS = (performance.now() - t0) / 1000;

  const filtered = Q.encode(Q.fromObject({ user: `u7@${tag}.com`, environmentType: 'ENVIRONMENT_TYPE_SUE', sort: 'SORT_BY_EXPIRY', limit: 50 })).finish();
  const broad = Q.encode(Q.fromObject({ environmentType: 'ENVIRONMENT_TYPE_DEV', limit: 50 })).finish();
  const r0 = R.decode((await nc.request('platform.index.v1.query', filtered, { timeout: 5000 })).data);
  assert.equal(r0.error, '');
  assert.equal(r0.total, N / 100);
  const echoSubj = `e2e.echo.${tag}`;
  const echoSub = nc.subscribe(echoSubj, { callback: (err, m) => { if (!err) m.respond(m.data); } });
  await nc.flush();
  const run = async (subj, data) => {
    for (let i = 0; i < 50; i++) await nc.request(subj, data, { timeout: 5000 });   // warm-up
    const s = performance.now();
    for (let i = 0; i < M; i++) await nc.request(subj, data, { timeout: 5000 });
    return M / ((performance.now() - s) / 1000);
  };
  const echoQps = await run(echoSubj, filtered);
  const qQps = await run('platform.index.v1.query', filtered);
  const bQps = await run('platform.index.v1.query', broad);
  echoSub.unsubscribe();
  test_diag(`index of ${N} bench documents (+ earlier tests) published and folded in ${foldS.toFixed(1)} s (${(N / foldS).toFixed(0)} claims/s, each announced with index.updated)`);
  test_diag(`filtered query (user+type, ${N / 100} matches, expiry order, page 50): ${qQps.toFixed(0)} queries/s`);
  test_diag(`broad query (type=dev, ${N / 2} matches, creation order, page 50): ${bQps.toFixed(0)} queries/s`);
  test_diag(`NATS request/reply echo, same client: ${echoQps.toFixed(0)} req/s; filtered query = ${(qQps / echoQps).toFixed(2)} of echo`);
});
