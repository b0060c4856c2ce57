// Benchmark (not a test): claims per second through MinIO -> NATS ->
// claim-ingest -> claim.accepted, against a baseline measured in the same
// run on the same stack: plain S3 PUTs of the same bodies into a bucket
// without notifications.  Figures are printed as a ratio; absolute numbers
// on shared machines are noise.
import { EventLog, Service, s3, putObject, uniq } from '../lib/harness.mjs';

const N = Number(process.env.EP_BENCH_CLAIMS || 300);
const CONC = 8;

function claim(name) {
  return {
    user: 'bench@company.com', environment_pool: 'bench', creation_date: '2024-01-15T10:30:00Z',
    environment_name: name, environment_type: 'dev', expiration_date: null,
    services: { 'user-service': 'v1.2.3', 'auth-service': '^2.0.0', 'api-gateway': '>=1.0.0, <2.0.0' },
  };
}

async function pool(items, fn) {
  let i = 0;
  await Promise.all(Array.from({ length: CONC }, async () => {
    while (i < items.length) { const k = i++; await fn(items[k], k); }
  }));
}

const pct = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

const client = s3();
const log = await EventLog.open();
const svc = await new Service('claim-ingest', { EP_RESYNC_INTERVAL: '0' }).start();
const run = uniq('b');
const names = Array.from({ length: N }, (_, k) => `dev-${run}-${k}`);

let t0 = performance.now();
await pool(names, (n) => putObject(client, process.env.EP_BUCKET_STATE, `bench/${n}.json`, claim(n)));
const putSecs = (performance.now() - t0) / 1000;

const putDone = new Map();
t0 = performance.now();
await pool(names, async (n) => { await putObject(client, process.env.EP_BUCKET_DYNAMIC, `${n}.json`, claim(n)); putDone.set(n, performance.now()); });
const lat = [];
for (const n of names) {
  await log.waitFor((e) => e.subject === 'platform.claim.v1.accepted' && e.ce.subject === n, n, 120000);
}
const e2eSecs = (performance.now() - t0) / 1000;
for (const e of log.events) {
  if (e.subject === 'platform.claim.v1.accepted' && putDone.has(e.ce.subject)) lat.push(e.at - putDone.get(e.ce.subject));
}
await svc.stop();
await log.close();
client.destroy();

const putRate = N / putSecs, e2eRate = N / e2eSecs;
console.log(`claims: ${N}, concurrency ${CONC}`);
console.log(`baseline  S3 PUT only (no notification):      ${putRate.toFixed(0)} objects/s`);
console.log(`envplane  PUT -> MinIO -> NATS -> accepted:    ${e2eRate.toFixed(0)} claims/s`);
console.log(`ratio     end-to-end / plain PUT:              ${(e2eRate / putRate).toFixed(2)}`);
if (lat.length) console.log(`latency   PUT done -> accepted seen: p50 ${pct(lat, 0.5).toFixed(1)} ms, p99 ${pct(lat, 0.99).toFixed(1)} ms`);
