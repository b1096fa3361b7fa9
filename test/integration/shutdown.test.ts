import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { type IncomingMessage, request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'libsql';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { freePort } from '../helpers/ports.js';

// SPEC §9 and RELIABILITY R9, on the REAL server process: on SIGTERM readiness turns 503 first, the
// requests in flight finish with 2xx, the listener closes, the database closes, the process exits 0.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DRAIN_MS = 500;

interface Server {
  child: ChildProcess;
  port: number;
  dbFile: string;
  logs: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

async function startServer(): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'engram-shutdown-'));
  const port = await freePort();
  const dbFile = join(dir, 'e.db');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HTTP_PORT: String(port),
      LIBSQL_URL: `file:${dbFile}`,
      LOG_LEVEL: 'info',
      SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
      SHUTDOWN_GRACE_MS: '15000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  child.stdout?.on('data', (c: Buffer) => {
    logs += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    logs += c.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const server = { child, port, dbFile, logs: () => logs, exited };
  await until(
    20_000,
    'the server to be ready',
    async () => (await get(port, '/health/ready'))?.status === 200,
    () => logs,
  );
  return server;
}

/** Polls `check` every 20 ms until it is true; fails after `ms` with `what` and the server's logs. */
async function until(
  ms: number,
  what: string,
  check: () => Promise<boolean>,
  logs = () => '',
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}\n${logs().slice(-3_000)}`);
    await sleep(20);
  }
}

/** One GET on a fresh connection; undefined when the connection is refused or reset. */
function get(port: number, path: string): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve(undefined));
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** True once the port refuses new connections: the listener is closed. */
function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** A POST sent in two parts: headers and half the body now, the rest when the test calls finish(). */
function postInTwoParts(port: number, path: string, body: string) {
  const bytes = Buffer.from(body);
  const half = Math.floor(bytes.length / 2);
  const req = request({
    host: '127.0.0.1',
    port,
    path,
    method: 'POST',
    agent: false,
    headers: { 'content-type': 'application/json', 'content-length': bytes.length },
  });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('response', (res: IncomingMessage) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  const sent = new Promise<void>((resolve) => req.write(bytes.subarray(0, half), () => resolve()));
  return { sent, response, finish: () => req.end(bytes.subarray(half)) };
}

/** `count` episodes with two steps each: a batch that takes the server a while to validate and store. */
function batch(count: number, label: string): string {
  const episodes = Array.from({ length: count }, (_, i) => ({
    task_type: 'testing',
    task_description: `${label} episode ${i}: run the suite and read the failures carefully`,
    context: { domain: 'shutdown', language: 'typescript', tags: ['a', 'b'] },
    tags: ['shutdown', label],
    metadata: { index: String(i) },
    steps: [
      {
        tool: 'shell',
        action: 'npm test',
        result: { type: 'error', message: 'one failure' },
        latency_ms: 1200,
      },
      {
        tool: 'editor',
        action: 'fix the assertion',
        parameters: { file: 'x.ts', line: i },
        result: { type: 'success', output: 'ok' },
      },
    ],
  }));
  return JSON.stringify({ episodes });
}

describe('graceful shutdown (real process)', () => {
  it('SIGTERM - requests in flight - ready 503 first, in-flight requests 201, listener closes, exit 0, data stored', async () => {
    const server = await startServer();
    const { port } = server;

    // Three large batches, each held half-sent by the client so that they are certainly in flight when the
    // signal arrives; a readiness round trip makes sure the server has read their headers.
    const inFlight = ['first', 'second', 'third'].map((label) =>
      postInTwoParts(port, '/v1/episodes/batch', batch(500, label)),
    );
    await Promise.all(inFlight.map((r) => r.sent));
    expect((await get(port, '/health/ready'))?.status).toBe(200);

    expect(server.child.kill('SIGTERM')).toBe(true);
    const signalledAt = Date.now();

    // Readiness turns 503 while the listener still accepts connections (the drain window).
    let ready: { status: number; body: string } | undefined;
    await until(
      DRAIN_MS * 4,
      'readiness to turn 503',
      async () => {
        ready = await get(port, '/health/ready');
        return ready?.status === 503;
      },
      server.logs,
    );
    expect(JSON.parse(ready?.body ?? '{}')).toEqual({ status: 'not_ready', reason: 'shutting down' });

    // Two requests complete during the drain; the third only after the listener has closed.
    const [first, second, third] = inFlight as [
      (typeof inFlight)[0],
      (typeof inFlight)[0],
      (typeof inFlight)[0],
    ];
    first.finish();
    second.finish();
    await until(10_000, 'the listener to close', () => refuses(port), server.logs);
    expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(DRAIN_MS - 50);
    third.finish();

    for (const res of await Promise.all(inFlight.map((r) => r.response))) {
      expect(res.status, res.body.slice(0, 500)).toBe(201);
      expect(JSON.parse(res.body).ids).toHaveLength(500);
    }

    const exit = await server.exited;
    expect(exit, server.logs().slice(-3_000)).toEqual({ code: 0, signal: null });
    const logs = server.logs();
    expect(logs.indexOf('shutting down')).toBeGreaterThan(-1);
    expect(logs.indexOf('shutdown complete')).toBeGreaterThan(logs.indexOf('shutting down'));
    // Readiness probes log at debug (issue 8.5): at LOG_LEVEL=info not one of the polls above, 503s included.
    expect(logs.split('\n').filter((line) => line.includes('"route":"/health/ready"'))).toEqual([]);

    // Every acknowledged episode is in the file, with its steps.
    const db = new Database(server.dbFile, { readonly: true });
    const scalar = (text: string) => Object.values(db.prepare(text).get() as object)[0];
    try {
      expect(scalar('SELECT COUNT(*) FROM episodes')).toBe(1500);
      expect(scalar('SELECT COUNT(*) FROM steps')).toBe(3000);
      expect(scalar('PRAGMA integrity_check')).toBe('ok');
    } finally {
      db.close();
    }
  });

  it('closing - a request read after close began (pipelined behind an in-flight one) - 503 problem+json with Retry-After, logged at warn', async () => {
    const lines: { level: number; status?: number; route?: string }[] = [];
    const logger = pino(
      { level: 'debug' },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(JSON.parse(String(chunk)));
          done();
        },
      }),
    );
    const app = await buildTestApp({}, { logger });
    cleanups.push(() => void app.close().catch(() => undefined));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    const body = JSON.stringify({
      task_type: 'testing',
      task_description: 'pipelined',
      context: { domain: 'x' },
    });
    const half = Math.floor(body.length / 2);

    const socket = connect({ host: '127.0.0.1', port });
    let raw = '';
    socket.on('data', (c: Buffer) => {
      raw += c.toString();
    });
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      `POST /v1/episodes HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, half)}`,
    );
    // A round trip on another connection: the server has read our headers by now.
    expect((await get(port, '/health/live'))?.status).toBe(200);

    const closing = app.close();
    await until(5_000, 'the listener to close', () => refuses(port));
    // The rest of the in-flight body, and a second request pipelined behind it on the same connection.
    socket.write(`${body.slice(half)}GET /v1/episodes HTTP/1.1\r\nHost: t\r\n\r\n`);
    await Promise.race([ended, sleep(5_000)]);
    socket.destroy();
    await closing;

    const [first, second] = raw.split(/(?=HTTP\/1\.1 \d{3} )/);
    expect(first, raw).toMatch(/^HTTP\/1\.1 201 /);
    expect(second, raw).toMatch(/^HTTP\/1\.1 503 /);
    expect(second).toMatch(/\r\ncontent-type: application\/problem\+json/i);
    expect(second).toMatch(/\r\nretry-after: \d+/i);
    // Draining is not an error (issue 8.5): the 503 is a warning, and nothing was logged as an error.
    expect(lines.filter((l) => l.status === 503).map((l) => l.level)).toEqual([40]);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  });
});
