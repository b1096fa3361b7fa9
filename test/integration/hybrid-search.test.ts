import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seeded as rng } from '../../bench/vector-workload.js';
import type { TestApp } from '../helpers/app.js';
import { BACKENDS, episodeBody, send, uniqueAgent } from '../helpers/backends.js';

// Hybrid recall (SPEC §3.4, issue 11 item 4) on an embedded file and a real sqld: `q` alone ranks episodes
// by BM25 over the episode list's full text; `q` with a vector fuses the two lists by reciprocal rank. The
// vector misses an exact identifier (an error code, a file name) that the text finds; the text misses a
// paraphrase that the vector finds; the fused order is computed here from the two lists.

const DIM = 8;
const RRF_K = 60; // as documented in the OpenAPI description of POST /v1/search/similar

const random = rng(7);
const query = [1, 0.2, 0, 0, 0, 0, 0, 0.1];
const WORDS = ['socket', 'timeout', 'cache', 'retry', 'deploy', 'memory', 'flaky', 'queue'];

interface Hit {
  item_type: string;
  item_id: string;
  similarity: number | null;
  score: number;
}

describe.each(BACKENDS)('hybrid search on $name', ({ build }) => {
  let app: TestApp;
  const model = `hybrid-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
  const agent = uniqueAgent();
  const filter = { agent_id: agent };
  let identifier = ''; // its text names ERR_CONN_RESET and parser.ts; its vector points away from the query
  let paraphrase = ''; // its vector is the query's; its text shares no term with it

  const search = async (body: Record<string, unknown>) => {
    const res = await send(app, 'POST', '/v1/search/similar', { filter, ...body });
    expect(res.status).toBe(200);
    return res.body as { items: Hit[]; ranking: string; strategy: string };
  };

  beforeAll(async () => {
    app = await build();
    const bodies = Array.from({ length: 30 }, () => {
      const words = Array.from({ length: 2 + Math.floor(random() * 5) }, () => {
        return WORDS[Math.floor(random() * WORDS.length)];
      });
      const vector = Array.from({ length: DIM }, () => random() * 2 - 1);
      return episodeBody({
        agent_id: agent,
        task_description: words.join(' '),
        embedding: { model, vector },
      });
    });
    bodies.push(
      episodeBody({
        agent_id: agent,
        task_description: 'crash with ERR_CONN_RESET while loading parser.ts',
        embedding: { model, vector: query.map((x) => -x) },
      }),
      episodeBody({
        agent_id: agent,
        task_description: 'the network link dropped the session unexpectedly',
        embedding: { model, vector: query.map((x, i) => x + (i === 3 ? 0.01 : 0)) },
      }),
    );
    const res = await send(app, 'POST', '/v1/episodes/batch', { episodes: bodies });
    expect(res.status).toBe(201);
    identifier = res.body.ids[30];
    paraphrase = res.body.ids[31];
  }, 60_000);
  afterAll(async () => {
    await app.close();
  });

  it('q alone ranks by BM25 over the same full text as the episode list, and finds exact identifiers', async () => {
    for (const q of ['ERR_CONN_RESET', 'parser.ts']) {
      const found = await search({ q });
      expect(found.ranking).toBe('bm25');
      expect(found.strategy).toBe('text');
      expect(found.items.map((h) => h.item_id)).toEqual([identifier]);
      expect(found.items[0]?.similarity).toBeNull();
    }
    // Many matches: the same set as GET /v1/episodes?q=, ordered by score (−bm25, higher first).
    const text = await search({ q: 'socket', k: 100 });
    const listed = await send(app, 'GET', `/v1/episodes?q=socket&agent_id=${agent}&limit=100`);
    expect(listed.status).toBe(200);
    expect(text.items.length).toBeGreaterThan(3);
    expect(new Set(text.items.map((h) => h.item_id))).toEqual(
      new Set(listed.body.items.map((e: { id: string }) => e.id)),
    );
    const scores = text.items.map((h) => h.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(new Set(scores).size).toBeGreaterThan(1); // term frequency and length tell the matches apart
  });

  it('the vector misses the identifier that q finds; the text misses the paraphrase the vector finds; hybrid finds both', async () => {
    const vectorOnly = await search({ model, vector: query, k: 5 });
    expect(vectorOnly.ranking).toBe('vector');
    expect(vectorOnly.items[0]?.item_id).toBe(paraphrase);
    expect(vectorOnly.items.map((h) => h.item_id)).not.toContain(identifier);

    const textOnly = await search({ q: 'ERR_CONN_RESET', k: 5 });
    expect(textOnly.items.map((h) => h.item_id)).not.toContain(paraphrase);

    const hybrid = await search({ model, vector: query, q: 'ERR_CONN_RESET', k: 5 });
    expect(hybrid.ranking).toBe('rrf');
    expect(hybrid.strategy).toBe('exact');
    const ids = hybrid.items.map((h) => h.item_id);
    expect(ids).toContain(identifier);
    expect(ids).toContain(paraphrase);
    // A text match keeps its vector's similarity (it has one in the model): here, the opposite of the query.
    const found = hybrid.items.find((h) => h.item_id === identifier);
    expect(found?.similarity).toBeCloseTo(-1, 5);
  });

  it('q with a vector: reciprocal rank fusion of the two lists, computed here', async () => {
    const vectorList = (await search({ model, vector: query, k: 100 })).items.map((h) => h.item_id);
    const textList = (await search({ q: 'socket', k: 100 })).items.map((h) => h.item_id);
    expect(vectorList).toHaveLength(32);
    // Score: Σ 1 / (60 + rank), ranks from 1; ties: the better vector rank, then the better text rank.
    const rank = (list: string[], id: string) => {
      const at = list.indexOf(id);
      return at < 0 ? Number.POSITIVE_INFINITY : at + 1;
    };
    const scoreOf = (id: string) => {
      let score = 0;
      for (const list of [vectorList, textList]) {
        const r = rank(list, id);
        if (r !== Number.POSITIVE_INFINITY) score += 1 / (RRF_K + r);
      }
      return score;
    };
    const expected = [...new Set([...vectorList, ...textList])]
      .sort(
        (a, b) =>
          scoreOf(b) - scoreOf(a) ||
          rank(vectorList, a) - rank(vectorList, b) ||
          rank(textList, a) - rank(textList, b),
      )
      .slice(0, 10);

    const hybrid = await search({ model, vector: query, q: 'socket', k: 10 });
    expect(hybrid.ranking).toBe('rrf');
    expect(hybrid.items.map((h) => h.item_id)).toEqual(expected);
    hybrid.items.forEach((h, i) => {
      expect(h.score).toBeCloseTo(scoreOf(expected[i] as string), 12);
      expect(h.similarity).not.toBeNull(); // every episode here has a vector in the model
    });
    // Fusion changes the order: the top of the text list is not where the vector list alone puts it.
    expect(hybrid.items.map((h) => h.item_id)).not.toEqual(vectorList.slice(0, 10));
  });

  it('refuses a search with neither vector, item nor q, and a model without a vector', async () => {
    const none = await send(app, 'POST', '/v1/search/similar', { k: 5 });
    expect(none.status).toBe(400);
    expect(JSON.stringify(none.body)).toContain('vector');
    const modelOnly = await send(app, 'POST', '/v1/search/similar', { model, q: 'socket' });
    expect(modelOnly.status).toBe(400);
    expect(JSON.stringify(modelOnly.body)).toContain('model');
  });
});
