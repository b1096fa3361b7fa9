import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import { BACKENDS, episodeBody, send, uniqueAgent } from '../helpers/backends.js';

// Issue 12.1: the R*Tree never disagrees with the records. Random sequences of creates (single and batch,
// with located steps), step appends (numbered and auto-numbered), patches of the location and the end time,
// completes and deletes; then every indexed box is compared with the records the API answers.

const HOUR = 3_600_000;
const BASE = Date.parse('2026-06-01T00:00:00.000Z');
/** The R*Tree's time axis is in weeks (migration 8). */
const WEEK = 604_800_000;
/** Float32 weeks near 2026 are exact to 2^-12 week (148 s); the R*Tree rounds each box outward. */
const TIME_SLACK_WEEKS = 2 ** -11;
/** Float32 degrees near 180 are exact to 1.5e-5; a box spans two of those steps. */
const DEGREE_SLACK = 4e-5;
/**
 * Containment, to within what the R*Tree can hold: it rounds each box outward, except that a subnormal
 * double (5e-324) becomes 0 — which is why searches pad their coarse box (spatiotemporal.ts).
 */
const CONTAINS = 1e-30;
/** An episode in progress ends, in the index, after the last time the API accepts. */
const LATEST_WEEK = Date.parse('9999-12-31T23:59:59.999Z') / WEEK;

const location = fc.record({
  lat: fc.double({ min: -90, max: 90, noNaN: true }),
  lon: fc.double({ min: -180, max: 180, noNaN: true }),
});
const maybeLocation = fc.option(location, { nil: null });
const step = fc.record({
  location: maybeLocation,
  hour: fc.integer({ min: 0, max: 48 }),
  tool: fc.constantFrom('grep', 'edit', 'test'),
});
const target = fc.nat();

const operation = fc.oneof(
  fc.record({
    op: fc.constantFrom('create', 'batch'),
    location: maybeLocation,
    startHour: fc.integer({ min: 0, max: 1000 }),
    hours: fc.option(fc.integer({ min: 0, max: 100 }), { nil: null }),
    steps: fc.array(step, { maxLength: 3 }),
  }),
  fc.record({
    op: fc.constant('append'),
    target,
    steps: fc.array(step, { minLength: 1, maxLength: 3 }),
    numbered: fc.boolean(),
  }),
  fc.record({ op: fc.constant('patch_location'), target, location: maybeLocation }),
  fc.record({
    op: fc.constant('patch_end'),
    target,
    hours: fc.option(fc.integer({ min: 0, max: 100 }), { nil: null }),
  }),
  fc.record({ op: fc.constant('complete'), target }),
  fc.record({ op: fc.constant('patch_archived'), target, archived: fc.boolean() }),
  fc.record({
    op: fc.constant('patch_reward'),
    target,
    total: fc.option(fc.double({ min: -10, max: 10, noNaN: true }), { nil: null }),
  }),
  fc.record({ op: fc.constant('patch_domain'), target, domain: fc.constantFrom('web', 'data') }),
  fc.record({ op: fc.constant('delete'), target }),
);
type Operation = typeof operation extends fc.Arbitrary<infer T> ? T : never;

const iso = (ms: number) => new Date(ms).toISOString();
const stepBody = (s: { location: unknown; hour: number; tool: string }, start: number, n?: number) => ({
  tool: s.tool,
  action: 'a',
  timestamp: iso(start + s.hour * HOUR),
  ...(s.location ? { location: s.location } : {}),
  ...(n === undefined ? {} : { step_number: n }),
});

interface Box {
  episode_id: string;
  step_number: number;
  lat: number;
  lon: number;
  t0: number;
  t1: number | null;
  /** What the entry carries (migration 9): the span in ms and the episode's archived flag. */
  span: [number, number | null, number];
}

/** SQLite's order: episode id by code unit, then step number. */
const byItem = (a: Box, b: Box) =>
  a.episode_id < b.episode_id ? -1 : a.episode_id > b.episode_id ? 1 : a.step_number - b.step_number;

describe.each(BACKENDS)('spatiotemporal index on $name', ({ build }) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await build();
  });
  afterAll(async () => {
    await app.close();
  });

  /** Runs one operation; `live` holds the ids of the episodes that exist, with their start times. */
  async function run(op: Operation, agent: string, live: Map<string, number>): Promise<void> {
    const ids = [...live.keys()];
    const id = 'target' in op ? ids[op.target % Math.max(ids.length, 1)] : undefined;
    const ok = (res: { status: number; body: unknown }, ...statuses: number[]) =>
      expect(statuses, `${JSON.stringify(op)} → ${res.status} ${JSON.stringify(res.body)}`).toContain(
        res.status,
      );
    switch (op.op) {
      case 'create':
      case 'batch': {
        const start = BASE + op.startHour * HOUR;
        const body = episodeBody({
          agent_id: agent,
          start_time: iso(start),
          ...(op.hours === null ? {} : { end_time: iso(start + op.hours * HOUR) }),
          ...(op.location ? { location: op.location } : {}),
          steps: op.steps.map((s) => stepBody(s, start)),
        });
        if (op.op === 'create') {
          const res = await send(app, 'POST', '/v1/episodes', body);
          ok(res, 201);
          live.set(res.body.id, start);
        } else {
          const res = await send(app, 'POST', '/v1/episodes/batch', {
            episodes: [body, episodeBody({ agent_id: agent })],
          });
          ok(res, 201);
          live.set(res.body.ids[0], start);
          live.set(res.body.ids[1], Number.NaN);
        }
        return;
      }
      case 'append': {
        if (!id) return;
        const start = live.get(id) || BASE;
        const numbered = op.numbered ? 500 + (op.target % 1000) * 4 : undefined;
        const res = await send(app, 'POST', `/v1/episodes/${id}/steps`, {
          steps: op.steps.map((s, i) =>
            stepBody(s, start, numbered === undefined ? undefined : numbered + i),
          ),
        });
        ok(res, 201, 409);
        return;
      }
      case 'patch_location':
        if (id) ok(await send(app, 'PATCH', `/v1/episodes/${id}`, { location: op.location }), 200);
        return;
      case 'patch_end': {
        if (!id) return;
        const start = live.get(id);
        // An episode with the server's start time (now) is patched relative to now.
        const from = start === undefined || Number.isNaN(start) ? Date.now() : start;
        const end = op.hours === null ? null : iso(from + op.hours * HOUR);
        ok(await send(app, 'PATCH', `/v1/episodes/${id}`, { end_time: end }), 200);
        return;
      }
      case 'complete': {
        if (!id) return;
        const res = await send(app, 'POST', `/v1/episodes/${id}/complete`, {
          outcome: { type: 'success', verdict: 'ok', artifacts: [] },
          end_time: iso(Math.max(live.get(id) || 0, Date.now())),
        });
        ok(res, 200, 409);
        return;
      }
      case 'patch_archived':
        if (id) ok(await send(app, 'PATCH', `/v1/episodes/${id}`, { archived: op.archived }), 200);
        return;
      case 'patch_reward': {
        if (!id) return;
        const t = op.total;
        const reward =
          t === null
            ? null
            : {
                total: t,
                base: t,
                efficiency: 1,
                complexity_bonus: 0,
                quality_multiplier: 1,
                learning_bonus: 0,
              };
        ok(await send(app, 'PATCH', `/v1/episodes/${id}`, { reward }), 200);
        return;
      }
      case 'patch_domain':
        if (id) ok(await send(app, 'PATCH', `/v1/episodes/${id}`, { context: { domain: op.domain } }), 200);
        return;
      case 'delete':
        if (id) {
          ok(await send(app, 'DELETE', `/v1/episodes/${id}`), 204);
          live.delete(id);
        }
        return;
    }
  }

  /** The boxes the records call for: the episode's span at its location, each located step at its time. */
  async function expectedBoxes(agent: string): Promise<Box[]> {
    const boxes: Box[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: Record<string, unknown>[]; next_cursor: string | null } } = await send(
        app,
        'GET',
        `/v1/episodes?agent_id=${agent}&archived=any&include=steps&limit=1000${cursor ? `&cursor=${cursor}` : ''}`,
      );
      for (const e of page.body.items) {
        const loc = e.location as { lat: number; lon: number } | null;
        const end = e.end_time as string | null;
        const archived = e.archived ? 1 : 0;
        if (loc) {
          const t1 = end === null ? null : Date.parse(end) / WEEK;
          boxes.push({
            episode_id: e.id as string,
            step_number: 0,
            ...loc,
            t0: Date.parse(e.start_time as string) / WEEK,
            t1,
            span: [Date.parse(e.start_time as string), end === null ? null : Date.parse(end), archived],
          });
        }
        for (const s of e.steps as Record<string, unknown>[]) {
          const sl = s.location as { lat: number; lon: number } | null;
          const t = Date.parse(s.timestamp as string) / WEEK;
          if (sl)
            boxes.push({
              episode_id: e.id as string,
              step_number: s.step_number as number,
              ...sl,
              t0: t,
              t1: t,
              span: [Date.parse(s.timestamp as string), Date.parse(s.timestamp as string), archived],
            });
        }
      }
      cursor = page.body.next_cursor;
    } while (cursor);
    return boxes.sort(byItem);
  }

  it('model: after random creates, appends, patches, completes and deletes, every box matches the records and nothing else is indexed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 12 }), async (ops) => {
        const agent = uniqueAgent();
        const live = new Map<string, number>();
        const ever = new Set<string>();
        for (const op of ops) {
          await run(op, agent, live);
          for (const id of live.keys()) ever.add(id);
        }
        const expected = await expectedBoxes(agent);
        const rows = await app.engram.db.read(
          `SELECT x.episode_id, x.step_number, x.lat, x.lon, x.start_time, x.end_time, x.archived, r.min_lat, r.max_lat, r.min_lon, r.max_lon, r.min_t, r.max_t
           FROM json_each(?) ids JOIN spatiotemporal_entries x ON x.episode_id = ids.value
           LEFT JOIN spatiotemporal_index r ON r.id = x.id
           ORDER BY x.episode_id, x.step_number`,
          [JSON.stringify([...ever])],
        );
        // Entries of deleted episodes are gone, entries of the live ones are exactly the located items.
        expect(rows.map((r) => [r.episode_id, Number(r.step_number)])).toEqual(
          expected.map((b) => [b.episode_id, b.step_number]),
        );
        const byKey = new Map(expected.map((b) => [`${b.episode_id}/${b.step_number}`, b]));
        for (const r of rows) {
          const b = byKey.get(`${r.episode_id}/${r.step_number}`) as Box;
          expect([r.lat, r.lon]).toEqual([b.lat, b.lon]);
          const span = [r.start_time, r.end_time, r.archived].map((v) => (v === null ? null : Number(v)));
          expect(span, 'the entry carries its span and archived flag').toEqual(b.span);
          expect(r.min_lat, 'every entry has its box').not.toBeNull();
          const [minLat, maxLat, minLon, maxLon, minT, maxT] = [
            r.min_lat,
            r.max_lat,
            r.min_lon,
            r.max_lon,
            r.min_t,
            r.max_t,
          ].map(Number) as [number, number, number, number, number, number];
          expect(minLat).toBeLessThanOrEqual(b.lat + CONTAINS);
          expect(maxLat).toBeGreaterThanOrEqual(b.lat - CONTAINS);
          expect(maxLat - minLat).toBeLessThan(DEGREE_SLACK);
          expect(minLon).toBeLessThanOrEqual(b.lon + CONTAINS);
          expect(maxLon).toBeGreaterThanOrEqual(b.lon - CONTAINS);
          expect(maxLon - minLon).toBeLessThan(DEGREE_SLACK);
          expect(minT).toBeLessThanOrEqual(b.t0);
          expect(b.t0 - minT).toBeLessThan(TIME_SLACK_WEEKS);
          if (b.t1 === null) expect(maxT).toBeGreaterThan(LATEST_WEEK);
          else {
            expect(maxT).toBeGreaterThanOrEqual(b.t1);
            expect(maxT - b.t1).toBeLessThan(TIME_SLACK_WEEKS);
          }
        }
        const [orphans] = await app.engram.db.read(
          'SELECT COUNT(*) AS n FROM spatiotemporal_index WHERE id NOT IN (SELECT id FROM spatiotemporal_entries)',
        );
        expect(Number(orphans?.n), 'boxes without an entry').toBe(0);
      }),
      { numRuns: 15 },
    );
  });
  it('model: after the same random writes (and archives, rewards, domains), the hourly rollups equal the records', async () => {
    // One read holds both sides (one snapshot), so other tests writing to the shared sqld cannot come between.
    const hourOf = (t: string) => `(${t} - ((${t} % 3600000) + 3600000) % 3600000)`;
    const dayOf = (t: string) => `(${t} - ((${t} % 86400000) + 86400000) % 86400000)`;
    const sums = `SUM(1), SUM(e.end_time IS NOT NULL), SUM(e.end_time IS NOT NULL AND e.outcome_type IS 'success'),
      SUM(e.reward_total IS NOT NULL), TOTAL(e.reward_total)`;
    const compared = `
      SELECT 'kept' AS side, 'kind' AS t, hour, domain || '/' || task_type || '/' || agent_id AS k,
        episodes AS a, completed AS b, successes AS c, rewarded AS d, reward_sum AS r
        FROM episode_kind_hours WHERE tenant = 'default' AND agent_id = ?1
      UNION ALL SELECT 'fresh', 'kind', ${hourOf('e.start_time')} AS h, e.domain || '/' || e.task_type || '/' || e.agent_id,
        ${sums} FROM episodes e WHERE e.tenant = 'default' AND e.agent_id = ?1 AND e.archived = 0
        GROUP BY h, e.domain, e.task_type
      UNION ALL SELECT 'kept', 'tool', hour, domain || '/' || task_type || '/' || agent_id || '/' || tool, uses, 0, 0, 0, 0
        FROM tool_kind_hours WHERE tenant = 'default' AND agent_id = ?1
      UNION ALL SELECT 'fresh', 'tool', ${hourOf('s.timestamp')} AS h,
        e.domain || '/' || e.task_type || '/' || e.agent_id || '/' || s.tool, COUNT(*), 0, 0, 0, 0
        FROM steps s JOIN episodes e ON e.tenant = s.tenant AND e.id = s.episode_id
        WHERE e.tenant = 'default' AND e.agent_id = ?1 AND e.archived = 0 GROUP BY h, e.domain, e.task_type, s.tool
      UNION ALL SELECT 'kept', 'all', hour, '', episodes, completed, successes, rewarded, reward_sum
        FROM episode_hours WHERE tenant = 'default'
      UNION ALL SELECT 'fresh', 'all', ${hourOf('e.start_time')} AS h, '', ${sums}
        FROM episodes e WHERE e.tenant = 'default' AND e.archived = 0 GROUP BY h
      UNION ALL SELECT 'kept', 'days', day, '', episodes, completed, successes, rewarded, reward_sum
        FROM episode_days WHERE tenant = 'default'
      UNION ALL SELECT 'fresh', 'days', ${dayOf('e.start_time')} AS d, '', ${sums}
        FROM episodes e WHERE e.tenant = 'default' AND e.archived = 0 GROUP BY d
      UNION ALL SELECT 'kept', 'day tools', day, tool, uses, 0, 0, 0, 0 FROM tool_days WHERE tenant = 'default'
      UNION ALL SELECT 'fresh', 'day tools', ${dayOf('s.timestamp')} AS d, s.tool, COUNT(*), 0, 0, 0, 0
        FROM steps s JOIN episodes e ON e.tenant = s.tenant AND e.id = s.episode_id
        WHERE e.tenant = 'default' AND e.archived = 0 GROUP BY d, s.tool
      UNION ALL SELECT 'kept', 'all tools', hour, tool, uses, 0, 0, 0, 0 FROM tool_hours WHERE tenant = 'default'
      UNION ALL SELECT 'fresh', 'all tools', ${hourOf('s.timestamp')} AS h, s.tool, COUNT(*), 0, 0, 0, 0
        FROM steps s JOIN episodes e ON e.tenant = s.tenant AND e.id = s.episode_id
        WHERE e.tenant = 'default' AND e.archived = 0 GROUP BY h, s.tool`;
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 12 }), async (ops) => {
        const agent = uniqueAgent();
        const live = new Map<string, number>();
        for (const op of ops) await run(op, agent, live);
        const rows = await app.engram.db.read(compared, [agent]);
        const sides = { kept: new Map<string, number[]>(), fresh: new Map<string, number[]>() };
        for (const r of rows) {
          const values = [r.a, r.b, r.c, r.d, r.r].map(Number);
          // A rollup row whose episodes (or uses) all left stays behind with zeros: nothing to answer.
          if (values.every((v) => Math.abs(v) < 1e-9)) continue;
          sides[r.side as 'kept' | 'fresh'].set(`${r.t} ${r.hour} ${r.k}`, values);
        }
        expect([...sides.kept.keys()].sort()).toEqual([...sides.fresh.keys()].sort());
        for (const [key, kept] of sides.kept) {
          const fresh = sides.fresh.get(key) as number[];
          expect(kept.slice(0, 4), key).toEqual(fresh.slice(0, 4));
          // The reward sum is kept by additions and subtractions of doubles: equal to rounding.
          expect(Math.abs((kept[4] as number) - (fresh[4] as number)), key).toBeLessThan(1e-9);
        }
      }),
      { numRuns: 15 },
    );
  });
});
