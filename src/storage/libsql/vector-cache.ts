import type { ItemType } from '../../domain/embedding.js';
import { MAX_EMBEDDING_DIMENSION } from '../../domain/limits.js';
import { type Dot, simdDot } from './simd-dot.js';

// The vectors an exact similarity search scores, held in memory.
//
// Why: an exact search over a filter's 5,000 matching vectors spent ~10 ms in SQL at 100k × 384-d, about
// half of it reading 1.6 KB rows and half in `vector_distance_cos` (which parses both vectors on every
// call). Found by id from a covering index (~3.5 ms) and scored here with SIMD (~1.3 ms), the same search
// costs about half (bench/RESULTS.md).
//
// Never stale: an entry is used only for the row id and version the search's own read found (and its
// created_at). An update of a vector bumps its version, and a deleted vector's id is never given again
// (migration 12), so an id and version name one vector for good.
//
// Layout: unit vectors (float32, padded with zeros to a multiple of 4) one after another in a WebAssembly
// memory, after one slot for the query; a bump allocator, cleared whole when the budget is spent (a search
// that needs more than the whole budget is scanned in SQL instead: `fits`). A slot is valid until the next
// `add`, which is why a search scores each vector as soon as it has it.

/** A stored vector as a search scores it. */
export interface CachedVector {
  itemType: ItemType;
  itemId: string;
  /** Byte offset of its unit vector in the arena; -1 when it has no usable norm (libSQL's distance is NULL). */
  slot: number;
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
}

/** Bytes of an entry besides its floats: the Map slot, the objects and the item id (an estimate). */
const ENTRY_OVERHEAD = 200;
/** The largest sum of squares float32 holds: libSQL's cosine distance is NULL beyond it. */
const F32_MAX = 3.4028234663852886e38;
const PAGE_BYTES = 65_536;
/** The query's slot, at offset 0: room for the largest dimension. */
const QUERY_BYTES = MAX_EMBEDDING_DIMENSION * 4;

const padded = (dimension: number) => Math.ceil(dimension / 4) * 4;

export class VectorCache {
  private readonly entries = new Map<number, Entry>();
  /** The arena, made with the first vector (a memory reserves address space: most processes never score). */
  private arena: { memory: WebAssembly.Memory; maxPages: number; dot: Dot; floats: Float32Array } | undefined;
  /** Where the next slot goes. */
  private next = QUERY_BYTES;
  /** Bytes spent since the last clear: slots and entries. */
  private spent = 0;
  /** The query in the query slot. */
  private loaded: Float32Array | undefined;

  constructor(private readonly budgetBytes: number) {}

  /** Whether `count` vectors of `dimension` fit the budget at all. */
  fits(count: number, dimension: number): boolean {
    return count <= this.capacity(dimension);
  }

  /** How many vectors of `dimension` the budget holds. */
  capacity(dimension: number): number {
    return Math.floor(this.budgetBytes / (padded(dimension) * 4 + ENTRY_OVERHEAD));
  }

  /** The vector of row `id` if the cache holds it at this version; else undefined. */
  get(id: number, version: number, createdAt: number): CachedVector | undefined {
    const entry = this.entries.get(id);
    return entry && entry.version === version && entry.createdAt === createdAt ? entry : undefined;
  }

  add(row: VectorRow): CachedVector {
    const dimension = row.vector.byteLength / 4;
    const bytes = padded(dimension) * 4;
    if (this.spent + bytes + ENTRY_OVERHEAD > this.budgetBytes) this.clear();
    this.spent += bytes + ENTRY_OVERHEAD;
    const slot = this.slotFor(bytes);
    const floats = this.memory().floats;
    // Copied as bytes into its slot (the blob's offset may not be 4-byte aligned), then scaled there.
    new Uint8Array(floats.buffer, slot, row.vector.byteLength).set(row.vector);
    const unit = toUnit(floats.subarray(slot / 4, slot / 4 + dimension));
    const entry: Entry = {
      version: row.version,
      createdAt: row.createdAt,
      itemType: row.itemType,
      itemId: row.itemId,
      slot: unit ? slot : -1,
    };
    this.entries.set(row.id, entry);
    return entry;
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
    this.next = QUERY_BYTES;
    this.spent = 0;
  }

  /** A search for the `k` nearest of `query`'s vectors; null when the query has no usable norm. */
  nearest(query: readonly number[], k: number): NearestK | null {
    const unit = new Float32Array(padded(query.length)); // zero-padded, as the slots are
    unit.set(query);
    return toUnit(unit) ? new NearestK(this, unit, query.length, k) : null;
  }

  /**
   * The float32 dot product of `query` (a padded unit vector) and the vector in `slot`. The query is copied
   * to its slot unless it is already there (searches interleave at their reads: each scores synchronously).
   */
  queryDot(query: Float32Array, slot: number): number {
    const arena = this.memory();
    if (this.loaded !== query) {
      arena.floats.set(query, 0);
      this.loaded = query;
    }
    return arena.dot(0, slot, query.length);
  }

  /** The same in float64, from the same float32 numbers. */
  exactDot(query: Float32Array, slot: number): number {
    const floats = this.memory().floats;
    const at = slot / 4;
    let sum = 0;
    for (let i = 0; i < query.length; i++) sum += (floats[at + i] as number) * (query[i] as number);
    return sum;
  }

  private memory(): NonNullable<VectorCache['arena']> {
    if (!this.arena) {
      const maxPages = Math.min(65_536, Math.ceil((QUERY_BYTES + this.budgetBytes) / PAGE_BYTES));
      const memory = new WebAssembly.Memory({
        initial: Math.ceil(QUERY_BYTES / PAGE_BYTES),
        maximum: maxPages,
      });
      this.arena = { memory, maxPages, dot: simdDot(memory), floats: new Float32Array(memory.buffer) };
    }
    return this.arena;
  }

  private slotFor(bytes: number): number {
    const arena = this.memory();
    const slot = this.next;
    this.next += bytes;
    const size = arena.memory.buffer.byteLength;
    if (this.next > size) {
      // At least doubling (a page at a time cost ~0.4 ms a grow: 160 ms to take 14,000 vectors), up to the budget.
      const pages = Math.max(Math.ceil((this.next - size) / PAGE_BYTES), size / PAGE_BYTES);
      arena.memory.grow(Math.min(pages, arena.maxPages - size / PAGE_BYTES));
      arena.floats = new Float32Array(arena.memory.buffer); // growing detaches the old buffer
    }
    arena.floats.fill(0, slot / 4, this.next / 4);
    return slot;
  }
}

/** Scales `v` in place to unit length; false (and `v` unchanged) when its norm is 0 or beyond float32 (as libSQL computes it). */
function toUnit(v: Float32Array): boolean {
  let squares = 0;
  for (let i = 0; i < v.length; i++) squares += (v[i] as number) * (v[i] as number);
  if (squares === 0 || squares > F32_MAX) return false;
  const scale = 1 / Math.sqrt(squares);
  for (let i = 0; i < v.length; i++) v[i] = (v[i] as number) * scale;
  return true;
}

/** One scored vector: cosine distance (1 − similarity), ties broken by row id as the SQL statements do. */
export interface Scored {
  id: number;
  distance: number;
  vector: CachedVector;
}

/**
 * The k nearest of the vectors added, best first. Each vector is scored in float32 with SIMD; one that may
 * beat the worst kept (within float32's error) is scored again in float64 and ranked by that, so the k are
 * the float64 ranking's. A sorted list of at most k: a few dozen insertions for 5,000 vectors and k = 10.
 */
export class NearestK {
  private readonly kept: Scored[] = [];
  /**
   * How far a float32 dot product of unit vectors can be from the float64 one: each of its n products and
   * sums rounds by at most 2^-24 of at most the sum of |a_i b_i| ≤ 1 (doubled for margin).
   */
  private readonly slack: number;

  constructor(
    private readonly cache: VectorCache,
    private readonly query: Float32Array,
    dimension: number,
    private readonly k: number,
  ) {
    this.slack = (padded(dimension) + 2) * 2 ** -23;
  }

  add(id: number, vector: CachedVector): void {
    if (vector.slot < 0) return;
    const kept = this.kept;
    const worst = kept.length === this.k ? kept[kept.length - 1] : undefined;
    if (worst && 1 - this.cache.queryDot(this.query, vector.slot) > worst.distance + this.slack) return;
    const distance = 1 - this.cache.exactDot(this.query, vector.slot);
    if (worst && !before(distance, id, worst)) return;
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
