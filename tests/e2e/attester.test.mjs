// End-to-end tests of the attester: SEV-SNP evidence from a generated
// (test-only) AMD-like PKI, verification over NATS request/reply and over the
// KBS protocol, and secret release as a JWE that only the workload's private
// key opens.  Evidence is made by build/bin/snp-testgen; secrets are stored
// with the service's own admin subcommand (`attester secret put`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect } from 'nats';
import { flattenedDecrypt, decodeJwt, importJWK } from 'jose';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { BUILD, EventLog, Service, env, metricValue, proto, putObject, s3, uniq } from './lib/harness.mjs';

const MEASUREMENT = '11'.repeat(48);
let dir, log, nc, svc, root, kbsBase;
const ENV_A = uniq('att-a');
const ENV_B = uniq('att-b');
const SECRET = 'correct horse battery staple';

function bin(name) { return path.join(BUILD, 'bin', name); }

function putSecret(envName, name, value, policy) {
  const args = ['secret', 'put', envName, name];
  if (policy) args.push(JSON.stringify(policy));
  execFileSync(bin('attester'), args, {
    input: value,
    env: { ...process.env, EP_SECRETS_KEK_FILE: path.join(dir, 'kek.hex') },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
}

function report(reportDataHex, extra = []) {
  return execFileSync(bin('snp-testgen'), ['report', dir, reportDataHex, ...extra], { maxBuffer: 4096 });
}

function workloadKey() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { pub: publicKey.export({ format: 'jwk' }), priv: privateKey.export({ format: 'jwk' }) };
}

// report_data for the NATS API: SHA-512(nonce || the JWK text sent).
function binding(nonce, keyText) {
  return crypto.createHash('sha512').update(Buffer.concat([Buffer.from(nonce), Buffer.from(keyText)])).digest('hex');
}

async function rpc(subject, typeIn, msg, typeOut) {
  const In = root.lookupType(typeIn);
  const Out = root.lookupType(typeOut);
  const m = await nc.request(subject, In.encode(In.fromObject(msg)).finish(), { timeout: 10000 });
  return Out.toObject(Out.decode(m.data), { enums: String, longs: Number, defaults: true, arrays: true, bytes: Buffer });
}

const challenge = () => rpc('platform.attest.v1.challenge', 'envplane.attest.v1.ChallengeRequest', { environment: ENV_A },
  'envplane.attest.v1.ChallengeReply');
const verify = (req) => rpc('platform.attest.v1.verify', 'envplane.attest.v1.VerifyRequest',
  { evidenceType: 'EVIDENCE_TYPE_SEV_SNP', vcek: fs.readFileSync(path.join(dir, 'vcek.der')), ...req },
  'envplane.attest.v1.VerifyReply');
const release = (token, environment, name) => rpc('platform.secret.v1.release', 'envplane.attest.v1.SecretReleaseRequest',
  { token, environment, name }, 'envplane.attest.v1.SecretReleaseReply');

// The KBS response always carries "encrypted_key" (empty for ECDH-ES, whose
// key is agreed, not transported); RFC 7516 7.2.1 omits an empty member and
// jose insists on that, so drop it before decrypting.
async function decrypt(jwe, privJwk) {
  const key = await importJWK(privJwk, privJwk.kty === 'RSA' ? 'RSA-OAEP' : 'ECDH-ES');
  const j = typeof jwe === 'string' ? JSON.parse(jwe) : { ...jwe };
  if (j.encrypted_key === '') delete j.encrypted_key;
  const { plaintext } = await flattenedDecrypt(j, key);
  return Buffer.from(plaintext).toString();
}

// A full NATS attestation for `environment`/`workload`; returns what it used.
async function attest({ environment = ENV_A, workload = 'web', tamper = false, extra = [], images = [] } = {}) {
  const ch = await challenge();
  assert.equal(ch.error, '');
  assert.equal(ch.nonce.length, 32);
  const k = workloadKey();
  const keyText = JSON.stringify(k.pub);
  const rep = Buffer.from(report(binding(ch.nonce, keyText), extra));
  if (tamper) rep[0x90] ^= 1; // measurement byte: covered by the signature
  const reply = await verify({ report: rep, nonce: ch.nonce, environment, workload, workloadKey: keyText, imageDigests: images });
  return { ch, k, keyText, rep, reply };
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attester-e2e-'));
  execFileSync(bin('snp-testgen'), ['pki', dir]);
  fs.writeFileSync(path.join(dir, 'kek.hex'), crypto.randomBytes(32).toString('hex') + '\n');
  // One token-signing key for every replica (docs/attester.md).
  const sk = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  fs.writeFileSync(path.join(dir, 'signing.jwk'), JSON.stringify(sk));
  fs.writeFileSync(path.join(dir, 'ref.json'), JSON.stringify({
    environments: {
      [ENV_A]: { web: { measurements: [MEASUREMENT], allow_smt: true } },
      [ENV_B]: { '*': { measurements: [MEASUREMENT], allow_smt: true } },
    },
  }));
  putSecret(ENV_A, 'db-password', SECRET);
  putSecret(ENV_A, 'db/password', SECRET + ' (kbs)');
  putSecret(ENV_B, 'only-b', 'b-secret');
  putSecret(ENV_B, 'only/b', 'b-secret');
  putSecret(ENV_B, 'shared', 'shared-secret', { environments: [ENV_A] });
  root = await proto();
  log = await EventLog.open();
  nc = await connect({ servers: env('EP_NATS_URL'), name: 'e2e-attester' });
  svc = await new Service('attester', serviceEnv()).start();
  kbsBase = kbsUrl(svc);
});

function serviceEnv() {
  return {
    EP_REDIS_URL: env('EP_REDIS_URL'),
    EP_ARK_FILE: path.join(dir, 'ark.pem'),
    EP_ASK_FILE: path.join(dir, 'ask.pem'),
    EP_REFERENCE_FILE: path.join(dir, 'ref.json'),
    EP_SECRETS_KEK_FILE: path.join(dir, 'kek.hex'),
    EP_KBS_LISTEN: '127.0.0.1:0',
    EP_KBS_ENVIRONMENT: ENV_A,
    EP_KBS_WORKLOAD: 'web',
    EP_SIGNING_KEY_FILE: path.join(dir, 'signing.jwk'),
  };
}

function kbsUrl(s) {
  const up = s.lines.map((l) => { try { return JSON.parse(l); } catch { return {}; } }).find((j) => j.msg === 'kbs endpoint up');
  assert.ok(up, 'the service logs its KBS port');
  return `http://127.0.0.1:${up.port}/kbs/v0`;
}

after(async () => {
  const code = svc ? await svc.stop('SIGTERM') : 0;
  await nc?.drain();
  await log?.close();
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(code, 0, 'attester exits 0 on SIGTERM');
});

test('secret release: a report binding the workload key yields a token and a JWE only that key opens', async () => {
  const { reply, k } = await attest();
  assert.equal(reply.error, '');
  assert.deepEqual(reply.reasons, []);
  assert.equal(reply.passed, true);
  assert.equal(reply.status, 'affirming');
  const claims = decodeJwt(reply.token);
  assert.equal(claims.eat_profile, 'tag:github.com,2023:veraison/ear');
  assert.equal(claims.submods.cpu0['ear.status'], 'affirming');
  assert.equal(claims.submods.cpu0['ear.veraison.annotated-evidence'].envplane.environment, ENV_A);

  const ev = await log.waitFor((e) => e.subject === 'platform.attest.v1.verified' && e.data?.attestationId === reply.attestationId,
    'attest.verified');
  assert.equal(ev.ce.subject, ENV_A);
  assert.equal(ev.data.status, 'affirming');
  assert.equal(ev.data.measurement, MEASUREMENT);
  assert.equal(ev.data.via, 'nats');

  const rel = await release(reply.token, ENV_A, 'db-password');
  assert.equal(rel.code, 0, rel.error);
  assert.ok(!rel.jwe.includes(SECRET), 'never in the clear');
  const jwe = JSON.parse(rel.jwe);
  assert.deepEqual(Object.keys(jwe).sort(), ['ciphertext', 'encrypted_key', 'iv', 'protected', 'tag']);
  assert.equal(await decrypt(jwe, k.priv), SECRET);
  // Another key cannot open it.
  await assert.rejects(decrypt(jwe, workloadKey().priv));

  // The release policy: a secret of another environment only when it says so.
  assert.equal((await release(reply.token, ENV_B, 'only-b')).code, 403);
  const shared = await release(reply.token, ENV_B, 'shared');
  assert.equal(shared.code, 0, shared.error);
  assert.equal(await decrypt(shared.jwe, k.priv), 'shared-secret');
  assert.equal((await release(reply.token, ENV_A, 'no-such-secret')).code, 404);

  const m = await svc.metrics();
  assert.ok(metricValue(m, 'attester_verifications_total{result="verified"}') >= 1);
  assert.ok(metricValue(m, 'attester_releases_total{result="released"}') >= 2);
  assert.ok(metricValue(m, 'attester_releases_total{result="denied"}') >= 1);
});

test('tampered report: attest.failed with the signature reason, no token, nothing released', async () => {
  const { reply } = await attest({ tamper: true });
  assert.equal(reply.passed, false);
  assert.equal(reply.token, '');
  assert.equal(reply.status, 'contraindicated');
  const names = reply.reasons.map((r) => r.name);
  assert.ok(names.includes('bad_signature'), names.join(','));
  const ev = await log.waitFor((e) => e.subject === 'platform.attest.v1.failed' && e.data?.attestationId === reply.attestationId,
    'attest.failed for the tampered report');
  assert.deepEqual(ev.data.reasons.map((r) => r.name), names);
  // Without a pass there is no token, and no token releases nothing.
  for (const t of ['', 'not-a-token', reply.token]) {
    const rel = await release(t, ENV_A, 'db-password');
    assert.equal(rel.code, 401);
    assert.equal(rel.jwe, '');
  }
});

test('replayed nonce: the second use of a nonce fails with nonce_replayed; a forged report did not burn it', async () => {
  const ch = await challenge();
  const k = workloadKey();
  const keyText = JSON.stringify(k.pub);
  const good = report(binding(ch.nonce, keyText));
  const forged = Buffer.from(good);
  forged[0x50] ^= 1; // report_data: breaks the signature
  const req = { nonce: ch.nonce, environment: ENV_A, workload: 'web', workloadKey: keyText };
  const r0 = await verify({ ...req, report: forged });
  assert.equal(r0.passed, false);
  const r1 = await verify({ ...req, report: good });
  assert.equal(r1.passed, true, JSON.stringify(r1.reasons));
  const r2 = await verify({ ...req, report: good });
  assert.equal(r2.passed, false);
  assert.deepEqual(r2.reasons.map((r) => r.name), ['nonce_replayed']);
  await log.waitFor((e) => e.subject === 'platform.attest.v1.failed' && e.data?.attestationId === r2.attestationId &&
    e.data.reasons.some((r) => r.name === 'nonce_replayed'), 'attest.failed nonce_replayed');
  // A nonce never issued, and a key that is not the bound one.
  const r3 = await verify({ ...req, report: good, nonce: crypto.randomBytes(32) });
  assert.ok(r3.reasons.map((r) => r.name).includes('report_data'));
  const ch2 = await challenge();
  const r4 = await verify({ ...req, nonce: ch2.nonce, report: report(binding(ch2.nonce, keyText)),
    workloadKey: JSON.stringify(workloadKey().pub) });
  assert.deepEqual(r4.reasons.map((r) => r.name), ['report_data']);
});

test('appraisal: every reason at once (measurement, debug policy, image not allowed, unknown workload)', async () => {
  const { reply } = await attest({ extra: ['--measurement', 'ee'.repeat(48), '--policy', 'b0000'],
    images: ['sha256:' + 'ab'.repeat(32)] });
  const names = reply.reasons.map((r) => r.name).sort();
  assert.equal(reply.passed, false);
  assert.deepEqual(names, ['debug', 'image_digest', 'measurement']);
  const other = await attest({ workload: 'unknown-workload' });
  assert.equal(other.reply.passed, false);
  assert.ok(other.reply.reasons.some((r) => r.name === 'no_reference'));
  // ENV_B has a "*" reference: any workload passes there.
  const b = await attest({ environment: ENV_B, workload: 'anything' });
  assert.equal(b.reply.passed, true, JSON.stringify(b.reply.reasons));
});

function canon(v) {
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

async function kbsAuth(base = kbsBase, tee = 'snp', extra = '') {
  const r = await fetch(`${base}/auth`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ version: '0.1.0', tee, 'extra-params': extra }) });
  assert.equal(r.status, 200);
  const cookie = r.headers.get('set-cookie').split(';')[0];
  assert.match(cookie, /^kbs-session-id=[0-9a-f]{32}$/);
  return { cookie, nonce: (await r.json()).nonce };
}

// legacy: the protocol's first form, tee-pubkey at the top level and no
// runtime-data; the binding is the same object.
async function kbsAttest(cookie, nonce, k, tamper = false, base = kbsBase, legacy = false) {
  const runtimeData = { nonce, 'tee-pubkey': k.pub };
  const rep = Buffer.from(report(crypto.createHash('sha512').update(canon(runtimeData)).digest('hex')));
  if (tamper) rep[0x90] ^= 1;
  const evidence = { report: rep.toString('base64'), vcek: fs.readFileSync(path.join(dir, 'vcek.pem'), 'utf8') };
  const body = legacy ? { 'tee-pubkey': k.pub, 'tee-evidence': JSON.stringify(evidence) }
    : { 'runtime-data': runtimeData, 'tee-evidence': evidence };
  return fetch(`${base}/attest`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' },
    body: JSON.stringify(body) });
}

test('KBS protocol: auth -> attest -> resource, with 401/403/404 as the protocol says', async () => {
  const k = workloadKey();
  const { cookie, nonce } = await kbsAuth();
  // No attestation yet: the resource is refused.
  assert.equal((await fetch(`${kbsBase}/resource/${ENV_A}/db/password`, { headers: { cookie } })).status, 401);
  assert.equal((await fetch(`${kbsBase}/resource/${ENV_A}/db/password`)).status, 401);

  const at = await kbsAttest(cookie, nonce, k);
  assert.equal(at.status, 200, await at.clone().text());
  const { token } = await at.json();
  assert.equal(decodeJwt(token).submods.cpu0['ear.status'], 'affirming');
  await log.waitFor((e) => e.subject === 'platform.attest.v1.verified' && e.data?.via === 'kbs', 'attest.verified via kbs');

  const res = await fetch(`${kbsBase}/resource/${ENV_A}/db/password`, { headers: { cookie } });
  assert.equal(res.status, 200);
  assert.equal(await decrypt(await res.json(), k.priv), SECRET + ' (kbs)');
  // The token works as a bearer token too; policy and absence.
  const bearer = { authorization: `Bearer ${token}` };
  assert.equal((await fetch(`${kbsBase}/resource/${ENV_A}/db/password`, { headers: bearer })).status, 200);
  assert.equal((await fetch(`${kbsBase}/resource/${ENV_B}/only/b`, { headers: bearer })).status, 403);
  assert.equal((await fetch(`${kbsBase}/resource/${ENV_A}/no/such`, { headers: bearer })).status, 404);
  assert.equal((await fetch(`${kbsBase}/resource/${ENV_B}/x/y`, { headers: { authorization: 'Bearer nope' } })).status, 401);

  // The session's nonce is single use.
  const again = await kbsAttest(cookie, nonce, k);
  assert.equal(again.status, 401);
  assert.match((await again.json()).detail, /nonce_replayed/);
});

test('KBS protocol: a tampered report gets 401 and attest.failed; no secret for the session', async () => {
  const k = workloadKey();
  const { cookie, nonce } = await kbsAuth();
  const at = await kbsAttest(cookie, nonce, k, true);
  assert.equal(at.status, 401);
  const body = await at.json();
  assert.match(body.type, /\/errors\/AttestationFailed$/);
  assert.match(body.detail, /bad_signature/);
  await log.waitFor((e) => e.subject === 'platform.attest.v1.failed' && e.data?.via === 'kbs' &&
    e.data.reasons.some((r) => r.name === 'bad_signature'), 'attest.failed via kbs');
  assert.equal((await fetch(`${kbsBase}/resource/${ENV_A}/db/password`, { headers: { cookie } })).status, 401);
  // A nonce from another session does not fit this one.
  const other = await kbsAuth();
  const wrong = await kbsAttest(cookie, other.nonce, k);
  assert.equal(wrong.status, 401);
  assert.match((await wrong.json()).detail, /nonce_unknown/);
  await log.waitFor((e) => e.subject === 'platform.attest.v1.failed' && e.data?.via === 'kbs' &&
    e.data.reasons.some((r) => r.name === 'nonce_unknown' && /session/.test(r.detail)), 'attest.failed for a foreign nonce');
  // Neither session's nonce was burnt by that: the other session still attests.
  assert.equal((await kbsAttest(other.cookie, other.nonce, k)).status, 200);
});

test('KBS with an RSA tee-pubkey and two replicas: auth on one, attest on the other, resource from the first', async () => {
  const svc2 = await new Service('attester', serviceEnv()).start();
  try {
    const base2 = kbsUrl(svc2);
    assert.notEqual(base2, kbsBase);
    const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const k = { pub: publicKey.export({ format: 'jwk' }), priv: privateKey.export({ format: 'jwk' }) };
    const { cookie, nonce } = await kbsAuth(kbsBase);
    const at = await kbsAttest(cookie, nonce, k, false, base2);
    assert.equal(at.status, 200, await at.clone().text());
    const res = await fetch(`${kbsBase}/resource/${ENV_A}/db/password`, { headers: { cookie } });
    assert.equal(res.status, 200);
    const jwe = await res.json();
    assert.equal(JSON.parse(Buffer.from(jwe.protected, 'base64url')).alg, 'RSA-OAEP');
    assert.equal(await decrypt(jwe, k.priv), SECRET + ' (kbs)');
    // The nonce was consumed on replica 2: replica 1 refuses it now.
    const again = await kbsAttest(cookie, nonce, k, false, kbsBase);
    assert.equal(again.status, 401);
    assert.match((await again.json()).detail, /nonce_replayed/);
  } finally {
    assert.equal(await svc2.stop('SIGTERM'), 0);
  }
});

test('KBS: the protocol\'s first form (tee "amd-sev-snp", top-level tee-pubkey, evidence as JSON text); unsupported TEE', async () => {
  const k = workloadKey();
  const { cookie, nonce } = await kbsAuth(kbsBase, 'amd-sev-snp');
  const at = await kbsAttest(cookie, nonce, k, false, kbsBase, true);
  assert.equal(at.status, 200, await at.clone().text());
  const res = await fetch(`${kbsBase}/resource/${ENV_A}/db/password`, { headers: { cookie } });
  assert.equal(await decrypt(await res.json(), k.priv), SECRET + ' (kbs)');
  const tdx = await fetch(`${kbsBase}/auth`, { method: 'POST', body: JSON.stringify({ version: '0.1.0', tee: 'tdx', 'extra-params': '' }) });
  assert.equal(tdx.status, 400);
  assert.match((await tdx.json()).type, /UnsupportedTee$/);
});

// Resolve with the first log line of `s` matching pred (already written or
// future): the service announces its reloads, so we wait on that, not on time.
function waitLine(s, pred, what, timeoutMs = 20000) {
  const find = () => s.lines.map((l) => { try { return JSON.parse(l); } catch { return {}; } }).find(pred);
  const hit = find();
  if (hit) return Promise.resolve(hit);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { s.proc.stderr.off('data', on); reject(new Error(`timed out waiting for ${what}`)); }, timeoutMs);
    function on() {
      const h = find();
      if (h) { clearTimeout(timer); s.proc.stderr.off('data', on); resolve(h); }
    }
    s.proc.stderr.on('data', on);
  });
}

test('reference values from a bucket, reloaded when the object changes', async () => {
  const bucket = uniq('att-refs');
  const ENV_C = uniq('att-c');
  const client = s3();
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const refs = (envs) => ({ environments: Object.fromEntries(envs.map((e) => [e, { web: { measurements: [MEASUREMENT], allow_smt: true } }])) });
  await putObject(client, bucket, 'reference-values.json', refs([ENV_A]));
  const svc3 = await new Service('attester', { ...serviceEnv(), EP_REFERENCE_FILE: '', EP_REFERENCE_BUCKET: bucket,
    EP_RELOAD_INTERVAL: '200ms' }).start();
  try {
    const base3 = kbsUrl(svc3);
    const extra = JSON.stringify({ environment: ENV_C, workload: 'web' });
    const k = workloadKey();
    let { cookie, nonce } = await kbsAuth(base3, 'snp', extra);
    let at = await kbsAttest(cookie, nonce, k, false, base3);
    assert.equal(at.status, 401);
    assert.match((await at.json()).detail, /no_reference/);

    await putObject(client, bucket, 'reference-values.json', refs([ENV_A, ENV_C]));
    await waitLine(svc3, (j) => j.msg === 'reference values reloaded' && j.bucket === bucket, 'the reload');
    ({ cookie, nonce } = await kbsAuth(base3, 'snp', extra));
    at = await kbsAttest(cookie, nonce, k, false, base3);
    assert.equal(at.status, 200, await at.clone().text());
    assert.equal(decodeJwt((await at.json()).token).submods.cpu0['ear.veraison.annotated-evidence'].envplane.environment, ENV_C);

    // A broken object is reported and the previous values stay in force.
    await putObject(client, bucket, 'reference-values.json', '{"environments": {"x": {"w": {"measurment": []}}}}');
    await waitLine(svc3, (j) => j.msg?.startsWith('reference values not reloaded') && /measurment/.test(j.error), 'the rejected reload');
    ({ cookie, nonce } = await kbsAuth(base3, 'snp', extra));
    assert.equal((await kbsAttest(cookie, nonce, k, false, base3)).status, 200);
  } finally {
    assert.equal(await svc3.stop('SIGTERM'), 0);
  }
});
