import type { EpisodeListQuery, EpisodeRecord } from '../domain/episode.js';
import type { GlobalStepListQuery, StepRecord } from '../domain/step.js';

/** A response remembered under an Idempotency-Key, written in the same transaction as the change itself. */
export interface IdempotentResponse {
  key: string;
  fingerprint: string;
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Everything one episode create writes, atomically. */
export interface NewEpisode {
  record: EpisodeRecord;
  steps: StepRecord[];
  bodyHash: string;
  embedding?: { model: string; vector: number[] } | undefined;
}

export interface EpisodeChange {
  record: EpisodeRecord;
  /** The version the change was computed from; the write fails with PreconditionFailed if it moved. */
  expectedVersion: number;
  /** Completing an episode also asserts it was still in progress. */
  mustBeInProgress?: boolean;
}

/**
 * An episode as its JSON text, straight from its row: reads answer with it as is, so a GET neither parses
 * the stored body nor serialises it again. `JSON.parse(json)` is the EpisodeRecord.
 */
export interface EncodedEpisode {
  id: string;
  version: number;
  json: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface DeletionReport {
  episodes: number;
  steps: number;
  tags: number;
  embeddings: number;
  spatiotemporal_entries: number;
}

export interface StepAppend {
  /** Either every step has its number, or none has: then they get the next free ones, in order. */
  steps: StepRecord[];
  autoNumber: boolean;
  strict: boolean;
}

/**
 * With auto-numbering the numbers exist only inside the write transaction, so the remembered response
 * is a template whose `stepNumberPaths` (JSON paths the service builds, never user input) get them there.
 */
export interface IdempotentStepResponse extends IdempotentResponse {
  stepNumberPaths: string[];
}

/** Thrown when a create hits an existing id: the caller compares bodies (same → 200, else 409). */
export class EpisodeIdTaken extends Error {
  constructor(readonly id: string) {
    super(`episode ${id} exists`);
  }
}

/** Thrown when an Idempotency-Key was committed by a concurrent request first. */
export class IdempotencyKeyTaken extends Error {
  constructor() {
    super('idempotency key taken');
  }
}

export interface EpisodeRepository {
  create(tenant: string, episodes: NewEpisode[], idempotent?: IdempotentResponse): Promise<void>;
  get(tenant: string, id: string): Promise<EncodedEpisode | null>;
  bodyHash(tenant: string, id: string): Promise<string | null>;
  list(tenant: string, query: EpisodeListQuery): Promise<Page<EncodedEpisode>>;
  update(tenant: string, change: EpisodeChange, idempotent?: IdempotentResponse): Promise<void>;
  delete(tenant: string, id: string, expectedVersion?: number): Promise<DeletionReport>;
  appendSteps(
    tenant: string,
    episodeId: string,
    append: StepAppend,
    idempotent?: IdempotentStepResponse,
  ): Promise<StepRecord[]>;
  getStep(tenant: string, episodeId: string, stepNumber: number): Promise<StepRecord | null>;
  listSteps(tenant: string, episodeId: string, limit: number, cursor?: string): Promise<Page<StepRecord>>;
  listAllSteps(tenant: string, query: GlobalStepListQuery): Promise<Page<StepRecord>>;
  stepsOf(tenant: string, episodeIds: string[]): Promise<Map<string, StepRecord[]>>;
}

export interface IdempotencyRepository {
  find(tenant: string, key: string): Promise<IdempotentResponse | null>;
}
