import { v7 as uuidv7 } from 'uuid';
import { normaliseTags } from '../domain/common.js';
import { PatternIdConflict, PatternNotFound } from '../domain/errors.js';
import {
  type ApplicationCreate,
  type MergePatch,
  PatternCreate,
  type PatternListQuery,
  type PatternRecord,
} from '../domain/pattern.js';
import type { Suggestion, SuggestionQuery } from '../domain/suggestions.js';
import { PatternIdTaken, type PatternRepository } from '../storage/pattern-repository.js';
import type { EncodedRecord, Page, Written } from '../storage/types.js';
import { fingerprintOf } from './common/fingerprint.js';
import { changeOptimistically, type VersionPrecondition } from './common/optimistic.js';
import { type Created, createOnce, patchedFields } from './common/records.js';
import type { ClaimedWrites, IdempotencyKey } from './common/writes.js';
import type { RetrievalCounter } from './retrieval-counter.js';

const now = () => new Date().toISOString();

/** What the service keeps of a pattern: never written by its owner, so never patched. */
const SERVICE_FIELDS = [
  'id',
  'tenant',
  'kind',
  'effectiveness',
  'created_at',
  'updated_at',
  'version',
] as const;

/** Pattern use cases (SPEC §3.3). Knows nothing of HTTP or SQL; answers domain results. */
export class PatternService {
  constructor(
    private readonly patterns: PatternRepository,
    private readonly writes: ClaimedWrites,
    private readonly retrievals: RetrievalCounter,
  ) {}

  create(
    tenant: string,
    input: PatternCreate,
    idempotency?: IdempotencyKey,
  ): Promise<Created<PatternRecord>> {
    const at = now();
    const { id: givenId, ...fields } = input;
    const record = {
      ...fields,
      id: givenId ?? uuidv7(),
      tenant,
      tags: normaliseTags(fields.tags ?? []),
      effectiveness: {
        times_retrieved: 0,
        times_applied: 0,
        success_when_applied: 0,
        failure_when_applied: 0,
        avg_reward_delta: 0,
        last_used: null,
        score: 0,
      },
      created_at: at,
      updated_at: at,
      version: 1,
    } as PatternRecord;
    // Only a client-chosen id can be sent twice; a server id is new, so it needs no fingerprint to compare.
    const bodyHash = givenId ? fingerprintOf(input) : '';
    return createOnce({
      write: () =>
        this.writes.run(tenant, idempotency, (claim) =>
          this.patterns.create(tenant, { record, bodyHash }, claim),
        ),
      idTaken: (err) => err instanceof PatternIdTaken,
      bodyHash,
      storedBodyHash: () => this.patterns.bodyHash(tenant, record.id),
      stored: () => this.current(tenant, record.id),
      conflict: () => new PatternIdConflict(record.id),
    });
  }

  async get(tenant: string, id: string): Promise<EncodedRecord> {
    const pattern = await this.patterns.get(tenant, id);
    if (!pattern) throw new PatternNotFound(id);
    return pattern;
  }

  /** A page of the list; every pattern on it counts as retrieved (written later, in a batch). */
  async list(tenant: string, query: PatternListQuery): Promise<Page<EncodedRecord>> {
    const page = await this.patterns.list(tenant, query);
    this.retrievals.count(
      tenant,
      page.items.map((p) => p.id),
    );
    return page;
  }

  patch(
    tenant: string,
    id: string,
    patch: MergePatch,
    precondition?: VersionPrecondition,
  ): Promise<Written<PatternRecord>> {
    return this.writes.run(tenant, undefined, (claim) =>
      changeOptimistically(
        () => this.current(tenant, id),
        (current) => {
          const {
            id: _id,
            tenant: _tenant,
            effectiveness,
            created_at,
            updated_at,
            version,
            ...writable
          } = current;
          const fields = patchedFields(PatternCreate, writable, patch, SERVICE_FIELDS);
          const next = {
            ...fields,
            id,
            tenant,
            tags: normaliseTags(fields.tags ?? []),
            effectiveness,
            created_at,
            updated_at: now(),
            version: version + 1,
          } as PatternRecord;
          return this.patterns.update(tenant, { record: next, expectedVersion: version }, claim);
        },
        precondition,
      ),
    );
  }

  delete(tenant: string, id: string, precondition?: VersionPrecondition): Promise<Written<null>> {
    if (!precondition) {
      return this.writes.run(tenant, undefined, (claim) =>
        this.patterns.delete(tenant, id, undefined, claim),
      );
    }
    return changeOptimistically(
      () => this.current(tenant, id),
      (current) =>
        this.writes.run(tenant, undefined, (claim) =>
          this.patterns.delete(tenant, id, current.version, claim),
        ),
      precondition,
    );
  }

  /** Records an application of the pattern: its counters move atomically (SPEC §3.3). */
  apply(
    tenant: string,
    id: string,
    application: ApplicationCreate,
    idempotency?: IdempotencyKey,
  ): Promise<Written<PatternRecord>> {
    return this.writes.run(tenant, idempotency, (claim) =>
      this.patterns.apply(tenant, id, application, now(), claim),
    );
  }

  /** Candidate patterns mined from the steps (SPEC §3.3); each can be created as it is. */
  suggest(tenant: string, query: SuggestionQuery): Promise<Suggestion[]> {
    return this.patterns.suggestions(tenant, query);
  }

  private async current(tenant: string, id: string): Promise<PatternRecord> {
    return JSON.parse((await this.get(tenant, id)).json) as PatternRecord;
  }
}
