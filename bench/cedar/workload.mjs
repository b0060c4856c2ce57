// Benchmark workloads for `make bench-cedar`, written as Cedar text, Cedar
// JSON entities and a JSON array of requests into OUTDIR/<scenario>/:
//   a: 10 simple policies (== scopes);
//   b: 100 policies with attribute conditions and hierarchy checks, ~50 entities;
//   c, d: 1,000 and 10,000 policies of the shapes platforms write: per-pool
//         team rules, per-owner environment rules, per-type rules and a few
//         unscoped owner/attribute rules, over a fixed-size entity set.
// Deterministic (seeded), so every engine sees the same inputs.
//   node bench/cedar/workload.mjs OUTDIR
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

function rng(seed) {
  let s = seed >>> 0;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}
const uid = (type, id) => ({ type, id });
const ent = (type, id) => ({ __entity: { type, id } });
const actions = ['read', 'list', 'update', 'delete', 'create'];

function world(r, nusers, nteams, npools, nenvs) {
  const pick = a => a[Math.floor(r() * a.length)];
  const es = [];
  for (let t = 0; t < nteams; t++) es.push({ uid: uid('Team', `team-${t}`), attrs: { name: `team-${t}` }, parents: [uid('Org', 'acme')] });
  es.push({ uid: uid('Team', 'admins'), attrs: {}, parents: [uid('Org', 'acme')] });
  es.push({ uid: uid('Org', 'acme'), attrs: {}, parents: [] });
  for (let u = 0; u < nusers; u++)
    es.push({ uid: uid('User', `u${u}`), attrs: { level: 1 + (u % 5), email: `u${u}@acme.example`, active: u % 7 !== 0 },
              parents: [uid('Team', `team-${u % nteams}`), ...(u % 11 === 0 ? [uid('Team', 'admins')] : [])] });
  for (let p = 0; p < npools; p++) es.push({ uid: uid('Pool', `pool-${p}`), attrs: { region: pick(['eu', 'us']) }, parents: [uid('Org', 'acme')] });
  for (let e = 0; e < nenvs; e++)
    es.push({ uid: uid('Environment', `env-${e}`), attrs: { owner: ent('User', `u${e % nusers}`), tier: pick(['prod', 'dev']), protected: e % 3 === 0 },
              parents: [uid('Pool', `pool-${e % npools}`)] });
  for (const a of actions) es.push({ uid: uid('Action', a), attrs: {}, parents: [uid('Action', a === 'read' || a === 'list' ? 'view' : 'manage')] });
  return es;
}

function requests(r, nusers, nenvs, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push({ principal: uid('User', `u${Math.floor(r() * nusers)}`), action: uid('Action', actions[Math.floor(r() * actions.length)]),
               resource: uid('Environment', `env-${Math.floor(r() * nenvs)}`),
               context: { mfa: r() < 0.7, ip: { __extn: { fn: 'ip', arg: r() < 0.8 ? '10.1.2.3' : '203.0.113.9' } }, hour: Math.floor(r() * 24) } });
  }
  return out;
}

function scenarioA(r) {
  const pols = [];
  for (let i = 0; i < 10; i++)
    pols.push(`permit(principal == User::"u${i}", action == Action::"${actions[i % actions.length]}", resource);`);
  const es = world(r, 10, 2, 2, 4);
  return { pols, es, reqs: requests(r, 10, 4, 64) };
}

function scenarioB(r) {
  const pols = [];
  const nteams = 6, npools = 6, nenvs = 20, nusers = 14;
  for (let i = 0; pols.length < 100; i++) {
    const t = i % nteams, p = i % npools, e = i % nenvs;
    switch (i % 5) {
      case 0: pols.push(`permit(principal in Team::"team-${t}", action in [Action::"read", Action::"list"], resource in Pool::"pool-${p}")\n  when { principal.active && resource.tier == "${i % 2 ? 'prod' : 'dev'}" };`); break;
      case 1: pols.push(`permit(principal in Team::"team-${t}", action == Action::"update", resource in Pool::"pool-${p}")\n  when { principal.level >= ${1 + (i % 4)} && context.mfa };`); break;
      case 2: pols.push(`permit(principal, action in Action::"manage", resource == Environment::"env-${e}")\n  when { resource.owner == principal && context.ip.isInRange(ip("10.0.0.0/8")) };`); break;
      case 3: pols.push(`forbid(principal, action == Action::"delete", resource in Pool::"pool-${p}")\n  when { resource.protected } unless { principal in Team::"admins" };`); break;
      default: pols.push(`permit(principal is User in Org::"acme", action == Action::"list", resource is Environment in Pool::"pool-${p}")\n  when { context.hour >= ${i % 9} && context.hour < ${12 + (i % 12)} };`);
    }
  }
  const es = world(r, nusers, nteams, npools, nenvs);   // ~53 entities
  return { pols, es, reqs: requests(r, nusers, nenvs, 64) };
}

function scenarioBig(r, n) {
  // Pools, teams and environments grow with the policy count; the entities
  // stay a few hundred, so the difference with (b) is the policy count.
  const npools = Math.max(10, n / 10), nteams = npools, nenvs = Math.max(20, n / 5), nusers = 100;
  const pols = [];
  for (let i = 0; pols.length < n; i++) {
    const k = i % npools;
    switch (i % 10) {
      case 0: case 1: case 2:
        pols.push(`permit(principal in Team::"team-${(k + i) % nteams}", action in [Action::"read", Action::"list"], resource in Pool::"pool-${k}");`); break;
      case 3: case 4:
        pols.push(`permit(principal in Team::"team-${k}", action in [Action::"update", Action::"create"], resource in Pool::"pool-${k}")\n  when { principal.level >= 3 && context.mfa };`); break;
      case 5: case 6: case 7:
        pols.push(`permit(principal == User::"u${i % nusers}", action, resource == Environment::"env-${i % nenvs}");`); break;
      case 8:
        pols.push(`forbid(principal, action == Action::"delete", resource == Environment::"env-${i % nenvs}")\n  when { resource.protected } unless { principal in Team::"admins" };`); break;
      default:
        pols.push(`permit(principal is User, action == Action::"read", resource is Environment in Pool::"pool-${k}")\n  when { resource.tier == "dev" && principal.level > ${i % 5} };`);
    }
  }
  // A handful of unscoped platform-wide rules every request evaluates.
  pols.push('permit(principal, action in Action::"manage", resource) when { resource has owner && resource.owner == principal && context.mfa };');
  pols.push('forbid(principal, action, resource) when { principal has active && !principal.active };');
  pols.push('forbid(principal, action, resource) unless { context.ip.isInRange(ip("10.0.0.0/8")) || principal in Team::"admins" };');
  const es = world(r, nusers, nteams, npools, nenvs);
  // Half the requests come from an owner to one of their environments, so
  // the decisions are not all Deny.
  const reqs = requests(r, nusers, nenvs, 64).map(q => {
    if (r() < 0.5) return q;
    const i = 10 * Math.floor(r() * (n / 10)) + 5 + Math.floor(r() * 3);
    return { ...q, principal: uid('User', `u${i % nusers}`), resource: uid('Environment', `env-${i % nenvs}`) };
  });
  return { pols, es, reqs };
}

const outdir = process.argv[2] ?? 'build/bench-cedar';
const r = rng(0xBE4C);
const scen = { a: scenarioA(r), b: scenarioB(r), c: scenarioBig(r, 1000), d: scenarioBig(r, 10000) };
for (const [name, s] of Object.entries(scen)) {
  const dir = path.join(outdir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'policies.cedar'), s.pols.join('\n') + '\n');
  writeFileSync(path.join(dir, 'entities.json'), JSON.stringify(s.es));
  writeFileSync(path.join(dir, 'requests.json'), JSON.stringify(s.reqs));
  s.reqs.forEach((q, i) => writeFileSync(path.join(dir, `request-${i}.json`), JSON.stringify(q)));
  console.error(`${name}: ${s.pols.length} policies, ${s.es.length} entities, ${s.reqs.length} requests`);
}
