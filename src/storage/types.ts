// Storage types every resource shares. Repository interfaces live next to these, one file per resource.

/** A page of a keyset-paginated list (SPEC §2). */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/**
 * A record as its JSON text, straight from its row: reads answer with it as is, so a GET neither parses the
 * stored body nor serialises it again. `JSON.parse(json)` is the record.
 */
export interface Encoded {
  json: string;
}

/** An encoded record that has an id and a version (its ETag). */
export interface EncodedRecord extends Encoded {
  id: string;
  version: number;
}

/** A change was computed from a version that is no longer current: another writer moved it on. */
export class VersionMismatch extends Error {
  constructor(readonly id: string) {
    super(`record ${id} has moved to another version`);
  }
}

/**
 * The claim every write transaction starts with (a row of `idempotency_keys`): the client's Idempotency-Key,
 * kept 24 h for replays, or an internal write id that only this write's own retries carry. A claim that is
 * already there means this write (or, for a client key, one with the same key) has committed.
 */
export interface WriteClaim {
  key: string;
  /** True for a client's Idempotency-Key: the result is kept for replays and the request is compared. */
  client: boolean;
  /** What the request must match to be a replay: its fingerprint, and the same under older rules. */
  fingerprints: readonly string[];
}

/** What a write answers: its result, and whether it was replayed from an earlier request. */
export interface Written<T> {
  value: T;
  replayed: boolean;
}

/** A claim as stored: what a replay compares and answers. */
export interface StoredClaim {
  fingerprint: string;
  /** The write's result as JSON text, or null for an internal claim of a result known beforehand. */
  result: string | null;
}

/** Write claims outside any write: the replay lookup and housekeeping. */
export interface WriteClaimRepository {
  /**
   * The live claim under a client key, from a plain read (a replica may not have it yet; the write's own
   * claim then decides). Atomicity: one read. Safe to retry.
   */
  find(tenant: string, key: string): Promise<StoredClaim | null>;
  /**
   * Deletes expired claims in bounded batches; returns how many. Safe to retry and to run on several
   * instances at once (each batch deletes what is expired when it runs).
   */
  prune(): Promise<number>;
}
