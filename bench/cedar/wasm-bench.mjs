// Times cedar-wasm on a workload of workload.mjs: the policy set is
// pre-parsed once (preparsePolicySet) and each decision is one
// statefulIsAuthorized call with the request and the entities, as the
// package's stateful interface takes them.  Prints one JSON line.
//   node bench/cedar/wasm-bench.mjs DIR [seconds]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.resolve('tests/cedar/package.json'));
const wasm = await import(require.resolve('@cedar-policy/cedar-wasm/nodejs'));
const dir = process.argv[2];
const seconds = Number(process.argv[3] ?? 2);
const policies = readFileSync(path.join(dir, 'policies.cedar'), 'utf8');
const entities = JSON.parse(readFileSync(path.join(dir, 'entities.json'), 'utf8'));
const reqs = JSON.parse(readFileSync(path.join(dir, 'requests.json'), 'utf8'));
const pre = wasm.preparsePolicySet('bench', { staticPolicies: policies });
if (pre.type !== 'success') { console.error(JSON.stringify(pre)); process.exit(1); }
const call = q => ({ principal: q.principal, action: q.action, resource: q.resource, context: q.context,
                     preparsedPolicySetId: 'bench', entities });
const decisions = reqs.map(q => {
  const a = wasm.statefulIsAuthorized(call(q));
  if (a.type !== 'success') { console.error(JSON.stringify(a)); process.exit(1); }
  return a.response.decision === 'allow' ? 'A' : 'D';
}).join('');
const lat = [];
const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
let n = 0;
const start = process.hrtime.bigint();
while (process.hrtime.bigint() < end || n < 5) {
  const t0 = process.hrtime.bigint();
  wasm.statefulIsAuthorized(call(reqs[n % reqs.length]));
  lat.push(Number(process.hrtime.bigint() - t0));
  n++;
}
const total = Number(process.hrtime.bigint() - start);
lat.sort((a, b) => a - b);
console.log(JSON.stringify({ n, per_sec: Math.round(n * 1e9 / total), median_ns: lat[Math.floor(n / 2)],
                             p99_ns: lat[Math.floor(n * 0.99)], decisions }));
