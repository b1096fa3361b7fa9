import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normaliseTags } from '../../src/domain/common.js';
import { EpisodeCreate } from '../../src/domain/episode.js';
import type { TestApp } from '../helpers/app.js';
import { validEpisodeCreate } from '../helpers/arbitraries.js';
import { BACKENDS, send } from '../helpers/backends.js';

// Nothing accepted is dropped or altered on the way back (SPEC §3.1), except the documented tag
// normalisation and the server-filled defaults: GET returns exactly what POST stored.

type Body = Record<string, unknown> & { steps?: Record<string, unknown>[] };

/** What the record must hold for a create body: the body as accepted (schema defaults applied), plus the
 * server's documented defaults for absent fields. */
function expectedRecord(raw: Body, stored: Record<string, unknown>) {
  const { steps = [], embedding: _embedding, ...fields } = EpisodeCreate.parse(raw) as Body;
  const context = fields.context as Record<string, unknown>;
  return {
    agent_id: null,
    session_id: null,
    outcome: null,
    reward: null,
    reflection: null,
    patterns: [],
    heuristics: [],
    applied_patterns: [],
    salient_features: null,
    metadata: {},
    location: null,
    archived: false,
    end_time: null,
    start_time: stored.start_time, // server-filled when absent; checked for format below
    ...fields,
    id: fields.id ?? stored.id,
    tenant: 'default',
    context,
    tags: normaliseTags((fields.tags as string[] | undefined) ?? []),
    status: fields.end_time ? 'completed' : 'in_progress',
    step_count: steps.length,
    version: 1,
    created_at: stored.created_at,
    updated_at: stored.updated_at,
    steps: steps.map((s, i) => ({
      episode_id: fields.id ?? stored.id,
      parameters: {},
      result: null,
      latency_ms: null,
      tokens_used: null,
      metadata: {},
      location: null,
      timestamp: (stored.steps as { timestamp: string }[])[i]?.timestamp,
      ...s,
      step_number: s.step_number ?? i + 1,
    })),
  };
}

describe.each(BACKENDS)('round trip on $name', ({ build }) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await build();
  });
  afterAll(async () => {
    await app.close();
  });

  it('property: GET ?include=steps returns exactly what POST stored, for random valid episodes', async () => {
    await fc.assert(
      fc.asyncProperty(validEpisodeCreate({ withSteps: true }), async (body) => {
        const created = await send(app, 'POST', '/v1/episodes', body);
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        const got = await send(app, 'GET', `/v1/episodes/${created.body.id}?include=steps`);
        expect(got.status).toBe(200);
        expect(got.body).toEqual(expectedRecord(body as Body, got.body));
        expect(got.body.start_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        const { steps: _steps, ...withoutSteps } = got.body;
        expect(withoutSteps).toEqual(created.body);
      }),
      { numRuns: 60, seed: 20261125 },
    );
  });
});
