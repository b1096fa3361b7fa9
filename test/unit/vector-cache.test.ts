import { describe, expect, it } from 'vitest';
import { simdDot } from '../../src/storage/libsql/simd-dot.js';
import { type NearestK, VectorCache, type VectorRow } from '../../src/storage/libsql/vector-cache.js';

// The in-memory side of an exact similarity search: a cached vector is used only at the version and creation
// time the search's read found, the budget bounds it, and the k nearest come out best first with ties by id,
// as the SQL statements order them, with float64 cosine distances.

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

/** The k nearest of `vectors` (ids 1..n) to `query`, scored by `cache`. */
function nearest(cache: VectorCache, query: number[], vectors: number[][], k: number): NearestK {
  const search = cache.nearest(query, k);
  if (!search) throw new Error('the query has no norm');
  vectors.forEach((v, i) => {
    search.add(i + 1, cache.add(row(i + 1, v)));
  });
  return search;
}

describe('simdDot', () => {
  it('the float32 dot product of two zero-padded vectors in a memory, at any multiple of 4 floats', () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const floats = new Float32Array(memory.buffer);
    const dot = simdDot(memory);
    for (const n of [4, 8, 384, 1024]) {
      const a = Array.from({ length: n }, (_, i) => Math.sin(i + n));
      const b = Array.from({ length: n }, (_, i) => Math.cos(3 * i));
      floats.set(a, 0);
      floats.set(b, 4096);
      const expected = a.reduce((s, x, i) => s + Math.fround(x) * Math.fround(b[i] as number), 0);
      expect(dot(0, 4096 * 4, n)).toBeCloseTo(expected, 3);
    }
    expect(dot(0, 4096 * 4, 0)).toBe(0);
  });
});

describe('VectorCache', () => {
  it('a vector is found only at the version and creation time it was cached with', () => {
    const cache = new VectorCache(1 << 20);
    cache.add(row(7, [3, 4]));
    expect(cache.get(7, 1, 1_000)).toMatchObject({ itemType: 'episode', itemId: 'item-7' });
    expect(cache.get(7, 2, 1_000)).toBeUndefined(); // updated since
    expect(cache.get(7, 1, 1_001)).toBeUndefined(); // the id taken again by a newer row
    expect(cache.get(8, 1, 1_000)).toBeUndefined();
    cache.add(row(7, [0, 2], 2));
    const search = cache.nearest([0, 1], 1) as NearestK;
    search.add(7, cache.get(7, 2, 1_000) as NonNullable<ReturnType<VectorCache['get']>>);
    expect(search.best()[0]?.distance).toBeCloseTo(0, 12); // the new vector, not [3, 4]
    expect(cache.size).toBe(1);
  });

  it('a blob at an odd offset is copied, not viewed', () => {
    const cache = new VectorCache(1 << 20);
    const bytes = new Uint8Array(9);
    bytes.set(new Uint8Array(Float32Array.from([1, 0]).buffer), 1);
    const search = cache.nearest([1, 0], 1) as NearestK;
    search.add(1, cache.add({ ...row(1, []), vector: bytes.subarray(1) }));
    expect(search.best()[0]?.distance).toBeCloseTo(0, 12);
  });

  it('is cleared when a vector would pass the budget; fits says whether a search can be held at all', () => {
    const cache = new VectorCache(3 * (384 * 4 + 200));
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
    expect(cache.capacity(384)).toBe(3);
    expect(cache.fits(3, 384)).toBe(true);
    expect(cache.fits(4, 384)).toBe(false);
    expect(new VectorCache(0).fits(1, 1)).toBe(false);
  });

  it('grows its memory as vectors arrive, keeping the ones it holds', () => {
    const cache = new VectorCache(64 << 20);
    const vectors = Array.from({ length: 3_000 }, (_, i) =>
      Array.from({ length: 64 }, (_, j) => Math.sin(i * 64 + j)),
    );
    const search = nearest(cache, vectors[2_999] as number[], vectors, 3); // 3,000 × 256 B: past the first pages
    expect(search.best()[0]).toMatchObject({ id: 3_000, distance: expect.closeTo(0, 7) });
    const again = cache.nearest(vectors[0] as number[], 1) as NearestK;
    again.add(1, cache.get(1, 1, 1_000) as NonNullable<ReturnType<VectorCache['get']>>);
    expect(again.best()[0]?.distance).toBeCloseTo(0, 7);
  });

  it('a vector with no usable norm is never a result (libSQL gives it no distance either)', () => {
    const cache = new VectorCache(1 << 20);
    const search = nearest(
      cache,
      [1, 1],
      [
        [0, 0],
        [3e38, 3e38],
      ],
      2,
    ); // the second's sum of squares overflows float32
    expect(search.best()).toEqual([]);
    expect(cache.nearest([0, 0], 1)).toBeNull();
  });
});

describe('NearestK', () => {
  it('keeps the k nearest, best first, ties by row id, with the float64 cosine distance', () => {
    const query = [1, 2, 3];
    const vectors = [
      [1, 2, 3.1],
      [-1, 0, 2],
      [3, 2, 1],
      [1, 2, 3.1], // the same as the first: a tie, the smaller id first
      [0, 0, 1],
      [2, 4, 6],
    ];
    const best = nearest(new VectorCache(1 << 20), query, vectors, 4).best();
    const expected = vectors
      .map((v, i) => ({ id: i + 1, distance: 1 - cosine(query, v) }))
      .sort((a, b) => a.distance - b.distance || a.id - b.id)
      .slice(0, 4);
    expect(best.map((s) => s.id)).toEqual(expected.map((e) => e.id));
    best.forEach((s, i) => {
      expect(s.distance).toBeCloseTo(expected[i]?.distance as number, 7);
    });
    expect(best.map((s) => s.id).slice(0, 3)).toEqual([6, 1, 4]);
  });

  it('never holds more than k; the float32 pre-score never drops one the float64 ranking keeps', () => {
    // 2,000 vectors of 384-d close to the query and to each other: many differ from the k-th best by less
    // than float32's rounding, which only the float64 scores tell apart.
    const dim = 384;
    const base = Array.from({ length: dim }, (_, j) => Math.cos(j));
    const vectors = Array.from({ length: 2_000 }, (_, i) =>
      base.map((x, j) => x + 1e-4 * Math.sin(i * 7 + j)),
    );
    const query = base.map((x, j) => x + 1e-4 * Math.cos(j));
    const best = nearest(new VectorCache(16 << 20), query, vectors, 10).best();
    const f32 = (v: number[]) => Array.from(Float32Array.from(v));
    const unit = (v: number[]) => {
      const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      return f32(v.map((x) => x / norm));
    };
    const q = unit(f32(query));
    const expected = vectors
      .map((v, i) => ({
        id: i + 1,
        distance: 1 - unit(f32(v)).reduce((s, x, j) => s + x * (q[j] as number), 0),
      }))
      .sort((a, b) => a.distance - b.distance || a.id - b.id)
      .slice(0, 10);
    expect(best.map((s) => s.id)).toEqual(expected.map((e) => e.id));
  });

  it('scores odd dimensions (the slots are padded with zeros)', () => {
    const query = [1, -2, 3, 0.5, 7];
    const v = [2, 1, -1, 4, 0.25];
    const best = nearest(new VectorCache(1 << 20), query, [v], 1).best();
    expect(best[0]?.distance).toBeCloseTo(1 - cosine(query, v), 6);
  });

  it('two searches interleaved on one cache: each scores against its own query', () => {
    const cache = new VectorCache(1 << 20);
    const first = cache.nearest([1, 0], 1) as NearestK;
    const second = cache.nearest([0, 1], 1) as NearestK;
    const x = cache.add(row(1, [1, 0]));
    const y = cache.add(row(2, [0, 1]));
    first.add(2, y);
    second.add(2, y);
    first.add(1, x);
    second.add(1, x);
    expect(first.best().map((s) => s.id)).toEqual([1]);
    expect(second.best().map((s) => s.id)).toEqual([2]);
  });
});
