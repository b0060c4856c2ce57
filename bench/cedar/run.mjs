// `make bench-cedar`: generate the workloads, time libs/cedar (cedar bench),
// cedar-wasm (wasm-bench.mjs, pre-parsed policy set, statefulIsAuthorized)
// and the Rust reference CLI on the same inputs, check that the three agree
// on every decision, and print a table with the ratios.
//   node bench/cedar/run.mjs BUILD_DIR [RUST_CEDAR_BIN]
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';

const build = process.argv[2] ?? 'build';
const rust = process.argv[3];
const secs = process.env.CEDAR_BENCH_SECONDS ?? '2';
const out = path.join(build, 'bench-cedar');
mkdirSync(out, { recursive: true });
const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return r.stdout;
};
run('node', ['bench/cedar/workload.mjs', out], { stdio: ['ignore', 'pipe', 'inherit'] });

// The Rust CLI decides one request per process; its --timing report
// separates the authorization call from process start and parsing, so both
// are recorded: `auth` is the decision alone, `proc` the whole invocation.
function rustBench(dir, nreq) {
  const auth = [], proc = [];
  let decisions = '';
  for (let i = 0; i < nreq; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(rust, ['authorize', '--policies', path.join(dir, 'policies.cedar'),
      '--entities', path.join(dir, 'entities.json'), '--request-json', path.join(dir, `rust-request-${i}.json`), '--timing'],
      { encoding: 'utf8' });
    proc.push(Number(process.hrtime.bigint() - t0));
    const text = r.stdout + r.stderr;
    decisions += /^ALLOW/m.test(text) ? 'A' : /^DENY/m.test(text) ? 'D' : '?';
    const m = /Authorization Time \(micro seconds\)\s*:\s*(\d+)/.exec(text);
    if (m) auth.push(Number(m[1]) * 1000);
  }
  const q = (a, f) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.min(s.length - 1, Math.floor(s.length * f))] : NaN; };
  return { median_ns: q(auth, 0.5), p99_ns: q(auth, 0.99), proc_median_ns: q(proc, 0.5), decisions,
           per_sec: auth.length ? Math.round(1e9 / (auth.reduce((a, b) => a + b, 0) / auth.length)) : NaN };
}

// The warm Rust measurement: bench/cedar/rust (cedar-policy, same version as
// the CLI) is copied into the build directory, so cargo's lock file and
// target stay out of the source tree, and built there.
let rustWarm = null;
if (spawnSync('cargo', ['--version']).status === 0) {
  const src = path.join(out, 'rust');
  mkdirSync(path.join(src, 'src'), { recursive: true });
  cpSync('bench/cedar/rust/Cargo.toml', path.join(src, 'Cargo.toml'));
  cpSync('bench/cedar/rust/src/main.rs', path.join(src, 'src', 'main.rs'));
  console.error('bench-cedar: cargo build --release of bench/cedar/rust (a few minutes the first time)');
  const b = spawnSync('cargo', ['build', '--release', '-q', '--manifest-path', path.join(src, 'Cargo.toml')], { stdio: 'inherit' });
  if (b.status === 0) rustWarm = path.join(src, 'target', 'release', 'cedar-bench');
}

const rows = [];
for (const s of ['a', 'b', 'c', 'd']) {
  const dir = path.join(out, s);
  const ours = JSON.parse(run(path.join(build, 'bin', 'cedar'), ['bench', '--policies', path.join(dir, 'policies.cedar'),
    '--entities', path.join(dir, 'entities.json'), '--requests', path.join(dir, 'requests.json'), '--seconds', secs]));
  const oursJson = JSON.parse(run(path.join(build, 'bin', 'cedar'), ['bench', '--policies', path.join(dir, 'policies.cedar'),
    '--entities', path.join(dir, 'entities.json'), '--requests', path.join(dir, 'requests.json'), '--seconds', secs, '--parse-request']));
  const wasm = JSON.parse(run('node', ['bench/cedar/wasm-bench.mjs', dir, secs]));
  let rs = null;
  if (rust && existsSync(rust)) {
    const reqs = JSON.parse(readFileSync(path.join(dir, 'requests.json'), 'utf8'));
    const str = u => `${u.type}::${JSON.stringify(u.id)}`;
    reqs.forEach((q, i) => writeFileSync(path.join(dir, `rust-request-${i}.json`),
      JSON.stringify({ principal: str(q.principal), action: str(q.action), resource: str(q.resource), context: q.context })));
    rs = rustBench(dir, reqs.length);
  }
  const rw = rustWarm ? JSON.parse(run(rustWarm, [dir, secs])) : null;
  rows.push({ s, ours, oursJson, wasm, rs, rw });
}

const us = ns => (ns / 1000).toFixed(ns < 10000 ? 3 : 1);
const fmt = n => Number.isFinite(n) ? n.toLocaleString('en-US') : 'n/a';
console.log('\nscenario      engine        decisions/s     median µs    p99 µs   agree');
for (const { s, ours, oursJson, wasm, rs, rw } of rows) {
  const agree = e => e ? (e.decisions === ours.decisions ? 'yes' : `NO (${e.decisions})`) : '';
  console.log(`${s} (${ours.policies} pol)`.padEnd(14) + 'libs/cedar'.padEnd(14) + fmt(ours.per_sec).padStart(12) + us(ours.median_ns).padStart(13) + us(ours.p99_ns).padStart(10));
  console.log(''.padEnd(14) + '  + req JSON'.padEnd(14) + fmt(oursJson.per_sec).padStart(12) + us(oursJson.median_ns).padStart(13) + us(oursJson.p99_ns).padStart(10) + '   ' + agree(oursJson));
  console.log(''.padEnd(14) + 'cedar-wasm'.padEnd(14) + fmt(wasm.per_sec).padStart(12) + us(wasm.median_ns).padStart(13) + us(wasm.p99_ns).padStart(10) + '   ' + agree(wasm));
  if (rw) console.log(''.padEnd(14) + 'rust (warm)'.padEnd(14) + fmt(rw.per_sec).padStart(12) + us(rw.median_ns).padStart(13) + us(rw.p99_ns).padStart(10) + '   ' + agree(rw));
  if (rs) console.log(''.padEnd(14) + 'rust cli'.padEnd(14) + fmt(rs.per_sec).padStart(12) + us(rs.median_ns).padStart(13) + us(rs.p99_ns).padStart(10) + '   ' + agree(rs) +
                      `   (whole process ${us(rs.proc_median_ns)} µs)`);
}
console.log('\nratios (median latency, other engine / libs/cedar):');
for (const { s, ours, wasm, rs, rw } of rows) {
  let line = `  ${s}: cedar-wasm ${(wasm.median_ns / ours.median_ns).toFixed(0)}x`;
  if (rw) line += `, rust cedar-policy warm ${(rw.median_ns / ours.median_ns).toFixed(1)}x`;
  if (rs) line += `, rust cli (decision only) ${(rs.median_ns / ours.median_ns).toFixed(1)}x, rust cli (per invocation) ${(rs.proc_median_ns / ours.median_ns).toFixed(0)}x`;
  console.log(line);
}
const b = rows.find(r => r.s === 'b').ours, d = rows.find(r => r.s === 'd').ours;
console.log(`\nscaling: (d) per-decision cost / (b) = ${(d.median_ns / b.median_ns).toFixed(2)} (median), ` +
            `${((1e9 / d.per_sec) / (1e9 / b.per_sec)).toFixed(2)} (mean)`);
console.log(`targets on (b): median ${us(b.median_ns)} µs (< 1), p99 ${us(b.p99_ns)} µs (< 20), ` +
            `${(rows[1].wasm.median_ns / b.median_ns).toFixed(0)}x cedar-wasm (>= 100)`);
writeFileSync(path.join(out, 'results.json'), JSON.stringify(rows, null, 1));
