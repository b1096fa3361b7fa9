import type { ItemType } from '../../domain/embedding.js';

// The vectors an exact similarity search scores, held in memory.
//
// Why: an exact search over a filter's 5,000 matching vectors spent ~10 ms in SQL at 100k × 384-d, about
// half of it reading 1.6 KB rows and half in `vector_distance_cos` (which parses both vectors on every
// call). Found by id from a covering index (~3 ms) and scored here as dot products of unit vectors (~2 ms),
// the same search costs about half (bench/RESULTS.md).
//
// Never stale: an entry is used only for the row id, version and created_at the search's own read found. An
// update of a vector bumps its version; a deleted vector's id is taken again only by a row inserted later
// (SQLite gives the next row max(id) + 1), so a different vector under the same id and version 1 would have
// to be created in the same millisecond as the cached one, deleted, and replaced, all between two reads.
// Bounded: cleared when a new entry would pass the budget (a search that needs more than the whole budget
// is scanned in SQL instead: `fits`).

/** A stored vector as a search scores it. */
export interface CachedVector {
  itemType: ItemType;
  itemId: string;
  /** The vector scaled to unit length; null when it has no usable norm (libSQL's distance is NULL too). */
  unit: Float32Array | null;
}

/** A vector row as read for the cache. */
export interface VectorRow {
  id: number;
  version: number;
  createdAt: number;
  itemType: ItemType;
  itemId: string;
  vector: Uint8Array;
}

interface Entry extends CachedVector {
  version: number;
  createdAt: number;
  /** Bytes it holds, about. */
  size: number;
}

/** Bytes of an entry besides its floats: the Map slot, the objects and the item id (an estimate). */
const ENTRY_OVERHEAD = 200;
/** The largest sum of squares float32 holds: libSQL's cosine distance is NULL beyond it. */
const F32_MAX = 3.4028234663852886e38;

export class VectorCache {
  private readonly entries = new Map<number, Entry>();
  private bytes = 0;

  constructor(private readonly budgetBytes: number) {}

  /** Whether `count` vectors of `dimension` fit the budget at all. */
  fits(count: number, dimension: number): boolean {
    return count * (dimension * 4 + ENTRY_OVERHEAD) <= this.budgetBytes;
  }

  /** The vector of row `id` if the cache holds it at this version; else undefined. */
  get(id: number, version: number, createdAt: number): CachedVector | undefined {
    const entry = this.entries.get(id);
    return entry && entry.version === version && entry.createdAt === createdAt ? entry : undefined;
  }

  add(row: VectorRow): CachedVector {
    const floats = new Float32Array(row.vector.byteLength / 4);
    new Uint8Array(floats.buffer).set(row.vector); // a copy: the blob's offset may not be 4-byte aligned
    const size = floats.byteLength + ENTRY_OVERHEAD + row.itemId.length * 2;
    this.bytes -= this.entries.get(row.id)?.size ?? 0;
    if (this.bytes + size > this.budgetBytes) this.clear();
    const entry: Entry = {
      version: row.version,
      createdAt: row.createdAt,
      itemType: row.itemType,
      itemId: row.itemId,
      unit: toUnit(floats),
      size,
    };
    this.entries.set(row.id, entry);
    this.bytes += size;
    return entry;
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}

/** `v` scaled in place to unit length, or null when its norm is 0 or beyond float32 (as libSQL computes it). */
function toUnit(v: Float32Array): Float32Array | null {
  let squares = 0;
  for (let i = 0; i < v.length; i++) squares += (v[i] as number) * (v[i] as number);
  if (squares === 0 || squares > F32_MAX) return null;
  const scale = 1 / Math.sqrt(squares);
  for (let i = 0; i < v.length; i++) v[i] = (v[i] as number) * scale;
  return v;
}

/** A query vector as `Nearest.add` scores it: unit length, in float64. */
export function unitQuery(vector: readonly number[]): Float64Array | null {
  const v = Float64Array.from(vector, (x) => Math.fround(x));
  let squares = 0;
  for (const x of v) squares += x * x;
  if (squares === 0 || squares > F32_MAX) return null;
  const scale = 1 / Math.sqrt(squares);
  for (let i = 0; i < v.length; i++) v[i] = (v[i] as number) * scale;
  return v;
}

/** One scored vector: cosine distance (1 − similarity), ties broken by row id as the SQL statements do. */
export interface Scored {
  id: number;
  distance: number;
  vector: CachedVector;
}

/**
 * The k nearest of the vectors added, best first: a sorted list of at most k, into which a vector goes only
 * when it beats the worst kept (a few dozen insertions for 5,000 vectors and k = 10).
 */
export class NearestK {
  private readonly kept: Scored[] = [];

  constructor(
    private readonly query: Float64Array,
    private readonly k: number,
  ) {}

  add(id: number, vector: CachedVector): void {
    const unit = vector.unit;
    if (!unit) return;
    const distance = 1 - dot(unit, this.query);
    const kept = this.kept;
    const worst = kept[kept.length - 1];
    if (kept.length === this.k && worst && !before(distance, id, worst)) return;
    let at = kept.length;
    while (at > 0 && before(distance, id, kept[at - 1] as Scored)) at--;
    kept.splice(at, 0, { id, distance, vector });
    if (kept.length > this.k) kept.pop();
  }

  best(): Scored[] {
    return this.kept;
  }
}

const before = (distance: number, id: number, other: Scored) =>
  distance < other.distance || (distance === other.distance && id < other.id);

/** Four running sums: independent additions the CPU overlaps (about twice as fast as one at 384-d). */
function dot(a: Float32Array, b: Float64Array): number {
  const n = a.length;
  const tail = n % 4;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i < n - tail; i += 4) {
    s0 += (a[i] as number) * (b[i] as number);
    s1 += (a[i + 1] as number) * (b[i + 1] as number);
    s2 += (a[i + 2] as number) * (b[i + 2] as number);
    s3 += (a[i + 3] as number) * (b[i + 3] as number);
  }
  for (; i < n; i++) s0 += (a[i] as number) * (b[i] as number);
  return s0 + s1 + s2 + s3;
}
