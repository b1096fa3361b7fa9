import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import { BACKENDS, episodeBody, rowCount, send, uniqueAgent } from '../helpers/backends.js';

// The episode and step contract (SPEC §2, §3.1, §3.2), run against an embedded file and a real sqld. Every
// response is checked against its route's strict response schema by `send`.

const steps = (n: number) => Array.from({ length: n }, (_, i) => ({ tool: 'bash', action: `step ${i + 1}` }));

describe.each(BACKENDS)('episodes on $name', ({ build }) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await build();
  });
  afterAll(async () => {
    await app.close();
  });

  const count = (table: string, where: string, ...args: string[]) => rowCount(app, table, where, ...args);

  it('create: 201 with Location and ETag, then GET returns the same record', async () => {
    const created = await send(app, 'POST', '/v1/episodes', episodeBody({ tags: ['CI', 'flaky', 'ci'] }));
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/v1/episodes/${created.body.id}`);
    expect(created.headers.etag).toBe('"1"');
    expect(created.body).toMatchObject({
      tags: ['ci', 'flaky'],
      status: 'in_progress',
      version: 1,
      step_count: 0,
    });
    expect(created.body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/); // server ids are UUIDv7
    const got = await send(app, 'GET', `/v1/episodes/${created.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created.body);
  });

  it('create with a client id: identical body is a 200 no-op, a different body is 409', async () => {
    const body = episodeBody({ id: randomUUID(), agent_id: uniqueAgent() });
    const first = await send(app, 'POST', '/v1/episodes', body);
    expect(first.status).toBe(201);
    const again = await send(app, 'POST', '/v1/episodes', body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const other = await send(app, 'POST', '/v1/episodes', { ...body, task_description: 'something else' });
    expect(other.status).toBe(409);
    expect(other.body.code).toBe('EPISODE_ID_CONFLICT');
  });

  it('Idempotency-Key: replays the first response, 422 for another body, one record under concurrency', async () => {
    const agent = uniqueAgent();
    const key = randomUUID();
    const body = episodeBody({ agent_id: agent });
    const first = await send(app, 'POST', '/v1/episodes', body, { 'idempotency-key': key });
    expect(first.status).toBe(201);
    for (let i = 0; i < 5; i++) {
      const replay = await send(app, 'POST', '/v1/episodes', body, { 'idempotency-key': key });
      expect(replay.status).toBe(201);
      expect(replay.body).toEqual(first.body);
      expect(replay.headers['idempotent-replayed']).toBe('true');
    }
    const changed = await send(
      app,
      'POST',
      '/v1/episodes',
      { ...body, task_description: 'x' },
      { 'idempotency-key': key },
    );
    expect(changed.status).toBe(422);
    expect(changed.body.code).toBe('IDEMPOTENCY_KEY_REUSED');

    const key2 = randomUUID();
    const concurrent = await Promise.all(
      Array.from({ length: 10 }, () => send(app, 'POST', '/v1/episodes', body, { 'idempotency-key': key2 })),
    );
    expect(concurrent.filter((r) => r.status !== 201).map((r) => r.body)).toEqual([]);
    expect(new Set(concurrent.map((r) => r.body.id)).size).toBe(1);
    const listed = await send(app, 'GET', `/v1/episodes?agent_id=${agent}`);
    expect(listed.body.items).toHaveLength(2);
  });

  it('ETags: If-None-Match answers 304, If-Match mismatch answers 412 on PATCH and DELETE', async () => {
    const { body: e } = await send(app, 'POST', '/v1/episodes', episodeBody());
    const notModified = await app.inject({
      method: 'GET',
      url: `/v1/episodes/${e.id}`,
      headers: { 'if-none-match': '"1"' },
    });
    expect(notModified.statusCode).toBe(304);
    expect(notModified.body).toBe('');
    const stale = await send(app, 'PATCH', `/v1/episodes/${e.id}`, { archived: true }, { 'if-match': '"7"' });
    expect(stale.status).toBe(412);
    expect(stale.body.code).toBe('PRECONDITION_FAILED');
    const ok = await send(app, 'PATCH', `/v1/episodes/${e.id}`, { archived: true }, { 'if-match': '"1"' });
    expect(ok.status).toBe(200);
    expect(ok.headers.etag).toBe('"2"');
    expect((await send(app, 'DELETE', `/v1/episodes/${e.id}`, undefined, { 'if-match': '"1"' })).status).toBe(
      412,
    );
    expect((await send(app, 'DELETE', `/v1/episodes/${e.id}`, undefined, { 'if-match': '"2"' })).status).toBe(
      204,
    );
  });

  it('PATCH is a merge patch: metadata merges and null deletes, context merges, tags replace', async () => {
    const { body: e } = await send(
      app,
      'POST',
      '/v1/episodes',
      episodeBody({
        metadata: { a: '1', b: '2' },
        tags: ['one'],
        context: { domain: 'web', language: 'ts' },
      }),
    );
    const patched = await send(app, 'PATCH', `/v1/episodes/${e.id}`, {
      metadata: { a: null, c: '3' },
      context: { framework: 'react' },
      tags: ['Two'],
      location: { lat: 1, lon: 2 },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.metadata).toEqual({ b: '2', c: '3' });
    expect(patched.body.context).toEqual({
      domain: 'web',
      language: 'ts',
      framework: 'react',
      complexity: 'moderate',
      tags: [],
    });
    expect(patched.body.tags).toEqual(['two']);
    expect(patched.body.version).toBe(2);
    expect(await count('episode_tags', 'episode_id = ?', e.id)).toBe(1);
    expect(await count('spatiotemporal_entries', 'episode_id = ?', e.id)).toBe(1);
    expect((await send(app, 'PATCH', `/v1/episodes/${randomUUID()}`, { archived: true })).status).toBe(404);
  });

  it('complete sets the outcome and end_time; completing twice is 409', async () => {
    const { body: e } = await send(app, 'POST', '/v1/episodes', episodeBody());
    const outcome = { type: 'success', verdict: 'green', artifacts: ['a.ts'] };
    const done = await send(app, 'POST', `/v1/episodes/${e.id}/complete`, { outcome });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'completed', outcome, version: 2 });
    expect(done.body.end_time).not.toBeNull();
    const twice = await send(app, 'POST', `/v1/episodes/${e.id}/complete`, { outcome });
    expect(twice.status).toBe(409);
    expect(twice.body.code).toBe('EPISODE_ALREADY_COMPLETED');
  });

  it('DELETE removes steps, tags, embeddings and spatiotemporal entries, with a report on request', async () => {
    const { body: e } = await send(
      app,
      'POST',
      '/v1/episodes',
      episodeBody({
        tags: ['a1', 'b2'],
        location: { lat: 10, lon: 20 },
        steps: [{ tool: 't', action: 'x', location: { lat: 10, lon: 21 } }, ...steps(2)],
        embedding: { model: `m-${randomUUID()}`, vector: [0.1, 0.2, 0.3] },
      }),
    );
    const report = await send(app, 'DELETE', `/v1/episodes/${e.id}?report=true`);
    expect(report.status).toBe(200);
    expect(report.body).toEqual({ episodes: 1, steps: 3, tags: 2, embeddings: 1, spatiotemporal_entries: 2 });
    expect((await send(app, 'GET', `/v1/episodes/${e.id}`)).status).toBe(404);
    for (const [table, where] of [
      ['steps', 'episode_id = ?'],
      ['episode_tags', 'episode_id = ?'],
      ['embeddings', "item_type = 'episode' AND item_id = ?"],
      ['spatiotemporal_entries', 'episode_id = ?'],
    ] as const) {
      expect(await count(table, where, e.id), table).toBe(0);
    }
    expect(Number((await app.engram.db.read('SELECT COUNT(*) AS n FROM spatiotemporal_index'))[0]?.n)).toBe(
      Number((await app.engram.db.read('SELECT COUNT(*) AS n FROM spatiotemporal_entries'))[0]?.n),
    );
    expect((await send(app, 'DELETE', `/v1/episodes/${e.id}`)).status).toBe(404);
  });

  it('atomicity: when the last part of a create fails, nothing of the episode remains', async () => {
    const model = `m-${randomUUID()}`;
    await send(app, 'POST', '/v1/episodes', episodeBody({ embedding: { model, vector: [1, 2] } }));
    const id = randomUUID();
    const failed = await send(
      app,
      'POST',
      '/v1/episodes',
      episodeBody({
        id,
        tags: ['x1'],
        location: { lat: 1, lon: 1 },
        steps: steps(3),
        embedding: { model, vector: [1, 2, 3] }, // wrong dimension: the embedding is written last
      }),
    );
    expect(failed.status).toBe(422);
    expect(failed.body.code).toBe('EMBEDDING_DIMENSION_MISMATCH');
    for (const [table, column] of [
      ['episodes', 'id'],
      ['steps', 'episode_id'],
      ['episode_tags', 'episode_id'],
      ['spatiotemporal_entries', 'episode_id'],
      ['embeddings', 'item_id'],
    ] as const) {
      expect(await count(table, `${column} = ?`, id), table).toBe(0);
    }
    // The failure left no lock or half transaction behind.
    expect((await send(app, 'POST', '/v1/episodes', episodeBody({ id }))).status).toBe(201);
  });

  it('batch create is all or nothing', async () => {
    const agent = uniqueAgent();
    const takenId = (await send(app, 'POST', '/v1/episodes', episodeBody())).body.id;
    const batch = [episodeBody({ agent_id: agent }), episodeBody({ agent_id: agent, id: takenId })];
    const failed = await send(app, 'POST', '/v1/episodes/batch', { episodes: batch });
    expect(failed.status).toBe(409);
    expect((await send(app, 'GET', `/v1/episodes?agent_id=${agent}`)).body.items).toHaveLength(0);
    const ok = await send(app, 'POST', '/v1/episodes/batch', {
      episodes: Array.from({ length: 20 }, () => episodeBody({ agent_id: agent, steps: steps(2) })),
    });
    expect(ok.status).toBe(201);
    expect(ok.body.ids).toHaveLength(20);
    expect((await send(app, 'GET', `/v1/episodes?agent_id=${agent}&limit=100`)).body.items).toHaveLength(20);
  });

  it('list: every filter narrows the result, and filters combine with AND', async () => {
    const agent = uniqueAgent();
    const session = randomUUID();
    const mk = (o: Record<string, unknown>) =>
      send(app, 'POST', '/v1/episodes', episodeBody({ agent_id: agent, ...o }));
    const a = (
      await mk({
        task_type: 'testing',
        context: { domain: 'db', language: 'rust' },
        tags: ['alpha', 'beta'],
        session_id: session,
        metadata: { team: 'core' },
        task_description: 'tune the quantum flux capacitor',
        start_time: '2026-01-01T00:00:00.000Z',
      })
    ).body;
    const b = (
      await mk({
        task_type: 'debugging',
        context: { domain: 'web', language: 'ts' },
        tags: ['beta'],
        start_time: '2026-02-01T00:00:00.000Z',
        archived: true,
      })
    ).body;
    const c = (await mk({ context: { domain: 'web' }, start_time: '2026-03-01T00:00:00.000Z' })).body;
    await send(app, 'POST', `/v1/episodes/${c.id}/complete`, {
      outcome: { type: 'failure', reason: 'segfault in parser' },
      reward: {
        total: 0.25,
        base: 0,
        efficiency: 1,
        complexity_bonus: 1,
        quality_multiplier: 1,
        learning_bonus: 0,
      },
    });
    const ids = async (q: string) =>
      (await send(app, 'GET', `/v1/episodes?agent_id=${agent}&${q}`)).body.items.map(
        (e: { id: string }) => e.id,
      );
    expect(await ids('')).toEqual([c.id, a.id]); // archived hidden by default, newest first
    expect(await ids('archived=any')).toEqual([c.id, b.id, a.id]);
    expect(await ids('archived=true')).toEqual([b.id]);
    expect(await ids('task_type=testing&archived=any')).toEqual([a.id]);
    expect(await ids('task_type=testing&task_type=debugging&archived=any')).toEqual([c.id, b.id, a.id]);
    expect(await ids('domain=web&archived=any')).toEqual([c.id, b.id]);
    expect(await ids('language=rust')).toEqual([a.id]);
    expect(await ids(`session_id=${session}`)).toEqual([a.id]);
    expect(await ids('tag=beta&archived=any')).toEqual([b.id, a.id]);
    expect(await ids('tag=alpha&tag=beta&tags_match=all&archived=any')).toEqual([a.id]);
    expect(await ids('tag=ALPHA&tag=gamma')).toEqual([a.id]);
    expect(await ids('status=completed')).toEqual([c.id]);
    expect(await ids('status=in_progress&archived=any')).toEqual([b.id, a.id]);
    expect(await ids('outcome=failure')).toEqual([c.id]);
    expect(await ids('min_reward=0.2&max_reward=0.3')).toEqual([c.id]);
    expect(await ids('min_reward=0.3')).toEqual([]);
    expect(await ids('started_after=2026-02-15T00:00:00.000Z&archived=any')).toEqual([c.id]);
    expect(await ids('started_before=2026-02-15T00:00:00.000Z&archived=any')).toEqual([b.id, a.id]);
    expect(await ids('metadata.team=core')).toEqual([a.id]);
    expect(await ids('metadata.team=other')).toEqual([]);
    expect(await ids('q=quantum capacitor')).toEqual([a.id]);
    expect(await ids('q=segfault')).toEqual([c.id]);
    expect(await ids('sort=start_time_asc&archived=any')).toEqual([a.id, b.id, c.id]);
    expect(await ids('sort=reward_desc&archived=any')).toEqual([c.id, b.id, a.id]); // no reward last, newest first
    const withSteps = await send(app, 'GET', `/v1/episodes?agent_id=${agent}&include=steps&limit=1`);
    expect(withSteps.body.items[0].steps).toEqual([]);
    const unknown = await send(app, 'GET', '/v1/episodes?domian=web');
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0]).toMatchObject({ in: 'query', path: '/domian' });
  });

  it('keyset pagination: no duplicates and no skipped older rows while rows are inserted concurrently', async () => {
    const agent = uniqueAgent();
    const older = await send(app, 'POST', '/v1/episodes/batch', {
      episodes: Array.from({ length: 45 }, (_, i) =>
        episodeBody({ agent_id: agent, start_time: new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString() }),
      ),
    });
    const seen: string[] = [];
    let cursor: string | null = null;
    let inserted = 0;
    do {
      const page: Awaited<ReturnType<typeof send>> = await send(
        app,
        'GET',
        `/v1/episodes?agent_id=${agent}&limit=7${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((e: { id: string }) => e.id));
      cursor = page.body.next_cursor;
      // New rows arrive between pages, some newer and some in the middle of the range already paged.
      await send(app, 'POST', '/v1/episodes', episodeBody({ agent_id: agent }));
      inserted++;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of older.body.ids) expect(seen).toContain(id);
    expect(inserted).toBeGreaterThan(5);
    const bad = await send(app, 'GET', '/v1/episodes?cursor=not-a-cursor');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('INVALID_CURSOR');
  });

  it('concurrent PATCH with the same If-Match: exactly one wins', async () => {
    const { body: e } = await send(app, 'POST', '/v1/episodes', episodeBody());
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        send(
          app,
          'PATCH',
          `/v1/episodes/${e.id}`,
          { metadata: { writer: String(i) } },
          { 'if-match': '"1"' },
        ),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 412)).toHaveLength(9);
    expect((await send(app, 'GET', `/v1/episodes/${e.id}`)).body.version).toBe(2);
  });

  it('steps: single and batch appends, auto numbers, 409 on a taken number, strict on a completed episode', async () => {
    const { body: e } = await send(app, 'POST', '/v1/episodes', episodeBody({ steps: steps(2) }));
    const one = await send(app, 'POST', `/v1/episodes/${e.id}/steps`, {
      tool: 'grep',
      action: 'search',
      parameters: { pattern: 'TODO', nested: { deep: [1, 2] } },
      result: { type: 'success', output: '3 matches' },
      latency_ms: 12,
      tokens_used: 40,
    });
    expect(one.status).toBe(201);
    expect(one.body.step_number).toBe(3);
    expect(one.headers.location).toBe(`/v1/episodes/${e.id}/steps/3`);
    const many = await send(app, 'POST', `/v1/episodes/${e.id}/steps`, { steps: steps(3) });
    expect(many.status).toBe(201);
    expect(many.body.items.map((s: { step_number: number }) => s.step_number)).toEqual([4, 5, 6]);
    const taken = await send(app, 'POST', `/v1/episodes/${e.id}/steps`, {
      tool: 't',
      action: 'a',
      step_number: 2,
    });
    expect(taken.status).toBe(409);
    expect(taken.body.code).toBe('STEP_NUMBER_CONFLICT');
    const mixed = await send(app, 'POST', `/v1/episodes/${e.id}/steps`, {
      steps: [
        { tool: 't', action: 'a', step_number: 20 },
        { tool: 't', action: 'b' },
      ],
    });
    expect(mixed.status).toBe(400);
    expect((await send(app, 'GET', `/v1/episodes/${e.id}`)).body.step_count).toBe(6);
    expect((await send(app, 'GET', `/v1/episodes/${e.id}/steps/3`)).body).toEqual(one.body);
    expect((await send(app, 'GET', `/v1/episodes/${e.id}/steps/99`)).status).toBe(404);
    expect(
      (await send(app, 'POST', `/v1/episodes/${randomUUID()}/steps`, { tool: 't', action: 'a' })).status,
    ).toBe(404);

    await send(app, 'POST', `/v1/episodes/${e.id}/complete`, { outcome: { type: 'failure', reason: 'r' } });
    const late = await send(app, 'POST', `/v1/episodes/${e.id}/steps`, { tool: 't', action: 'late log' });
    expect(late.status).toBe(201);
    const strict = await send(app, 'POST', `/v1/episodes/${e.id}/steps?strict=true`, {
      tool: 't',
      action: 'x',
    });
    expect(strict.status).toBe(409);
    expect(strict.body.code).toBe('EPISODE_COMPLETED');
  });

  it('steps: an auto-numbered append replays its numbers under the same Idempotency-Key', async () => {
    const { body: e } = await send(app, 'POST', '/v1/episodes', episodeBody());
    const key = randomUUID();
    const first = await send(
      app,
      'POST',
      `/v1/episodes/${e.id}/steps`,
      { steps: steps(2) },
      { 'idempotency-key': key },
    );
    await send(app, 'POST', `/v1/episodes/${e.id}/steps`, { tool: 't', action: 'other' });
    const replay = await send(
      app,
      'POST',
      `/v1/episodes/${e.id}/steps`,
      { steps: steps(2) },
      { 'idempotency-key': key },
    );
    expect(replay.status).toBe(201);
    expect(replay.body).toEqual(first.body);
    expect((await send(app, 'GET', `/v1/episodes/${e.id}`)).body.step_count).toBe(3);
  });

  it('steps: 200 concurrent appends without step_number get 200 distinct consecutive numbers', async () => {
    const { body: e } = await send(app, 'POST', '/v1/episodes', episodeBody());
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        send(app, 'POST', `/v1/episodes/${e.id}/steps`, { tool: 'bash', action: `a${i}` }),
      ),
    );
    expect(results.filter((r) => r.status !== 201).map((r) => r.body)).toEqual([]);
    const numbers = results.map((r) => r.body.step_number).sort((x: number, y: number) => x - y);
    expect(numbers).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect((await send(app, 'GET', `/v1/episodes/${e.id}`)).body.step_count).toBe(200);
  });

  it('steps: per-episode pages by step_number and the cross-episode list filters', async () => {
    const agent = uniqueAgent();
    const { body: e } = await send(
      app,
      'POST',
      '/v1/episodes',
      episodeBody({
        agent_id: agent,
        steps: [
          {
            tool: 'git',
            action: 'a',
            timestamp: '2026-05-01T00:00:00.000Z',
            result: { type: 'success', output: 'o' },
          },
          {
            tool: 'npm',
            action: 'b',
            timestamp: '2026-05-01T00:00:01.000Z',
            result: { type: 'error', message: 'm' },
          },
          { tool: 'git', action: 'c', timestamp: '2026-05-01T00:00:02.000Z', result: { type: 'timeout' } },
          ...steps(4).map((s, i) => ({ ...s, timestamp: `2026-05-01T00:01:0${i}.000Z` })),
        ],
      }),
    );
    const numbers: number[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof send>> = await send(
        app,
        'GET',
        `/v1/episodes/${e.id}/steps?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
      );
      numbers.push(...page.body.items.map((s: { step_number: number }) => s.step_number));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(numbers).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const tools = async (q: string) =>
      (await send(app, 'GET', `/v1/steps?agent_id=${agent}&${q}`)).body.items.map(
        (s: { action: string }) => s.action,
      );
    expect(await tools('tool=git')).toEqual(['c', 'a']);
    expect(await tools('result=error')).toEqual(['b']);
    expect(await tools('result=timeout')).toEqual(['c']);
    expect(await tools('since=2026-05-01T00:00:01.000Z&until=2026-05-01T00:00:03.000Z')).toEqual(['c', 'b']);
    expect((await send(app, 'GET', `/v1/steps?episode_id=${e.id}&limit=100`)).body.items).toHaveLength(7);
  });

  it('limits: too many steps, oversize text and an oversize episode are rejected naming the field', async () => {
    const tooMany = await send(app, 'POST', '/v1/episodes', episodeBody({ steps: steps(1001) }));
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors[0].path).toBe('/steps');
    const longAction = await send(
      app,
      'POST',
      '/v1/episodes',
      episodeBody({ steps: [{ tool: 't', action: 'é'.repeat(5001) }] }),
    );
    expect(longAction.status).toBe(400);
    expect(longAction.body.errors[0].path).toBe('/steps/0/action');
    // Every field within its own limit, the whole episode over 10 MiB (and under the 11 MiB body limit).
    const artifact = 'x'.repeat(1024 * 1024 - 100);
    const metadata = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'v'.repeat(10_000)]));
    const big = await send(
      app,
      'POST',
      '/v1/episodes',
      episodeBody({
        metadata,
        outcome: { type: 'success', verdict: 'v', artifacts: Array.from({ length: 10 }, () => artifact) },
      }),
    );
    expect(big.status).toBe(400);
    expect(big.body.errors[0]).toMatchObject({ in: 'body', path: '/' });
    expect(big.body.errors[0].message).toMatch(/10485760 bytes/);
  });
});
