// Benchmark (not a test): timer steps per second of the real expirer, with
// baselines measured in the same run on the same stack.
//
//   static claims (step = one env.expiry_warning publish with ack + Redis)
//     vs sequential JetStream publishes with ack from the NATS JS client;
//   dynamic claims (step = env.expired publish + S3 DELETE + Redis)
//     vs sequential S3 DELETEs with the AWS SDK on the same claim bucket
//     (whose MinIO notifications make DELETEs slower than on a plain bucket).
//
// N claims of each kind are scheduled by an expirer on the real clock; then
// an expirer started with EP_CLOCK_OFFSET past their deadlines works them
// off, static first (dynamic deadlines are two hours later).  Figures are
// printed as ratios; absolute numbers on shared machines are noise.
import { CreateBucketCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { EventLog, Service, s3, putObject, uniq, metricValue } from '../lib/harness.mjs';

const N = Number(process.env.EP_BENCH_TIMERS || 1000);
const client = s3();
const log = await EventLog.open();
const ingest = await new Service('claim-ingest', { EP_RESYNC_INTERVAL: '10m' }).start();
const now = Date.now();
const exp = now + 2 * 3600e3;
const iso = (ms) => new Date(ms).toISOString();
const names = (kind) => Array.from({ length: N }, (_, i) => `${uniq(`sue-bench${kind}`)}-${i}`);
const dyn = names('d');
const sta = names('s');

function claim(name, over = {}) {
  return {
    user: 'bench@example.com', environment_pool: 'bench', creation_date: iso(now), environment_name: name,
    environment_type: 'sue', expiration_date: iso(exp), services: { 'user-service': 'v1.2.3' }, ...over,
  };
}

async function putMany(bucket, list, over = {}) {
  const q = [...list];
  await Promise.all(Array.from({ length: 16 }, async () => {
    for (let n = q.shift(); n; n = q.shift()) await putObject(client, bucket, `${n}.json`, claim(n, over));
  }));
}

const rate = (n, ms) => n / (ms / 1000);

// Schedule everything on the real clock: nothing is due yet.
const sched = await new Service('expirer', { EP_LEAD_TIME: '1h' }).start();
await putMany(process.env.EP_BUCKET_STATIC, sta, {
  deployment_method: 'git', git_repository: 'https://git.example.com/platform/bench', branch: 'main',
});
await putMany(process.env.EP_BUCKET_DYNAMIC, dyn, { expiration_date: iso(exp + 2 * 3600e3) });
// Scheduling has no event of its own: poll the expirer's counter.
while (metricValue(await sched.metrics(), 'expirer_timers_scheduled_total') < 2 * N) {
  await new Promise((r) => setTimeout(r, 100)); // probe interval of a metric, not a synchronisation guess
}
await sched.stop();

const results = {};
for (const [kind, subject, list, extra] of [
  ['static', 'platform.env.v1.expiry_warning', sta, 0],
  ['dynamic', 'platform.env.v1.expired', dyn, 2 * 3600e3],
]) {
  const set = new Set(list);
  const mine = (e) => e.subject === subject && set.has(e.ce.subject);
  const ex = await new Service('expirer', { EP_LEAD_TIME: '1h', EP_CLOCK_OFFSET: String(exp - now + 60e3 + extra) }).start();
  await log.waitFor(() => log.matching(mine).length >= N, `${N} ${subject}`, 600000);
  const evs = log.matching(mine);
  results[kind] = rate(N - 1, evs.at(-1).at - evs[0].at);
  await ex.stop();
}

const js = log.nc.jetstream();
let t0 = performance.now();
for (let i = 0; i < N; i++) await js.publish('platform.env.v1.bench', new Uint8Array(96), { msgID: `bench/${now}/${i}` });
const basePublish = rate(N, performance.now() - t0);

// Same bucket, same notifications: objects claim-ingest rejects (the name's
// prefix disagrees with the type), so only the DELETE is measured here.
const plain = dyn.map((n) => `${n}-plain`);
await putMany(process.env.EP_BUCKET_DYNAMIC, plain, { environment_type: 'dev' });
t0 = performance.now();
for (const n of plain) await client.send(new DeleteObjectCommand({ Bucket: process.env.EP_BUCKET_DYNAMIC, Key: `${n}.json` }));
const baseDelete = rate(N, performance.now() - t0);

await client.send(new CreateBucketCommand({ Bucket: 'bench-plain' })).catch(() => {});
const quiet = dyn.map((n) => `${n}-quiet`);
await putMany('bench-plain', quiet);
t0 = performance.now();
for (const n of quiet) await client.send(new DeleteObjectCommand({ Bucket: 'bench-plain', Key: `${n}.json` }));
const baseDeleteQuiet = rate(N, performance.now() - t0);

console.log(`expirer, ${N} due timers of each kind, one expirer:`);
console.log(`  static  (publish):          ${results.static.toFixed(0)} steps/s; JetStream publish+ack ${basePublish.toFixed(0)}/s; ratio ${(results.static / basePublish).toFixed(2)}`);
console.log(`  dynamic (publish + DELETE): ${results.dynamic.toFixed(0)} steps/s; S3 DELETE on the claim bucket ${baseDelete.toFixed(0)}/s; ratio ${(results.dynamic / baseDelete).toFixed(2)}`);
console.log(`  (S3 DELETE on a bucket without notifications: ${baseDeleteQuiet.toFixed(0)}/s)`);

await ingest.stop();
await log.close();
client.destroy();
