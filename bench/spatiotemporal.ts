import type { AutocannonRequest } from 'autocannon';
import { v7 as uuidv7 } from 'uuid';
import { loadConfig } from '../src/config.js';
import { createDatabase } from '../src/db/create-database.js';
import type { Row, Statement } from '../src/db/types.js';
import { SpatiotemporalSearch } from '../src/domain/spatiotemporal.js';
import { LibsqlSpatiotemporalRepository } from '../src/storage/libsql/spatiotemporal-repository.js';
import { timelineRollups } from '../src/storage/migrations/005-timeline-rollups.js';
import { MIGRATIONS, migrate } from '../src/storage/migrations.js';
import { type LoopTiming, openRaw } from './baselines.js';
import { RecordingDriver } from './capture.js';
import { type Measurement, measureLoop } from './load.js';
import { random } from './scenarios.js';

// Issue 12.7: 1M episodes spread over the globe and a year; searches by radius + 7 days and by box + 30 days
// (limit 50), and a timeline by day over the year, through the HTTP API. The population is written with direct
// SQL (the service's schema, rows as the repository writes them), which is far faster than the API.

export const SPATIOTEMPORAL_POPULATION = 1_000_000;
const DAY = 86_400_000;
export const YEAR_END = Date.parse('2026-01-01T00:00:00.000Z');
export const YEAR_START = YEAR_END - 365 * DAY;
/** Cities the episodes cluster around (80%; the rest are uniform over the sphere). */
const CITY_COUNT = 200;
const CLUSTER_SIGMA_DEG = 0.3;
const ROWS_PER_TRANSACTION = 20_000;

/** Seeded cities, uniform over the sphere. */
function cities(): { lat: number; lon: number }[] {
  const pick = random(7);
  const u = () => pick(1_000_000) / 1_000_000;
  return Array.from({ length: CITY_COUNT }, () => ({
    lat: ((Math.asin(2 * u() - 1) * 180) / Math.PI) * 0.9,
    lon: u() * 360 - 180,
  }));
}

/**
 * Creates the schema (the service's migrations) and `n` episodes in `path`: located (80% around cities),
 * started uniformly over the year, 90% completed after 1 min..4 h, with the episode's spatiotemporal entry.
 */
export async function populateSpatiotemporal(
  path: string,
  n: number,
): Promise<{ seconds: number; phases: Record<'rows' | 'migrations' | 'analyze', number> }> {
  const started = performance.now();
  // The rows go in at migration 4; migrations 5..9 then build what they carry over from them in one pass each
  // (what they do on a deployed database): the rollups, the suggestion totals, the stats, the R*Tree (8
  // rebuilds it from the entries) and the entries' spans (9), instead of triggers and R*Tree inserts once per row. (Migrations apply by
  // version and skip those ≤ the current one: a later one applied first would make 5 never apply.)
  const open = () => createDatabase(loadConfig({ LIBSQL_URL: `file:${path}`, LOG_LEVEL: 'silent' }));
  let db = open();
  await migrate(
    db,
    MIGRATIONS.filter((m) => m.version < timelineRollups.version),
  );
  await db.close();
  const raw = openRaw(path);
  raw.db.pragma('synchronous = OFF');
  // Room for the indexes being written: with the default 2 MB page cache, inserts spill dirty pages mid-transaction.
  raw.db.pragma('cache_size = -1048576');
  const pick = random(11);
  const u = () => pick(1_000_000_000) / 1_000_000_000;
  const gauss = () => Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u());
  const places = cities();
  const domains = ['web', 'data', 'infra', 'mobile', 'ml', 'security', 'docs', 'games'];
  const taskTypes = ['code_generation', 'debugging', 'refactoring', 'testing', 'analysis', 'documentation'];
  const episode = raw.db.prepare(
    `INSERT INTO episodes (tenant, id, task_type, domain, complexity, start_time, end_time, outcome_type,
       reward_total, created_at, updated_at, version, body, body_hash)
     VALUES ('default', ?, ?, ?, 'moderate', ?, ?, ?, ?, ?, ?, 1, ?, '')`,
  );
  const entry = raw.db.prepare(
    "INSERT INTO spatiotemporal_entries (tenant, episode_id, step_number, lat, lon) VALUES ('default', ?, 0, ?, ?)",
  );
  const write = raw.db.transaction((count: number) => {
    for (let i = 0; i < count; i++) {
      let lat: number;
      let lon: number;
      if (u() < 0.8) {
        const city = places[pick(places.length)] as { lat: number; lon: number };
        lat = Math.max(-90, Math.min(90, city.lat + gauss() * CLUSTER_SIGMA_DEG));
        lon = ((city.lon + gauss() * CLUSTER_SIGMA_DEG + 540) % 360) - 180;
      } else {
        lat = (Math.asin(2 * u() - 1) * 180) / Math.PI;
        lon = u() * 360 - 180;
      }
      const start = YEAR_START + Math.floor(u() * 365 * DAY);
      const end = u() < 0.9 ? start + 60_000 + Math.floor(u() * 4 * 3_600_000) : null;
      const success = end !== null && u() < 0.7;
      const id = uuidv7();
      const body = JSON.stringify({
        task_description: 'bench episode',
        context: { domain: domains[pick(domains.length)], complexity: 'moderate', tags: [] },
        tags: [],
        outcome:
          end === null
            ? null
            : success
              ? { type: 'success', verdict: 'ok', artifacts: [] }
              : { type: 'failure', reason: 'no' },
        reward: null,
        reflection: null,
        patterns: [],
        heuristics: [],
        applied_patterns: [],
        salient_features: null,
        metadata: {},
        location: { lat, lon },
      });
      const context = JSON.parse(body).context as { domain: string };
      episode.run([
        id,
        taskTypes[pick(taskTypes.length)],
        context.domain,
        start,
        end,
        end === null ? null : success ? 'success' : 'failure',
        end === null ? null : u(),
        start,
        end ?? start,
        body,
      ]);
      entry.run([id, lat, lon]);
    }
  });
  const lap = (from: number) => (performance.now() - from) / 1000;
  let phase = performance.now();
  for (let done = 0; done < n; done += ROWS_PER_TRANSACTION) write(Math.min(ROWS_PER_TRANSACTION, n - done));
  raw.close();
  const rows = lap(phase);
  phase = performance.now();
  db = open();
  await migrate(db);
  await db.close();
  const migrations = lap(phase);
  phase = performance.now();
  const analyzed = openRaw(path);
  analyzed.db.exec('ANALYZE');
  analyzed.close();
  return { seconds: lap(started), phases: { rows, migrations, analyze: lap(phase) } };
}

const JSON_HEADERS = { 'content-type': 'application/json' };

/** Search bodies: a radius of 10 km + 7 days, or a box of ±0.5° + 30 days, around random cities and times. */
export function searchBodies(kind: 'radius' | 'bbox', count: number): Record<string, unknown>[] {
  const pick = random(kind === 'radius' ? 21 : 22);
  const places = cities();
  return Array.from({ length: count }, () => {
    const city = places[pick(places.length)] as { lat: number; lon: number };
    const days = kind === 'radius' ? 7 : 30;
    const from = YEAR_START + pick(365 - days) * DAY;
    const time = { from: new Date(from).toISOString(), to: new Date(from + days * DAY).toISOString() };
    if (kind === 'radius') return { near: { ...city, radius_m: 10_000 }, time, limit: 50 };
    const bbox = [
      city.lon - 0.5,
      Math.max(-90, city.lat - 0.5),
      city.lon + 0.5,
      Math.min(90, city.lat + 0.5),
    ].map((x, i) => (i % 2 === 0 ? ((x + 540) % 360) - 180 : x));
    return { within: { bbox }, time, limit: 50 };
  });
}

export const searchRequests = (bodies: Record<string, unknown>[]): AutocannonRequest[] =>
  bodies.map((body) => ({
    method: 'POST',
    path: '/v1/spatiotemporal/search',
    headers: JSON_HEADERS,
    body: JSON.stringify(body),
  }));

export const TIMELINE_PATH = `/v1/spatiotemporal/timeline?bucket=day&from=${new Date(YEAR_START).toISOString()}&to=${new Date(YEAR_END).toISOString()}`;

/**
 * Baseline: the service's own search SQL (recorded from its repository, so it cannot drift) run in-process on a
 * raw prepared statement, one search at a time: the database's part of a search, without HTTP. The recording
 * reads the real rows: a time-ordered search reads its whole window only when the first slice did not do.
 */
export async function rawSearch(
  path: string,
  bodies: Record<string, unknown>[],
  timing: LoopTiming,
): Promise<Measurement> {
  const recorded = openRaw(path);
  const driver = new RecordingDriver((stmt) => recorded.run(stmt) as Row[]);
  const db = createDatabase(loadConfig({}), { driver });
  const repo = new LibsqlSpatiotemporalRepository(db);
  for (const body of bodies) {
    await repo.search(
      'default',
      { ...SpatiotemporalSearch.parse(body), order: body.near ? 'distance' : 'time_desc' },
      YEAR_END,
    );
  }
  await db.close();
  recorded.close();
  const raw = openRaw(path);
  let i = 0;
  try {
    return await measureLoop(() => raw.run(driver.reads[i++ % driver.reads.length] as Statement), timing);
  } finally {
    raw.close();
  }
}
