import { z } from 'zod';
import { Cursor, ListLimit, Timestamp, timestampToMs } from './common.js';
import { EpisodeRecord } from './episode.js';
import { EpisodeFilter } from './episode-list.js';
import { StepRecord } from './step.js';

// Where and when (SPEC §3.5): WGS84 degrees, great-circle (haversine) metres, time windows that overlap an
// episode's span [start_time, end_time or now].

/** The mean Earth radius (IUGG), the sphere every distance is measured on. */
export const EARTH_RADIUS_M = 6_371_008.8;
/** Half the Earth's circumference, rounded up: no two points are farther apart. */
export const MAX_RADIUS_M = 20_038_000;

const Latitude = z.number().min(-90).max(90).describe('WGS84 degrees, -90..90');
const Longitude = z.number().min(-180).max(180).describe('WGS84 degrees, -180..180');

export const Near = z
  .strictObject({
    lat: Latitude,
    lon: Longitude,
    radius_m: z
      .number()
      .gt(0, 'must be greater than 0')
      .max(MAX_RADIUS_M, `must be at most ${MAX_RADIUS_M} (half the Earth's circumference)`)
      .describe('Great-circle (haversine) radius in metres'),
  })
  .describe('Within radius_m of a point');
export type Near = z.infer<typeof Near>;

export const Within = z
  .strictObject({
    bbox: z
      .tuple([Longitude, Latitude, Longitude, Latitude])
      .superRefine(([, south, , north], ctx) => {
        if (south > north)
          ctx.addIssue({ code: 'custom', path: [1], message: 'south must not be north of north' });
      })
      .describe('[west, south, east, north] in degrees; west > east crosses the antimeridian'),
  })
  .describe('Inside a box, edges included');
export type Within = z.infer<typeof Within>;

/** A time window; it overlaps a span that starts at or before `to` and ends at or after `from`. */
export const TimeWindow = z
  .strictObject({ from: Timestamp.optional(), to: Timestamp.optional() })
  .superRefine((w, ctx) => {
    if (w.from !== undefined && w.to !== undefined && timestampToMs(w.from) > timestampToMs(w.to)) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: 'must not be later than to' });
    }
  })
  .describe(
    'Overlap with the span [start_time, end_time] (an episode in progress: until now; a step: its timestamp); both ends inclusive',
  );
export type TimeWindow = z.infer<typeof TimeWindow>;

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
    if (s.near && s.within)
      ctx.addIssue({ code: 'custom', path: ['within'], message: 'give near or within, not both' });
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

const RADIANS = Math.PI / 180;

/** A latitude/longitude box; `west > east` crosses the antimeridian. */
export interface Box {
  west: number;
  south: number;
  east: number;
  north: number;
}

/**
 * The smallest latitude/longitude box around a circle on the sphere (the boxes any R*Tree search can use):
 * the full longitude range when the circle reaches a pole, else `lat ± r` and `lon ± asin(sin r / cos lat)`
 * (J. Matuschek, "Finding Points Within a Distance of a Latitude/Longitude").
 */
export function boxAround({ lat, lon, radius_m }: Near): Box {
  const r = radius_m / EARTH_RADIUS_M; // the radius as an angle
  const south = lat - r / RADIANS;
  const north = lat + r / RADIANS;
  if (south <= -90 || north >= 90 || r >= Math.PI / 2) {
    return { west: -180, south: Math.max(south, -90), east: 180, north: Math.min(north, 90) };
  }
  const dLon = Math.asin(Math.min(1, Math.sin(r) / Math.cos(lat * RADIANS))) / RADIANS;
  const wrap = (x: number) => (x < -180 ? x + 360 : x > 180 ? x - 360 : x);
  if (dLon >= 180) return { west: -180, south, east: 180, north };
  return { west: wrap(lon - dLon), south, east: wrap(lon + dLon), north };
}
