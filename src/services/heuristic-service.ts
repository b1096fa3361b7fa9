import { v7 as uuidv7 } from 'uuid';
import { HeuristicIdConflict, HeuristicNotFound } from '../domain/errors.js';
import {
  HeuristicCreate,
  type HeuristicListQuery,
  type HeuristicRecord,
  type MergePatch,
} from '../domain/pattern.js';
import { HeuristicIdTaken, type HeuristicRepository } from '../storage/heuristic-repository.js';
import type { EncodedRecord, Page, Written } from '../storage/types.js';
import { fingerprintOf } from './common/fingerprint.js';
import { changeOptimistically, type VersionPrecondition } from './common/optimistic.js';
import { type Created, createOnce, patchedFields } from './common/records.js';
import type { ClaimedWrites, IdempotencyKey } from './common/writes.js';

const now = () => new Date().toISOString();

const SERVICE_FIELDS = ['id', 'tenant', 'created_at', 'updated_at', 'version'] as const;

/** Heuristic use cases (SPEC §3.3). Knows nothing of HTTP or SQL; answers domain results. */
export class HeuristicService {
  constructor(
    private readonly heuristics: HeuristicRepository,
    private readonly writes: ClaimedWrites,
  ) {}

  create(
    tenant: string,
    input: HeuristicCreate,
    idempotency?: IdempotencyKey,
  ): Promise<Created<HeuristicRecord>> {
    const at = now();
    const { id: givenId, ...fields } = input;
    const record: HeuristicRecord = {
      ...fields,
      id: givenId ?? uuidv7(),
      tenant,
      created_at: at,
      updated_at: at,
      version: 1,
    };
    const bodyHash = givenId ? fingerprintOf(input) : '';
    return createOnce({
      write: () =>
        this.writes.run(tenant, idempotency, (claim) =>
          this.heuristics.create(tenant, { record, bodyHash }, claim),
        ),
      idTaken: (err) => err instanceof HeuristicIdTaken,
      bodyHash,
      storedBodyHash: () => this.heuristics.bodyHash(tenant, record.id),
      stored: () => this.current(tenant, record.id),
      conflict: () => new HeuristicIdConflict(record.id),
    });
  }

  async get(tenant: string, id: string): Promise<EncodedRecord> {
    const heuristic = await this.heuristics.get(tenant, id);
    if (!heuristic) throw new HeuristicNotFound(id);
    return heuristic;
  }

  list(tenant: string, query: HeuristicListQuery): Promise<Page<EncodedRecord>> {
    return this.heuristics.list(tenant, query);
  }

  patch(
    tenant: string,
    id: string,
    patch: MergePatch,
    precondition?: VersionPrecondition,
  ): Promise<Written<HeuristicRecord>> {
    return this.writes.run(tenant, undefined, (claim) =>
      changeOptimistically(
        () => this.current(tenant, id),
        (current) => {
          const { id: _id, tenant: _tenant, created_at, updated_at, version, ...writable } = current;
          const fields = patchedFields(HeuristicCreate, writable, patch, SERVICE_FIELDS);
          const next: HeuristicRecord = {
            ...fields,
            id,
            tenant,
            created_at,
            updated_at: now(),
            version: version + 1,
          };
          return this.heuristics.update(tenant, { record: next, expectedVersion: version }, claim);
        },
        precondition,
      ),
    );
  }

  delete(tenant: string, id: string, precondition?: VersionPrecondition): Promise<Written<null>> {
    if (!precondition) {
      return this.writes.run(tenant, undefined, (claim) =>
        this.heuristics.delete(tenant, id, undefined, claim),
      );
    }
    return changeOptimistically(
      () => this.current(tenant, id),
      (current) =>
        this.writes.run(tenant, undefined, (claim) =>
          this.heuristics.delete(tenant, id, current.version, claim),
        ),
      precondition,
    );
  }

  private async current(tenant: string, id: string): Promise<HeuristicRecord> {
    return JSON.parse((await this.get(tenant, id)).json) as HeuristicRecord;
  }
}
