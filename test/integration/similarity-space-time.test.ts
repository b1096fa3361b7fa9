import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seeded as rng } from '../../bench/vector-workload.js';
import type { TestApp } from '../helpers/app.js';
import { BACKENDS, episodeBody, send, uniqueAgent } from '../helpers/backends.js';
import { cosine, f32, waitForIndexer } from '../helpers/vectors.js';

// Issue 12.6: the similarity search takes the episode filter's near, within and time (the shared filter and its
// SQL builder) and stays exact under them: on an embedded file and a real sqld, each answer is exactly the
// brute-force top k of the episodes where and when the filter asks, whether the exact scan or the index ran.

const DIM = 16;
const N = 400;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const EARTH_RADIUS_M = 6_371_008.8;
const RAD = Math.PI / 180;

const random = rng(1205);
const centers = Array.from({ length: 8 }, () => Array.from({ length: DIM }, () => random() * 2 - 1));
const clustered = (i: number) => centers[i % 8]?.map((c) => c + (random() - 0.5) * 0.6) as number[];

function haversine(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const a =
    Math.sin(((lat2 - lat1) * RAD) / 2) ** 2 +
    Math.cos(lat1 * RAD) * Math.cos(lat2 * RAD) * Math.sin(((lon2 - lon1) * RAD) / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(a)));
}

interface Stored {
  id: string;
  vector: number[];
  location: { lat: number; lon: number } | null;
  start: number;
  end: number | null;
}

describe.each(BACKENDS)('similarity search with near, within and time on $name', ({ build }) => {
  let app: TestApp;
  const model = `st-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
  const agent = uniqueAgent();
  const T0 = Date.parse('2024-05-01T00:00:00.000Z');
  const stored: Stored[] = [];

  beforeAll(async () => {
    // Few matches are scanned exactly; more go through the index.
    app = await build({ EMBEDDING_EXACT_SCAN_MAX: 50 });
    const drawn = Array.from({ length: N }, (_, i) => {
      const r = random();
      const location =
        r < 0.5
          ? { lat: 48 + (random() - 0.5) * 10, lon: 11 + (random() - 0.5) * 10 }
          : r < 0.8
            ? { lat: (Math.asin(2 * random() - 1) * 180) / Math.PI, lon: random() * 360 - 180 }
            : null;
      const start = T0 + Math.floor(random() * 60 * DAY);
      const end = random() < 0.8 ? start + Math.floor(random() * 48 * HOUR) : null;
      return { vector: clustered(i), location, start, end };
    });
    for (let at = 0; at < N; at += 200) {
      const part = drawn.slice(at, at + 200);
      const res = await send(app, 'POST', '/v1/episodes/batch', {
        episodes: part.map((d) =>
          episodeBody({
            agent_id: agent,
            start_time: new Date(d.start).toISOString(),
            ...(d.end === null ? {} : { end_time: new Date(d.end).toISOString() }),
            ...(d.location ? { location: d.location } : {}),
            embedding: { model, vector: d.vector },
          }),
        ),
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      res.body.ids.forEach((id: string, i: number) => {
        const d = part[i] as (typeof part)[number];
        stored.push({ id, vector: f32(d.vector), location: d.location, start: d.start, end: d.end });
      });
    }
    await waitForIndexer(app, model);
  }, 120_000);
  afterAll(async () => {
    await app.close();
  });

  type Filter = {
    near?: { lat: number; lon: number; radius_m: number };
    within?: { bbox: [number, number, number, number] };
    time?: { from?: string; to?: string };
  };

  /** The filter by brute force: the episode's own location, its span [start, end or now] overlapping the window. */
  const matches = (s: Stored, f: Filter, now: number) => {
    if (
      f.near &&
      !(s.location && haversine(f.near.lat, f.near.lon, s.location.lat, s.location.lon) <= f.near.radius_m)
    )
      return false;
    if (f.within) {
      const [west, south, east, north] = f.within.bbox;
      if (!s.location) return false;
      const { lat, lon } = s.location;
      const lonIn = west <= east ? lon >= west && lon <= east : lon >= west || lon <= east;
      if (!(lat >= south && lat <= north && lonIn)) return false;
    }
    if (f.time?.to !== undefined && s.start > Date.parse(f.time.to)) return false;
    if (f.time?.from !== undefined && (s.end ?? Math.max(s.start, now)) < Date.parse(f.time.from))
      return false;
    return true;
  };

  const iso = (ms: number) => new Date(ms).toISOString();
  const cases: [string, Filter, number][] = [
    ['near: 300 km of Munich', { near: { lat: 48.1, lon: 11.6, radius_m: 300_000 } }, 10],
    [
      'near a point few are near, and a week',
      {
        near: { lat: 50, lon: 14, radius_m: 150_000 },
        time: { from: iso(T0 + 10 * DAY), to: iso(T0 + 17 * DAY) },
      },
      5,
    ],
    ['within a box across the antimeridian', { within: { bbox: [100, -60, -100, 60] } }, 10],
    [
      'within a large box and a month',
      { within: { bbox: [-20, 30, 40, 70] }, time: { from: iso(T0 + 5 * DAY), to: iso(T0 + 35 * DAY) } },
      20,
    ],
    ['time alone: in progress counts until now', { time: { from: iso(T0 + 50 * DAY) } }, 20],
  ];

  it.each(cases)('%s - exactly the brute-force top k', async (_name, filter, k) => {
    const query = clustered(3);
    const res = await send(app, 'POST', '/v1/search/similar', {
      model,
      vector: query,
      k,
      filter: { agent_id: agent, ...filter },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const now = Date.now();
    const expected = stored
      .filter((s) => matches(s, filter, now))
      .map((s) => ({ id: s.id, similarity: cosine(f32(query), s.vector) }))
      .sort((a, b) => b.similarity - a.similarity)
      .slice(0, k);
    expect(expected.length, 'the case matches episodes').toBeGreaterThan(0);
    const got = res.body.items as { item_id: string; similarity: number }[];
    expect(got.map((g) => g.item_id)).toEqual(expected.map((e) => e.id));
    got.forEach((g, i) => {
      expect(g.similarity).toBeCloseTo(expected[i]?.similarity as number, 5);
    });
  });

  it('both paths ran: a narrow place scans exactly, a wide one goes through the index', async () => {
    const query = clustered(1);
    const narrow = await send(app, 'POST', '/v1/search/similar', {
      model,
      vector: query,
      k: 3,
      filter: { agent_id: agent, near: { lat: 48.1, lon: 11.6, radius_m: 100_000 } },
    });
    expect(narrow.body.strategy).toBe('exact');
    const wide = await send(app, 'POST', '/v1/search/similar', {
      model,
      vector: query,
      k: 3,
      filter: { agent_id: agent, within: { bbox: [-180, -90, 180, 90] } },
    });
    expect(wide.body.strategy).toBe('index');
  });
});
