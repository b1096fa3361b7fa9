import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { seeded as rng } from '../../bench/vector-workload.js';
import type { TestApp } from '../helpers/app.js';
import { BACKENDS, episodeBody, send, uniqueAgent } from '../helpers/backends.js';
import { cosine, f32, waitForIndexer } from '../helpers/vectors.js';

// Similarity search (SPEC §3.4, issue 11 items 2–3) on an embedded file and a real sqld: exact under
// filters (a filter matching 0.1% or 1% of the vectors answers exactly the true top k), the index path when
// the matching set is large (its similarities exact, its set the true one on clustered data), never fewer
// than k results when k items match, and which path ran in `strategy`.

const DIM = 16;
const N = 1000;

const random = rng(42);
const centers = Array.from({ length: 10 }, () => Array.from({ length: DIM }, () => random() * 2 - 1));
const clustered = (i: number) => centers[i % 10]?.map((c) => c + (random() - 0.5) * 0.6) as number[];

describe.each(BACKENDS)('similarity search on $name', ({ build }) => {
  let app: TestApp;
  const model = `sim-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
  const rare = uniqueAgent(); // 1 episode: 0.1%
  const few = uniqueAgent(); // 10 episodes: 1%
  const stored: { id: string; vector: number[]; agent: string; domain: string }[] = [];

  beforeAll(async () => {
    // Few rows are scanned exactly; more go through the index.
    app = await build({ EMBEDDING_EXACT_SCAN_MAX: 50 });
    const bodies = Array.from({ length: N }, (_, i) => {
      const agent = i === 7 ? rare : i % 100 === 3 ? few : uniqueAgent();
      const vector = clustered(i);
      const domain = i % 10 === 0 ? 'web' : 'data';
      return {
        agent,
        vector,
        domain,
        body: episodeBody({ agent_id: agent, context: { domain }, embedding: { model, vector } }),
      };
    });
    for (let at = 0; at < N; at += 500) {
      const part = bodies.slice(at, at + 500);
      const res = await send(app, 'POST', '/v1/episodes/batch', { episodes: part.map((b) => b.body) });
      expect(res.status).toBe(201);
      res.body.ids.forEach((id: string, i: number) => {
        const b = part[i] as (typeof part)[number];
        stored.push({ id, vector: f32(b.vector), agent: b.agent, domain: b.domain });
      });
    }
    await waitForIndexer(app, model);
  }, 120_000);
  afterAll(async () => {
    await app.close();
  });

  const trueTop = (query: number[], k: number, where: (s: (typeof stored)[number]) => boolean = () => true) =>
    stored
      .filter(where)
      .map((s) => ({ id: s.id, similarity: cosine(f32(query), s.vector) }))
      .sort((a, b) => b.similarity - a.similarity)
      .slice(0, k);

  const search = (body: Record<string, unknown>) =>
    send(app, 'POST', '/v1/search/similar', { model, ...body });

  it('a filter matching 0.1% and 1% of the vectors: exactly the true top k, by an exact scan', async () => {
    const query = clustered(5);
    const one = await search({ vector: query, k: 5, filter: { agent_id: rare } });
    expect(one.status).toBe(200);
    expect(one.body.strategy).toBe('exact');
    expect(one.body.items.map((x: { item_id: string }) => x.item_id)).toEqual(
      trueTop(query, 5, (s) => s.agent === rare).map((t) => t.id),
    );
    const ten = await search({ vector: query, k: 10, filter: { agent_id: few } });
    const expected = trueTop(query, 10, (s) => s.agent === few);
    expect(expected).toHaveLength(10);
    expect(ten.body.items.map((x: { item_id: string }) => x.item_id)).toEqual(expected.map((t) => t.id));
    ten.body.items.forEach((x: { similarity: number; item: { agent_id: string } }, i: number) => {
      expect(x.similarity).toBeCloseTo(expected[i]?.similarity as number, 5);
      expect(x.item.agent_id).toBe(few); // the item's record comes with it
    });
  });

  it('no filter over many vectors: the index answers, with exact similarities, best first, the true top k', async () => {
    const query = clustered(3);
    const res = await search({ vector: query, k: 10 });
    expect(res.body.strategy).toBe('index');
    const expected = trueTop(query, 10);
    const got = res.body.items as { item_id: string; similarity: number }[];
    expect(got).toHaveLength(10);
    for (const g of got) {
      const s = stored.find((x) => x.id === g.item_id);
      expect(g.similarity).toBeCloseTo(cosine(f32(query), s?.vector ?? []), 5);
    }
    expect(got.map((g) => g.similarity)).toEqual([...got.map((g) => g.similarity)].sort((a, b) => b - a));
    expect(got.map((g) => g.item_id)).toEqual(expected.map((t) => t.id));
  });

  it('a 10% filter through the index, and a filter the over-fetch cannot fill: never fewer than k when k match', async () => {
    const query = clustered(4); // a cluster with no 'web' episodes: the index's candidates are all 'data'
    const res = await search({ vector: query, k: 20, filter: { domain: 'web' } });
    const expected = trueTop(query, 20, (s) => s.domain === 'web');
    expect(res.body.items.map((x: { item_id: string }) => x.item_id)).toEqual(expected.map((t) => t.id));
  });

  it('min_similarity leaves out what is below it; search by item leaves the item out', async () => {
    const query = clustered(2);
    const expected = trueTop(query, 100).filter((t) => t.similarity >= 0.9);
    const res = await search({ vector: query, k: 100, min_similarity: 0.9 });
    expect(res.body.items.map((x: { item_id: string }) => x.item_id)).toEqual(expected.map((t) => t.id));
    const from = stored[11] as (typeof stored)[number];
    const byItem = await search({ item: { type: 'episode', id: from.id }, k: 5 });
    expect(byItem.status).toBe(200);
    expect(byItem.body.items.map((x: { item_id: string }) => x.item_id)).toEqual(
      trueTop(from.vector, 6)
        .filter((t) => t.id !== from.id)
        .slice(0, 5)
        .map((t) => t.id),
    );
  });

  // An exact search scores vectors it keeps in memory (VectorCache): a vector written or deleted since an
  // earlier search must be scored as it is now, never as it was.
  it('a filtered exact search after a vector is replaced, deleted and written again: scored as stored now', async () => {
    const agent = uniqueAgent();
    const [a, b] = [clustered(1), clustered(2)];
    const res = await send(app, 'POST', '/v1/episodes/batch', {
      episodes: [a, b].map(() => episodeBody({ agent_id: agent })),
    });
    expect(res.status).toBe(201);
    const [first, second] = res.body.ids as string[];
    const put = (id: string, vector: number[]) =>
      send(app, 'PUT', `/v1/embeddings/episode/${id}?model=${model}`, { vector });
    expect((await put(first as string, a)).status).toBe(201);
    expect((await put(second as string, b)).status).toBe(201);
    const nearest = async (query: number[]) => {
      const found = await search({ vector: query, k: 2, filter: { agent_id: agent } });
      expect(found.status).toBe(200);
      expect(found.body.strategy).toBe('exact');
      return found.body.items.map((x: { item_id: string; similarity: number }) => [x.item_id, x.similarity]);
    };
    expect((await nearest(a))[0]).toEqual([first, expect.closeTo(1, 5)]);

    expect((await put(first as string, b)).status).toBe(200); // replaced: now b's twin
    const replaced = await nearest(a);
    expect(replaced.map((x: unknown[]) => x[1])).toEqual([
      expect.closeTo(cosine(f32(a), f32(b)), 5),
      expect.closeTo(cosine(f32(a), f32(b)), 5),
    ]);

    expect((await send(app, 'DELETE', `/v1/embeddings/episode/${first}?model=${model}`)).status).toBe(204);
    expect((await nearest(a)).map((x: unknown[]) => x[0])).toEqual([second]);

    // The newest row deleted and a vector stored again: it may take the same row id, at version 1.
    expect((await send(app, 'DELETE', `/v1/embeddings/episode/${second}?model=${model}`)).status).toBe(204);
    const c = clustered(3);
    expect((await put(second as string, c)).status).toBe(201);
    expect(await nearest(c)).toEqual([[second, expect.closeTo(1, 5)]]);
  });

  it('the newest vector deleted and another stored in the same millisecond: the new one is scored', async () => {
    const agent = uniqueAgent();
    const res = await send(app, 'POST', '/v1/episodes/batch', {
      episodes: [0, 1].map(() => episodeBody({ agent_id: agent })),
    });
    expect(res.status).toBe(201);
    const [gone, fresh] = res.body.ids as string[];
    const [a, c] = [clustered(4), clustered(5)];
    const put = (id: string, vector: number[]) =>
      send(app, 'PUT', `/v1/embeddings/episode/${id}?model=${model}`, { vector });
    const nearest = async (query: number[]) => {
      const found = await search({ vector: query, k: 2, filter: { agent_id: agent } });
      expect(found.status).toBe(200);
      return found.body.items.map((x: { item_id: string; similarity: number }) => [x.item_id, x.similarity]);
    };
    // One creation millisecond for both vectors: the version and creation time a cached vector is checked
    // against are then the same, and only its row id tells the two apart.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      expect((await put(gone as string, a)).status).toBe(201);
      expect(await nearest(a)).toEqual([[gone, expect.closeTo(1, 5)]]); // now cached
      expect((await send(app, 'DELETE', `/v1/embeddings/episode/${gone}?model=${model}`)).status).toBe(204);
      expect((await put(fresh as string, c)).status).toBe(201);
      expect(await nearest(c)).toEqual([[fresh, expect.closeTo(1, 5)]]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('unknown model 404, wrong dimension 422 naming both, neither or both of vector and item 400', async () => {
    expect(
      (await send(app, 'POST', '/v1/search/similar', { model: 'no-such-model', vector: [1] })).body.code,
    ).toBe('EMBEDDING_MODEL_NOT_FOUND');
    const wrong = await search({ vector: [1, 2, 3] });
    expect(wrong.status).toBe(422);
    expect(wrong.body.detail).toContain(`has ${DIM}`);
    expect((await search({})).status).toBe(400);
    expect(
      (await search({ vector: clustered(1), item: { type: 'episode', id: stored[0]?.id } })).status,
    ).toBe(400);
  });
});
