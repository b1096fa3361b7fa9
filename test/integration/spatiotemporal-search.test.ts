import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { whereEpisodeInSpaceTime } from '../../src/storage/libsql/spatiotemporal.js';
import { tenantScope } from '../../src/storage/libsql/where.js';
import type { TestApp } from '../helpers/app.js';
import { BACKENDS, episodeBody, send, uniqueAgent } from '../helpers/backends.js';

// POST /v1/spatiotemporal/search (issue 12.2, 12.4, 12.5, 12.8) on both backends: examples, then an oracle —
// random points, radii, boxes and windows against a brute-force haversine/time filter over the same data.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const EARTH_RADIUS_M = 6_371_008.8;
const RAD = Math.PI / 180;

/** The haversine of the central angle between two points (what the distance is computed from). */
function haversineOf(lat1: number, lon1: number, lat2: number, lon2: number): number {
  return (
    Math.sin(((lat2 - lat1) * RAD) / 2) ** 2 +
    Math.cos(lat1 * RAD) * Math.cos(lat2 * RAD) * Math.sin(((lon2 - lon1) * RAD) / 2) ** 2
  );
}

const metresOf = (a: number) => 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(Math.max(0, a))));

/** The oracle's own great-circle distance (haversine on the mean Earth radius). */
function haversine(lat1: number, lon1: number, lat2: number, lon2: number): number {
  return metresOf(haversineOf(lat1, lon1, lat2, lon2));
}

/**
 * How far apart two correct haversine implementations (the server's SQL math, V8's) may be: the haversine
 * itself agrees to a few ulps (1e-14 relative leaves room), but asin(√a) is ill-conditioned near a = 1, so
 * near the antipode a few ulps are up to a metre (2R·√1e-14 ≈ 1.3 m); elsewhere far below a micrometre.
 */
function distanceTolerance(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const a = haversineOf(lat1, lon1, lat2, lon2);
  return metresOf(a * (1 + 1e-14)) - metresOf(a * (1 - 1e-14)) + 1e-6;
}

/** Moves `metres` north and east of a point (small distances; for building examples). */
function offset(p: { lat: number; lon: number }, northM: number, eastM: number) {
  return {
    lat: p.lat + northM / (EARTH_RADIUS_M * RAD),
    lon: p.lon + eastM / (EARTH_RADIUS_M * RAD * Math.cos(p.lat * RAD)),
  };
}

const iso = (ms: number) => new Date(ms).toISOString();
const MUNICH = { lat: 48.1374, lon: 11.5755 };

interface Hit {
  item_type: 'episode' | 'step';
  distance_m: number | null;
  item: Record<string, unknown>;
}

describe.each(BACKENDS)('spatiotemporal search on $name', ({ build }) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await build({ LOG_LEVEL: process.env.DBG ? 'error' : 'silent' });
  });
  afterAll(async () => {
    await app.close();
  });

  const search = (body: Record<string, unknown>) => send(app, 'POST', '/v1/spatiotemporal/search', body);

  /** Every page of a search, followed through its cursors. */
  async function searchAll(body: Record<string, unknown>): Promise<Hit[]> {
    const hits: Hit[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 1000; pages++) {
      const res = await search({ ...body, ...(cursor ? { cursor } : {}) });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      hits.push(...res.body.items);
      if (res.body.next_cursor === null) return hits;
      cursor = res.body.next_cursor;
    }
    throw new Error('more than 1000 pages');
  }

  async function create(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const res = await send(app, 'POST', '/v1/episodes', episodeBody(body));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  }

  it('within 5 km of here last week - nearest first with distance_m; farther, older and unlocated episodes left out', async () => {
    const agent = uniqueAgent();
    const now = Date.now();
    const near = await create({
      agent_id: agent,
      start_time: iso(now - 2 * DAY),
      location: offset(MUNICH, 1000, 0),
    });
    const nearer = await create({
      agent_id: agent,
      start_time: iso(now - 3 * DAY),
      location: offset(MUNICH, 0, 300),
    });
    await create({ agent_id: agent, start_time: iso(now - 2 * DAY), location: offset(MUNICH, 6000, 0) });
    await create({
      agent_id: agent,
      start_time: iso(now - 20 * DAY),
      end_time: iso(now - 19 * DAY),
      location: MUNICH,
    });
    await create({ agent_id: agent, start_time: iso(now - 2 * DAY) });
    const res = await search({
      near: { ...MUNICH, radius_m: 5000 },
      time: { from: iso(now - 7 * DAY) },
      filter: { agent_id: agent },
    });
    expect(res.status).toBe(200);
    expect(res.body.items.map((h: Hit) => h.item.id)).toEqual([nearer.id, near.id]);
    expect(res.body.items[0].distance_m).toBeCloseTo(300, 3);
    expect(res.body.items[1].distance_m).toBeCloseTo(1000, 3);
    expect(res.body.items[0].item).toEqual(nearer);
    expect(res.body.next_cursor).toBeNull();
  });

  it('an episode in progress spans until now: found by a window since yesterday, not by one that starts tomorrow', async () => {
    const agent = uniqueAgent();
    const now = Date.now();
    const open = await create({ agent_id: agent, start_time: iso(now - 30 * DAY), location: MUNICH });
    const place = { near: { ...MUNICH, radius_m: 10 }, filter: { agent_id: agent } };
    expect((await searchAll({ ...place, time: { from: iso(now - DAY) } })).map((h) => h.item.id)).toEqual([
      open.id,
    ]);
    expect(await searchAll({ ...place, time: { from: iso(now + DAY) } })).toEqual([]);
    // Completed: its span ends at its end_time.
    await send(app, 'POST', `/v1/episodes/${open.id}/complete`, {
      outcome: { type: 'failure', reason: 'r' },
      end_time: iso(now - 10 * DAY),
    });
    expect(await searchAll({ ...place, time: { from: iso(now - DAY) } })).toEqual([]);
    expect(
      await searchAll({ ...place, time: { from: iso(now - 10 * DAY), to: iso(now - 10 * DAY) } }),
    ).toHaveLength(1);
  });

  it('a box across the antimeridian, and boxes touching the poles', async () => {
    const agent = uniqueAgent();
    const east = await create({ agent_id: agent, location: { lat: 10, lon: 179.9 } });
    const west = await create({ agent_id: agent, location: { lat: -10, lon: -179.5 } });
    const dateline = await create({ agent_id: agent, location: { lat: 0, lon: 180 } });
    const justEast = await create({ agent_id: agent, location: { lat: 0.01, lon: 179.8 } });
    const origin = await create({ agent_id: agent, location: { lat: 0, lon: 0 } });
    const north = await create({ agent_id: agent, location: { lat: 90, lon: 45 } });
    const south = await create({ agent_id: agent, location: { lat: -90, lon: -120 } });
    const ids = async (bbox: number[]) =>
      (await searchAll({ within: { bbox }, filter: { agent_id: agent }, order: 'time_asc' })).map(
        (h) => h.item.id,
      );
    expect(await ids([170, -20, -170, 20])).toEqual([east.id, west.id, dateline.id, justEast.id]);
    expect(await ids([-180, 80, 180, 90])).toEqual([north.id]);
    expect(await ids([-180, -90, 180, -89])).toEqual([south.id]);
    // A box across the antimeridian that reaches back almost to its west edge: the two halves the index is
    // searched in meet near 0°, and an episode there is found once.
    const prime = await create({ agent_id: agent, location: { lat: 0, lon: 0.00005 } });
    expect(await ids([0, -1, -0.00001, 1])).toEqual([dateline.id, justEast.id, origin.id, prime.id]);
    // Near a pole, every longitude is close.
    const polar = await searchAll({
      near: { lat: 89.99, lon: -170, radius_m: 5000 },
      filter: { agent_id: agent },
    });
    expect(polar.map((h) => h.item.id)).toEqual([north.id]);
    // Near the antimeridian, both sides.
    const across = await searchAll({
      near: { lat: 0, lon: -179.99, radius_m: 50_000 },
      filter: { agent_id: agent },
    });
    expect(across.map((h) => h.item.id)).toEqual([dateline.id, justEast.id]);
  });

  it('time order - pages read first from the items starting in a quarter of the window equal the whole window, past long-open episodes', async () => {
    // A box of its own (entry-only path without an agent filter), dense enough for a page to fill up in the
    // window's first quarter, with episodes open since before the window, and spans that reach into it.
    const agent = uniqueAgent();
    const place = { lat: 33.3 + Math.random() * 0.1, lon: -140.7 + Math.random() * 0.1 };
    const window = { from: Date.parse('2025-03-01T00:00:00Z'), to: Date.parse('2025-03-21T00:00:00Z') };
    const starts = [
      ...Array.from({ length: 20 }, (_, i) => ({ start: window.from + i * DAY + 7 * HOUR, hours: 2 })),
      ...Array.from({ length: 4 }, (_, i) => ({ start: window.from - (i + 1) * 30 * DAY, hours: null })),
      ...Array.from({ length: 3 }, (_, i) => ({
        start: window.from - (i + 1) * DAY,
        hours: (i + 1) * 24 + 5,
      })),
      { start: window.from - 40 * DAY, hours: 24 }, // ends before the window
      { start: window.to + DAY, hours: 1 }, // starts after it
    ];
    const created = [];
    for (const [i, s] of starts.entries()) {
      created.push(
        await create({
          agent_id: agent,
          start_time: iso(s.start),
          ...(s.hours === null ? {} : { end_time: iso(s.start + s.hours * HOUR) }),
          location: offset(place, i * 10, 0),
        }),
      );
    }
    const overlapping = created.filter((e, i) => {
      const end = starts[i]?.hours === null ? Date.now() : Date.parse(e.end_time as string);
      return Date.parse(e.start_time as string) <= window.to && end >= window.from;
    });
    expect(overlapping).toHaveLength(27);
    const byStart = (a: Record<string, unknown>, b: Record<string, unknown>) =>
      a.start_time === b.start_time
        ? String(a.id) < String(b.id)
          ? -1
          : 1
        : String(a.start_time) < String(b.start_time)
          ? -1
          : 1;
    const ascending = overlapping.sort(byStart).map((e) => e.id);
    const bbox = [place.lon - 0.01, place.lat - 0.01, place.lon + 0.01, place.lat + 0.01];
    const time = { from: iso(window.from), to: iso(window.to) };
    for (const filter of [{}, { agent_id: agent }]) {
      for (const limit of [3, 10, 100]) {
        const newest = await searchAll({ within: { bbox }, time, filter, order: 'time_desc', limit });
        expect(newest.map((h) => h.item.id)).toEqual([...ascending].reverse());
        const oldest = await searchAll({ within: { bbox }, time, filter, order: 'time_asc', limit });
        expect(oldest.map((h) => h.item.id)).toEqual(ascending);
      }
    }
  });

  it('time order - a page that fills up with items starting before the first quarter is read again from the whole window', async () => {
    // Newest first, the page is read first from the items that start in the window's last quarter, and the
    // R*Tree's boxes pad that bound by a day. Three spans start within that day and reach into the quarter;
    // a short one starts later but ends before it: it is newer than all three, yet not in the first read.
    const place = { lat: -21.3 + Math.random() * 0.1, lon: 75.1 + Math.random() * 0.1 };
    const from = Date.parse('2025-06-01T00:00:00Z');
    const to = from + 8 * DAY;
    const edge = to - 2 * DAY;
    const spans = [
      [edge - 20 * HOUR, edge + HOUR],
      [edge - 18 * HOUR, edge + HOUR],
      [edge - 16 * HOUR, edge + HOUR],
      [edge - 10 * HOUR, edge - 9 * HOUR],
    ];
    const ids = [];
    for (const [i, [start, end]] of spans.entries()) {
      const e = await create({
        start_time: iso(start as number),
        end_time: iso(end as number),
        location: offset(place, i * 10, 0),
      });
      ids.push(e.id);
    }
    const bbox = [place.lon - 0.01, place.lat - 0.01, place.lon + 0.01, place.lat + 0.01];
    const res = await search({ within: { bbox }, time: { from: iso(from), to: iso(to) }, limit: 2 });
    expect(res.status).toBe(200);
    expect(res.body.items.map((h: Hit) => h.item.id)).toEqual([ids[3], ids[2]]);
    expect(res.body.next_cursor).not.toBeNull();
  });

  it('time alone finds episodes without a location; filters combine', async () => {
    const agent = uniqueAgent();
    const now = Date.now();
    const plain = await create({
      agent_id: agent,
      start_time: iso(now - 3 * HOUR),
      end_time: iso(now - 2 * HOUR),
    });
    await create({ agent_id: agent, start_time: iso(now - 3 * HOUR), context: { domain: 'other' } });
    await create({ agent_id: agent, start_time: iso(now - 30 * HOUR), end_time: iso(now - 29 * HOUR) });
    const hits = await searchAll({
      time: { from: iso(now - 4 * HOUR), to: iso(now) },
      filter: { agent_id: agent, domain: 'web' },
    });
    expect(hits).toEqual([{ item_type: 'episode', distance_m: null, item: plain }]);
  });

  it('item_type=step - located steps, on their own location and timestamp, with their episode filters', async () => {
    const agent = uniqueAgent();
    const now = Date.now();
    const e = await create({
      agent_id: agent,
      start_time: iso(now - DAY),
      location: { lat: 0, lon: 0 },
      steps: [
        { tool: 'walk', action: 'here', timestamp: iso(now - HOUR), location: MUNICH },
        { tool: 'walk', action: 'away', timestamp: iso(now - HOUR), location: { lat: 0, lon: 0 } },
        { tool: 'think', action: 'nowhere', timestamp: iso(now - HOUR) },
      ],
    });
    const hits = await searchAll({
      item_type: 'step',
      near: { ...MUNICH, radius_m: 1000 },
      filter: { agent_id: agent },
    });
    expect(hits.map((h) => [h.item_type, h.item.episode_id, h.item.step_number])).toEqual([
      ['step', e.id, 1],
    ]);
    expect(hits[0]?.distance_m).toBe(0);
    // The filter's near and time are the episode's: its location at (0, 0), its span from a day ago.
    const stepsWhere = (filter: Record<string, unknown>) =>
      searchAll({
        item_type: 'step',
        near: { ...MUNICH, radius_m: 1000 },
        filter: { agent_id: agent, ...filter },
      });
    expect(await stepsWhere({ near: { lat: 0, lon: 0.001, radius_m: 200 } })).toHaveLength(1);
    expect(await stepsWhere({ near: { ...MUNICH, radius_m: 200 } })).toEqual([]);
    expect(
      await stepsWhere({ within: { bbox: [-1, -1, 1, 1] }, time: { from: iso(now - 2 * DAY) } }),
    ).toHaveLength(1);
    expect(await stepsWhere({ time: { to: iso(now - 2 * DAY) } })).toEqual([]);
    expect(
      await searchAll({
        item_type: 'step',
        near: { ...MUNICH, radius_m: 1000 },
        filter: { agent_id: agent, domain: 'x' },
      }),
    ).toEqual([]);
    // Time alone: every step of the window, located or not.
    const timed = await searchAll({
      item_type: 'step',
      time: { from: iso(now - 2 * HOUR) },
      filter: { agent_id: agent },
    });
    expect(timed.map((h) => h.item.step_number)).toEqual([3, 2, 1]);
  });

  it.each([
    [{ near: { lat: 91, lon: 0, radius_m: 1 } }, '/near/lat'],
    [{ near: { lat: 0, lon: -180.5, radius_m: 1 } }, '/near/lon'],
    [{ near: { lat: 0, lon: 0, radius_m: 0 } }, '/near/radius_m'],
    [{ near: { lat: 0, lon: 0, radius_m: 20_038_001 } }, '/near/radius_m'],
    [{ within: { bbox: [0, 10, 1, 5] } }, '/within/bbox/1'],
    [{ within: { bbox: [0, 0, 1] } }, '/within/bbox'],
    [{ near: { lat: 0, lon: 0, radius_m: 1 }, within: { bbox: [0, 0, 1, 1] } }, '/within'],
    [{ time: { from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' } }, '/time/from'],
    [{ time: { from: 'yesterday' } }, '/time/from'],
    [{ time: { from: '2026-01-01T00:00:00Z', to: 'NEAR(a b)' } }, '/time/to'],
    [{ within: { bbox: [0, 0, 1, 1] }, order: 'distance' }, '/order'],
    [{ time: {}, order: 'nearest' }, '/order'],
    [{ time: {}, item_type: 'pattern' }, '/item_type'],
    [{ time: {}, filter: { domian: 'x' } }, '/filter'],
    [{ time: {}, cursor: 'bm9wZQ' }, '/cursor'],
    // The same rules in the shared episode filter (as the similarity search takes it).
    [{ time: {}, filter: { near: { lat: -90.5, lon: 0, radius_m: 1 } } }, '/filter/near/lat'],
    [{ time: {}, filter: { near: { lat: 0, lon: 0, radius_m: -1 } } }, '/filter/near/radius_m'],
    [{ time: {}, filter: { within: { bbox: [0, 0, 181, 1] } } }, '/filter/within/bbox/2'],
    [
      { time: {}, filter: { near: { lat: 0, lon: 0, radius_m: 1 }, within: { bbox: [0, 0, 1, 1] } } },
      '/filter/within',
    ],
    [
      { time: {}, filter: { time: { from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' } } },
      '/filter/time/from',
    ],
    [{}, '/'],
  ])('%j - 400 naming %s', async (body, path) => {
    const res = await search(body);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    const paths = (res.body.errors ?? []).map((e: { path: string }) => e.path);
    if (path === '/cursor') expect(res.body.code).toBe('INVALID_CURSOR');
    else expect(paths).toContain(path);
  });

  describe('oracle', () => {
    const agent = uniqueAgent();
    const T0 = Date.now() - DAY;
    const SPAN = 60 * DAY;
    type Item = { id: string; n: number; lat: number; lon: number; t0: number; t1: number | null };
    const episodes: Item[] = [];
    const steps: Item[] = [];
    const CENTERS = [MUNICH, { lat: 0, lon: 179.95 }, { lat: 89.9, lon: 0 }, { lat: -33.9, lon: 151.2 }];
    // Mostly clustered (so that circles and boxes have points near their edges), some anywhere, some on edges.
    const point = fc.oneof(
      fc.record({
        lat: fc.double({ min: -90, max: 90, noNaN: true }),
        lon: fc.double({ min: -180, max: 180, noNaN: true }),
      }),
      {
        weight: 6,
        arbitrary: fc
          .tuple(
            fc.constantFrom(...CENTERS),
            fc.integer({ min: -20_000, max: 20_000 }),
            fc.integer({ min: -20_000, max: 20_000 }),
          )
          .map(([c, n, e]) => {
            const p = offset(c, n, e);
            return {
              lat: Math.max(-90, Math.min(90, p.lat)),
              lon: ((((p.lon + 180) % 360) + 360) % 360) - 180,
            };
          }),
      },
      fc.constantFrom(
        { lat: 90, lon: 0 },
        { lat: -90, lon: 180 },
        { lat: 0, lon: 180 },
        { lat: 0, lon: -180 },
      ),
    );
    const hourIn = (span: number) => fc.integer({ min: 0, max: span / HOUR });

    beforeAll(async () => {
      const data = fc.sample(
        fc.record({
          location: fc.option(point, { nil: null }),
          start: hourIn(SPAN),
          hours: fc.option(fc.integer({ min: 0, max: 240 }), { nil: null }),
          steps: fc.array(
            fc.record({ location: fc.option(point, { nil: null }), hour: fc.integer({ min: 0, max: 48 }) }),
            { maxLength: 3 },
          ),
        }),
        { numRuns: 250, seed: 12 },
      );
      const bodies = data.map((d) => {
        const start = T0 - SPAN + d.start * HOUR;
        return episodeBody({
          agent_id: agent,
          start_time: iso(start),
          ...(d.hours === null ? {} : { end_time: iso(start + d.hours * HOUR) }),
          ...(d.location ? { location: d.location } : {}),
          steps: d.steps.map((s) => ({
            tool: 't',
            action: 'a',
            timestamp: iso(start + s.hour * HOUR),
            ...(s.location ? { location: s.location } : {}),
          })),
        });
      });
      const res = await send(app, 'POST', '/v1/episodes/batch', { episodes: bodies });
      expect(res.status).toBe(201);
      res.body.ids.forEach((id: string, i: number) => {
        const d = data[i] as (typeof data)[number];
        const start = T0 - SPAN + d.start * HOUR;
        if (d.location)
          episodes.push({
            id,
            n: 0,
            ...d.location,
            t0: start,
            t1: d.hours === null ? null : start + d.hours * HOUR,
          });
        d.steps.forEach((s, j) => {
          const t = start + s.hour * HOUR;
          if (s.location) steps.push({ id, n: j + 1, ...s.location, t0: t, t1: t });
        });
      });
    });

    const query = fc.record({
      place: fc.oneof(
        fc.record({
          near: fc.record({
            center: point,
            radius_m: fc.double({ min: 1, max: 20_038_000, noNaN: true }).map((r) => (r < 1e6 ? r / 20 : r)),
          }),
        }),
        fc.record({
          within: fc
            .tuple(point, point)
            .map(([a, b]) => [a.lon, Math.min(a.lat, b.lat), b.lon, Math.max(a.lat, b.lat)]),
        }),
      ),
      time: fc.option(
        fc.record({
          from: fc.option(hourIn(SPAN + 20 * DAY), { nil: undefined }),
          to: fc.option(hourIn(SPAN + 20 * DAY), { nil: undefined }),
        }),
        { nil: undefined },
      ),
      item_type: fc.constantFrom('episode', 'step'),
      order: fc.constantFrom('distance', 'time_desc', 'time_asc', undefined),
      limit: fc.integer({ min: 10, max: 60 }),
    });

    it('random points, radii, boxes and windows - the same items as a brute-force filter, in the same order, through every page', async () => {
      let found = 0;
      await fc.assert(
        fc.asyncProperty(query, async (q) => {
          const near =
            'near' in q.place
              ? {
                  lat: q.place.near.center.lat,
                  lon: q.place.near.center.lon,
                  radius_m: q.place.near.radius_m,
                }
              : undefined;
          const bbox = 'within' in q.place ? q.place.within : undefined;
          const order =
            q.order === 'distance' && !near ? 'time_desc' : (q.order ?? (near ? 'distance' : 'time_desc'));
          let from = q.time?.from === undefined ? undefined : T0 - SPAN - 10 * DAY + q.time.from * HOUR;
          let to = q.time?.to === undefined ? undefined : T0 - SPAN - 10 * DAY + q.time.to * HOUR;
          if (from !== undefined && to !== undefined && from > to) [from, to] = [to, from];
          const hits = await searchAll({
            ...(near ? { near } : { within: { bbox } }),
            ...(q.time
              ? {
                  time: {
                    ...(from === undefined ? {} : { from: iso(from) }),
                    ...(to === undefined ? {} : { to: iso(to) }),
                  },
                }
              : {}),
            item_type: q.item_type,
            order,
            limit: q.limit,
            filter: { agent_id: agent },
          });
          const now = Date.now();
          const inPlace = (p: Item) => {
            if (near) return haversine(near.lat, near.lon, p.lat, p.lon) <= near.radius_m;
            const [west, south, east, north] = bbox as number[] as [number, number, number, number];
            const lonIn = west <= east ? p.lon >= west && p.lon <= east : p.lon >= west || p.lon <= east;
            return p.lat >= south && p.lat <= north && lonIn;
          };
          const inTime = (p: Item) =>
            (to === undefined || p.t0 <= to) && (from === undefined || (p.t1 ?? Math.max(p.t0, now)) >= from);
          const key = (p: Item) => `${p.id}/${p.n}`;
          // Points on the circle itself are left to the server: the two sides compute the distance apart.
          const onEdge = (p: Item) =>
            near !== undefined &&
            Math.abs(haversine(near.lat, near.lon, p.lat, p.lon) - near.radius_m) <
              distanceTolerance(near.lat, near.lon, p.lat, p.lon);
          const items = q.item_type === 'episode' ? episodes : steps;
          const expected = items.filter((p) => inPlace(p) && inTime(p) && !onEdge(p));
          const got = hits.filter((h) => !onEdge(items.find((p) => key(p) === hitKey(h)) as Item));
          expect(new Set(got.map(hitKey))).toEqual(new Set(expected.map(key)));
          if (q.item_type === 'episode') {
            // The same criteria as a filter piece (what the similarity search adds to its WHERE): the same set.
            const spaceTime = {
              ...(near ? { near } : { within: { bbox: bbox as [number, number, number, number] } }),
              time: {
                ...(from === undefined ? {} : { from: iso(from) }),
                ...(to === undefined ? {} : { to: iso(to) }),
              },
            };
            const where = whereEpisodeInSpaceTime(
              tenantScope('default', 'e').and('e.agent_id = ?', agent),
              spaceTime,
              now,
            );
            const rows = await app.engram.db.read(`SELECT e.id FROM episodes e WHERE ${where}`, where.args);
            const filtered = new Set(rows.map((r) => `${r.id}/0`));
            for (const p of expected) expect(filtered.has(key(p)), key(p)).toBe(true);
            expect(filtered.size).toBe(new Set(got.map(hitKey)).size);
          }
          expect(hits.length, 'no item twice').toBe(new Set(hits.map(hitKey)).size);
          // The order: by distance (the server's, checked against the oracle's), or by time; ties by id.
          const byKey = new Map(items.map((p) => [key(p), p]));
          for (const h of hits) {
            const p = byKey.get(hitKey(h)) as Item;
            if (near)
              expect(
                Math.abs((h.distance_m as number) - haversine(near.lat, near.lon, p.lat, p.lon)),
              ).toBeLessThan(distanceTolerance(near.lat, near.lon, p.lat, p.lon));
            else expect(h.distance_m).toBeNull();
          }
          const sortKey = (h: Hit): [number, string] => {
            const p = byKey.get(hitKey(h)) as Item;
            return [order === 'distance' ? (h.distance_m as number) : p.t0, hitKey(h).padStart(50)];
          };
          const sorted = [...hits].sort((a, b) => {
            const [ka, ia] = sortKey(a);
            const [kb, ib] = sortKey(b);
            const c = ka - kb || (ia < ib ? -1 : ia > ib ? 1 : 0);
            return order === 'time_desc' ? -c : c;
          });
          expect(hits.map(hitKey)).toEqual(sorted.map(hitKey));
          found += hits.length;
        }),
        { numRuns: 40 },
      );
      expect(found, 'the queries find items, not only empty pages').toBeGreaterThan(100);
    });
  });
});

/** Episode id and step number (0 for the episode itself), as the oracle keys items. */
function hitKey(h: Hit): string {
  return h.item_type === 'episode' ? `${h.item.id}/0` : `${h.item.episode_id}/${h.item.step_number}`;
}
