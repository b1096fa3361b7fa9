import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import { BACKENDS, episodeBody, send, uniqueAgent } from '../helpers/backends.js';

// A model's first vector creates its index table, index and trigger (a schema change) behind the write. A read
// that re-prepares while another connection changes the schema can fail with SQLITE_SCHEMA ("vtable constructor
// failed: episodes_fts" on the embedded file, seen in CI as a 500 from a full-text list): the same read a moment
// later succeeds, so it is retried like a busy database, never answered 500.

const MODELS = 40;
const READERS = 4;

describe.each(BACKENDS)('schema changes under reads on $name', ({ build }) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await build();
  });
  afterAll(() => app.close());

  it('full-text reads while new models create their indexes - every read answers 200', async () => {
    const needle = `needle${randomUUID().replaceAll('-', '')}`;
    const agent = uniqueAgent();
    const created = await send(app, 'POST', '/v1/episodes', {
      ...episodeBody({ agent_id: agent }),
      task_description: `find the ${needle}`,
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;

    let writing = true;
    const statuses = new Map<number, number>();
    const reader = async () => {
      while (writing) {
        const [list, hybrid] = await Promise.all([
          send(app, 'GET', `/v1/episodes?q=${needle}&agent_id=${agent}`),
          send(app, 'POST', '/v1/search/similar', { q: needle, k: 5 }),
        ]);
        for (const res of [list, hybrid]) statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect(list.body.items?.map((e: { id: string }) => e.id)).toEqual([id]);
      }
    };
    const writer = async () => {
      try {
        for (let i = 0; i < MODELS; i++) {
          const put = await send(app, 'PUT', `/v1/embeddings/episode/${id}?model=schema-${randomUUID()}`, {
            vector: [1, i + 1, 2],
          });
          expect(put.status).toBe(201);
        }
        // Let the indexer create the last models' tables while the readers still run.
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        writing = false;
      }
    };
    await Promise.all([writer(), ...Array.from({ length: READERS }, reader)]);
    expect(Object.fromEntries(statuses)).toEqual({ 200: statuses.get(200) });
    expect(statuses.get(200)).toBeGreaterThan(MODELS);
  });
});
