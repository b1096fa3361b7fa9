import type { Database } from '../../db/database.js';
import type { Row } from '../../db/types.js';
import type { EpisodeFilter } from '../../domain/episode-list.js';
import { InvalidCursor } from '../../domain/errors.js';
import { MAX_PAGE_BYTES } from '../../domain/limits.js';
import type {
  DomainCount,
  SpatiotemporalOrder,
  SpatiotemporalSearch,
  TimelinePoint,
} from '../../domain/spatiotemporal.js';
import type { SpatiotemporalRepository } from '../spatiotemporal-repository.js';
import type { Encoded, Page } from '../types.js';
import { whereEpisodeMatches } from './episode-filter.js';
import { EPISODE_COLUMNS, iso, toEncodedEpisode } from './episode-rows.js';
import { boundedPageSql, decodeCursor, pageOf, type SortKey } from './pages.js';
import {
  DISTANCE_SQL,
  placedEntries,
  whereEntryPlaced,
  whereEpisodeOverlaps,
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
  /** Joined after the entries `x` (located items), with the episode `e`. */
  fromEntry: string;
  /** Read without a place: the item's own table, with the episode `e` joined for the filters. */
  fromTable: string;
  identity: readonly string[];
  join: string;
  columns: string;
  time: string;
  /** Keys after the sort key that make the order total. */
  ties: readonly string[];
  weight: string;
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
  weight: `octet_length(e.body) + ${EPISODE_ROW_BYTES}`,
  encode: (row) => toEncodedEpisode(row).json,
};

const STEPS: ItemKind = {
  fromEntry: `CROSS JOIN steps s ON s.tenant = x.tenant AND s.episode_id = x.episode_id AND s.step_number = x.step_number
    CROSS JOIN episodes e ON e.tenant = x.tenant AND e.id = x.episode_id`,
  fromTable: 'steps s JOIN episodes e ON e.tenant = s.tenant AND e.id = s.episode_id',
  identity: ['s.tenant', 's.episode_id', 's.step_number'],
  join: 'steps s ON s.tenant = page.k0 AND s.episode_id = page.k1 AND s.step_number = page.k2',
  columns: STEP_COLUMNS,
  time: 's.timestamp',
  ties: ['s.episode_id', 's.step_number'],
  weight: `octet_length(s.body) + ${STEP_ROW_BYTES}`,
  encode: (row) => toEncodedStep(row),
};

export class LibsqlSpatiotemporalRepository implements SpatiotemporalRepository {
  constructor(private readonly db: Database) {}

  async search(
    tenant: string,
    q: SpatiotemporalSearch & { order: SpatiotemporalOrder },
    nowMs: number,
  ): Promise<Page<Encoded>> {
    const kind = q.item_type === 'episode' ? EPISODES : STEPS;
    const placed = q.near !== undefined || q.within !== undefined;
    let where: Where;
    if (placed) {
      where = tenantScope(tenant, 'x').and(
        q.item_type === 'episode' ? 'x.step_number = 0' : 'x.step_number > 0',
      );
      whereEntryPlaced(where, q);
    } else {
      where = tenantScope(tenant, q.item_type === 'episode' ? 'e' : 's');
    }
    if (q.item_type === 'episode') whereEpisodeOverlaps(where, q.time, nowMs);
    else whereStepWithin(where, q.time);
    whereEpisodeMatches(where, q.filter);

    const byDistance = q.order === 'distance';
    const desc = q.order === 'time_desc';
    const keys = [byDistance ? DISTANCE_SQL : kind.time, ...kind.ties];
    const sort = `spatiotemporal_${q.item_type}_${q.order}`;
    if (q.cursor !== undefined) {
      const key = decodeCursor(q.cursor, sort);
      if (key.length !== keys.length) throw new InvalidCursor();
      where.and(`(${keys.join(', ')}) ${desc ? '<' : '>'} (${keys.map(() => '?').join(', ')})`, ...key);
    }
    const measured = q.near !== undefined;
    const entries = placed ? placedEntries(q) : undefined;
    const page = boundedPageSql({
      from: entries ? `${entries.sql} ${kind.fromEntry}` : kind.fromTable,
      fromArgs: entries?.args ?? [],
      where,
      order: keys.map((expr) => ({ expr, desc }) satisfies SortKey),
      // The distance rides along with the identity, so the page's rows carry it (page.k<n>).
      identity: measured ? [...kind.identity, DISTANCE_SQL] : kind.identity,
      join: kind.join,
      columns: `${kind.columns}, ${measured ? `page.k${kind.identity.length}` : 'NULL'} AS distance_m, ${keys
        .map((k, i) => `${k === DISTANCE_SQL ? `page.k${kind.identity.length}` : k} AS cursor_${i}`)
        .join(', ')}`,
      limit: q.limit,
      budgets: [{ expr: kind.weight, max: MAX_PAGE_BYTES }],
    });
    const rows = await this.db.scan(page.sql, page.args);
    const items = rows.map((row) => ({
      json: `{"item_type":"${q.item_type}","distance_m":${row.distance_m === null ? 'null' : Number(row.distance_m)},"item":${kind.encode(row)}}`,
    }));
    return pageOf(rows, items, sort, (last) => keys.map((_, i) => last[`cursor_${i}`] as string | number));
  }

  async timeline(
    tenant: string,
    filter: EpisodeFilter,
    boundaries: readonly number[],
  ): Promise<TimelinePoint[]> {
    // Buckets as [start, end) pairs; each is an index range of the episodes (or steps) by time.
    const buckets = JSON.stringify(boundaries.slice(0, -1).map((start, i) => [start, boundaries[i + 1]]));
    const inBucket = (column: string) =>
      `${column} >= json_extract(b.value, '$[0]') AND ${column} < json_extract(b.value, '$[1]')`;
    const episodes = whereEpisodeMatches(tenantScope(tenant, 'e'), filter).and(inBucket('e.start_time'));
    const tools = whereEpisodeMatches(tenantScope(tenant, 's'), filter).and(inBucket('s.timestamp'));
    const [counts, used] = await Promise.all([
      this.db.scan(
        `SELECT b.key AS i, COUNT(*) AS episodes, SUM(e.end_time IS NOT NULL) AS completed,
           SUM(e.outcome_type = 'success') AS successes, AVG(e.reward_total) AS avg_reward
         FROM json_each(?) b CROSS JOIN episodes e WHERE ${episodes} GROUP BY b.key`,
        [buckets, ...episodes.args],
      ),
      this.db.scan(
        `SELECT i, tool, uses FROM (
           SELECT b.key AS i, s.tool, COUNT(*) AS uses,
             ROW_NUMBER() OVER (PARTITION BY b.key ORDER BY COUNT(*) DESC, s.tool) AS rank
           FROM json_each(?) b CROSS JOIN steps s
             JOIN episodes e ON e.tenant = s.tenant AND e.id = s.episode_id
           WHERE ${tools} GROUP BY b.key, s.tool)
         WHERE rank <= ${TOP_TOOLS} ORDER BY i, rank`,
        [buckets, ...tools.args],
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
    for (const row of counts) {
      const point = points[Number(row.i)] as TimelinePoint;
      point.episodes = Number(row.episodes);
      point.completed = Number(row.completed);
      point.successes = Number(row.successes);
      point.success_rate = point.completed === 0 ? null : point.successes / point.completed;
      point.avg_reward = row.avg_reward === null ? null : Number(row.avg_reward);
    }
    for (const row of used) {
      points[Number(row.i)]?.top_tools.push({ tool: row.tool as string, uses: Number(row.uses) });
    }
    return points;
  }

  async domains(tenant: string, fromMs: number, toMs: number, limit: number): Promise<DomainCount[]> {
    const where = tenantScope(tenant, 'e')
      .and('e.archived = 0')
      .and('e.start_time >= ?', fromMs)
      .and('e.start_time < ?', toMs);
    const rows = await this.db.scan(
      `SELECT e.domain, e.task_type, COUNT(*) AS episodes, SUM(e.end_time IS NOT NULL) AS completed,
         SUM(e.outcome_type = 'success') AS successes
       FROM episodes e WHERE ${where}
       GROUP BY e.domain, e.task_type ORDER BY episodes DESC, e.domain, e.task_type LIMIT ?`,
      [...where.args, limit],
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
