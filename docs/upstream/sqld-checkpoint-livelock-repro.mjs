#!/usr/bin/env node
// Reproduces the sqld write livelock described in sqld-checkpoint-livelock.md. Needs only Node.js >= 18 and a
// sqld binary; no other dependency.
//
//   node sqld-checkpoint-livelock-repro.mjs /path/to/sqld [--writers 8] [--seconds 120] [-- extra sqld flags]
//   node sqld-checkpoint-livelock-repro.mjs /path/to/sqld -- --checkpoint-interval-s 5   # the workaround
//   RUST_LOG=libsql_server::connection::connection_manager=trace \
//     node sqld-checkpoint-livelock-repro.mjs /path/to/sqld --log sqld.log   # with sqld's write-lock log
//
// It starts sqld on a fresh database and a free loopback port, then runs `--writers` concurrent writers, each
// committing one transaction after another through the Hrana HTTP API (BEGIN IMMEDIATE, 8 rows of ~2 KB with
// two indexes, COMMIT: about 30 WAL frames). A stall is 10 s in which no write completes while a read still
// answers; the script then prints what it saw and exits 1. With no stall for `--seconds`, it exits 0.
// sqld is SIGKILLed at the end: during a stall it ignores SIGTERM. With `--log FILE`, sqld's output goes to FILE
// (see below for what is left out).

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const argv = process.argv.slice(2);
const sqldPath = argv[0];
const dashes = argv.indexOf('--');
const ours = dashes < 0 ? argv.slice(1) : argv.slice(1, dashes);
const extraFlags = dashes < 0 ? [] : argv.slice(dashes + 1);
const option = (name, fallback) => {
  const at = ours.indexOf(name);
  return at < 0 ? fallback : ours[at + 1];
};
const WRITERS = Number(option('--writers', 8));
const SECONDS = Number(option('--seconds', 120));
const LOG = option('--log', undefined);
const STALL_MS = 10_000;
if (!sqldPath) {
  console.error(
    'usage: node sqld-checkpoint-livelock-repro.mjs /path/to/sqld [--writers 8] [--seconds 120] [-- sqld flags]',
  );
  process.exit(2);
}

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const dir = mkdtempSync(join(tmpdir(), 'sqld-livelock-'));
const version = await new Promise((resolve) => {
  const v = spawn(sqldPath, ['--version']);
  let out = '';
  v.stdout.on('data', (d) => {
    out += d;
  });
  v.on('close', () => resolve(out.trim()));
});
const flags = [
  '--db-path',
  join(dir, 'db'),
  '--http-listen-addr',
  `127.0.0.1:${port}`,
  '--no-welcome',
  ...extraFlags,
];
const sqld = spawn(sqldPath, flags, { stdio: ['ignore', LOG ? 'pipe' : 'ignore', LOG ? 'pipe' : 'ignore'] });
const log = LOG ? createWriteStream(LOG) : undefined;
// Lines of one shape (numbers aside) after the first 1,000 are counted, not copied: a stall repeats a few
// shapes millions of times. The counts are written at the end.
const shapes = new Map();
if (log) {
  for (const stream of [sqld.stdout, sqld.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      if (finished) return;
      const shape = line.replace(/^\S+\s+/, '').replace(/\d+/g, '#');
      const seen = (shapes.get(shape) ?? 0) + 1;
      shapes.set(shape, seen);
      if (seen <= 1_000) log.write(`${line}\n`);
    });
  }
}
let finished = false;
const finish = (code) => {
  finished = true;
  sqld.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  if (!log) process.exit(code);
  for (const [shape, seen] of shapes)
    if (seen > 1_000) log.write(`[${seen - 1_000} more lines like: ${shape}]\n`);
  log.end(() => process.exit(code));
};
process.on('SIGINT', () => finish(130));
console.log(
  `${version}; flags: ${flags.slice(4).join(' ') || '(none)'}; ${WRITERS} writers for up to ${SECONDS} s`,
);

/** One Hrana pipeline request; returns the first result or throws with sqld's error code. */
async function pipeline(request, timeoutMs = STALL_MS) {
  const res = await fetch(`${base}/v2/pipeline`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ requests: [request, { type: 'close' }] }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const result = (await res.json()).results[0];
  if (result.type === 'error')
    throw Object.assign(new Error(result.error.message), { code: result.error.code });
  const batch = result.response.result;
  const stepError = batch.step_errors?.find((e) => e);
  if (stepError) throw Object.assign(new Error(stepError.message), { code: stepError.code });
  return batch;
}
const stmt = (sql, args = []) => ({ sql, args });
const text = (value) => ({ type: 'text', value });
const blob = (bytes) => ({ type: 'blob', base64: bytes.toString('base64') });

for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${base}/health`)).ok) break;
  } catch {}
  if (i > 300) {
    console.error('sqld did not start');
    finish(2);
  }
  await new Promise((r) => setTimeout(r, 100));
}
await pipeline({
  type: 'batch',
  batch: {
    steps: [
      stmt(
        'CREATE TABLE t (id INTEGER PRIMARY KEY, k1 TEXT NOT NULL, k2 TEXT NOT NULL, payload BLOB NOT NULL)',
      ),
      stmt('CREATE INDEX t_k1 ON t (k1)'),
      stmt('CREATE INDEX t_k2 ON t (k2)'),
    ].map((s) => ({ stmt: s })),
  },
});

const started = Date.now();
let committed = 0;
let busy = 0;
let otherErrors = 0;
let lastCommitAt = Date.now();
let framesPerTxn = 0;
let previousIndex = 0;
let stalled = false;

async function writer() {
  while (!stalled && Date.now() - started < SECONDS * 1_000) {
    const rows = Array.from({ length: 8 }, () =>
      stmt('INSERT INTO t (k1, k2, payload) VALUES (?, ?, ?)', [
        text(randomBytes(8).toString('hex')),
        text(randomBytes(8).toString('hex')),
        blob(randomBytes(2_000)),
      ]),
    );
    const steps = [stmt('BEGIN IMMEDIATE'), ...rows, stmt('COMMIT')].map((s, i) => ({
      ...(i > 0 ? { condition: { type: 'ok', step: i - 1 } } : {}),
      stmt: s,
    }));
    try {
      const batch = await pipeline({ type: 'batch', batch: { steps } }, 60_000);
      committed++;
      lastCommitAt = Date.now();
      const index = Number(batch.replication_index ?? 0);
      if (previousIndex && index > previousIndex) framesPerTxn = index - previousIndex;
      previousIndex = index;
    } catch (err) {
      if (stalled) return;
      if (err.code === 'SQLITE_BUSY' || /database is locked/.test(err.message)) busy++;
      else otherErrors++;
    }
  }
}

const cpuSeconds = () => {
  const fields = readFileSync(`/proc/${sqld.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 10 ms
};

const watchdog = setInterval(async () => {
  const quiet = Date.now() - lastCommitAt;
  const elapsed = ((Date.now() - started) / 1000).toFixed(0);
  console.log(
    `t=${elapsed}s committed=${committed} busy=${busy} errors=${otherErrors} frames/txn~${framesPerTxn}`,
  );
  if (quiet < STALL_MS || stalled) return;
  stalled = true;
  clearInterval(watchdog);
  const cpuBefore = cpuSeconds();
  const readStarted = Date.now();
  let read = 'no answer';
  try {
    await pipeline({ type: 'execute', stmt: stmt('SELECT COUNT(*) FROM t') }, 5_000);
    read = `answered in ${Date.now() - readStarted} ms`;
  } catch (err) {
    read = `failed: ${err.message}`;
  }
  let write = 'answered';
  try {
    await pipeline(
      { type: 'execute', stmt: stmt("INSERT INTO t (k1, k2, payload) VALUES ('x', 'y', x'00')") },
      10_000,
    );
  } catch (err) {
    write = `no answer in 10 s (${err.name})`;
  }
  const cpu = ((cpuSeconds() - cpuBefore) / ((Date.now() - readStarted) / 1000)) * 100;
  console.log(
    `STALL: no write completed for ${(quiet / 1000).toFixed(1)} s after ${committed} transactions ` +
      `(t=${elapsed}s); a read ${read}; a single INSERT: ${write}; sqld CPU ${cpu.toFixed(0)} %`,
  );
  finish(1);
}, 5_000);

await Promise.all(Array.from({ length: WRITERS }, writer));
clearInterval(watchdog);
if (!stalled) {
  const seconds = (Date.now() - started) / 1000;
  console.log(
    `no stall: ${committed} transactions in ${seconds.toFixed(0)} s (${(committed / seconds).toFixed(0)}/s), ` +
      `${busy} answered "database is locked", ${otherErrors} other errors`,
  );
  finish(0);
}
