import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_EMBEDDED_STEPS, MAX_PAGE_BYTES } from '../../src/domain/limits.js';
import type { TestApp } from '../helpers/app.js';
import { BACKENDS, episodeBody, send } from '../helpers/backends.js';

// Issue 7.5: every list answer is bounded. A page that would carry more than MAX_PAGE_BYTES of records,
// or (with include=steps) more than MAX_EMBEDDED_STEPS steps, ends early with a cursor; paging on
// returns every record exactly once. Nothing is loaded past the budget, so nothing runs out of memory.

const MB = 1024 * 1024;
const artifact = 'a'.repeat(MB - 200);
const steps = (n: number, size = 0) =>
  Array.from({ length: n }, (_, i) => ({
    tool: 'bash',
    action: `step ${i}`,
    parameters: size ? { blob: 'p'.repeat(size) } : {},
  }));

/** Every page of `url` (which has its own query), followed by its cursor. */
async function allPages(
  app: TestApp,
  url: string,
): Promise<{ items: { id?: string; step_number?: number; steps?: unknown[] }[]; bytes: number }[]> {
  const pages = [];
  let cursor: string | null = null;
  do {
    const res: { status: number; body: { items: []; next_cursor: string | null } } = await send(
      app,
      'GET',
      `${url}${cursor ? `&cursor=${cursor}` : ''}`,
    );
    expect(res.status).toBe(200);
    pages.push({ items: res.body.items, bytes: Buffer.byteLength(JSON.stringify(res.body)) });
    cursor = res.body.next_cursor;
  } while (cursor && pages.length < 100);
  return pages;
}

describe.each(BACKENDS)('page budget on $name', ({ build }) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await build();
  });
  afterAll(async () => {
    await app.close();
  });

  it(`episodes of 1 MB each, limit=50 - pages of at most ${MAX_PAGE_BYTES / MB} MB, every episode once`, async () => {
    const agent = randomUUID();
    for (let i = 0; i < 5; i++) {
      const outcome = { type: 'success', verdict: 'v', artifacts: [artifact] };
      expect(
        (await send(app, 'POST', '/v1/episodes', episodeBody({ agent_id: agent, outcome }))).status,
      ).toBe(201);
    }
    const pages = await allPages(app, `/v1/episodes?agent_id=${agent}&limit=50`);
    expect(pages.length).toBeGreaterThan(1);
    for (const page of pages) expect(page.bytes).toBeLessThanOrEqual(MAX_PAGE_BYTES);
    const ids = pages.flatMap((p) => p.items.map((e) => e.id));
    expect(ids).toHaveLength(5);
    expect(new Set(ids).size).toBe(5);
  });

  it(`include=steps, limit=1000 - at most ${MAX_EMBEDDED_STEPS} steps a page, whole episodes, every one once`, async () => {
    const agent = randomUUID();
    for (let i = 0; i < 6; i++) {
      expect(
        (await send(app, 'POST', '/v1/episodes', episodeBody({ agent_id: agent, steps: steps(1_000) })))
          .status,
      ).toBe(201);
    }
    const pages = await allPages(app, `/v1/episodes?agent_id=${agent}&include=steps&limit=1000`);
    expect(pages.length).toBeGreaterThan(1);
    for (const page of pages) {
      expect(page.items.reduce((n, e) => n + (e.steps?.length ?? 0), 0)).toBeLessThanOrEqual(
        MAX_EMBEDDED_STEPS,
      );
      for (const e of page.items) expect(e.steps).toHaveLength(1_000);
    }
    expect(new Set(pages.flatMap((p) => p.items.map((e) => e.id))).size).toBe(6);
  });

  it('steps larger than a page - their list pages within the budget; embedding them is a 422, not an out-of-memory', async () => {
    const { body: e } = await send(app, 'POST', '/v1/episodes', episodeBody({ agent_id: randomUUID() }));
    const appended = await send(app, 'POST', `/v1/episodes/${e.id}/steps`, { steps: steps(70, 64 * 1000) });
    expect(appended.status).toBe(201);
    const pages = await allPages(app, `/v1/episodes/${e.id}/steps?limit=1000`);
    expect(pages.length).toBeGreaterThan(1);
    for (const page of pages) expect(page.bytes).toBeLessThanOrEqual(MAX_PAGE_BYTES);
    expect(pages.flatMap((p) => p.items.map((s) => s.step_number))).toEqual(
      Array.from({ length: 70 }, (_, i) => i + 1),
    );

    const across = await allPages(app, `/v1/steps?episode_id=${e.id}&limit=1000`);
    expect(across.flatMap((p) => p.items)).toHaveLength(70);
    for (const page of across) expect(page.bytes).toBeLessThanOrEqual(MAX_PAGE_BYTES);

    const embedded = await send(app, 'GET', `/v1/episodes/${e.id}?include=steps`);
    expect(embedded.status).toBe(422);
    expect(embedded.body.code).toBe('RESPONSE_TOO_LARGE');
    expect((await send(app, 'GET', `/v1/episodes?agent_id=${e.agent_id}&include=steps`)).body.code).toBe(
      'RESPONSE_TOO_LARGE',
    );
    expect((await send(app, 'GET', `/v1/episodes/${e.id}`)).status).toBe(200);
  });
});

describe('reader threads (embedded file)', () => {
  it('a long read - runs on a reader thread, whose connection cannot write', async () => {
    const app = await BACKENDS[0]?.build();
    if (!app) throw new Error('no embedded backend');
    try {
      await expect(
        app.engram.db.scan("INSERT INTO episode_tags VALUES ('t', 'e', 'x')"),
      ).rejects.toMatchObject({
        message: 'database error',
        detail: expect.stringMatching(/readonly|read-only|query_only/i),
      });
      expect(await app.engram.db.scan('SELECT COUNT(*) AS n FROM episodes')).toEqual([{ n: 0 }]);
    } finally {
      await app.close();
    }
  });
});
