import type { ApplicationCreate, PatternListQuery, PatternRecord } from '../domain/pattern.js';
import type { Suggestion, SuggestionQuery } from '../domain/suggestions.js';
import type { EncodedRecord, Page, WriteClaim, Written } from './types.js';

/** A pattern to create: the record, and its create request's fingerprint (empty for a server-made id). */
export interface NewPattern {
  record: PatternRecord;
  bodyHash: string;
}

/** A change of a pattern's own fields, computed from `expectedVersion`. */
export interface PatternChange {
  record: PatternRecord;
  expectedVersion: number;
}

/** A create met an existing id: the caller compares bodies (same → the stored record, else a conflict). */
export class PatternIdTaken extends Error {
  constructor(readonly id: string) {
    super(`pattern ${id} exists`);
  }
}

/**
 * Patterns (SPEC §3.3). Every write is one transaction that starts with its claim (see WriteClaim), so every
 * write is safe to retry.
 */
export interface PatternRepository {
  /**
   * Creates the pattern with its tags. Atomicity: one transaction. Retry: safe. Concurrency: an id that
   * exists or is created concurrently fails with PatternIdTaken. Answers the record.
   */
  create(tenant: string, pattern: NewPattern, claim: WriteClaim): Promise<Written<PatternRecord>>;
  /** One pattern, or null. Atomicity: one read. Retry: safe. */
  get(tenant: string, id: string): Promise<EncodedRecord | null>;
  /** The fingerprint its create request had (empty for a server-made id), or null. One read; safe to retry. */
  bodyHash(tenant: string, id: string): Promise<string | null>;
  /**
   * One keyset page of the filtered list, within the page budget. Atomicity: one read. Retry: safe.
   * Concurrency: a cursor stays valid while rows are inserted (no duplicates, no skipped older rows); under
   * `effectiveness_desc` a pattern applied meanwhile moves, and may show again or not at all.
   */
  list(tenant: string, query: PatternListQuery): Promise<Page<EncodedRecord>>;
  /**
   * Replaces the pattern's own fields (and tags); the counters stay. Atomicity: one transaction, guarded:
   * PatternNotFound, VersionMismatch when the version moved. Retry: safe. Answers the new record.
   */
  update(tenant: string, change: PatternChange, claim: WriteClaim): Promise<Written<PatternRecord>>;
  /**
   * Deletes the pattern with its tags, applications and embeddings. Atomicity: one transaction, guarded:
   * PatternNotFound, VersionMismatch when `expectedVersion` is given and moved. Retry: safe.
   */
  delete(
    tenant: string,
    id: string,
    expectedVersion: number | undefined,
    claim: WriteClaim,
  ): Promise<Written<null>>;
  /**
   * Records one application: times_applied, success/failure_when_applied, the running mean of
   * avg_reward_delta, last_used, the effectiveness score and the version move in ONE statement, so
   * concurrent applications never lose a count. Atomicity: one transaction (with the application's row),
   * guarded: PatternNotFound. Retry: safe (a retry answers the record as the first attempt left it).
   */
  apply(
    tenant: string,
    id: string,
    application: ApplicationCreate,
    at: string,
    claim: WriteClaim,
  ): Promise<Written<PatternRecord>>;
  /**
   * Adds retrieval counts (pattern id → times returned). Ids that no longer exist are skipped. Atomicity:
   * one statement. Retry: safe. Neither the version nor updated_at moves.
   */
  addRetrievals(
    tenant: string,
    counts: ReadonlyMap<string, number>,
    claim: WriteClaim,
  ): Promise<Written<null>>;
  /**
   * Candidate patterns mined in SQL from the steps of completed episodes (see SuggestionQuery), most
   * supported first. Atomicity: one read. Retry: safe. A heavy read: off the event loop, under the deadline.
   */
  suggestions(tenant: string, query: SuggestionQuery): Promise<Suggestion[]>;
}
