import type { Database } from '../../db/database.js';
import type { Row, SqlValue } from '../../db/types.js';
import type { EpisodeFilter } from '../../domain/episode-list.js';
import { InvalidCursor } from '../../domain/errors.js';
import { MAX_PAGE_BYTES } from '../../domain/limits.js';
import type {
  DomainCount,
  SpatiotemporalOrder,
  SpatiotemporalSearch,
  TimelineFilter,
  TimelinePoint,
} from '../../domain/spatiotemporal.js';
import type { SpatiotemporalRepository } from '../spatiotemporal-repository.js';
import type { Encoded, Page } from '../types.js';
import { whereEpisodeMatches } from './episode-filter.js';
import { EPISODE_COLUMNS, iso, ms, toEncodedEpisode } from './episode-rows.js';
import { finiteOrNull, meanOrNull } from './finite.js';
import {
  type BoundedPageQuery,
  boundedPageSql,
  type CursorKey,
  decodeCursor,
  pageOf,
  type SortKey,
} from './pages.js';
import {
  DISTANCE_SQL,
  placedEntries,
  type SpaceTime,
  whereEntryPlaced,
  whereSpanOverlaps,
  whereStepWithin,
} from './spatiotemporal.js';
import { STEP_COLUMNS, toEncodedStep } from './step-rows.js';
import { tenantScope, type Where } from './where.js';

/** Tools answered per timeline bucket. */
const TOP_TOOLS = 5;
/** Bytes a row's columns add to its stored body in an answer (as the episode and step lists count them). */
const EPISODE_ROW_BYTES = 300;
const STEP_ROW_BYTES = 150;

/** How one kind of item is read: its table, identity, time and tie-breaking keys, and its record. */
interface ItemKind {
  /** Joined after the entries `x` (located items), with the episode `e`; empty: the entries alone. */
  fromEntry: string;
  /** Read without a place: the item's own table, with the episode `e` joined for the filters. */
  fromTable: string;
  identity: readonly string[];
  join: string;
  columns: string;
  time: string;
  /** Keys after the sort key that make the order total. */
  ties: readonly string[];
  /** The column of `columns` that holds each sort key (time and ties): a cursor is read from the record's row. */
  keyColumns: Record<string, string>;
  weight: string;
  /** Set when the page is chosen without the record: how the `chosen` candidates join it to be weighed. */
  weighIn?: BoundedPageQuery['weighIn'];
  encode(row: Row): string;
}

const EPISODES: ItemKind = {
  fromEntry: 'CROSS JOIN episodes e ON e.tenant = x.tenant AND e.id = x.episode_id',
  fromTable: 'episodes e',
  identity: ['e.rowid'],
  join: 'episodes e ON e.rowid = page.k0',
  columns: EPISODE_COLUMNS,
  time: 'e.start_time',
  ties: ['e.id'],
  keyColumns: { 'e.start_time': 'start_time', 'e.id': 'id' },
  weight: `octet_length(e.body) + ${EPISODE_ROW_BYTES}`,
  encode: (row) => toEncodedEpisode(row).json,
};

/**
 * Located episodes chosen by their entries alone (migration 9: an entry carries its episode's span and archived
 * flag), when the search filters on nothing else: only the page's episodes are read.
 */
const EPISODES_BY_ENTRY: ItemKind = {
  ...EPISODES,
  fromEntry: '',
  identity: ['x.tenant', 'x.episode_id'],
  join: 'episodes e ON e.rowid = page.weighed',
  time: 'x.start_time',
  ties: ['x.episode_id'],
  // The entry's span is its episode's (migration 9's triggers keep them equal).
  keyColumns: { 'x.start_time': 'start_time', 'x.episode_id': 'id' },
  weighIn: { join: 'episodes e ON e.tenant = chosen.k0 AND e.id = chosen.k1', rowid: 'e.rowid' },
};

/** Whether an episode filter asks only what an entry carries (archived; its time window is the search's). */
const entryAnswers = (f: EpisodeFilter): boolean =>
  Object.entries(f).every(
    ([key, value]) =>
      value === undefined ||
      key === 'archived' ||
      key === 'tags_match' ||
      (key === 'metadata' && Object.keys(value as object).length === 0),
  );

/** The first slice of a window a time-ordered page is first read from: a quarter of it. */
const SLICES = 4;

/**
 * A time-ordered page read first from the items that start in the first slice of its window (newest first:
 * its last quarter; oldest first: its first quarter), which the R*Tree finds by their boxes' time edges: a
 * quarter of the candidates (each read from its entry), and none of the long-open episodes that started
 * earlier. Any other item starts outside the slice, so it sorts after every item that starts inside: when
 * the page's last row starts inside the slice and more rows follow it, the page is the window's own.
 * Otherwise (`holds` is false) the page is read again from the whole window. Only for a window bounded on
 * both ends (a cursor moves its near end).
 */
function firstSlice(
  q: SpaceTime,
  desc: boolean,
  cursor: CursorKey[] | undefined,
  startColumn: string,
): { coarse: SpaceTime; holds(rows: Row[]): boolean } | undefined {
  if (q.time?.from === undefined || q.time.to === undefined) return undefined;
  let [from, to] = [ms(q.time.from), ms(q.time.to)];
  const after = cursor?.[0];
  if (typeof after === 'number') {
    if (desc) to = Math.min(to, after);
    else from = Math.max(from, after);
  }
  if (from >= to) return undefined;
  const width = Math.ceil((to - from) / SLICES);
  const edge = desc ? to - width : from + width;
  // Oldest first, the window's `to` bounds starts already; newest first, they are bounded below.
  const slice = desc ? { from: iso(edge), to: iso(to) } : { from: iso(from), to: iso(edge) };
  return {
    coarse: { ...q, time: slice, startsFromMs: desc ? edge : undefined },
    holds: (rows) => {
      const last = rows.at(-1);
      if (!last || Number(last.page_candidates) <= rows.length) return false;
      const start = Number(last[startColumn]);
      return desc ? start >= edge : start <= edge;
    },
  };
}

const STEPS: ItemKind = {
  fromEntry: `CROSS JOIN steps s ON s.tenant = x.tenant AND s.episode_id = x.episode_id AND s.step_number = x.step_number
    CROSS JOIN episodes e ON e.tenant = x.tenant AND e.id = x.episode_id`,
  fromTable: 'steps s JOIN episodes e ON e.tenant = s.tenant AND e.id = s.episode_id',
  identity: ['s.tenant', 's.episode_id', 's.step_number'],
  join: 'steps s ON s.tenant = page.k0 AND s.episode_id = page.k1 AND s.step_number = page.k2',
  columns: STEP_COLUMNS,
  time: 's.timestamp',
  ties: ['s.episode_id', 's.step_number'],
  keyColumns: { 's.timestamp': 'timestamp', 's.episode_id': 'episode_id', 's.step_number': 'step_number' },
  weight: `octet_length(s.body) + ${STEP_ROW_BYTES}`,
  encode: (row) => toEncodedStep(row),
};

// ---- Timeline and domains: rollups (migration 5) for whole days and hours, the records for the rest ---------

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const floorTo = (ms: number, grain: number) => ms - (((ms % grain) + grain) % grain);
const ceilTo = (ms: number, grain: number) => (floorTo(ms, grain) === ms ? ms : floorTo(ms, grain) + grain);
/** A part `p` of json_each: [bucket index, from ms, to ms). */
const PART = "json_extract(p.value, '$";
const inPart = (column: string) => `${column} >= ${PART}[1]') AND ${column} < ${PART}[2]')`;

type Part = [number, number, number];

/**
 * Splits each bucket [from, to) into the whole UTC days inside it (when `days`), the whole UTC hours left, each
 * read from a rollup, and the rest at either end, read from the records. A UTC day bucket is one day; a day on
 * a whole-hour zone is hours; a half-hour zone's buckets also have a half hour at each end.
 */
function rollupParts(
  buckets: readonly (readonly [number, number])[],
  days: boolean,
): { days: Part[]; hours: Part[]; rest: Part[] } {
  const parts = { days: [] as Part[], hours: [] as Part[], rest: [] as Part[] };
  const add = (list: Part[], i: number, from: number, to: number) => {
    if (from < to) list.push([i, from, to]);
  };
  buckets.forEach(([from, to], i) => {
    const lo = ceilTo(from, HOUR_MS);
    const hi = floorTo(to, HOUR_MS);
    if (lo >= hi) {
      add(parts.rest, i, from, to);
      return;
    }
    add(parts.rest, i, from, lo);
    add(parts.rest, i, hi, to);
    const dayLo = ceilTo(lo, DAY_MS);
    const dayHi = floorTo(hi, DAY_MS);
    if (!days || dayLo >= dayHi) {
      add(parts.hours, i, lo, hi);
      return;
    }
    add(parts.hours, i, lo, dayLo);
    add(parts.days, i, dayLo, dayHi);
    add(parts.hours, i, dayHi, hi);
  });
  return parts;
}

/** A rollup `h` by kind, narrowed to the kinds asked for (an episode without an agent is kept under ''). */
function whereKinds(where: Where, kinds: TimelineFilter): Where {
  if (kinds.domain !== undefined) where.and('h.domain = ?', kinds.domain);
  if (kinds.task_type?.length) where.in('h.task_type', kinds.task_type);
  if (kinds.agent_id !== undefined) where.and('h.agent_id = ?', kinds.agent_id);
  return where;
}

/** The same kinds as an episode filter over the records (the timeline counts episodes that are not archived). */
const filterOfKinds = (kinds: TimelineFilter): EpisodeFilter => ({
  ...kinds,
  archived: 'false',
  tags_match: 'any',
});

interface Select {
  sql: string;
  args: SqlValue[];
}

/** One SELECT over the parts `p` (as json_each of `parts`) and the arguments of its WHERE. */
const overParts = (sql: string, parts: Part[], where: Where): Select => ({
  sql,
  args: [JSON.stringify(parts), ...where.args],
});

/** SELECTs as one UNION ALL. */
const union = (selects: readonly Select[]): Select => ({
  sql: selects.map((s) => s.sql).join('\n UNION ALL '),
  args: selects.flatMap((s) => s.args),
});

export class LibsqlSpatiotemporalRepository implements SpatiotemporalRepository {
  constructor(private readonly db: Database) {}

  async search(
    tenant: string,
    q: SpatiotemporalSearch & { order: SpatiotemporalOrder },
    nowMs: number,
  ): Promise<Page<Encoded>> {
    const placed = q.near !== undefined || q.within !== undefined;
    const byEntry = placed && q.item_type === 'episode' && entryAnswers(q.filter);
    const kind = byEntry ? EPISODES_BY_ENTRY : q.item_type === 'episode' ? EPISODES : STEPS;
    let where: Where;
    if (placed) {
      where = tenantScope(tenant, 'x').and(
        q.item_type === 'episode' ? 'x.step_number = 0' : 'x.step_number > 0',
      );
      whereEntryPlaced(where, q);
    } else {
      where = tenantScope(tenant, q.item_type === 'episode' ? 'e' : 's');
    }
    if (byEntry) {
      whereSpanOverlaps(where, q.time, nowMs, 'x');
      if (q.filter.archived !== 'any') where.and('x.archived = ?', q.filter.archived === 'true' ? 1 : 0);
    } else {
      if (q.item_type === 'episode') whereSpanOverlaps(where, q.time, nowMs, 'e');
      else whereStepWithin(where, q.time);
      whereEpisodeMatches(where, q.filter, nowMs);
    }

    const byDistance = q.order === 'distance';
    const desc = q.order === 'time_desc';
    const keys = [byDistance ? DISTANCE_SQL : kind.time, ...kind.ties];
    const sort = `spatiotemporal_${q.item_type}_${q.order}`;
    let cursorKey: CursorKey[] | undefined;
    if (q.cursor !== undefined) {
      cursorKey = decodeCursor(q.cursor, sort);
      if (cursorKey.length !== keys.length) throw new InvalidCursor();
      where.and(`(${keys.join(', ')}) ${desc ? '<' : '>'} (${keys.map(() => '?').join(', ')})`, ...cursorKey);
    }
    const measured = q.near !== undefined;
    /** The row's column that holds a sort key (the distance rides along with the identity as page.k<n>). */
    const columnOf = (key: string) =>
      key === DISTANCE_SQL ? 'distance_m' : (kind.keyColumns[key] as string);
    /** The page's SQL, its candidates read from the R*Tree boxes that meet `coarse`'s place and window. */
    const pageSql = (coarse: SpaceTime) => {
      const entries = placed ? placedEntries(coarse) : undefined;
      return boundedPageSql({
        from: entries ? `${entries.sql} ${kind.fromEntry}` : kind.fromTable,
        weighIn: kind.weighIn,
        fromArgs: entries?.args ?? [],
        where,
        order: keys.map((expr) => ({ expr, desc }) satisfies SortKey),
        // The distance rides along with the identity, so the page's rows carry it (page.k<n>).
        identity: measured ? [...kind.identity, DISTANCE_SQL] : kind.identity,
        join: kind.join,
        columns: measured ? `${kind.columns}, page.k${kind.identity.length} AS distance_m` : kind.columns,
        limit: q.limit,
        budgets: [{ expr: kind.weight, max: MAX_PAGE_BYTES }],
      });
    };
    const read = (coarse: SpaceTime) => {
      const page = pageSql(coarse);
      return this.db.scan(page.sql, page.args);
    };
    const first = placed && !byDistance ? firstSlice(q, desc, cursorKey, columnOf(kind.time)) : undefined;
    let rows = first ? await read(first.coarse) : undefined;
    if (rows === undefined || !first?.holds(rows)) rows = await read(q);
    const items = rows.map((row) => ({
      json: `{"item_type":"${q.item_type}","distance_m":${measured ? Number(row.distance_m) : 'null'},"item":${kind.encode(row)}}`,
    }));
    return pageOf(rows, items, sort, (last) => keys.map((k) => last[columnOf(k)] as string | number));
  }

  async timeline(
    tenant: string,
    kinds: TimelineFilter,
    boundaries: readonly number[],
  ): Promise<TimelinePoint[]> {
    const filtered = kinds.domain !== undefined || kinds.task_type?.length || kinds.agent_id !== undefined;
    const buckets = boundaries.slice(0, -1).map((start, i) => [start, boundaries[i + 1] as number] as const);
    // Whole days from the daily rollup (without filters), whole hours from an hourly one (per hour alone, or by
    // kind when filtered), the rest from the records.
    const parts = rollupParts(buckets, !filtered);
    const day = tenantScope(tenant, 'h').and(inPart('h.day'));
    const hour = whereKinds(tenantScope(tenant, 'h').and(inPart('h.hour')), kinds);
    const episodes = whereEpisodeMatches(tenantScope(tenant, 'e'), filterOfKinds(kinds)).and(
      inPart('e.start_time'),
    );
    const steps = whereEpisodeMatches(tenantScope(tenant, 's'), filterOfKinds(kinds)).and(
      inPart('s.timestamp'),
    );
    const sums = 'h.episodes AS n, h.completed AS c, h.successes AS w, h.rewarded AS r, h.reward_sum AS t';
    const daily = filtered
      ? []
      : [
          overParts(
            `SELECT ${PART}[0]') AS i, ${sums} FROM json_each(?) p CROSS JOIN episode_days h WHERE ${day}`,
            parts.days,
            day,
          ),
        ];
    const dailyTools = filtered
      ? []
      : [
          overParts(
            `SELECT ${PART}[0]') AS i, h.tool, h.uses AS u FROM json_each(?) p CROSS JOIN tool_days h WHERE ${day}`,
            parts.days,
            day,
          ),
        ];
    const counts = union([
      ...daily,
      overParts(
        `SELECT ${PART}[0]') AS i, ${sums}
         FROM json_each(?) p CROSS JOIN ${filtered ? 'episode_kind_hours' : 'episode_hours'} h WHERE ${hour}`,
        parts.hours,
        hour,
      ),
      overParts(
        `SELECT ${PART}[0]') AS i, 1 AS n, e.end_time IS NOT NULL AS c, (e.end_time IS NOT NULL AND e.outcome_type IS 'success') AS w,
           e.reward_total IS NOT NULL AS r, e.reward_total AS t
         FROM json_each(?) p CROSS JOIN episodes e WHERE ${episodes}`,
        parts.rest,
        episodes,
      ),
    ]);
    const tools = union([
      ...dailyTools,
      overParts(
        `SELECT ${PART}[0]') AS i, h.tool, h.uses AS u
         FROM json_each(?) p CROSS JOIN ${filtered ? 'tool_kind_hours' : 'tool_hours'} h WHERE ${hour}`,
        parts.hours,
        hour,
      ),
      overParts(
        `SELECT ${PART}[0]') AS i, s.tool, 1 AS u
         FROM json_each(?) p CROSS JOIN steps s JOIN episodes e ON e.tenant = s.tenant AND e.id = s.episode_id
         WHERE ${steps}`,
        parts.rest,
        steps,
      ),
    ]);
    const [counted, used] = await Promise.all([
      this.db.scan(
        `SELECT i, SUM(n) AS episodes, SUM(c) AS completed, SUM(w) AS successes, SUM(r) AS rewarded,
           ${finiteOrNull('TOTAL(t)')} AS reward_sum
         FROM (${counts.sql})
         GROUP BY i`,
        counts.args,
      ),
      this.db.scan(
        `SELECT i, tool, uses FROM (
           SELECT i, tool, SUM(u) AS uses, ROW_NUMBER() OVER (PARTITION BY i ORDER BY SUM(u) DESC, tool) AS rank
           FROM (${tools.sql})
           GROUP BY i, tool HAVING SUM(u) > 0)
         WHERE rank <= ${TOP_TOOLS} ORDER BY i, rank`,
        tools.args,
      ),
    ]);
    const points: TimelinePoint[] = boundaries.slice(0, -1).map((start) => ({
      start: iso(start),
      episodes: 0,
      completed: 0,
      successes: 0,
      success_rate: null,
      avg_reward: null,
      top_tools: [],
    }));
    for (const row of counted) {
      const point = points[Number(row.i)] as TimelinePoint;
      point.episodes = Number(row.episodes);
      point.completed = Number(row.completed);
      point.successes = Number(row.successes);
      point.success_rate = point.completed === 0 ? null : point.successes / point.completed;
      point.avg_reward = meanOrNull(row.reward_sum, Number(row.rewarded));
    }
    for (const row of used) {
      points[Number(row.i)]?.top_tools.push({ tool: row.tool as string, uses: Number(row.uses) });
    }
    return points;
  }

  async domains(tenant: string, fromMs: number, toMs: number, limit: number): Promise<DomainCount[]> {
    const parts = rollupParts([[fromMs, toMs]], false);
    const kept = tenantScope(tenant, 'h').and(inPart('h.hour'));
    const episodes = tenantScope(tenant, 'e').and('e.archived = 0').and(inPart('e.start_time'));
    const rows = await this.db.scan(
      `SELECT domain, task_type, SUM(n) AS episodes, SUM(c) AS completed, SUM(w) AS successes
       FROM (
         SELECT h.domain, h.task_type, h.episodes AS n, h.completed AS c, h.successes AS w
         FROM json_each(?) p CROSS JOIN episode_kind_hours h WHERE ${kept}
         UNION ALL
         SELECT e.domain, e.task_type, 1, e.end_time IS NOT NULL, (e.end_time IS NOT NULL AND e.outcome_type IS 'success')
         FROM json_each(?) p CROSS JOIN episodes e WHERE ${episodes})
       GROUP BY domain, task_type HAVING SUM(n) > 0
       ORDER BY episodes DESC, domain, task_type LIMIT ?`,
      [JSON.stringify(parts.hours), ...kept.args, JSON.stringify(parts.rest), ...episodes.args, limit],
    );
    return rows.map((r) => ({
      domain: r.domain as string,
      task_type: r.task_type as string,
      episodes: Number(r.episodes),
      completed: Number(r.completed),
      successes: Number(r.successes),
    }));
  }
}
