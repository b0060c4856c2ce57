// Shared harness for envplane's end-to-end tests.
//
// The stack (nats-server, redis-server, MinIO) is started by
// scripts/with-stack.sh, which exports its endpoints as EP_* variables.
// Here we start envplane's own binaries as child processes, talk to the
// stack through official clients (the NATS JavaScript client, the AWS SDK S3
// client) and wait on events, never on time.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, headers as natsHeaders } from 'nats';
import { S3Client, PutObjectCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import protobuf from 'protobufjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../../..');
export const BUILD = process.env.EP_BUILD_DIR ? path.resolve(ROOT, process.env.EP_BUILD_DIR) : path.join(ROOT, 'build');

export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the e2e tests through scripts/with-stack.sh`);
  return v;
}

let protoRoot;
export async function proto() {
  if (!protoRoot) {
    // Imports in proto/ are relative to proto/, as protoc-c sees them.
    const root = new protobuf.Root();
    root.resolvePath = (origin, target) => (path.isAbsolute(target) ? target : path.join(ROOT, 'proto', target));
    protoRoot = await root.load([
      'envplane/claim/v1/claim.proto', 'envplane/env/v1/env.proto', 'envplane/index/v1/index.proto',
      'envplane/attest/v1/attest.proto',
    ]);
  }
  return protoRoot;
}

export function s3() {
  return new S3Client({
    endpoint: env('EP_S3_ENDPOINT'),
    region: env('EP_S3_REGION'),
    credentials: { accessKeyId: env('EP_S3_ACCESS_KEY'), secretAccessKey: env('EP_S3_SECRET_KEY') },
    forcePathStyle: true,
  });
}

export async function putObject(client, bucket, key, body) {
  await client.send(new PutObjectCommand({
    Bucket: bucket, Key: key, Body: typeof body === 'string' ? body : JSON.stringify(body),
    ContentType: 'application/json',
  }));
}

export async function deleteObject(client, bucket, key) {
  await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}

// CloudEvents type -> protobuf message, as in libs/events/events.c.
export const TYPES = {
  'io.envplane.claim.v1.accepted': 'envplane.claim.v1.ClaimAccepted',
  'io.envplane.claim.v1.rejected': 'envplane.claim.v1.ClaimRejected',
  'io.envplane.claim.v1.deleted': 'envplane.claim.v1.ClaimDeleted',
  'io.envplane.env.v1.provisioning': 'envplane.env.v1.EnvTransition',
  'io.envplane.env.v1.ready': 'envplane.env.v1.EnvTransition',
  'io.envplane.env.v1.failed': 'envplane.env.v1.EnvTransition',
  'io.envplane.env.v1.deprovisioning': 'envplane.env.v1.EnvTransition',
  'io.envplane.env.v1.deleted': 'envplane.env.v1.EnvTransition',
  'io.envplane.env.v1.expiring': 'envplane.env.v1.EnvExpiry',
  'io.envplane.env.v1.expired': 'envplane.env.v1.EnvExpiry',
  'io.envplane.env.v1.expiry_warning': 'envplane.env.v1.EnvExpiry',
  'io.envplane.index.v1.updated': 'envplane.index.v1.IndexUpdated',
  'io.envplane.attest.v1.verified': 'envplane.attest.v1.AttestVerified',
  'io.envplane.attest.v1.failed': 'envplane.attest.v1.AttestFailed',
};

// Collects every message on platform.> from the moment it is created and
// lets tests wait for the first one matching a predicate.
export class EventLog {
  static async open() {
    const log = new EventLog();
    log.nc = await connect({ servers: env('EP_NATS_URL'), name: 'e2e-eventlog' });
    log.root = await proto();
    log.sub = log.nc.subscribe('platform.>');
    (async () => {
      for await (const m of log.sub) log.#add(m);
    })();
    await log.nc.flush();
    return log;
  }

  constructor() {
    this.events = [];
    this.waiters = [];
  }

  #add(m) {
    const h = {};
    if (m.headers) for (const [k, v] of m.headers) h[k.toLowerCase()] = v[0];
    const ce = {};
    for (const [k, v] of Object.entries(h)) if (k.startsWith('ce-')) ce[k.slice(3)] = decodeURIComponent(v);
    let data = null;
    const typeName = TYPES[ce.type];
    if (typeName) {
      const T = this.root.lookupType(typeName);
      data = T.toObject(T.decode(m.data), { enums: String, longs: Number, defaults: true, arrays: true });
    }
    const ev = { subject: m.subject, headers: h, ce, data, raw: m.data, at: performance.now() };
    this.events.push(ev);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(ev)) return true;
      clearTimeout(w.timer);
      w.resolve(ev);
      return false;
    });
  }

  // Resolve with the first event (already seen or future) matching pred.
  waitFor(pred, what, timeoutMs = 30000) {
    const hit = this.events.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; saw ${this.events.length} events: ` +
          this.events.slice(-5).map((e) => `${e.subject} ${e.ce.subject ?? ''}`).join(', ')));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  matching(pred) {
    return this.events.filter(pred);
  }

  async close() {
    await this.nc.drain();
  }
}

// A running envplane service binary.  Its stderr (JSON lines) is kept so a
// failing test can show what the service said.
export class Service {
  constructor(name, extraEnv = {}) {
    this.name = name;
    this.extraEnv = extraEnv;
    this.lines = [];
  }

  async start() {
    const bin = path.join(BUILD, 'bin', this.name);
    // EP_SERVICE_WRAPPER runs the service under a tool, e.g. valgrind; the
    // tool's exit status replaces the service's, so errors fail the test.
    const wrapper = (process.env.EP_SERVICE_WRAPPER || '').split(' ').filter(Boolean);
    const argv = [...wrapper, bin];
    this.proc = spawn(argv[0], argv.slice(1), {
      env: { ...process.env, EP_HTTP_LISTEN: '127.0.0.1:0', ...this.extraEnv },
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    this.exited = once(this.proc, 'exit');
    let buf = '';
    this.port = new Promise((resolve, reject) => {
      this.proc.stderr.on('data', (d) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          this.lines.push(line);
          if (process.env.EP_E2E_VERBOSE) process.stderr.write(`[${this.name}] ${line}\n`);
          try {
            const j = JSON.parse(line);
            if (j.msg === 'http endpoint up') resolve(Number(j.port));
          } catch { /* not JSON: kept in lines */ }
        }
      });
      this.proc.on('exit', (code) => reject(new Error(`${this.name} exited with ${code} before serving HTTP:\n${this.lines.join('\n')}`)));
    });
    // The port comes from the service's "http endpoint up" log line (info).
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 30000);
    try {
      await this.port;
    } finally {
      clearTimeout(timer);
    }
    await this.waitReady();
    return this;
  }

  async url(p) {
    return `http://127.0.0.1:${await this.port}${p}`;
  }

  // Poll /readyz: readiness is a state of the service, not an event we can
  // subscribe to; each probe is an HTTP round trip, not a timed guess.
  async waitReady(timeoutMs = 30000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const r = await fetch(await this.url('/readyz'));
        if (r.status === 200) return;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error(`${this.name} not ready after ${timeoutMs} ms:\n${this.lines.slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 25)); // probe interval, not a synchronisation guess
    }
  }

  async metrics() {
    const r = await fetch(await this.url('/metrics'));
    return r.text();
  }

  async stop(signal = 'SIGTERM') {
    if (this.proc.exitCode !== null) return this.proc.exitCode;
    this.proc.kill(signal);
    const [code] = await this.exited;
    return code;
  }
}

export function metricValue(text, name) {
  const re = new RegExp(`^${name.replace(/[{}"]/g, (c) => '\\' + c)}\\s+([0-9.e+]+)$`, 'm');
  const m = text.match(re);
  return m ? Number(m[1]) : 0;
}

export function uniq(prefix) {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export { natsHeaders };
