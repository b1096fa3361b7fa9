import type { AppendedSteps, GlobalStepListQuery, StepRecord } from '../domain/step.js';
import type { Encoded, Page, WriteClaim, Written } from './types.js';

export interface StepAppend {
  /** Either every step has its number, or none has: then they get the next free ones, in order. */
  steps: StepRecord[];
  autoNumber: boolean;
  /** Refuse to append to a completed episode. */
  strict: boolean;
  /** The request sent one step rather than `{ "steps": [...] }`: the answer has the same form. */
  single: boolean;
}

/** Steps (SPEC §3.2): rows of their own, numbered within their episode. */
export interface StepRepository {
  /**
   * Appends the steps (and their locations) and bumps the episode's step count and version.
   * Atomicity: one transaction, guarded: EpisodeNotFound, StepLimitExceeded (1,000 per episode),
   * EpisodeCompleted when `strict`, StepNumbersExhausted when auto-numbering would pass the highest
   * number; StepNumberConflict when a given number is taken. Concurrency: concurrent auto-numbered appends
   * get distinct consecutive numbers (writes are serialised; each takes the highest + 1 inside its
   * transaction). Retry: safe — the numbers are computed and remembered in the transaction, so a retry
   * answers the numbers the first attempt stored.
   */
  append(
    tenant: string,
    episodeId: string,
    append: StepAppend,
    claim: WriteClaim,
  ): Promise<Written<AppendedSteps>>;
  /** One step as JSON text, or null. Atomicity: one read. Retry: safe. */
  get(tenant: string, episodeId: string, stepNumber: number): Promise<Encoded | null>;
  /**
   * A keyset page of the episode's steps by number, within the page budget. Atomicity: one read. Retry:
   * safe. Concurrency: steps appended meanwhile appear on later pages, none twice.
   */
  listForEpisode(tenant: string, episodeId: string, limit: number, cursor?: string): Promise<Page<Encoded>>;
  /**
   * A keyset page of steps across episodes, newest first, filtered, within the page budget. Atomicity: one
   * read. Retry: safe. Concurrency: no step twice; a step stamped older than the cursor after the page was
   * read is not seen by this walk.
   */
  list(tenant: string, query: GlobalStepListQuery): Promise<Page<Encoded>>;
}
