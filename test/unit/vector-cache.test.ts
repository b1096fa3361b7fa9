import { describe, expect, it } from 'vitest';
import { NearestK, unitQuery, VectorCache, type VectorRow } from '../../src/storage/libsql/vector-cache.js';

// The in-memory side of an exact similarity search: a cached vector is used only at the version and creation
// time the search's read found, the budget bounds it, and the k nearest come out best first with ties by id,
// as the SQL statements order them.

const row = (id: number, vector: number[], version = 1, createdAt = 1_000): VectorRow => ({
  id,
  version,
  createdAt,
  itemType: 'episode',
  itemId: `item-${id}`,
  vector: new Uint8Array(Float32Array.from(vector).buffer),
});

const cosine = (a: number[], b: number[]) => {
  const dot = a.reduce((s, x, i) => s + x * (b[i] as number), 0);
  return dot / Math.sqrt(a.reduce((s, x) => s + x * x, 0) * b.reduce((s, x) => s + x * x, 0));
};

describe('VectorCache', () => {
  it('a vector is found only at the version and creation time it was cached with', () => {
    const cache = new VectorCache(1 << 20);
    cache.add(row(7, [3, 4]));
    expect(cache.get(7, 1, 1_000)?.unit).toEqual(Float32Array.from([0.6, 0.8]));
    expect(cache.get(7, 2, 1_000)).toBeUndefined(); // updated since
    expect(cache.get(7, 1, 1_001)).toBeUndefined(); // the id taken again by a newer row
    expect(cache.get(8, 1, 1_000)).toBeUndefined();
    cache.add(row(7, [0, 2], 2));
    expect(cache.get(7, 2, 1_000)?.unit).toEqual(Float32Array.from([0, 1]));
    expect(cache.size).toBe(1);
  });

  it('a blob at an odd offset is copied, not viewed', () => {
    const cache = new VectorCache(1 << 20);
    const bytes = new Uint8Array(9);
    bytes.set(new Uint8Array(Float32Array.from([1, 0]).buffer), 1);
    expect(cache.add({ ...row(1, []), vector: bytes.subarray(1) }).unit).toEqual(Float32Array.from([1, 0]));
  });

  it('is cleared when a vector would pass the budget; fits says whether a search can be held at all', () => {
    const perVector = 384 * 4 + 200 + 2 * 'item-0'.length;
    const cache = new VectorCache(3 * perVector);
    for (let id = 0; id < 3; id++)
      cache.add(
        row(
          id,
          Array.from({ length: 384 }, () => 1),
        ),
      );
    expect(cache.size).toBe(3);
    cache.add(
      row(
        3,
        Array.from({ length: 384 }, () => 1),
      ),
    );
    expect(cache.size).toBe(1);
    expect(cache.get(3, 1, 1_000)).toBeDefined();
    expect(cache.fits(2, 384)).toBe(true);
    expect(cache.fits(4, 384)).toBe(false);
    expect(new VectorCache(0).fits(1, 1)).toBe(false);
  });

  it('a vector with no usable norm has no unit vector (libSQL gives it no distance either)', () => {
    const cache = new VectorCache(1 << 20);
    expect(cache.add(row(1, [0, 0])).unit).toBeNull();
    expect(cache.add(row(2, [3e38, 3e38])).unit).toBeNull(); // its sum of squares overflows float32
    expect(unitQuery([0, 0])).toBeNull();
  });
});

describe('NearestK', () => {
  it('keeps the k nearest, best first, ties by row id, with the cosine distance', () => {
    const cache = new VectorCache(1 << 20);
    const query = [1, 2, 3];
    const vectors = [
      [1, 2, 3.1],
      [-1, 0, 2],
      [3, 2, 1],
      [1, 2, 3.1], // the same as the first: a tie, the smaller id first
      [0, 0, 1],
      [2, 4, 6],
    ];
    const nearest = new NearestK(unitQuery(query) as Float64Array, 4);
    vectors.forEach((v, i) => {
      nearest.add(100 - i, cache.add(row(100 - i, v)));
    });
    const expected = vectors
      .map((v, i) => ({ id: 100 - i, distance: 1 - cosine(query, v) }))
      .sort((a, b) => a.distance - b.distance || a.id - b.id)
      .slice(0, 4);
    const best = nearest.best();
    expect(best.map((s) => s.id)).toEqual(expected.map((e) => e.id));
    best.forEach((s, i) => {
      expect(s.distance).toBeCloseTo(expected[i]?.distance as number, 6);
    });
    expect(best[0]?.id).toBe(95); // [2, 4, 6]: the query's own direction
    expect(best.slice(1, 3).map((s) => s.id)).toEqual([97, 100]);
  });

  it('skips vectors with no norm and never holds more than k', () => {
    const cache = new VectorCache(1 << 20);
    const nearest = new NearestK(unitQuery([1, 0]) as Float64Array, 2);
    nearest.add(1, cache.add(row(1, [0, 0])));
    expect(nearest.best()).toEqual([]);
    for (let id = 2; id < 50; id++) nearest.add(id, cache.add(row(id, [1, id])));
    expect(nearest.best().map((s) => s.id)).toEqual([2, 3]);
  });

  it('scores odd dimensions (the four-way sum has a tail)', () => {
    const cache = new VectorCache(1 << 20);
    const query = [1, -2, 3, 0.5, 7];
    const v = [2, 1, -1, 4, 0.25];
    const nearest = new NearestK(unitQuery(query) as Float64Array, 1);
    nearest.add(1, cache.add(row(1, v)));
    expect(nearest.best()[0]?.distance).toBeCloseTo(1 - cosine(query, v), 6);
  });
});
