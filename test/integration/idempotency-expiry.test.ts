import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LibsqlWriteClaimRepository } from '../../src/storage/libsql/write-claims.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { episodeBody, send } from '../helpers/backends.js';

// Idempotency keys live 24 h (SPEC §2): after that a key may be used again, and expired rows are pruned.

describe('idempotency key expiry', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await buildTestApp();
  });
  afterAll(async () => {
    await app.close();
  });

  /** Moves the key's claim `hours` into the past: it was made then and expires 24 h after. */
  const age = (key: string, hours: number) =>
    app.engram.db.write([
      {
        sql: 'UPDATE idempotency_keys SET created_at = created_at - ?, expires_at = expires_at - ? WHERE key = ?',
        args: [hours * 3_600_000, hours * 3_600_000, key],
      },
    ]);

  it('expired key: a new request with it is executed, not replayed nor refused', async () => {
    const key = randomUUID();
    const first = await send(app, 'POST', '/v1/episodes', episodeBody(), { 'idempotency-key': key });
    await age(key, 25);
    const second = await send(app, 'POST', '/v1/episodes', episodeBody({ task_description: 'new' }), {
      'idempotency-key': key,
    });
    expect(second.status).toBe(201);
    expect(second.body.id).not.toBe(first.body.id);
    expect(second.headers['idempotent-replayed']).toBeUndefined();
  });

  it('live key: still replayed after 23 h', async () => {
    const key = randomUUID();
    const first = await send(app, 'POST', '/v1/episodes', episodeBody(), { 'idempotency-key': key });
    await age(key, 23);
    const replay = await send(app, 'POST', '/v1/episodes', episodeBody(), { 'idempotency-key': key });
    expect(replay.body).toEqual(first.body);
  });

  it('prune: removes expired keys only', async () => {
    const [old, fresh] = [randomUUID(), randomUUID()];
    await send(app, 'POST', '/v1/episodes', episodeBody(), { 'idempotency-key': old });
    await send(app, 'POST', '/v1/episodes', episodeBody(), { 'idempotency-key': fresh });
    await age(old, 30);
    expect(await new LibsqlWriteClaimRepository(app.engram.db).prune()).toBeGreaterThanOrEqual(1);
    const keys = (await app.engram.db.read('SELECT key FROM idempotency_keys')).map((r) => r.key);
    expect(keys).not.toContain(old);
    expect(keys).toContain(fresh);
  });
});
