import type { AutocannonRequest } from 'autocannon';
import type { Measurement } from './load.js';
import {
  createBodyTemplate,
  DOMAIN_COUNT,
  domainOf,
  populationEpisode,
  STEPS_DOMAIN,
  STEPS_PER_EPISODE,
  stepBody,
} from './workload.js';

// The service's scenarios: a pre-check of one request each, then the load; and the population.

export const SCENARIOS = [
  'health',
  'create',
  'get',
  'list',
  'steps',
  'isolation',
  'patterns',
  'stats',
  'spatiotemporal',
  'vectors',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

export const POPULATION_BATCH = 500;
const JSON_HEADERS = { 'content-type': 'application/json' };

/** Drives one load phase (warm-up + measured) against the server, at the run's connections unless given. */
export type Drive = (
  name: string,
  requests: AutocannonRequest[],
  connections?: number,
) => Promise<Measurement>;

/** Seeded PRNG (mulberry32): the same run picks the same ids. Returns an integer in [0, n). */
export function random(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

async function request(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text for the message
  }
  return { status: res.status, body };
}

function expect(condition: unknown, what: string, detail: unknown): asserts condition {
  if (!condition) throw new Error(`${what}: ${JSON.stringify(detail).slice(0, 400)}`);
}

/**
 * A write scenario: POSTs request 0 of `nth` once and checks that it answers `status`, then drives requests
 * 1, 2, … of it (each one its own: a unique body, or another target).
 */
async function checkedPosts(
  url: string,
  drive: Drive,
  name: string,
  status: number,
  nth: (i: number) => { path: string; body: string },
): Promise<Measurement> {
  const first = nth(0);
  const res = await request(url + first.path, { method: 'POST', headers: JSON_HEADERS, body: first.body });
  expect(res.status === status, `POST ${first.path} should answer ${status}`, res);
  let i = 0;
  return drive(name, [
    {
      method: 'POST',
      path: first.path,
      headers: JSON_HEADERS,
      setupRequest: (req) => ({ ...req, ...nth(++i) }),
    },
  ]);
}

export function health(drive: Drive): Promise<Measurement> {
  return drive('health', [{ method: 'GET', path: '/health/live' }]);
}

/** `POST /v1/episodes`, every body unique (the task number); checks one create first. */
export async function episodeCreate(url: string, drive: Drive): Promise<Measurement> {
  const { before, after } = createBodyTemplate();
  const res = await request(`${url}/v1/episodes`, {
    method: 'POST',
    headers: JSON_HEADERS,
    body: `${before}0${after}`,
  });
  const record = res.body as { step_count?: number; tags?: string[]; location?: unknown };
  expect(res.status === 201, 'POST /v1/episodes should answer 201', res);
  expect(
    record.step_count === 5 && record.location && record.tags?.length === 4,
    'created episode is incomplete',
    record,
  );
  let n = 0;
  return drive('episode create', [
    {
      method: 'POST',
      path: '/v1/episodes',
      headers: JSON_HEADERS,
      setupRequest: (req) => ({ ...req, body: before + ++n + after }),
    },
  ]);
}

/** Writes `count` episodes made by `episode(i, now)` through `POST /v1/episodes/batch`, two requests in flight. */
export async function populate(
  url: string,
  count: number,
  episode: (i: number, nowMs: number) => unknown = populationEpisode,
): Promise<{ ids: string[]; seconds: number }> {
  const started = performance.now();
  const now = Date.now();
  const batches = Math.ceil(count / POPULATION_BATCH);
  const ids: string[][] = new Array(batches);
  let nextBatch = 0;
  const worker = async () => {
    for (let b = nextBatch++; b < batches; b = nextBatch++) {
      const first = b * POPULATION_BATCH;
      const size = Math.min(POPULATION_BATCH, count - first);
      const episodes = Array.from({ length: size }, (_, k) => episode(first + k, now));
      const res = await request(`${url}/v1/episodes/batch`, {
        method: 'POST',
        headers: JSON_HEADERS,
        body: JSON.stringify({ episodes }),
      });
      const got = (res.body as { ids?: string[] }).ids;
      expect(
        res.status === 201 && got?.length === size,
        `POST /v1/episodes/batch #${b} should answer 201`,
        res,
      );
      ids[b] = got;
    }
  };
  await Promise.all([worker(), worker()]);
  return { ids: ids.flat(), seconds: (performance.now() - started) / 1000 };
}

/** `GET /v1/episodes/{id}`, a random id of `ids` per request. */
export async function getById(url: string, drive: Drive, randomId: () => string): Promise<Measurement> {
  const id = randomId();
  const res = await request(`${url}/v1/episodes/${id}`);
  expect(
    res.status === 200 && (res.body as { id?: string }).id === id,
    'GET /v1/episodes/{id} should answer 200',
    res,
  );
  return drive('get by id', [
    { method: 'GET', path: '/', setupRequest: (req) => ({ ...req, path: `/v1/episodes/${randomId()}` }) },
  ]);
}

const listPath = (domain: string) => `/v1/episodes?domain=${domain}&status=completed&limit=20`;

/** `GET /v1/episodes?domain=X&status=completed&limit=20`, a random domain per request; checks a page first. */
export async function filteredList(
  url: string,
  drive: Drive,
  pick: (n: number) => number,
): Promise<Measurement> {
  const domain = domainOf(3);
  const res = await request(url + listPath(domain));
  const page = res.body as {
    items?: { context: { domain: string }; status: string }[];
    next_cursor?: string | null;
  };
  expect(res.status === 200, 'GET /v1/episodes should answer 200', res);
  expect(
    page.items?.length === 20 && page.next_cursor,
    'filtered list should return a full page and a cursor',
    page,
  );
  expect(
    page.items.every((e) => e.context.domain === domain && e.status === 'completed'),
    'filtered list returned episodes outside the filter',
    page.items.map((e) => [e.context.domain, e.status]),
  );
  return drive('filtered list', [
    {
      method: 'GET',
      path: '/',
      setupRequest: (req) => ({ ...req, path: listPath(domainOf(pick(DOMAIN_COUNT))) }),
    },
  ]);
}

/** `POST /v1/episodes/{id}/steps`, one auto-numbered step to a random episode per request. */
export async function stepAppend(url: string, drive: Drive, randomId: () => string): Promise<Measurement> {
  const body = stepBody();
  const res = await request(`${url}/v1/episodes/${randomId()}/steps`, {
    method: 'POST',
    headers: JSON_HEADERS,
    body,
  });
  expect(
    res.status === 201 && typeof (res.body as { step_number?: unknown }).step_number === 'number',
    'POST /v1/episodes/{id}/steps should answer 201 with a step number',
    res,
  );
  return drive('step append', [
    {
      method: 'POST',
      path: '/',
      headers: JSON_HEADERS,
      body,
      setupRequest: (req) => ({ ...req, path: `/v1/episodes/${randomId()}/steps` }),
    },
  ]);
}

/** Point reads measured by the isolation scenario: the figure was taken at 16 connections. */
export const POINT_READ_CONNECTIONS = 16;
/** Clients listing 200 episodes with their steps beside the point reads. */
export const HEAVY_CONNECTIONS = 4;
const HEAVY_LIMIT = 200;
const heavyPath = `/v1/episodes?domain=${STEPS_DOMAIN}&include=steps&limit=${HEAVY_LIMIT}`;

/**
 * Heavy reads must not stall everyone else: point reads by id alone, then the same point reads while
 * 4 clients list 200 episodes with their steps (the set written by `populate(..., episodeWithSteps)`).
 */
export async function isolation(
  url: string,
  drive: Drive,
  randomId: () => string,
): Promise<{ alone: Measurement; beside: Measurement; heavy: Measurement }> {
  const res = await request(url + heavyPath);
  const page = res.body as { items?: { steps?: unknown[] }[] };
  expect(res.status === 200, 'GET /v1/episodes?include=steps should answer 200', res);
  expect(
    page.items?.length === HEAVY_LIMIT && page.items.every((e) => e.steps?.length === STEPS_PER_EPISODE),
    `the heavy list should return ${HEAVY_LIMIT} episodes with their ${STEPS_PER_EPISODE} steps`,
    page.items?.length,
  );
  const pointReads = [
    {
      method: 'GET' as const,
      path: '/',
      setupRequest: (req: AutocannonRequest) => ({ ...req, path: `/v1/episodes/${randomId()}` }),
    },
  ];
  const alone = await drive('point reads alone', pointReads, POINT_READ_CONNECTIONS);
  const [beside, heavy] = await Promise.all([
    drive('point reads beside heavy lists', pointReads, POINT_READ_CONNECTIONS),
    drive('heavy lists', [{ method: 'GET', path: heavyPath }], HEAVY_CONNECTIONS),
  ]);
  return { alone, beside, heavy };
}

/** A tool-sequence pattern body, unique by `n` (its domain and success rate vary with it). */
function patternBody(n: number): string {
  return JSON.stringify({
    kind: 'tool_sequence',
    tools: ['read_file', 'grep', 'edit_file', 'run_tests'],
    context: { domain: domainOf(n), language: n % 4 === 0 ? 'python' : 'typescript' },
    success_rate: (n % 101) / 100,
    avg_latency_ms: 900 + (n % 500),
    occurrence_count: 1 + (n % 40),
    tags: ['bench', `t${n % 30}`],
  });
}

const patternListPath = (domain: string) => `/v1/patterns?kind=tool_sequence&domain=${domain}&limit=20`;
/** Patterns the application counter scenario spreads its calls over. */
const APPLIED_PATTERNS = 100;

/**
 * Patterns (issue 10): `POST /v1/patterns` (every body unique), then `GET /v1/patterns?kind&domain&limit=20`
 * over what the creates wrote, then `POST /v1/patterns/{id}/applications` (one-statement counter update) on
 * 100 of them — each checked with one request first.
 */
export async function patterns(
  url: string,
  drive: Drive,
  pick: (n: number) => number,
): Promise<{ create: Measurement; list: Measurement; apply: Measurement }> {
  const create = await checkedPosts(url, drive, 'pattern create', 201, (i) => ({
    path: '/v1/patterns',
    body: patternBody(i),
  }));
  const page = await request(url + patternListPath(domainOf(1)));
  const items = (page.body as { items?: { id: string; kind: string; context: { domain: string } }[] }).items;
  expect(
    page.status === 200 &&
      items?.length === 20 &&
      items.every((p) => p.kind === 'tool_sequence' && p.context.domain === domainOf(1)),
    'GET /v1/patterns should answer a full page of the filter',
    page,
  );
  const list = await drive('pattern list', [
    {
      method: 'GET',
      path: '/',
      setupRequest: (req) => ({ ...req, path: patternListPath(domainOf(pick(DOMAIN_COUNT))) }),
    },
  ]);
  const applied = await request(`${url}/v1/patterns?limit=${APPLIED_PATTERNS}`);
  const ids = ((applied.body as { items?: { id: string }[] }).items ?? []).map((p) => p.id);
  expect(ids.length === APPLIED_PATTERNS, `${APPLIED_PATTERNS} patterns to apply`, applied.status);
  const outcomes = ['helped', 'no_effect', 'hindered'] as const;
  const applicationBody = (i: number) => JSON.stringify({ outcome: outcomes[i % 3], reward_delta: i % 5 });
  // The check applies the first pattern; the load, random ones.
  const apply = await checkedPosts(url, drive, 'pattern application', 200, (i) => ({
    path: `/v1/patterns/${ids[i === 0 ? 0 : pick(ids.length)]}/applications`,
    body: applicationBody(i),
  }));
  return { create, list, apply };
}

/** Clients of the analytics reads: each request is a heavy read, measured for its latency (p95). */
export const ANALYTICS_CONNECTIONS = 4;
const SUGGESTIONS = {
  tool_sequence: '/v1/patterns/suggestions?kind=tool_sequence&min_support=2&limit=20',
  error_recovery: '/v1/patterns/suggestions?kind=error_recovery&min_support=2&limit=20',
} as const;

/**
 * `GET /v1/stats`, then the mined suggestions of each kind, over the analytics population; each checked with
 * one request first and handed to `record` as soon as measured (a slow suggestion kind keeps the stats).
 */
export async function analytics(
  url: string,
  drive: Drive,
  episodes: number,
  record: (what: 'stats' | 'sequences' | 'recoveries', m: Measurement) => void,
): Promise<void> {
  const heavy = (name: string, path: string) => drive(name, [{ method: 'GET', path }], ANALYTICS_CONNECTIONS);
  const stats = await request(`${url}/v1/stats`);
  const counts = (stats.body as { counts?: { episodes: number; steps: number } }).counts;
  expect(
    stats.status === 200 && (counts?.episodes ?? 0) >= episodes,
    `GET /v1/stats should count ≥ ${episodes} episodes`,
    stats,
  );
  record('stats', await heavy('stats', '/v1/stats'));
  for (const [what, kind] of [
    ['sequences', 'tool_sequence'],
    ['recoveries', 'error_recovery'],
  ] as const) {
    const path = SUGGESTIONS[kind];
    const res = await request(url + path);
    const items = (res.body as { items?: unknown[] }).items;
    expect(res.status === 200 && (items?.length ?? 0) > 0, `GET ${path} should find candidates`, res);
    record(what, await heavy(`suggestions (${kind})`, path));
  }
}
