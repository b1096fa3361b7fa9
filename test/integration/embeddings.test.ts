import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import { BACKENDS, episodeBody, rowCount, send, uniqueAgent } from '../helpers/backends.js';

// The embeddings contract (SPEC §3.4, issue 11), on an embedded file and a real sqld: vectors per (item,
// model), models fixed by their first vector, items that must exist, atomic batches, deletion with the item,
// and a DiskANN index per model behind the writes. Every response is checked against its schema by `send`.

/** A deterministic vector: `dim` values from a seed. */
const vec = (dim: number, seed: number) =>
  Array.from({ length: dim }, (_, i) => Math.sin(seed * 31 + i * 7) + 0.01);
const f32 = (v: number[]) => Array.from(Float32Array.from(v));

describe.each(BACKENDS)('embeddings on $name', ({ build }) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await build();
  });
  afterAll(async () => {
    await app.close();
  });

  const model = () => `model-${randomUUID()}`;
  const newEpisode = async (overrides: Record<string, unknown> = {}) =>
    (await send(app, 'POST', '/v1/episodes', episodeBody({ agent_id: uniqueAgent(), ...overrides }))).body
      .id as string;

  it('PUT stores (201), replaces (200), GET returns the float32 vector with its ETag, DELETE removes it', async () => {
    const id = await newEpisode();
    const m = model();
    const url = `/v1/embeddings/episode/${id}?model=${m}`;
    const first = await send(app, 'PUT', url, { vector: [0.1, 0.2, 0.3] });
    expect(first.status).toBe(201);
    expect(first.headers.etag).toBe('"1"');
    expect(first.body).toMatchObject({
      item_type: 'episode',
      item_id: id,
      model: m,
      dimension: 3,
      created: true,
    });
    const got = await send(app, 'GET', url);
    expect(got.status).toBe(200);
    expect(got.body.vector).toEqual(f32([0.1, 0.2, 0.3]));
    expect(got.headers.etag).toBe('"1"');
    expect((await send(app, 'GET', url, undefined, { 'if-none-match': '"1"' })).status).toBe(304);
    const replaced = await send(app, 'PUT', url, { vector: [0.3, 0.2, 0.1] });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ version: 2, created: false });
    expect((await send(app, 'PUT', url, { vector: [1, 1, 1] }, { 'if-match': '"1"' })).status).toBe(412);
    expect((await send(app, 'DELETE', url, undefined, { 'if-match': '"1"' })).status).toBe(412);
    expect((await send(app, 'DELETE', url, undefined, { 'if-match': '"2"' })).status).toBe(204);
    const gone = await send(app, 'GET', url);
    expect(gone.status).toBe(404);
    expect(gone.body.code).toBe('EMBEDDING_NOT_FOUND');
    expect((await send(app, 'DELETE', url)).status).toBe(404);
  });

  it('a model’s dimension is fixed by its first vector: another length is a 422 naming both sizes', async () => {
    const [a, b] = [await newEpisode(), await newEpisode()];
    const m = model();
    expect(
      (await send(app, 'PUT', `/v1/embeddings/episode/${a}?model=${m}`, { vector: vec(4, 1) })).status,
    ).toBe(201);
    const wrong = await send(app, 'PUT', `/v1/embeddings/episode/${b}?model=${m}`, { vector: vec(5, 1) });
    expect(wrong.status).toBe(422);
    expect(wrong.body.code).toBe('EMBEDDING_DIMENSION_MISMATCH');
    expect(wrong.body.detail).toContain('5 dimensions');
    expect(wrong.body.detail).toContain('has 4');
    // Several models side by side, each with its own dimension.
    const other = model();
    expect(
      (await send(app, 'PUT', `/v1/embeddings/episode/${b}?model=${other}`, { vector: vec(5, 1) })).status,
    ).toBe(201);
    const models = await send(app, 'GET', '/v1/embedding-models');
    const byName = Object.fromEntries(models.body.items.map((x: { name: string }) => [x.name, x]));
    expect(byName[m]).toMatchObject({ dimension: 4, metric: 'cosine', count: 1 });
    expect(byName[other]).toMatchObject({ dimension: 5, metric: 'cosine', count: 1 });
  });

  it('a vector for an item that does not exist is a 404, for every item type; nothing is written', async () => {
    const m = model();
    for (const [type, id] of [
      ['episode', randomUUID()],
      ['step', `${await newEpisode()}:1`],
      ['pattern', randomUUID()],
      ['heuristic', randomUUID()],
    ] as const) {
      const res = await send(app, 'PUT', `/v1/embeddings/${type}/${id}?model=${m}`, { vector: [1, 2] });
      expect(res.status, type).toBe(404);
      expect(res.body.code).toBe('EMBEDDING_ITEM_NOT_FOUND');
    }
    expect(await rowCount(app, 'embedding_models', 'name = ?', m)).toBe(0);
  });

  it('steps have vectors too (<episode id>:<n>); deleting an episode deletes its and its steps’ vectors', async () => {
    const id = await newEpisode({ steps: [{ tool: 'bash', action: 'ls' }] });
    const m = model();
    expect(
      (await send(app, 'PUT', `/v1/embeddings/episode/${id}?model=${m}`, { vector: [1, 0] })).status,
    ).toBe(201);
    expect(
      (await send(app, 'PUT', `/v1/embeddings/step/${id}:1?model=${m}`, { vector: [0, 1] })).status,
    ).toBe(201);
    expect((await send(app, 'GET', `/v1/embeddings/step/${id}:1?model=${m}`)).body.vector).toEqual([0, 1]);
    expect((await send(app, 'DELETE', `/v1/episodes/${id}`)).status).toBe(204);
    expect((await send(app, 'GET', `/v1/embeddings/episode/${id}?model=${m}`)).status).toBe(404);
    expect((await send(app, 'GET', `/v1/embeddings/step/${id}:1?model=${m}`)).status).toBe(404);
    expect(await rowCount(app, 'embeddings', 'item_id IN (?, ?)', id, `${id}:1`)).toBe(0);
  });

  it('patterns and heuristics have vectors; deleting one deletes its vectors in every model', async () => {
    const pattern = await send(app, 'POST', '/v1/patterns', {
      kind: 'tool_sequence',
      tools: ['grep', 'edit'],
      context: { domain: 'web' },
      success_rate: 0.5,
      avg_latency_ms: 1200,
      occurrence_count: 3,
    });
    const heuristic = await send(app, 'POST', '/v1/heuristics', {
      condition: 'a test fails only on CI',
      action: 'look for timing assumptions',
      confidence: 0.7,
      evidence: { episode_ids: [randomUUID()], success_rate: 0.75, sample_size: 4 },
    });
    expect([pattern.status, heuristic.status]).toEqual([201, 201]);
    const [m1, m2] = [model(), model()];
    for (const [type, id] of [
      ['pattern', pattern.body.id],
      ['heuristic', heuristic.body.id],
    ] as const) {
      for (const m of [m1, m2]) {
        const put = await send(app, 'PUT', `/v1/embeddings/${type}/${id}?model=${m}`, { vector: vec(4, 1) });
        expect(put.status, type).toBe(201);
      }
      const found = await send(app, 'POST', '/v1/search/similar', { model: m1, vector: vec(4, 1), k: 1 });
      expect(found.body.items[0]).toMatchObject({ item_type: type, item_id: id, item: { id } });
      expect((await send(app, 'DELETE', `/v1/${type}s/${id}`)).status).toBe(204);
      for (const m of [m1, m2]) {
        expect((await send(app, 'GET', `/v1/embeddings/${type}/${id}?model=${m}`)).status).toBe(404);
      }
      const after = await send(app, 'POST', '/v1/search/similar', { model: m1, vector: vec(4, 1), k: 1 });
      expect(after.body.items.map((h: { item_id: string }) => h.item_id)).not.toContain(id);
    }
  });

  it('batch: exactly 1,000 is stored; 1,000 with one bad item writes none of them', async () => {
    const id = await newEpisode();
    const steps = Array.from({ length: 1000 }, (_, i) => ({ tool: 'bash', action: `ls ${i}` }));
    expect((await send(app, 'POST', `/v1/episodes/${id}/steps`, { steps })).status).toBe(201);
    const m = model();
    const items = steps.map((_, i) => ({
      item_type: 'step',
      item_id: `${id}:${i + 1}`,
      model: m,
      vector: vec(4, i),
    }));
    const bad = [...items.slice(0, 999), { ...items[999], item_id: `${id}:1001` }]; // no step 1001
    const refused = await send(app, 'POST', '/v1/embeddings/batch', { items: bad });
    expect(refused.status).toBe(404);
    expect(await rowCount(app, 'embeddings', 'item_id LIKE ?', `${id}:%`)).toBe(0);
    const stored = await send(app, 'POST', '/v1/embeddings/batch', { items });
    expect(stored.status).toBe(200);
    expect(stored.body.items).toHaveLength(1000);
    expect(await rowCount(app, 'embeddings', 'item_id LIKE ?', `${id}:%`)).toBe(1000);
  });

  it('batch: up to 1,000 atomically; one bad item writes nothing; Idempotency-Key replays', async () => {
    const ids = [await newEpisode(), await newEpisode()];
    const m = model();
    const items = ids.map((id, i) => ({ item_type: 'episode', item_id: id, model: m, vector: vec(8, i) }));
    const missing = { item_type: 'episode', item_id: randomUUID(), model: m, vector: vec(8, 9) };
    const failed = await send(app, 'POST', '/v1/embeddings/batch', { items: [...items, missing] });
    expect(failed.status).toBe(404);
    expect(await rowCount(app, 'embedding_models', 'name = ?', m)).toBe(0);
    const key = randomUUID();
    const ok = await send(app, 'POST', '/v1/embeddings/batch', { items }, { 'idempotency-key': key });
    expect(ok.status).toBe(200);
    expect(ok.body.items.map((x: { item_id: string }) => x.item_id)).toEqual(ids);
    const replay = await send(app, 'POST', '/v1/embeddings/batch', { items }, { 'idempotency-key': key });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual(ok.body);
    const tooMany = await send(app, 'POST', '/v1/embeddings/batch', {
      items: Array.from({ length: 1001 }, () => items[0]),
    });
    expect(tooMany.status).toBe(400);
  });

  it('bad vectors are 400 naming the field, and nothing is written', async () => {
    const id = await newEpisode();
    const m = model();
    const url = `/v1/embeddings/episode/${id}?model=${m}`;
    for (const vector of [[], 'abc', [1, 'x'], [1, null], [0, 0], [1e39], Array(4097).fill(1), { a: 1 }]) {
      const res = await send(app, 'PUT', url, { vector });
      expect(res.status, JSON.stringify(vector).slice(0, 40)).toBe(400);
      expect(res.body.errors[0].path).toMatch(/^\/vector/);
    }
    const raw = await app.inject({
      method: 'PUT',
      url,
      headers: { 'content-type': 'application/json' },
      payload: '{"vector":[1e999, 1]}',
    });
    expect(raw.statusCode).toBe(400);
    expect((await send(app, 'PUT', `/v1/embeddings/step/${id}?model=${m}`, { vector: [1] })).status).toBe(
      400,
    );
    expect(await rowCount(app, 'embedding_models', 'name = ?', m)).toBe(0);
  });

  it('vectors are indexed by DiskANN behind the writes, in a table per model', async () => {
    const m = model();
    const ids = await Promise.all(Array.from({ length: 20 }, () => newEpisode()));
    const items = ids.map((id, i) => ({ item_type: 'episode', item_id: id, model: m, vector: vec(16, i) }));
    expect((await send(app, 'POST', '/v1/embeddings/batch', { items })).status).toBe(200);
    await expect
      .poll(
        async () =>
          (await send(app, 'GET', '/v1/embedding-models')).body.items.find(
            (x: { name: string }) => x.name === m,
          )?.unindexed,
        { timeout: 20_000 },
      )
      .toBe(0);
    const [modelRow] = await app.engram.db.read('SELECT id FROM embedding_models WHERE name = ?', [m]);
    const table = `embedding_index_${modelRow?.id}`;
    const [index] = await app.engram.db.read('SELECT sql FROM sqlite_master WHERE name = ?', [
      `${table}_ann`,
    ]);
    expect(String(index?.sql)).toContain('libsql_vector_idx');
    expect(await rowCount(app, table, '1 = 1')).toBe(20);
    const top = await app.engram.db.read(`SELECT id FROM vector_top_k('${table}_ann', ?, 3)`, [
      new Uint8Array(Float32Array.from(vec(16, 4)).buffer),
    ]);
    expect(top).toHaveLength(3);
    // A deleted vector leaves its model's index too.
    expect((await send(app, 'DELETE', `/v1/embeddings/episode/${ids[0]}?model=${m}`)).status).toBe(204);
    expect(await rowCount(app, table, '1 = 1')).toBe(19);
  });
});
