import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientDriver } from '../../src/db/client-driver.js';
import { HranaReader } from '../../src/db/hrana-reader.js';
import { sql } from '../../src/db/types.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { type SqldHandle, startSqld } from '../helpers/sqld.js';

// Issue 14: instances write to the sqld primary and read from a sqld read replica (LIBSQL_READ_URL). A write
// answers with a Consistency-Token; a read that sends it back sees the write, whichever instance serves it;
// reads without a token are served by the replica. Two real sqld processes (primary + replica over gRPC).

let primary: SqldHandle;
let replica: SqldHandle;
let writer: TestApp;
let reader: TestApp;

const READ_WAIT_MS = 1_000;

beforeAll(async () => {
  primary = await startSqld({ kind: 'binary', grpc: true });
  replica = await startSqld({ kind: 'binary', replicaOf: primary });
  const env = { LIBSQL_URL: primary.url, LIBSQL_READ_URL: replica.url, LIBSQL_READ_WAIT_MS: READ_WAIT_MS };
  // Two instances, as behind a load balancer: one writes, the other reads.
  writer = await buildTestApp(env);
  reader = await buildTestApp(env);
});

afterAll(async () => {
  await writer?.close();
  await reader?.close();
  await replica?.stop();
  await primary?.stop();
});

let n = 0;
async function create(app: TestApp) {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/episodes',
    payload: { task_type: 'testing', task_description: `replica ${n++}`, context: { domain: 'replica' } },
  });
  expect(res.statusCode, res.body).toBe(201);
  return { id: res.json().id as string, token: res.headers['consistency-token'] as string | undefined };
}

async function replicaReads(app: TestApp): Promise<{ replica: number; primary_fallback: number }> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const count = (outcome: string) =>
    Number(
      new RegExp(`^engram_db_replica_reads_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0,
    );
  return { replica: count('replica'), primary_fallback: count('primary_fallback') };
}

describe('read replica and consistency tokens', () => {
  it('write then read on another instance with the token, 300 times - every read sees its write, served by the replica', async () => {
    const before = await replicaReads(reader);
    const tokens: number[] = [];
    for (let i = 0; i < 300; i++) {
      const { id, token } = await create(writer);
      expect(token).toMatch(/^\d+$/);
      tokens.push(Number(token));
      const read = await reader.inject({
        method: 'GET',
        url: `/v1/episodes/${id}`,
        headers: { 'consistency-token': token as string },
      });
      expect(read.statusCode, `read ${i}: ${read.body}`).toBe(200);
    }
    // Tokens follow the primary's log: each write's is beyond the previous one's.
    expect(tokens.every((t, i) => i === 0 || t > (tokens[i - 1] as number))).toBe(true);
    const after = await replicaReads(reader);
    expect(after.replica - before.replica).toBe(300);
    expect(after.primary_fallback - before.primary_fallback).toBe(0);
  });

  it('replica paused, write, replica resumed - the token read waits for the replica to catch up and is answered there', async () => {
    const before = await replicaReads(reader);
    await replica.pause();
    let written: { id: string; token: string | undefined };
    try {
      written = await create(writer);
    } finally {
      await replica.resume();
    }
    const read = await reader.inject({
      method: 'GET',
      url: `/v1/episodes/${written.id}`,
      headers: { 'consistency-token': written.token as string },
    });
    expect(read.statusCode, read.body).toBe(200);
    const after = await replicaReads(reader);
    expect(after.replica - before.replica).toBe(1);
    expect(after.primary_fallback - before.primary_fallback).toBe(0);
  });

  it('replica paused - reads with and without a token fall back to the primary after LIBSQL_READ_WAIT_MS; writes are unaffected', async () => {
    const before = await replicaReads(reader);
    await replica.pause();
    try {
      const { id, token } = await create(writer);
      const started = performance.now();
      const withToken = await reader.inject({
        method: 'GET',
        url: `/v1/episodes/${id}`,
        headers: { 'consistency-token': token as string },
      });
      const ms = performance.now() - started;
      expect(withToken.statusCode, withToken.body).toBe(200);
      expect(ms).toBeGreaterThanOrEqual(READ_WAIT_MS - 50);
      expect(ms).toBeLessThan(READ_WAIT_MS + 2_000);
      const list = await reader.inject({ method: 'GET', url: '/v1/episodes?domain=replica&limit=1' });
      expect(list.statusCode, list.body).toBe(200);
      expect(list.json().items[0].id).toBe(id);
    } finally {
      await replica.resume();
    }
    const after = await replicaReads(reader);
    expect(after.primary_fallback - before.primary_fallback).toBe(2);
  });

  it('HranaReader - minIndex beyond what the primary has written - sqld holds the read until the signal aborts it', async () => {
    const { token } = await create(writer);
    const reader = new HranaReader({ url: replica.url });
    const count = sql('SELECT COUNT(*) AS n FROM episodes');
    await expect(
      reader.query(count, { minIndex: Number(token), signal: AbortSignal.timeout(5_000) }),
    ).resolves.toHaveLength(1);
    const started = performance.now();
    const err = await reader
      .query(count, { minIndex: Number(token) + 1_000_000, signal: AbortSignal.timeout(300) })
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(err?.name).toBe('TimeoutError');
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('replica stopped (SIGTERM) and restarted under write-then-read pairs with tokens - no read misses its write', async () => {
    // A replica being stopped answers reads without waiting for their replication index (sqld 0.24.32); the
    // index it reports gives it away, and the read goes to the primary instead.
    const deadline = Date.now() + 15_000;
    const outcome = { pairs: 0, misses: [] as string[] };
    const pairs = async () => {
      while (Date.now() < deadline) {
        const { id, token } = await create(writer);
        const read = await reader.inject({
          method: 'GET',
          url: `/v1/episodes/${id}`,
          headers: { 'consistency-token': token as string },
        });
        outcome.pairs++;
        if (read.statusCode !== 200) outcome.misses.push(`${read.statusCode} ${id}`);
      }
    };
    const background = async () => {
      while (Date.now() < deadline) await create(writer);
    };
    const disrupt = async () => {
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 2_000));
        await replica.terminate();
        await new Promise((r) => setTimeout(r, 1_500));
        await replica.restart();
      }
    };
    await Promise.all([...Array.from({ length: 8 }, pairs), background(), background(), disrupt()]);
    console.log(`replica stopped under load: ${outcome.pairs} pairs, ${outcome.misses.length} misses`);
    expect(outcome.misses).toEqual([]);
    expect(outcome.pairs).toBeGreaterThan(50);
  });

  it('pool of one, 8 clients mixing token GETs and idempotent POSTs - exactly the GETs read from the replica, each with its own token', async () => {
    // Calls queued for the pool are started by the call that frees a slot; they must still run as their own
    // request: a POST's reads on the primary, a GET's on the replica with its own token.
    const env = { LIBSQL_URL: primary.url, LIBSQL_READ_URL: replica.url, DB_POOL_SIZE: 1 };
    const app = await buildTestApp(env);
    try {
      const before = await replicaReads(app);
      let gets = 0;
      const failures: string[] = [];
      const client = async (c: number) => {
        for (let i = 0; i < 15; i++) {
          const res = await app.inject({
            method: 'POST',
            url: '/v1/episodes',
            headers: { 'idempotency-key': `pool-${c}-${i}-${n++}` },
            payload: {
              task_type: 'testing',
              task_description: `pool ${c} ${i}`,
              context: { domain: 'pool' },
            },
          });
          if (res.statusCode !== 201) failures.push(`POST ${res.statusCode}`);
          const read = await app.inject({
            method: 'GET',
            url: `/v1/episodes/${res.json().id}`,
            headers: { 'consistency-token': res.headers['consistency-token'] as string },
          });
          gets++;
          if (read.statusCode !== 200) failures.push(`GET ${read.statusCode}`);
        }
      };
      await Promise.all(Array.from({ length: 8 }, (_, c) => client(c)));
      const after = await replicaReads(app);
      expect(failures).toEqual([]);
      expect(after.replica + after.primary_fallback - before.replica - before.primary_fallback).toBe(gets);
    } finally {
      await app.close();
    }
  });

  it('every write route - answers with a token, never older than the last one, and a read on another instance with it sees the write', async () => {
    // Issue 14: the token is issued for every write path, whichever service and repository it goes through.
    const tokens: number[] = [];
    const written = (res: { statusCode: number; body: string; headers: Record<string, unknown> }) => {
      expect(res.statusCode, res.body).toBeLessThan(300);
      const token = res.headers['consistency-token'];
      expect(token, `no token on ${res.statusCode} ${res.body.slice(0, 80)}`).toMatch(/^\d+$/);
      tokens.push(Number(token));
      return token as string;
    };
    const readWith = (url: string, token: string) =>
      reader.inject({ method: 'GET', url, headers: { 'consistency-token': token } });

    const batchRequest = {
      method: 'POST' as const,
      url: '/v1/episodes/batch',
      headers: { 'idempotency-key': `batch-${n++}` },
      payload: {
        episodes: [0, 1].map((i) => ({
          task_type: 'testing',
          task_description: `batch ${i}`,
          context: { domain: 'routes' },
        })),
      },
    };
    const batch = await writer.inject(batchRequest);
    let token = written(batch);
    const [first, second] = (batch.json().ids as string[]).map((id) => ({ id }));
    expect((await readWith(`/v1/episodes/${second?.id}`, token)).statusCode).toBe(200);
    written(await writer.inject(batchRequest)); // an idempotent replay

    const step = await writer.inject({
      method: 'POST',
      url: `/v1/episodes/${first?.id}/steps`,
      payload: { tool: 'shell', action: 'ls' },
    });
    token = written(step);
    expect((await readWith(`/v1/episodes/${first?.id}/steps/1`, token)).statusCode).toBe(200);

    const patch = await writer.inject({
      method: 'PATCH',
      url: `/v1/episodes/${first?.id}`,
      headers: { 'content-type': 'application/merge-patch+json' },
      payload: { task_description: 'patched' },
    });
    token = written(patch);
    expect((await readWith(`/v1/episodes/${first?.id}`, token)).json().task_description).toBe('patched');

    const complete = await writer.inject({
      method: 'POST',
      url: `/v1/episodes/${first?.id}/complete`,
      payload: { outcome: { type: 'success', verdict: 'done' } },
    });
    token = written(complete);
    expect((await readWith(`/v1/episodes/${first?.id}`, token)).json().status).toBe('completed');

    const deleted = await writer.inject({ method: 'DELETE', url: `/v1/episodes/${second?.id}` });
    token = written(deleted);
    expect((await readWith(`/v1/episodes/${second?.id}`, token)).statusCode).toBe(404);

    expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
  });

  it('GET with a malformed token - 400 problem naming the header', async () => {
    for (const token of ['abc', '-1', '1.5', '12345678901234567890']) {
      const res = await reader.inject({
        method: 'GET',
        url: '/v1/episodes',
        headers: { 'consistency-token': token },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        code: 'VALIDATION_FAILED',
        errors: [{ in: 'headers', path: '/consistency-token' }],
      });
    }
  });

  it('HranaReader - every value type - the same rows as @libsql/client', async () => {
    const stmt = sql(
      "SELECT 1 AS i, -7 AS neg, 1.5 AS f, 'text é' AS t, NULL AS n, x'00ff10' AS b, ? AS a1, ? AS a2, ? AS a3, ? AS a4",
      42,
      2.25,
      'arg',
      null,
    );
    const client = new ClientDriver({ url: primary.url, timeoutMs: 5_000 });
    try {
      const expected = await client.query(stmt);
      const rows = await new HranaReader({ url: replica.url }).query(stmt, {
        signal: AbortSignal.timeout(5_000),
      });
      // @libsql/client returns blobs as ArrayBuffer; the reader as Uint8Array (the SqlValue type).
      const normalise = (r: Record<string, unknown>) => ({
        ...r,
        b: Array.from(new Uint8Array(r.b as ArrayBuffer | Uint8Array)),
      });
      expect(rows.map(normalise)).toEqual(expected.map(normalise));
      expect(rows[0]).toMatchObject({
        i: 1,
        neg: -7,
        f: 1.5,
        t: 'text é',
        n: null,
        a1: 42,
        a2: 2.25,
        a3: 'arg',
      });
    } finally {
      await client.close();
    }
  });

  it('HranaReader - an SQL error - rejects with the server code and message (as @libsql/client errors carry them)', async () => {
    const err = await new HranaReader({ url: replica.url })
      .query(sql('SELECT * FROM no_such_table'), { signal: AbortSignal.timeout(5_000) })
      .then(
        () => undefined,
        (e: { code?: string; message: string }) => e,
      );
    // The replica answers it itself (SQLITE_UNKNOWN) or after asking the primary (PROXY_ERROR).
    expect(err?.code).toMatch(/^[A-Z_]+$/);
    expect(err?.message).toMatch(new RegExp(`^${err?.code}: .*no such table: no_such_table`));
  });
});
