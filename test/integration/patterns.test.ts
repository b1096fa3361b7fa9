import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddingInserts } from '../../src/storage/libsql/embeddings.js';
import type { TestApp } from '../helpers/app.js';
import { validPatternCreate } from '../helpers/arbitraries.js';
import { BACKENDS, rowCount, send } from '../helpers/backends.js';

// The pattern and heuristic contract (SPEC §2, §3.3), on an embedded file and a real sqld. Every response is
// checked against its route's strict response schema by `send`.

const ZERO_EFFECTIVENESS = {
  times_retrieved: 0,
  times_applied: 0,
  success_when_applied: 0,
  failure_when_applied: 0,
  avg_reward_delta: 0,
  last_used: null,
  score: 0,
};

/** A tool-sequence pattern in a domain of the test's own (the shared sqld holds other tests' rows). */
const toolSequence = (domain: string, overrides: Record<string, unknown> = {}) => ({
  kind: 'tool_sequence',
  tools: ['grep', 'edit', 'test'],
  context: { domain },
  success_rate: 0.8,
  avg_latency_ms: 1200,
  occurrence_count: 12,
  ...overrides,
});

const heuristic = (overrides: Record<string, unknown> = {}) => ({
  condition: 'a test fails only on CI',
  action: 'look for timing assumptions',
  confidence: 0.7,
  evidence: { episode_ids: [randomUUID()], success_rate: 0.75, sample_size: 4 },
  ...overrides,
});

interface Listed {
  id: string;
  kind: string;
  success_rate: number;
  created_at: string;
  tags: string[];
  context: { language?: string };
}

/** The score of SPEC §3.3 as the OpenAPI description defines it. */
const score = (helped: number, applied: number) =>
  ((helped + 1) / (applied + 2)) * (applied / (applied + 10));

describe.each(BACKENDS)('patterns on $name', ({ build }) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await build();
  });
  afterAll(async () => {
    await app.close();
  });

  /** Every page of a list, following next_cursor. */
  async function allPages(url: string): Promise<{ id: string }[]> {
    const items: { id: string }[] = [];
    let cursor: string | null = null;
    do {
      const res = await send(app, 'GET', `${url}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      items.push(...res.body.items);
      cursor = res.body.next_cursor;
    } while (cursor);
    return items;
  }

  it('property: every kind reads back exactly as written (GET equals POST, per kind)', async () => {
    const kinds = new Set<string>();
    await fc.assert(
      fc.asyncProperty(validPatternCreate(), async (body) => {
        kinds.add(body.kind as string);
        const created = await send(app, 'POST', '/v1/patterns', body);
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        const got = await send(app, 'GET', `/v1/patterns/${created.body.id}`);
        expect(got.status).toBe(200);
        expect(got.body).toEqual({
          ...body,
          id: body.id ?? created.body.id,
          tenant: 'default',
          tags: body.tags ?? [],
          effectiveness: ZERO_EFFECTIVENESS,
          created_at: got.body.created_at,
          updated_at: got.body.created_at,
          version: 1,
        });
        expect(got.body).toEqual(created.body);
      }),
      { numRuns: 80, seed: 20261130 },
    );
    expect([...kinds].sort()).toEqual([
      'context_pattern',
      'decision_point',
      'error_recovery',
      'tool_sequence',
    ]);
  });

  it('create: 201 with Location, ETag and a UUIDv7; a client id with the same body is a 200 no-op, another body 409', async () => {
    const created = await send(
      app,
      'POST',
      '/v1/patterns',
      toolSequence('create', { tags: ['CI', 'ci', 'Flaky'] }),
    );
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/v1/patterns/${created.body.id}`);
    expect(created.headers.etag).toBe('"1"');
    expect(created.body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    expect(created.body.tags).toEqual(['ci', 'flaky']);

    const body = toolSequence('create', { id: randomUUID() });
    expect((await send(app, 'POST', '/v1/patterns', body)).status).toBe(201);
    const again = await send(app, 'POST', '/v1/patterns', body);
    expect(again.status).toBe(200);
    const other = await send(app, 'POST', '/v1/patterns', { ...body, success_rate: 0.1 });
    expect(other.status).toBe(409);
    expect(other.body.code).toBe('PATTERN_ID_CONFLICT');
  });

  it('Idempotency-Key: a replay answers the first response; another body with the key is 422', async () => {
    const key = randomUUID();
    const body = toolSequence('idempotency');
    const first = await send(app, 'POST', '/v1/patterns', body, { 'idempotency-key': key });
    const replay = await send(app, 'POST', '/v1/patterns', body, { 'idempotency-key': key });
    expect(replay.status).toBe(201);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    const changed = await send(
      app,
      'POST',
      '/v1/patterns',
      { ...body, occurrence_count: 1 },
      { 'idempotency-key': key },
    );
    expect(changed.status).toBe(422);
    expect(changed.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await rowCount(app, 'patterns', "domain = 'idempotency'")).toBe(1);
  });

  it.each([
    ['success_rate above 1', { success_rate: 1.5 }, '/success_rate'],
    ['success_rate below 0', { success_rate: -0.1 }, '/success_rate'],
    ['an unknown field', { sucess_rate: 0.5 }, ''],
    ['a list over 1,000 items', { tools: Array.from({ length: 1001 }, () => 't') }, '/tools'],
    ['a field of another kind', { condition: 'x' }, ''],
    ['a pattern over 256 KB', { tools: Array.from({ length: 500 }, () => '€'.repeat(200)) }, ''],
  ])('create with %s is a 400 naming the field, and nothing is stored', async (_, change, path) => {
    const domain = `invalid-${randomUUID()}`;
    const res = await send(app, 'POST', '/v1/patterns', toolSequence(domain, change));
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path).join(' ')).toContain(path);
    expect(await rowCount(app, 'patterns', 'domain = ?', domain)).toBe(0);
  });

  it('decision point: outcome counts must add up; its success rate (filter and sort) is success/total', async () => {
    const domain = `decision-${randomUUID()}`;
    const decision = (outcome_stats: Record<string, number>) => ({
      kind: 'decision_point',
      condition: 'tests are slow',
      action: 'run them in parallel',
      outcome_stats: { avg_duration_secs: 3, ...outcome_stats },
      context: { domain },
    });
    const bad = await send(
      app,
      'POST',
      '/v1/patterns',
      decision({ success_count: 3, failure_count: 2, total_count: 4 }),
    );
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe('/outcome_stats/total_count');
    const high = await send(
      app,
      'POST',
      '/v1/patterns',
      decision({ success_count: 9, failure_count: 1, total_count: 10 }),
    );
    const none = await send(
      app,
      'POST',
      '/v1/patterns',
      decision({ success_count: 0, failure_count: 0, total_count: 0 }),
    );
    const low = await send(
      app,
      'POST',
      '/v1/patterns',
      decision({ success_count: 1, failure_count: 3, total_count: 4 }),
    );
    const listed = await send(app, 'GET', `/v1/patterns?domain=${domain}`);
    expect(listed.body.items.map((p: { id: string }) => p.id)).toEqual([
      high.body.id,
      low.body.id,
      none.body.id,
    ]);
    const filtered = await send(app, 'GET', `/v1/patterns?domain=${domain}&min_success_rate=0.5`);
    expect(filtered.body.items.map((p: { id: string }) => p.id)).toEqual([high.body.id]);
  });

  it('filters (kind, domain, language, tag, min_success_rate) combine with AND; each sort pages without duplicates or gaps', async () => {
    const domain = `list-${randomUUID()}`;
    const made: Listed[] = [];
    for (let i = 0; i < 12; i++) {
      const body =
        i % 3 === 2
          ? {
              kind: 'error_recovery',
              error_type: 'ECONNRESET',
              recovery_steps: ['retry'],
              success_rate: (i % 5) / 4,
              context: { domain, language: i % 2 ? 'ts' : 'py' },
              tags: i % 4 === 0 ? ['net'] : [],
            }
          : toolSequence(domain, {
              success_rate: (i % 5) / 4,
              context: { domain, language: i % 2 ? 'ts' : 'py' },
              tags: i % 4 === 0 ? ['net'] : [],
            });
      made.push((await send(app, 'POST', '/v1/patterns', body)).body);
    }
    const ids = (items: { id: unknown }[]) => items.map((p) => p.id);
    const byRateThenId = [...made].sort((a, b) => b.success_rate - a.success_rate || (b.id < a.id ? -1 : 1));
    expect(ids(await allPages(`/v1/patterns?domain=${domain}&limit=5`))).toEqual(ids(byRateThenId));
    const byCreated = [...made].sort((a, b) =>
      a.created_at === b.created_at ? (b.id < a.id ? -1 : 1) : b.created_at < a.created_at ? -1 : 1,
    );
    expect(ids(await allPages(`/v1/patterns?domain=${domain}&sort=created_desc&limit=5`))).toEqual(
      ids(byCreated),
    );
    expect(
      new Set(ids(await allPages(`/v1/patterns?domain=${domain}&sort=effectiveness_desc&limit=5`))),
    ).toEqual(new Set(ids(made)));

    const expected = (keep: (p: Listed) => boolean) => ids(byRateThenId.filter(keep));
    expect(ids(await allPages(`/v1/patterns?domain=${domain}&kind=error_recovery&limit=2`))).toEqual(
      expected((p) => p.kind === 'error_recovery'),
    );
    expect(
      ids(await allPages(`/v1/patterns?domain=${domain}&language=ts&min_success_rate=0.5&limit=2`)),
    ).toEqual(expected((p) => p.context.language === 'ts' && p.success_rate >= 0.5));
    expect(ids(await allPages(`/v1/patterns?domain=${domain}&tag=NET&limit=2`))).toEqual(
      expected((p) => p.tags.includes('net')),
    );
    const wrong = await send(app, 'GET', `/v1/patterns?min_success_rate=2`);
    expect(wrong.status).toBe(400);
    expect(wrong.body.errors[0].path).toBe('/min_success_rate');
    const foreign = await send(
      app,
      'GET',
      `/v1/patterns?sort=created_desc&cursor=${Buffer.from('{"s":"success_rate_desc","k":[1,"x"]}').toString('base64url')}`,
    );
    expect(foreign.status).toBe(400);
  });

  it('PATCH: a merge patch of the own fields with If-Match; limits hold after it; id, kind and counters cannot change', async () => {
    const created = (
      await send(
        app,
        'POST',
        '/v1/patterns',
        toolSequence('patch', { context: { domain: 'patch', language: 'ts' } }),
      )
    ).body;
    const url = `/v1/patterns/${created.id}`;
    const patched = await send(
      app,
      'PATCH',
      url,
      { success_rate: 0.25, context: { language: null }, tags: ['x1'] },
      { 'if-match': '"1"' },
    );
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.headers.etag).toBe('"2"');
    expect(patched.body).toMatchObject({
      success_rate: 0.25,
      context: { domain: 'patch' },
      tags: ['x1'],
      version: 2,
    });
    expect(patched.body.context.language).toBeUndefined();
    expect((await send(app, 'GET', url)).body).toEqual(patched.body);

    const stale = await send(app, 'PATCH', url, { success_rate: 0.3 }, { 'if-match': '"1"' });
    expect(stale.status).toBe(412);
    for (const [patch, path] of [
      [{ success_rate: 2 }, '/success_rate'],
      [{ tools: Array.from({ length: 1001 }, () => 't') }, '/tools'],
      [{ kind: 'decision_point' }, '/kind'],
      [{ effectiveness: { times_applied: 5 } }, '/effectiveness'],
      [{ tools: null }, '/tools'],
    ] as const) {
      const res = await send(app, 'PATCH', url, patch);
      expect(res.status, JSON.stringify(patch)).toBe(400);
      expect(res.body.errors[0].path).toBe(path);
    }
    expect((await send(app, 'GET', url)).body).toEqual(patched.body);
  });

  it('GET honours If-None-Match; DELETE honours If-Match and removes the pattern with its tags and embeddings', async () => {
    const created = (await send(app, 'POST', '/v1/patterns', toolSequence('delete', { tags: ['gone'] })))
      .body;
    const url = `/v1/patterns/${created.id}`;
    expect((await send(app, 'GET', url, undefined, { 'if-none-match': '"1"' })).status).toBe(304);
    await app.engram.db.write(
      embeddingInserts(
        'default',
        { type: 'pattern', id: created.id },
        { model: `m-${randomUUID()}`, vector: [1, 0] },
        Date.now(),
      ),
    );
    expect(await rowCount(app, 'embeddings', "item_type = 'pattern' AND item_id = ?", created.id)).toBe(1);
    expect((await send(app, 'DELETE', url, undefined, { 'if-match': '"7"' })).status).toBe(412);
    expect((await send(app, 'DELETE', url, undefined, { 'if-match': '"1"' })).status).toBe(204);
    expect((await send(app, 'GET', url)).status).toBe(404);
    expect((await send(app, 'DELETE', url)).body.code).toBe('PATTERN_NOT_FOUND');
    expect(await rowCount(app, 'embeddings', "item_type = 'pattern' AND item_id = ?", created.id)).toBe(0);
    expect(await rowCount(app, 'pattern_tags', 'pattern_id = ?', created.id)).toBe(0);
  });

  it('applications: 500 concurrent calls lose no count; the mean, last_used, score and version follow', async () => {
    const created = (await send(app, 'POST', '/v1/patterns', toolSequence('applications'))).body;
    expect(created.id).toBeDefined();
    const url = `/v1/patterns/${created.id}/applications`;
    const outcomes = Array.from(
      { length: 500 },
      (_, i) => (['helped', 'no_effect', 'hindered'] as const)[i % 3],
    );
    // Each client follows the documented protocol: a 503 (the database did not confirm in time) is repeated
    // with the same Idempotency-Key until it has an answer, so every application counts exactly once.
    const applyOnce = async (body: Record<string, unknown>) => {
      const key = randomUUID();
      for (;;) {
        const res = await send(app, 'POST', url, body, { 'idempotency-key': key });
        if (res.status !== 503) return res;
        // After Retry-After, as the protocol says: beyond the in-flight limit (256) a 503 comes at once, and
        // an immediate repeat through inject never yields to the event loop (the admitted calls starve).
        await new Promise((r) => setTimeout(r, Number(res.headers['retry-after'] ?? 1) * 1000));
      }
    };
    const answers = await Promise.all(
      outcomes.map((outcome, i) =>
        applyOnce({ outcome, episode_id: randomUUID(), ...(i % 2 ? {} : { reward_delta: i % 10 }) }),
      ),
    );
    expect(answers.filter((a) => a.status !== 200).map((a) => a.body)).toEqual([]);
    const got = (await send(app, 'GET', `/v1/patterns/${created.id}`)).body;
    const helped = outcomes.filter((o) => o === 'helped').length;
    const deltas = outcomes.flatMap((_, i) => (i % 2 ? [] : [i % 10]));
    expect(got.effectiveness).toMatchObject({
      times_applied: 500,
      success_when_applied: helped,
      failure_when_applied: outcomes.filter((o) => o === 'hindered').length,
      times_retrieved: 0,
    });
    expect(got.effectiveness.avg_reward_delta).toBeCloseTo(
      deltas.reduce((a, b) => a + b, 0) / deltas.length,
      9,
    );
    expect(got.effectiveness.score).toBeCloseTo(score(helped, 500), 12);
    expect(got.version).toBe(501);
    expect(Date.parse(got.effectiveness.last_used)).toBeGreaterThanOrEqual(Date.parse(created.created_at));
    expect(new Set(answers.map((a) => a.body.version)).size).toBe(500);
    expect(await rowCount(app, 'pattern_applications', 'pattern_id = ?', created.id)).toBe(500);

    const unknown = await send(app, 'POST', `/v1/patterns/${randomUUID()}/applications`, {
      outcome: 'helped',
    });
    expect(unknown.status).toBe(404);
    const bad = await send(app, 'POST', url, { outcome: 'pending' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe('/outcome');
    // sqld commits one write at a time (no group commit on the remote path): measured alone, 500 concurrent
    // applications took 12–15 s at load 7–10 (≈ 25 ms each; 500 episode creates take as long, and a bare
    // @libsql/client batch of one UPDATE ≈ 10 ms), so ≈ 45 s at load 30; the embedded file groups them (1.5 s).
  }, 120_000);

  it('applications with an Idempotency-Key count once however often they are sent', async () => {
    const created = (await send(app, 'POST', '/v1/patterns', toolSequence('applications-once'))).body;
    const url = `/v1/patterns/${created.id}/applications`;
    const key = randomUUID();
    const first = await send(
      app,
      'POST',
      url,
      { outcome: 'helped', reward_delta: 2 },
      { 'idempotency-key': key },
    );
    const again = await send(
      app,
      'POST',
      url,
      { outcome: 'helped', reward_delta: 2 },
      { 'idempotency-key': key },
    );
    expect(again.body).toEqual(first.body);
    // The answer, computed in SQL, is the record exactly as a GET reads it.
    expect((await send(app, 'GET', `/v1/patterns/${created.id}`)).body).toEqual(first.body);
    expect(first.body.effectiveness).toMatchObject({ times_applied: 1, avg_reward_delta: 2 });
    expect(first.body.effectiveness.score).toBeCloseTo(score(1, 1), 12);
  });

  it('applications: a reward_delta beyond ±1e12 is a 400 naming it; the extremes allowed keep the mean finite', async () => {
    const created = (await send(app, 'POST', '/v1/patterns', toolSequence('applications-extremes'))).body;
    const url = `/v1/patterns/${created.id}/applications`;
    // Found by the fuzz tier: -1.797e308 overflowed the running mean and the write failed with a 500.
    const huge = await send(app, 'POST', url, { outcome: 'helped', reward_delta: -1.7976931348623127e308 });
    expect(huge.status).toBe(400);
    expect(huge.body.errors[0].path).toBe('/reward_delta');
    expect((await send(app, 'POST', url, { outcome: 'helped', reward_delta: -1e12 })).status).toBe(200);
    const last = await send(app, 'POST', url, { outcome: 'hindered', reward_delta: 1e12 });
    expect(last.status).toBe(200);
    expect(last.body.effectiveness).toMatchObject({ times_applied: 2, avg_reward_delta: 0 });
  });

  it('effectiveness sort: by the stored score, highest first', async () => {
    const domain = `score-${randomUUID()}`;
    const [a, b, c] = await Promise.all(
      [0, 1, 2].map(() => send(app, 'POST', '/v1/patterns', toolSequence(domain))),
    );
    const apply = (id: string, outcome: string, n: number) =>
      Promise.all(
        Array.from({ length: n }, () => send(app, 'POST', `/v1/patterns/${id}/applications`, { outcome })),
      );
    await apply(a?.body.id, 'hindered', 4);
    await apply(b?.body.id, 'helped', 4);
    await apply(c?.body.id, 'helped', 1);
    const listed = await send(app, 'GET', `/v1/patterns?domain=${domain}&sort=effectiveness_desc&limit=2`);
    expect(listed.body.items.map((p: { id: string }) => p.id)).toEqual([b?.body.id, c?.body.id]);
    const rest = await send(
      app,
      'GET',
      `/v1/patterns?domain=${domain}&sort=effectiveness_desc&cursor=${listed.body.next_cursor}`,
    );
    expect(rest.body.items.map((p: { id: string }) => p.id)).toEqual([a?.body.id]);
    expect(listed.body.items[0].effectiveness.score).toBeCloseTo(score(4, 4), 12);
  });

  it('times_retrieved: lists count what they return, written in a batch, not by the read', async () => {
    const domain = `retrieved-${randomUUID()}`;
    const [one, two] = await Promise.all(
      [0, 1].map(() => send(app, 'POST', '/v1/patterns', toolSequence(domain))),
    );
    await app.engram.retrievals.stop(); // no timed flush from here on: this test flushes by hand
    for (let i = 0; i < 3; i++) await send(app, 'GET', `/v1/patterns?domain=${domain}`);
    await send(app, 'GET', `/v1/patterns?domain=${domain}&limit=1`);
    // Not written yet: the reads only counted.
    expect((await send(app, 'GET', `/v1/patterns/${one?.body.id}`)).body.effectiveness.times_retrieved).toBe(
      0,
    );
    await app.engram.retrievals.flush();
    const got = await Promise.all([one, two].map((p) => send(app, 'GET', `/v1/patterns/${p?.body.id}`)));
    const counts = got.map((g) => g.body.effectiveness.times_retrieved).sort();
    expect(counts).toEqual([3, 4]);
    expect(got.map((g) => g.body.version)).toEqual([1, 1]);
  });
});

describe.each(BACKENDS)('heuristics on $name', ({ build }) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await build();
  });
  afterAll(async () => {
    await app.close();
  });

  it('CRUD: create, get, patch with If-Match, delete with its embeddings', async () => {
    const body = heuristic();
    const created = await send(app, 'POST', '/v1/heuristics', body);
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/v1/heuristics/${created.body.id}`);
    const url = `/v1/heuristics/${created.body.id}`;
    expect((await send(app, 'GET', url)).body).toEqual({
      ...body,
      id: created.body.id,
      tenant: 'default',
      created_at: created.body.created_at,
      updated_at: created.body.created_at,
      version: 1,
    });
    const patched = await send(
      app,
      'PATCH',
      url,
      { confidence: 0.9, evidence: { sample_size: 5 } },
      { 'if-match': '"1"' },
    );
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      confidence: 0.9,
      evidence: { ...body.evidence, sample_size: 5 },
      version: 2,
    });
    expect((await send(app, 'PATCH', url, { confidence: 1.5 })).body.errors[0].path).toBe('/confidence');
    expect((await send(app, 'PATCH', url, { confidence: 0.1 }, { 'if-match': '"1"' })).status).toBe(412);
    await app.engram.db.write(
      embeddingInserts(
        'default',
        { type: 'heuristic', id: created.body.id },
        { model: `m-${randomUUID()}`, vector: [1] },
        Date.now(),
      ),
    );
    expect((await send(app, 'DELETE', url)).status).toBe(204);
    expect((await send(app, 'GET', url)).status).toBe(404);
    expect(
      await rowCount(app, 'embeddings', "item_type = 'heuristic' AND item_id = ?", created.body.id),
    ).toBe(0);
  });

  it('create: confidence outside [0, 1] is a 400 naming it; a client id with another body is 409', async () => {
    const bad = await send(app, 'POST', '/v1/heuristics', heuristic({ confidence: 1.01 }));
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe('/confidence');
    const body = heuristic({ id: randomUUID() });
    expect((await send(app, 'POST', '/v1/heuristics', body)).status).toBe(201);
    expect((await send(app, 'POST', '/v1/heuristics', body)).status).toBe(200);
    expect((await send(app, 'POST', '/v1/heuristics', { ...body, confidence: 0 })).body.code).toBe(
      'HEURISTIC_ID_CONFLICT',
    );
  });

  it('list: highest confidence first, paged by cursor without duplicates; min_confidence is a range', async () => {
    const made = await Promise.all(
      [0.91, 0.95, 0.93, 0.97, 0.99, 0.92].map((confidence) =>
        send(app, 'POST', '/v1/heuristics', heuristic({ confidence })),
      ),
    );
    const seen: { id: string; confidence: number }[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: { id: string; confidence: number }[]; next_cursor: string | null } } =
        await send(
          app,
          'GET',
          `/v1/heuristics?min_confidence=0.9&limit=4${cursor ? `&cursor=${cursor}` : ''}`,
        );
      seen.push(...page.body.items);
      cursor = page.body.next_cursor;
    } while (cursor);
    const mine = new Set(made.map((m) => m.body.id));
    const ours = seen.filter((h) => mine.has(h.id));
    expect(ours.map((h) => h.confidence)).toEqual([0.99, 0.97, 0.95, 0.93, 0.92, 0.91]);
    expect(new Set(seen.map((h) => h.id)).size).toBe(seen.length);
    expect(seen.every((h) => h.confidence >= 0.9)).toBe(true);
  });
});
