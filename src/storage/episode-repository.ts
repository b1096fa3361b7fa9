import type { EpisodeRecord } from '../domain/episode.js';
import type { EpisodeListQuery } from '../domain/episode-list.js';
import type { StepRecord } from '../domain/step.js';
import type { EncodedRecord, Page, WriteClaim, Written } from './types.js';

/** Everything one episode create writes, atomically. */
export interface NewEpisode {
  record: EpisodeRecord;
  steps: StepRecord[];
  /** Fingerprint of the create request, for the same-id check (empty for a server-made id). */
  bodyHash: string;
  embedding?: { model: string; vector: number[] } | undefined;
}

export interface EpisodeChange {
  record: EpisodeRecord;
  /** The version the change was computed from; the write fails with VersionMismatch if it moved. */
  expectedVersion: number;
  /** Completing an episode also requires that it was still in progress. */
  mustBeInProgress?: boolean;
}

export interface DeletionReport {
  episodes: number;
  steps: number;
  tags: number;
  embeddings: number;
  spatiotemporal_entries: number;
}

/** A create met an existing id: the caller compares bodies (same → the stored record, else a conflict). */
export class EpisodeIdTaken extends Error {
  constructor(readonly id: string) {
    super(`episode ${id} exists`);
  }
}

/**
 * Episodes (SPEC §3.1). Every write is one transaction that starts with its claim (see WriteClaim), so
 * every write is safe to retry: a retry of a committed write answers what the first attempt stored.
 */
export interface EpisodeRepository {
  /**
   * Creates the episodes with everything they carry: steps, tags, full text, location, embedding.
   * Atomicity: one transaction for all of them (a batch is all or none). Retry: safe.
   * Concurrency: an id that exists or is created concurrently fails the whole write with
   * EpisodeIdTaken(id); an embedding of another dimension than its model's, EmbeddingDimensionMismatch.
   * Answers `result` (remembered under a client key).
   */
  create<T>(tenant: string, episodes: NewEpisode[], claim: WriteClaim, result: T): Promise<Written<T>>;
  /** One episode, or null. Atomicity: one read. Retry: safe. Concurrency: sees every committed write. */
  get(tenant: string, id: string): Promise<EncodedRecord | null>;
  /**
   * One episode with its steps in number order, or null; ResponseTooLarge when its steps exceed a page's
   * budget. Atomicity: two reads, so steps appended in between may show. Retry: safe.
   */
  getWithSteps(tenant: string, id: string): Promise<EncodedRecord | null>;
  /** The fingerprint its create request had (empty for a server-made id), or null. One read; safe to retry. */
  bodyHash(tenant: string, id: string): Promise<string | null>;
  /**
   * One keyset page of the filtered list, within the page budget (bytes, and embedded steps for
   * `include=steps`): a page ends early, with a cursor, rather than grow past it. Atomicity: one read (two
   * with steps). Retry: safe. Concurrency: a cursor stays valid while rows are inserted concurrently (no
   * duplicates, no skipped older rows).
   */
  list(tenant: string, query: EpisodeListQuery): Promise<Page<EncodedRecord>>;
  /**
   * Replaces the episode with `change.record` (its tags, full text and location with it).
   * Atomicity: one transaction, guarded: EpisodeNotFound, VersionMismatch when the version moved since
   * the change was computed (optimistic concurrency: of concurrent changes from one version, one wins),
   * EpisodeAlreadyCompleted for `mustBeInProgress`. Retry: safe. Answers the new record.
   */
  update(tenant: string, change: EpisodeChange, claim: WriteClaim): Promise<Written<EpisodeRecord>>;
  /**
   * Deletes the episode with its steps, tags, embeddings and spatiotemporal entries; answers what it
   * deleted (counted in the same transaction). Atomicity: one transaction, guarded: EpisodeNotFound,
   * VersionMismatch when `expectedVersion` is given and moved. Retry: safe (a retry answers the counts of
   * the delete that committed, never a 404).
   */
  delete(
    tenant: string,
    id: string,
    expectedVersion: number | undefined,
    claim: WriteClaim,
  ): Promise<Written<DeletionReport>>;
}
