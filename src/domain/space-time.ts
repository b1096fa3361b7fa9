import { z } from 'zod';
import { Timestamp, timestampToMs } from './common.js';

// Where and when (SPEC §3.5), as any query over episodes asks it: WGS84 degrees, great-circle (haversine)
// metres, time windows that overlap an episode's span [start_time, end_time or now]. The episode filter
// (episode-list.ts) and the spatiotemporal search take these.

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

/** Milliseconds of a timestamp, or undefined when it is not a valid one (its own field reports that). */
function msOrUndefined(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  try {
    return timestampToMs(s);
  } catch {
    return undefined;
  }
}

/** Adds an issue on `from` when both ends are valid and `from` is later than `to`. */
export function windowInOrder(
  w: { from?: string | undefined; to?: string | undefined },
  ctx: z.RefinementCtx,
) {
  const [from, to] = [msOrUndefined(w.from), msOrUndefined(w.to)];
  if (from !== undefined && to !== undefined && from > to) {
    ctx.addIssue({ code: 'custom', path: ['from'], message: 'must not be later than to' });
  }
}

/** A time window; it overlaps a span that starts at or before `to` and ends at or after `from`. */
export const TimeWindow = z
  .strictObject({ from: Timestamp.optional(), to: Timestamp.optional() })
  .superRefine(windowInOrder)
  .describe(
    'Overlap with the span [start_time, end_time] (an episode in progress: until now; a step: its timestamp); both ends inclusive',
  );
export type TimeWindow = z.infer<typeof TimeWindow>;

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

/** near or within, not both (the one place, for every schema that takes both). */
export function oneOfNearWithin(s: { near?: unknown; within?: unknown }, ctx: z.RefinementCtx): void {
  if (s.near !== undefined && s.within !== undefined)
    ctx.addIssue({ code: 'custom', path: ['within'], message: 'give near or within, not both' });
}
