// Differential test of libs/cedar against the reference Cedar implementation
// (@cedar-policy/cedar-wasm, pinned in package.json).
//
// Every case of the corpus (hand-written cases in cases.mjs, generated ones
// from gen.mjs with a fixed seed) runs through cedar-wasm in this process
// and through `cedar batch` (build/bin/cedar, one process for all cases).
// Decisions, determining policy ids and erroring policy ids must agree;
// for parse-acceptance cases, acceptance must agree.  Prints every
// disagreement and, as its last line, `N passed, M failed`.
//
//   node tests/cedar/run-diff.mjs [--cedar build/bin/cedar] [--dump out.jsonl]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as wasm from '@cedar-policy/cedar-wasm/nodejs';
import { handCases, parseCases } from './cases.mjs';
import { generatedCases, generatedParseCases, generatedExtCases, generatedWorldCases, generatedLikeCases } from './gen.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const argOf = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : d; };
const cedarBin = argOf('--cedar', path.join(here, '..', '..', 'build', 'bin', 'cedar'));
const dump = argOf('--dump', null);

function reference(c) {
  if ('check' in c) {
    const r = wasm.checkParsePolicySet({ staticPolicies: c.check });
    return { ok: r.type === 'success', why: r.type === 'success' ? '' : r.errors.map(e => e.message).join('; ') };
  }
  const r = wasm.isAuthorized({
    principal: c.request.principal, action: c.request.action, resource: c.request.resource,
    context: c.request.context ?? {}, policies: { staticPolicies: c.policies }, entities: c.entities ?? [],
  });
  if (r.type !== 'success') return { failure: true, why: r.errors.map(e => e.message).join('; ') };
  const d = r.response.diagnostics;
  return {
    decision: r.response.decision === 'allow' ? 'Allow' : 'Deny',
    reasons: [...d.reason].sort(),
    errors: d.errors.map(e => e.policyId).sort(),
    why: d.errors.map(e => `${e.policyId}: ${e.error.message}`).join('; '),
  };
}

function same(ref, ours) {
  if ('ok' in ref) return ref.ok === ours.ok;
  if (ref.failure) return 'error' in ours;
  if ('error' in ours) return false;
  return ref.decision === ours.decision &&
    JSON.stringify(ref.reasons) === JSON.stringify([...ours.reasons].sort()) &&
    JSON.stringify(ref.errors) === JSON.stringify([...ours.errors].sort());
}

const cases = [...handCases(), ...parseCases(), ...generatedCases(), ...generatedExtCases(), ...generatedWorldCases(), ...generatedLikeCases(), ...generatedParseCases()];
const input = cases.map(c => JSON.stringify('check' in c ? { check: c.check } :
  { policies: c.policies, entities: c.entities ?? [], request: c.request })).join('\n') + '\n';
const run = spawnSync(cedarBin, ['batch'], { input, maxBuffer: 1 << 30, encoding: 'utf8' });
if (run.status !== 0) {
  console.error(`cedar batch exited with ${run.status} ${run.signal ?? ''}\n${run.stderr}`);
  console.log(`0 passed, ${cases.length} failed`);
  process.exit(1);
}
const lines = run.stdout.trimEnd().split('\n');
let passed = 0, failed = 0;
const kinds = {};
const dumped = [];
cases.forEach((c, i) => {
  let ref;
  try { ref = reference(c); } catch (e) {
    // A crash of the reference (stack exhaustion on deep nesting) poisons
    // the wasm instance for every later case: stop with a clear message.
    console.log(`reference crashed on ${c.name.slice(0, 120)}: ${e.message}`);
    console.log(`${passed} passed, ${cases.length - passed} failed`);
    process.exit(2);
  }
  let ours;
  try { ours = JSON.parse(lines[i]); } catch { ours = { error: `no answer (line ${i})` }; }
  const ok = same(ref, ours);
  const kind = 'check' in c ? 'parse' : 'authz';
  kinds[kind] ??= { passed: 0, failed: 0 };
  kinds[kind][ok ? 'passed' : 'failed']++;
  if (ref.failure) kinds[kind].refFailures = (kinds[kind].refFailures ?? 0) + 1;
  if (ok) passed++;
  else {
    failed++;
    console.log(`FAIL ${c.name}\n  policies: ${JSON.stringify(c.check ?? c.policies)}\n  reference: ${JSON.stringify(ref)}\n  cedar:     ${JSON.stringify(ours)}`);
  }
  if (dump) dumped.push(JSON.stringify({ name: c.name, ...c, expect: ref }));
});
if (dump) writeFileSync(dump, dumped.join('\n') + '\n');

// The operator commands themselves, on a sample: `cedar authorize` with
// files must print what the reference decides, `cedar check` must exit 0
// exactly when the reference accepts the text.
const tmp = mkdtempSync(path.join(tmpdir(), 'cedar-diff-'));
cases.filter((_, i) => i % 97 === 0).forEach((c, k) => {
  const ref = reference(c);
  const pf = path.join(tmp, `p${k}.cedar`);
  let ok;
  if ('check' in c) {
    writeFileSync(pf, c.check);
    const r = spawnSync(cedarBin, ['check', pf], { encoding: 'utf8' });
    ok = (r.status === 0) === ref.ok && (r.status === 0 || /:\d+:\d+: /.test(r.stderr));
  } else {
    writeFileSync(pf, c.policies);
    writeFileSync(path.join(tmp, `e${k}.json`), JSON.stringify(c.entities ?? []));
    writeFileSync(path.join(tmp, `r${k}.json`), JSON.stringify(c.request));
    const r = spawnSync(cedarBin, ['authorize', '--policies', pf, '--entities', path.join(tmp, `e${k}.json`),
                                   '--request', path.join(tmp, `r${k}.json`)], { encoding: 'utf8' });
    let ours = { error: r.stderr };
    if (r.status === 0) { try { ours = JSON.parse(r.stdout); } catch { ours = { error: 'bad JSON: ' + r.stdout }; } }
    ok = same(ref, ours);
  }
  kinds.cli ??= { passed: 0, failed: 0 };
  kinds.cli[ok ? 'passed' : 'failed']++;
  if (ok) passed++;
  else { failed++; console.log(`FAIL (cli) ${c.name}`); }
});
rmSync(tmp, { recursive: true, force: true });
// Cases the reference rejects outright (bad entity data, parse errors) agree
// when we reject them too; they are counted so a broken world shows up.
for (const [k, v] of Object.entries(kinds))
  console.log(`${k}: ${v.passed} passed, ${v.failed} failed` + (v.refFailures ? ` (${v.refFailures} rejected by both)` : ''));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
