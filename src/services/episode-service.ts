import { v7 as uuidv7 } from 'uuid';
import { normaliseTags, toCanonicalTimestamp } from '../domain/common.js';
import {
  type EpisodeComplete,
  type EpisodeCreate,
  type EpisodePatch,
  type EpisodeRecord,
  storedEpisodeProblems,
} from '../domain/episode.js';
import type { EpisodeListQuery } from '../domain/episode-list.js';
import {
  EndBeforeStart,
  EpisodeAlreadyCompleted,
  EpisodeIdConflict,
  EpisodeNotFound,
  InvalidRequest,
} from '../domain/errors.js';
import { MAX_STEP_NUMBER } from '../domain/limits.js';
import {
  type DeletionReport,
  EpisodeIdTaken,
  type EpisodeRepository,
  type NewEpisode,
} from '../storage/episode-repository.js';
import type { EncodedRecord, Page, Written } from '../storage/types.js';
import { fingerprintOf } from './common/fingerprint.js';
import { mergePatch } from './common/merge-patch.js';
import { changeOptimistically, type VersionPrecondition } from './common/optimistic.js';
import type { Created } from './common/records.js';
import type { ClaimedWrites, IdempotencyKey } from './common/writes.js';
import { stepRecord } from './step-service.js';

const now = () => new Date().toISOString();

/** Timestamps are stored and returned in canonical UTC (SPEC §2), wherever they sit. */
function canonicalReflection<T extends { generated_at: string } | null | undefined>(reflection: T): T {
  return reflection
    ? { ...reflection, generated_at: toCanonicalTimestamp(reflection.generated_at) }
    : reflection;
}

/** The next version of `current` with the changed fields: derived fields follow. */
function nextVersion(current: EpisodeRecord, changed: EpisodeRecord): EpisodeRecord {
  return {
    ...changed,
    status: changed.end_time === null ? 'in_progress' : 'completed',
    version: current.version + 1,
    updated_at: now(),
  };
}

/** Episode use cases (SPEC §3.1). Knows nothing of HTTP or SQL; answers domain results. */
export class EpisodeService {
  constructor(
    private readonly episodes: EpisodeRepository,
    private readonly writes: ClaimedWrites,
  ) {}

  async create(
    tenant: string,
    input: EpisodeCreate,
    idempotency?: IdempotencyKey,
  ): Promise<Created<EpisodeRecord>> {
    const episode = this.newEpisode(tenant, input, '');
    const id = episode.record.id;
    try {
      const written = await this.writes.run(tenant, idempotency, (claim) =>
        this.episodes.create(tenant, [episode], claim, episode.record),
      );
      return { ...written, created: true };
    } catch (err) {
      if (!(err instanceof EpisodeIdTaken)) throw err;
      // Same id: an identical body is a no-op answering the stored record, anything else a conflict.
      if ((await this.episodes.bodyHash(tenant, id)) !== episode.bodyHash) throw new EpisodeIdConflict(id);
      return { value: await this.current(tenant, id), replayed: false, created: false };
    }
  }

  async createBatch(
    tenant: string,
    inputs: EpisodeCreate[],
    idempotency?: IdempotencyKey,
  ): Promise<Written<{ ids: string[] }>> {
    const episodes = inputs.map((input, i) => this.newEpisode(tenant, input, `/episodes/${i}`));
    const ids = episodes.map((e) => e.record.id);
    try {
      return await this.writes.run(tenant, idempotency, (claim) =>
        this.episodes.create(tenant, episodes, claim, { ids }),
      );
    } catch (err) {
      if (err instanceof EpisodeIdTaken) throw new EpisodeIdConflict(err.id);
      throw err;
    }
  }

  /** An episode as JSON text, with its steps when asked. */
  async get(tenant: string, id: string, includeSteps: boolean): Promise<EncodedRecord> {
    const episode = includeSteps
      ? await this.episodes.getWithSteps(tenant, id)
      : await this.episodes.get(tenant, id);
    if (!episode) throw new EpisodeNotFound(id);
    return episode;
  }

  list(tenant: string, query: EpisodeListQuery): Promise<Page<EncodedRecord>> {
    return this.episodes.list(tenant, query);
  }

  patch(
    tenant: string,
    id: string,
    patch: EpisodePatch,
    precondition?: VersionPrecondition,
  ): Promise<Written<EpisodeRecord>> {
    return this.writes.run(tenant, undefined, (claim) =>
      changeOptimistically(
        () => this.current(tenant, id),
        (current) => {
          const next = nextVersion(current, applyPatch(current, patch));
          const problems = storedEpisodeProblems(next);
          if (problems.length > 0) throw new InvalidRequest(400, problems);
          return this.episodes.update(tenant, { record: next, expectedVersion: current.version }, claim);
        },
        precondition,
      ),
    );
  }

  complete(
    tenant: string,
    id: string,
    input: EpisodeComplete,
    idempotency?: IdempotencyKey,
  ): Promise<Written<EpisodeRecord>> {
    return this.writes.run(tenant, idempotency, (claim) =>
      changeOptimistically(
        () => this.current(tenant, id),
        (current) => {
          if (current.end_time !== null) throw new EpisodeAlreadyCompleted(id);
          const next = nextVersion(current, {
            ...current,
            outcome: input.outcome,
            reward: input.reward ?? current.reward,
            reflection: canonicalReflection(input.reflection) ?? current.reflection,
            end_time: input.end_time ? toCanonicalTimestamp(input.end_time) : now(),
          });
          if (Date.parse(next.end_time as string) < Date.parse(next.start_time)) throw new EndBeforeStart(id);
          return this.episodes.update(
            tenant,
            { record: next, expectedVersion: current.version, mustBeInProgress: true },
            claim,
          );
        },
      ),
    );
  }

  delete(tenant: string, id: string, precondition?: VersionPrecondition): Promise<Written<DeletionReport>> {
    if (!precondition)
      return this.writes.run(tenant, undefined, (claim) =>
        this.episodes.delete(tenant, id, undefined, claim),
      );
    return changeOptimistically(
      () => this.current(tenant, id),
      (current) =>
        this.writes.run(tenant, undefined, (claim) =>
          this.episodes.delete(tenant, id, current.version, claim),
        ),
      precondition,
    );
  }

  /** The stored episode as an object, for the use cases that change it. */
  private async current(tenant: string, id: string): Promise<EpisodeRecord> {
    const episode = await this.episodes.get(tenant, id);
    if (!episode) throw new EpisodeNotFound(id);
    return JSON.parse(episode.json) as EpisodeRecord;
  }

  /** Builds the stored form of a create request; `path` locates it in a batch for error messages. */
  private newEpisode(tenant: string, input: EpisodeCreate, path: string): NewEpisode {
    const { steps: stepInputs = [], embedding, id: givenId, ...fields } = input;
    const id = givenId ?? uuidv7();
    const at = now();
    const startTime = fields.start_time ? toCanonicalTimestamp(fields.start_time) : at;
    const endTime = fields.end_time ? toCanonicalTimestamp(fields.end_time) : null;
    if (endTime !== null && Date.parse(endTime) < Date.parse(startTime)) {
      const message = fields.start_time
        ? 'must not be earlier than start_time'
        : 'must not be earlier than start_time (now)';
      throw new InvalidRequest(400, [{ in: 'body', path: `${path}/end_time`, message }]);
    }
    let next = 0;
    const taken = new Set<number>();
    const steps = stepInputs.map((s, i) => {
      const number = s.step_number ?? Math.max(next, ...taken) + 1;
      const problem = taken.has(number)
        ? `step number ${number} appears twice`
        : number > MAX_STEP_NUMBER
          ? `the next free step number (${number}) is above ${MAX_STEP_NUMBER}`
          : undefined;
      if (problem)
        throw new InvalidRequest(400, [
          { in: 'body', path: `${path}/steps/${i}/step_number`, message: problem },
        ]);
      taken.add(number);
      next = number;
      return stepRecord(id, s, number);
    });
    const record: EpisodeRecord = {
      id,
      tenant,
      agent_id: fields.agent_id ?? null,
      session_id: fields.session_id ?? null,
      task_type: fields.task_type,
      task_description: fields.task_description,
      context: fields.context,
      tags: normaliseTags(fields.tags ?? []),
      outcome: fields.outcome ?? null,
      reward: fields.reward ?? null,
      reflection: canonicalReflection(fields.reflection) ?? null,
      patterns: fields.patterns ?? [],
      heuristics: fields.heuristics ?? [],
      applied_patterns: fields.applied_patterns ?? [],
      salient_features: fields.salient_features ?? null,
      metadata: fields.metadata ?? {},
      location: fields.location ?? null,
      start_time: startTime,
      end_time: endTime,
      status: endTime === null ? 'in_progress' : 'completed',
      archived: fields.archived ?? false,
      step_count: steps.length,
      created_at: at,
      updated_at: at,
      version: 1,
    };
    // Only a client-chosen id can be sent twice; a server id is new, so it needs no fingerprint to compare.
    return { record, steps, bodyHash: givenId ? fingerprintOf(input) : '', embedding };
  }
}

/** A merge patch applied to the fields it names (SPEC §3.1: metadata and context merge, others replace). */
function applyPatch(current: EpisodeRecord, patch: EpisodePatch): EpisodeRecord {
  const next: EpisodeRecord = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    switch (key) {
      case 'tags':
        next.tags = normaliseTags(value as string[]);
        break;
      case 'metadata':
        next.metadata = mergePatch(current.metadata, value);
        break;
      case 'context':
        next.context = mergePatch(current.context, value);
        break;
      case 'reflection':
        next.reflection = canonicalReflection(value as EpisodeRecord['reflection']);
        break;
      case 'end_time':
        next.end_time = value === null ? null : toCanonicalTimestamp(value as string);
        break;
      default:
        (next as Record<string, unknown>)[key] = value;
    }
  }
  return next;
}
