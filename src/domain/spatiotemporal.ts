import { z } from 'zod';
import { Cursor, ListLimit, Timestamp } from './common.js';
import { EpisodeRecord } from './episode.js';
import { EpisodeFilter } from './episode-list.js';
import { Near, oneOfNearWithin, TimeWindow, Within, windowInOrder } from './space-time.js';
import { StepRecord } from './step.js';

// Where and when (SPEC §3.5): WGS84 degrees, great-circle (haversine) metres, time windows that overlap an
// episode's span [start_time, end_time or now].

export const SpatiotemporalOrder = z.enum(['distance', 'time_desc', 'time_asc']);
export type SpatiotemporalOrder = z.infer<typeof SpatiotemporalOrder>;

/** `POST /v1/spatiotemporal/search`. */
export const SpatiotemporalSearch = z
  .strictObject({
    near: Near.optional(),
    within: Within.optional(),
    time: TimeWindow.optional(),
    filter: EpisodeFilter.prefault({}).describe('Any episode list filter; for steps, on their episode'),
    item_type: z
      .enum(['episode', 'step'])
      .default('episode')
      .describe('episode: where and when episodes happened; step: located steps'),
    order: SpatiotemporalOrder.optional().describe('Default: distance with near, else time_desc'),
    limit: ListLimit,
    cursor: Cursor.optional(),
  })
  .superRefine((s, ctx) => {
    oneOfNearWithin(s, ctx);
    if (!s.near && !s.within && !s.time) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give at least one of near, within and time' });
    }
    if (s.order === 'distance' && !s.near) {
      ctx.addIssue({ code: 'custom', path: ['order'], message: 'distance order needs near' });
    }
  });
export type SpatiotemporalSearch = z.infer<typeof SpatiotemporalSearch>;

export const SpatiotemporalHit = z.discriminatedUnion('item_type', [
  z.strictObject({
    item_type: z.literal('episode'),
    distance_m: z.number().nullable().describe('From near (great-circle metres); null without near'),
    item: EpisodeRecord,
  }),
  z.strictObject({
    item_type: z.literal('step'),
    distance_m: z.number().nullable().describe('From near (great-circle metres); null without near'),
    item: StepRecord,
  }),
]);

// ---- Timeline and domains ---------------------------------------------------------------------------------

/** Buckets one timeline may have (a year of hours fits). */
export const MAX_TIMELINE_BUCKETS = 10_000;
const DAY_MS = 86_400_000;
/** The window when none is given: the last 30 days. */
export const DEFAULT_WINDOW_MS = 30 * DAY_MS;

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const windowShape = {
  from: Timestamp.optional().describe('Episodes that started at or after this; default: 30 days before to'),
  to: Timestamp.optional().describe('Episodes that started before this; default: now'),
};

export const TimelineBucket = z.enum(['hour', 'day', 'week', 'month']);
export type TimelineBucket = z.infer<typeof TimelineBucket>;

/** `GET /v1/spatiotemporal/timeline`. */
export const TimelineQuery = z
  .strictObject({
    bucket: TimelineBucket.default('day').describe('Bucket size; weeks start on Monday'),
    ...windowShape,
    tz: z
      .string()
      .refine(validTimeZone, 'must be an IANA time zone, e.g. Europe/Berlin')
      .default('UTC')
      .describe('IANA time zone the buckets follow (local midnight, local Monday, ...)'),
    domain: EpisodeFilter.shape.domain,
    task_type: EpisodeFilter.shape.task_type,
    agent_id: EpisodeFilter.shape.agent_id,
  })
  .superRefine(windowInOrder);
export type TimelineQuery = z.infer<typeof TimelineQuery>;

/** The kinds of episodes a timeline counts (those not archived). */
export type TimelineFilter = Pick<EpisodeFilter, 'domain' | 'task_type' | 'agent_id'>;

export const TimelinePoint = z.strictObject({
  start: z.string().describe('Start of the bucket (UTC)'),
  episodes: z.int().describe('Episodes that started in the bucket'),
  completed: z.int(),
  successes: z.int().describe('Completed with a success outcome'),
  success_rate: z.number().nullable().describe('successes / completed; null when none completed'),
  avg_reward: z.number().nullable().describe('Mean reward.total of those that have one'),
  top_tools: z
    .array(z.strictObject({ tool: z.string(), uses: z.int() }))
    .describe('The 5 tools most used by steps timestamped in the bucket'),
});
export type TimelinePoint = z.infer<typeof TimelinePoint>;

export const Timeline = z.strictObject({
  bucket: TimelineBucket,
  tz: z.string(),
  from: z.string(),
  to: z.string(),
  buckets: z.array(TimelinePoint).describe('Every bucket of the window in order, empty ones included'),
});
export type Timeline = z.infer<typeof Timeline>;

/** `GET /v1/spatiotemporal/domains`. */
export const DomainsQuery = z
  .strictObject({
    ...windowShape,
    limit: ListLimit.describe('Pairs answered, the busiest first'),
  })
  .superRefine(windowInOrder);
export type DomainsQuery = z.infer<typeof DomainsQuery>;

export const DomainCount = z.strictObject({
  domain: z.string(),
  task_type: z.string(),
  episodes: z.int(),
  completed: z.int(),
  successes: z.int(),
});
export type DomainCount = z.infer<typeof DomainCount>;

export const DomainCounts = z.strictObject({ from: z.string(), to: z.string(), items: z.array(DomainCount) });
export type DomainCounts = z.infer<typeof DomainCounts>;

/** One formatter per zone: building one costs far more than using it (a timeline asks thousands of times). */
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterOf(tz: string): Intl.DateTimeFormat {
  let format = formatters.get(tz);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
    // Zone names are case-insensitive, so their spellings are not a bounded set: the cache is.
    if (formatters.size >= 1000) formatters.clear();
    formatters.set(tz, format);
  }
  return format;
}

/** The wall-clock fields of the instant `ms` in `tz`. */
function wallClock(ms: number, tz: string) {
  if (tz === 'UTC') {
    // Every year of a timestamp (0000..9999), without Intl (whose calendar counts eras before year 1).
    const d = new Date(ms);
    const [year, month, day] = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()];
    return {
      year,
      month,
      day,
      hour: d.getUTCHours(),
      minute: d.getUTCMinutes(),
      weekday: (d.getUTCDay() + 6) % 7,
    };
  }
  const parts = Object.fromEntries(
    formatterOf(tz)
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  const [year, month, day, hour, minute] = [parts.year, parts.month, parts.day, parts.hour, parts.minute].map(
    Number,
  ) as [number, number, number, number, number];
  const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(parts.weekday as string);
  return { year, month, day, hour, minute, weekday };
}

/** Date.UTC for every year: Date.UTC reads years 0..99 as 1900..1999. Months and days may overflow. */
function utc(year: number, month: number, day: number, hour = 0, minute = 0): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, 0, 0);
  return d.getTime();
}

/** The instant at which the wall clock in `tz` shows the given date and hour (DST gaps move forward). */
function instantOf(tz: string, year: number, month: number, day: number, hour = 0): number {
  const wall = utc(year, month, day, hour);
  // UTC's wall clock is UTC: no offset to find (a year of days would otherwise cost two wallClock calls each).
  if (tz === 'UTC') return wall;
  // How far the wall clock is ahead of UTC at `ms` (whole minutes: no zone in use today has seconds).
  const offsetAt = (ms: number) => {
    const w = wallClock(ms, tz);
    return utc(w.year, w.month, w.day, w.hour, w.minute) - Math.floor(ms / 60_000) * 60_000;
  };
  const guess = wall - offsetAt(wall);
  return wall - offsetAt(guess);
}

/**
 * The bucket boundaries covering [from, to): the start of the bucket that holds `from` (on the wall clock of
 * `tz`), each next start, and a last boundary at or after `to`. Null when there would be more than
 * MAX_TIMELINE_BUCKETS.
 */
export function bucketBoundaries(
  bucket: TimelineBucket,
  fromMs: number,
  toMs: number,
  tz: string,
): number[] | null {
  // A window far too long for its bucket is refused before any boundary is computed (no bucket is longer
  // than 32 days; a zone's offsets change by at most a day).
  const longest = { hour: 2 * 3_600_000, day: 2 * DAY_MS, week: 8 * DAY_MS, month: 33 * DAY_MS }[bucket];
  if ((toMs - fromMs) / longest > MAX_TIMELINE_BUCKETS) return null;
  const w = wallClock(fromMs, tz);
  const boundaries: number[] = [];
  let next: (i: number) => number;
  if (bucket === 'hour') {
    const first = instantOf(tz, w.year, w.month, w.day, w.hour);
    const start = first > fromMs ? first - 3_600_000 : first;
    next = (i) => start + i * 3_600_000;
  } else if (bucket === 'day') {
    next = (i) => instantOf(tz, w.year, w.month, w.day + i);
  } else if (bucket === 'week') {
    next = (i) => instantOf(tz, w.year, w.month, w.day - w.weekday + 7 * i);
  } else {
    next = (i) => instantOf(tz, w.year, w.month + i, 1);
  }
  for (let i = 0; ; i++) {
    const at = next(i);
    boundaries.push(at);
    if (at >= toMs && i > 0) return boundaries;
    if (boundaries.length > MAX_TIMELINE_BUCKETS) return null;
  }
}
