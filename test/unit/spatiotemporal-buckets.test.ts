import { describe, expect, it } from 'vitest';
import { boxAround } from '../../src/domain/space-time.js';
import { bucketBoundaries } from '../../src/domain/spatiotemporal.js';

const at = (s: string) => Date.parse(s);
const isoAll = (ms: number[] | null) => ms?.map((m) => new Date(m).toISOString());

describe('bucketBoundaries', () => {
  it('days in UTC - from the start of the day that holds from, through a boundary at or after to', () => {
    expect(
      isoAll(bucketBoundaries('day', at('2026-03-01T12:00:00Z'), at('2026-03-03T00:00:00Z'), 'UTC')),
    ).toEqual(['2026-03-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z', '2026-03-03T00:00:00.000Z']);
  });

  it('years before 100 - not read as 19xx', () => {
    expect(
      isoAll(bucketBoundaries('month', at('0050-01-15T00:00:00Z'), at('0050-02-01T00:00:00Z'), 'UTC')),
    ).toEqual(['0050-01-01T00:00:00.000Z', '0050-02-01T00:00:00.000Z']);
  });

  it('hours in a half-hour zone - on its wall clock', () => {
    expect(
      isoAll(
        bucketBoundaries('hour', at('2026-01-01T00:10:00Z'), at('2026-01-01T01:00:00Z'), 'Asia/Kolkata'),
      ),
    ).toEqual(['2025-12-31T23:30:00.000Z', '2026-01-01T00:30:00.000Z', '2026-01-01T01:30:00.000Z']);
  });

  it('more buckets than allowed - null', () => {
    expect(
      bucketBoundaries('hour', at('2000-01-01T00:00:00Z'), at('2026-01-01T00:00:00Z'), 'UTC'),
    ).toBeNull();
  });
});

describe('boxAround', () => {
  it('a circle across the antimeridian - a box with west > east', () => {
    const box = boxAround({ lat: 0, lon: 179.99, radius_m: 10_000 });
    expect(box.west).toBeGreaterThan(box.east);
  });

  it('a circle over a pole - every longitude', () => {
    expect(boxAround({ lat: 89.95, lon: 10, radius_m: 10_000 })).toMatchObject({
      west: -180,
      east: 180,
      north: 90,
    });
  });
});
