import type { SqlValue, Statement } from '../../db/types.js';
import { sql } from '../../db/types.js';
import type { Location } from '../../domain/common.js';
import {
  type Box,
  boxAround,
  EARTH_RADIUS_M,
  type Near,
  type TimeWindow,
  type Within,
} from '../../domain/space-time.js';
import { INDEX_OPEN_END, INDEX_TIME_UNIT_MS } from '../migrations/008-spatiotemporal-weeks.js';
import { ms } from './episode-rows.js';
import { tenantScope, type Where } from './where.js';

// The spatiotemporal index (SPEC §3.5): an entry row per located episode (step number 0) or step, and its
// box in the R*Tree (lat, lon, time in weeks since 1970; 32-bit floats, so a coarse filter re-checked exactly).

/** A time in ms on the R*Tree's time axis (weeks, see migration 8); `null`, still open: past any time the API takes. */
export const indexTime = (t: number | null): number => (t === null ? INDEX_OPEN_END : t / INDEX_TIME_UNIT_MS);

/** Which entry: the episode itself, a step by number, or the step inserted just before (auto-numbered). */
export type LocatedItem = { episode: true } | { step: number } | { lastInsertedStep: true };

/**
 * Inserts a located item: its entry and its box over `[startMs, endMs]` (`endMs` null: still open). The
 * caller guarantees `endMs ≥ startMs` (the R*Tree refuses an inverted box; requests that would make one
 * are refused before they get here).
 */
export function locationInserts(
  tenant: string,
  episodeId: string,
  item: LocatedItem,
  location: Location | null,
  startMs: number,
  endMs: number | null,
): Statement[] {
  if (!location) return [];
  let entry: Statement;
  if ('lastInsertedStep' in item) {
    // The step just inserted by auto-numbering holds the episode's highest number.
    const steps = tenantScope(tenant).and('episode_id = ?', episodeId);
    entry = sql(
      `INSERT INTO spatiotemporal_entries (tenant, episode_id, step_number, lat, lon)
       VALUES (?, ?, (SELECT MAX(step_number) FROM steps WHERE ${steps}), ?, ?)`,
      tenant,
      episodeId,
      ...steps.args,
      location.lat,
      location.lon,
    );
  } else {
    const number = 'step' in item ? item.step : 0;
    entry = sql(
      'INSERT INTO spatiotemporal_entries (tenant, episode_id, step_number, lat, lon) VALUES (?, ?, ?, ?, ?)',
      tenant,
      episodeId,
      number,
      location.lat,
      location.lon,
    );
  }
  return [
    entry,
    sql(
      `INSERT INTO spatiotemporal_index (id, min_lat, max_lat, min_lon, max_lon, min_t, max_t)
       VALUES (last_insert_rowid(), ?, ?, ?, ?, ?, ?)`,
      location.lat,
      location.lat,
      location.lon,
      location.lon,
      indexTime(startMs),
      indexTime(endMs),
    ),
  ];
}

/** Removes the episode's own entry (its box goes with it, by trigger). */
export function episodeLocationDelete(tenant: string, episodeId: string): Statement {
  const where = tenantScope(tenant).and('episode_id = ?', episodeId).and('step_number = 0');
  return sql(`DELETE FROM spatiotemporal_entries WHERE ${where}`, ...where.args);
}

// ---- Queries: composable pieces over the entry `x`, its episode `e` and its step `s` -----------------------

/** What a query asks of place and time (the spatiotemporal search's criteria; any search over episodes may take them). */
export interface SpaceTime {
  near?: Near | undefined;
  within?: Within | undefined;
  time?: TimeWindow | undefined;
  /** Coarse only (the R*Tree): items that start at or after this ms, give or take MAX_START_ROUNDING_MS. */
  startsFromMs?: number | undefined;
}

/**
 * How far below an item's start its box's lower time edge may be: the R*Tree rounds it down to a 32-bit float
 * in weeks (relative error under 2^-22: 0.1 week at year 9999). A bound on starts is padded by this much.
 */
export const MAX_START_ROUNDING_MS = 86_400_000;

/**
 * Padding of a coarse box, in degrees and ms. The R*Tree rounds its boxes outward to 32-bit floats,
 * except a subnormal coordinate (5e-324), which it rounds to 0; the exact check follows anyway.
 */
const PAD_DEGREES = 1e-4;
const PAD_MS = 1_000;

const DEG = Math.PI / 180;
const halfSinLat = `sin(((x.lat - c.lat) * ${DEG}) / 2)`;
const halfSinLon = `sin(((x.lon - c.lon) * ${DEG}) / 2)`;
/**
 * Great-circle metres (haversine, on the mean Earth radius) from the center `c` (see `placedEntries`) to the
 * entry `x`. Squares are products: libSQL's power() fails the query when its result underflows.
 */
export const DISTANCE_SQL = `(2 * ${EARTH_RADIUS_M} * asin(min(1, sqrt(
    ${halfSinLat} * ${halfSinLat} + cos(c.lat * ${DEG}) * cos(x.lat * ${DEG}) * ${halfSinLon} * ${halfSinLon}))))`;

/** The R*Tree boxes that may hold a place (one, or two for a box across the antimeridian), padded. */
function coarseBoxes(s: SpaceTime): Box[] {
  const box = s.near
    ? boxAround(s.near)
    : s.within
      ? (([west, south, east, north]) => ({ west, south, east, north }))(s.within.bbox)
      : { west: -180, south: -90, east: 180, north: 90 };
  const south = box.south - PAD_DEGREES;
  const north = box.north + PAD_DEGREES;
  if (box.west <= box.east)
    return [{ west: box.west - PAD_DEGREES, south, east: box.east + PAD_DEGREES, north }];
  return [
    { west: box.west - PAD_DEGREES, south, east: 180 + PAD_DEGREES, north },
    { west: -180 - PAD_DEGREES, south, east: box.east + PAD_DEGREES, north },
  ];
}

/** The R*Tree ids whose boxes may match (a coarse filter: 32-bit floats, padded), as a subquery. */
function coarseIds(s: SpaceTime): { sql: string; args: SqlValue[] } {
  // Without a bound, one past every box: the open end, and its negative.
  const from = s.time?.from === undefined ? -INDEX_OPEN_END : indexTime(ms(s.time.from) - PAD_MS);
  const to = s.time?.to === undefined ? INDEX_OPEN_END : indexTime(ms(s.time.to) + PAD_MS);
  const boxes = coarseBoxes(s);
  const starts = s.startsFromMs === undefined ? [] : [indexTime(s.startsFromMs - MAX_START_ROUNDING_MS)];
  return {
    sql: boxes
      .map(
        () =>
          `SELECT id FROM spatiotemporal_index WHERE min_lat <= ? AND max_lat >= ? AND min_lon <= ? AND max_lon >= ? AND min_t <= ? AND max_t >= ?${starts.length ? ' AND min_t >= ?' : ''}`,
      )
      // UNION, not UNION ALL: the two padded halves of a box across the antimeridian overlap near it.
      .join(' UNION '),
    args: boxes.flatMap((b) => [b.north, b.south, b.east, b.west, to, from, ...starts]),
  };
}

/**
 * The entries `x` that may be in the place and window of `s`, as a FROM clause: read from the R*Tree (a
 * coarse filter: 32-bit floats, padded), then each entry by its id. CROSS JOIN fixes that order: the planner,
 * left to itself, may walk every episode of the tenant instead. For `near`, the center is joined first as
 * `c`, so that the distance (DISTANCE_SQL) binds nothing and can serve as a sort key. Pair with
 * `whereEntryPlaced`.
 */
export function placedEntries(s: SpaceTime): { sql: string; args: SqlValue[] } {
  const coarse = coarseIds(s);
  const center = s.near
    ? { sql: '(SELECT ? AS lat, ? AS lon) c CROSS JOIN ', args: [s.near.lat, s.near.lon] }
    : { sql: '', args: [] };
  return {
    sql: `${center.sql}(${coarse.sql}) r CROSS JOIN spatiotemporal_entries x ON x.id = r.id`,
    args: [...center.args, ...coarse.args],
  };
}

/** The exact check of the entries `x` of `placedEntries`: on their double coordinates, haversine for `near`. */
export function whereEntryPlaced<W extends Where>(where: W, s: SpaceTime): W {
  if (s.near) where.and(`${DISTANCE_SQL} <= ?`, s.near.radius_m);
  if (s.within) {
    const [west, south, east, north] = s.within.bbox;
    where.and('x.lat BETWEEN ? AND ?', south, north);
    if (west <= east) where.and('x.lon BETWEEN ? AND ?', west, east);
    else where.and('(x.lon >= ? OR x.lon <= ?)', west, east);
  }
  return where;
}

/**
 * Episodes whose span [start_time, end_time] overlaps the window (ends inclusive); an episode in progress
 * spans until `nowMs` (or its start, when that is later). Read from the episode `e`, or from its entry `x`
 * (which carries the same span, migration 9).
 */
export function whereSpanOverlaps(
  where: Where,
  time: TimeWindow | undefined,
  nowMs: number,
  alias: 'e' | 'x',
): Where {
  if (time?.to !== undefined) where.and(`${alias}.start_time <= ?`, ms(time.to));
  if (time?.from !== undefined)
    where.and(`COALESCE(${alias}.end_time, max(${alias}.start_time, ?)) >= ?`, nowMs, ms(time.from));
  return where;
}

/** Steps `s` whose timestamp is in the window (ends inclusive). */
export function whereStepWithin(where: Where, time: TimeWindow | undefined): Where {
  if (time?.from !== undefined) where.and('s.timestamp >= ?', ms(time.from));
  if (time?.to !== undefined) where.and('s.timestamp <= ?', ms(time.to));
  return where;
}

/**
 * The episode `e` is where and when `s` asks: its own location (not its steps') in the place, its span
 * overlapping the window. The piece the episode filter adds for its near, within and time (see
 * whereEpisodeMatches), so every search over episodes means the same by them.
 */
export function whereEpisodeInSpaceTime(where: Where, s: SpaceTime, nowMs: number): Where {
  whereSpanOverlaps(where, s.time, nowMs, 'e');
  if (!s.near && !s.within) return where;
  const entries = placedEntries(s);
  const placed = whereEntryPlaced(tenantScope(where.tenant, 'x').and('x.step_number = 0'), s);
  return where.and(
    `e.id IN (SELECT x.episode_id FROM ${entries.sql} WHERE ${placed})`,
    ...entries.args,
    ...placed.args,
  );
}
