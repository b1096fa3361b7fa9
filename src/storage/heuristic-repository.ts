import type { HeuristicListQuery, HeuristicRecord } from '../domain/pattern.js';
import type { EncodedRecord, Page, WriteClaim, Written } from './types.js';

export interface NewHeuristic {
  record: HeuristicRecord;
  bodyHash: string;
}

/** A create met an existing id: the caller compares bodies (same → the stored record, else a conflict). */
export class HeuristicIdTaken extends Error {
  constructor(readonly id: string) {
    super(`heuristic ${id} exists`);
  }
}

/** Heuristics (SPEC §3.3). Every write is one claimed transaction, safe to retry. */
export interface HeuristicRepository {
  /** Creates it. Atomicity: one transaction. Retry: safe. Concurrency: an existing id is HeuristicIdTaken. */
  create(tenant: string, heuristic: NewHeuristic, claim: WriteClaim): Promise<Written<HeuristicRecord>>;
  /** One heuristic, or null. One read; safe to retry. */
  get(tenant: string, id: string): Promise<EncodedRecord | null>;
  /** The fingerprint its create request had, or null. One read; safe to retry. */
  bodyHash(tenant: string, id: string): Promise<string | null>;
  /** A keyset page by confidence (highest first), within the page budget. One read; safe to retry. */
  list(tenant: string, query: HeuristicListQuery): Promise<Page<EncodedRecord>>;
  /**
   * Replaces it. Atomicity: one transaction, guarded: HeuristicNotFound, VersionMismatch. Retry: safe.
   */
  update(
    tenant: string,
    change: { record: HeuristicRecord; expectedVersion: number },
    claim: WriteClaim,
  ): Promise<Written<HeuristicRecord>>;
  /**
   * Deletes it with its embeddings. Atomicity: one transaction, guarded: HeuristicNotFound, VersionMismatch
   * when `expectedVersion` is given and moved. Retry: safe.
   */
  delete(
    tenant: string,
    id: string,
    expectedVersion: number | undefined,
    claim: WriteClaim,
  ): Promise<Written<null>>;
}
