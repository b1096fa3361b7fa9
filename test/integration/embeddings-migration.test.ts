import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/create-database.js';
import { sql } from '../../src/db/types.js';
import { MIGRATIONS, migrate } from '../../src/storage/migrations.js';
import { buildTestApp, testConfig } from '../helpers/app.js';
import { episodeBody, send } from '../helpers/backends.js';
import { startSqld } from '../helpers/sqld.js';
import { waitForIndexer } from '../helpers/vectors.js';

// Migration 4 carries the vectors stored before it (an untyped BLOB per (item, model)) into the store of
// record; the indexer then builds the model's DiskANN index from them. On an embedded file and a real sqld.

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe.each(['file', 'sqld'] as const)('migration 4 on a %s database with vectors from before', (kind) => {
  it('models and vectors carried over: readable, searchable, indexed, deleted with their episode', async () => {
    let url: string;
    if (kind === 'sqld') {
      const sqld = await startSqld({ kind: 'binary', quiet: true });
      cleanups.push(() => sqld.stop());
      url = sqld.url;
    } else {
      const dir = mkdtempSync(join(tmpdir(), 'engram-embeddings-migration-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      url = `file:${join(dir, 'engram.db')}`;
    }
    // Migrations 1..3 and vectors written the way they were before migration 4.
    const legacy = createDatabase(testConfig({ LIBSQL_URL: url }));
    expect(
      await migrate(
        legacy,
        MIGRATIONS.filter((m) => m.version < 4),
      ),
    ).not.toContain(4);
    const vectors = [
      [1, 0, 0],
      [0.9, 0.1, 0],
      [0, 0, 1],
    ];
    const ids = vectors.map((_, i) => `0190a6e2-7b7c-7cc4-8a8e-5a6a1b2c3d4${i}`);
    const now = Date.now();
    await legacy.write([
      sql(
        `INSERT INTO embedding_models (tenant, name, dimension, created_at) VALUES ('default', 'old-model', 3, ?)`,
        now,
      ),
      ...ids.flatMap((id, i) => [
        sql(
          `INSERT INTO episodes (tenant, id, task_type, domain, complexity, start_time, created_at, updated_at, version, body, body_hash)
           VALUES ('default', ?, 'debugging', 'web', 'moderate', ?, ?, ?, 1, ?, '')`,
          id,
          now,
          now,
          now,
          JSON.stringify({
            ...episodeBody(),
            context: { domain: 'web', complexity: 'moderate', tags: [] },
            tags: [],
            outcome: null,
            reward: null,
            reflection: null,
            patterns: [],
            heuristics: [],
            applied_patterns: [],
            salient_features: null,
            metadata: {},
            location: null,
          }),
        ),
        sql(
          `INSERT INTO embeddings (tenant, item_type, item_id, model, vector, created_at, updated_at)
           VALUES ('default', 'episode', ?, 'old-model', ?, ?, ?)`,
          id,
          new Uint8Array(Float32Array.from(vectors[i] as number[]).buffer),
          now,
          now,
        ),
      ]),
    ]);
    await legacy.close();

    const app = await buildTestApp({ LIBSQL_URL: url, EMBEDDING_EXACT_SCAN_MAX: 0 });
    cleanups.push(() => app.close());
    const got = await send(app, 'GET', `/v1/embeddings/episode/${ids[1]}?model=old-model`);
    expect(got.status).toBe(200);
    expect(got.body.vector).toEqual(Array.from(Float32Array.from([0.9, 0.1, 0])));
    const model = await waitForIndexer(app, 'old-model', 30_000);
    expect(model).toMatchObject({ count: 3, unindexed: 0, dimension: 3 });
    const found = await send(app, 'POST', '/v1/search/similar', {
      model: 'old-model',
      vector: [1, 0, 0],
      k: 2,
    });
    expect(found.body.strategy).toBe('index');
    expect(found.body.items.map((x: { item_id: string }) => x.item_id)).toEqual([ids[0], ids[1]]);
    expect((await send(app, 'DELETE', `/v1/episodes/${ids[0]}`)).status).toBe(204);
    expect((await send(app, 'GET', `/v1/embeddings/episode/${ids[0]}?model=old-model`)).status).toBe(404);
  });
});
