import { createHash } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { normaliseTags, toCanonicalTimestamp } from '../domain/common.js';
import type {
  EpisodeComplete,
  EpisodeCreate,
  EpisodeListQuery,
  EpisodePatch,
  EpisodeRecord,
} from '../domain/episode.js';
import {
  EpisodeAlreadyCompleted,
  EpisodeIdConflict,
  EpisodeNotFound,
  IdempotencyKeyInFlight,
  IdempotencyKeyReused,
  InvalidRequest,
  PreconditionFailed,
  StepNotFound,
} from '../domain/errors.js';
import type { GlobalStepListQuery, StepCreate, StepRecord } from '../domain/step.js';
import {
  type DeletionReport,
  type EncodedEpisode,
  EpisodeIdTaken,
  type EpisodeRepository,
  IdempotencyKeyTaken,
  type IdempotencyRepository,
  type NewEpisode,
  type Page,
} from '../storage/episode-repository.js';

/** An Idempotency-Key and the fingerprint of the request that carries it. */
export interface IdempotencyRequest {
  key: string;
  fingerprint: string;
}

/** What a write answers: the HTTP layer sends it as is (and so does a replay). */
export interface WriteOutcome<T = unknown> {
  status: number;
  headers: Record<string, string>;
  body: T;
  replayed?: boolean;
}

const now = () => new Date().toISOString();
/** The ETag of a record version (SPEC §2): writes answer with it, reads too. */
export const etagOf = (version: number) => `"${version}"`;

/** Canonical JSON (sorted keys) so equal bodies hash equally whatever their key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export const hashOf = (value: unknown) => createHash('sha256').update(canonicalJson(value)).digest('hex');

/** JSON merge patch (RFC 7396) of plain objects; `null` deletes. */
function mergePatch<T>(target: T, patch: unknown): T {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch as T;
  const base =
    target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete (base as Record<string, unknown>)[key];
    else (base as Record<string, unknown>)[key] = mergePatch((base as Record<string, unknown>)[key], value);
  }
  return base as T;
}

/** Adds `steps` to an encoded episode (its JSON text ends with the closing brace of the object). */
function withSteps(episode: EncodedEpisode, steps: StepRecord[]): EncodedEpisode {
  return { ...episode, json: `${episode.json.slice(0, -1)},"steps":${JSON.stringify(steps)}}` };
}

/** Timestamps are stored and returned in canonical UTC (SPEC §2), wherever they sit. */
function canonicalReflection<T extends { generated_at: string } | null | undefined>(reflection: T): T {
  return reflection
    ? { ...reflection, generated_at: toCanonicalTimestamp(reflection.generated_at) }
    : reflection;
}

function stepRecord(episodeId: string, s: StepCreate, stepNumber: number): StepRecord {
  return {
    episode_id: episodeId,
    step_number: stepNumber,
    timestamp: s.timestamp ? toCanonicalTimestamp(s.timestamp) : now(),
    tool: s.tool,
    action: s.action,
    parameters: s.parameters ?? {},
    result: s.result ?? null,
    latency_ms: s.latency_ms ?? null,
    tokens_used: s.tokens_used ?? null,
    metadata: s.metadata ?? {},
    location: s.location ?? null,
  };
}

/** Episode and step use cases (SPEC §3.1, §3.2). Knows nothing of HTTP or SQL. */
export class EpisodeService {
  constructor(
    private readonly episodes: EpisodeRepository,
    private readonly idempotency: IdempotencyRepository,
  ) {}

  async create(
    tenant: string,
    input: EpisodeCreate,
    idem?: IdempotencyRequest,
  ): Promise<WriteOutcome<EpisodeRecord>> {
    return this.idempotent(tenant, idem, async () => {
      const episode = this.newEpisode(tenant, input, '');
      const outcome = this.created(episode.record);
      try {
        await this.episodes.create(tenant, [episode], idem && { ...idem, ...outcome });
        return outcome;
      } catch (err) {
        if (!(err instanceof EpisodeIdTaken)) throw err;
        // Same id: an identical body is a no-op returning the stored record, anything else a conflict.
        if ((await this.episodes.bodyHash(tenant, episode.record.id)) !== episode.bodyHash) {
          throw new EpisodeIdConflict(episode.record.id);
        }
        const stored = await this.current(tenant, episode.record.id);
        return { status: 200, headers: { etag: etagOf(stored.version) }, body: stored };
      }
    });
  }

  async createBatch(
    tenant: string,
    inputs: EpisodeCreate[],
    idem?: IdempotencyRequest,
  ): Promise<WriteOutcome<{ ids: string[] }>> {
    return this.idempotent(tenant, idem, async () => {
      const episodes = inputs.map((input, i) => this.newEpisode(tenant, input, `/episodes/${i}`));
      const ids = episodes.map((e) => e.record.id);
      const seen = new Set<string>();
      ids.forEach((id, i) => {
        if (seen.has(id))
          throw new InvalidRequest(400, [
            { in: 'body', path: `/episodes/${i}/id`, message: 'duplicate id in batch' },
          ]);
        seen.add(id);
      });
      const outcome = { status: 201, headers: {}, body: { ids } };
      try {
        await this.episodes.create(tenant, episodes, idem && { ...idem, ...outcome });
      } catch (err) {
        if (err instanceof EpisodeIdTaken) throw new EpisodeIdConflict(err.id);
        throw err;
      }
      return outcome;
    });
  }

  /** An episode as JSON text (see EncodedEpisode), with its steps when asked. */
  async get(tenant: string, id: string, includeSteps: boolean): Promise<EncodedEpisode> {
    const episode = await this.episodes.get(tenant, id);
    if (!episode) throw new EpisodeNotFound(id);
    if (!includeSteps) return episode;
    return withSteps(episode, (await this.episodes.stepsOf(tenant, [id])).get(id) ?? []);
  }

  async list(tenant: string, query: EpisodeListQuery): Promise<Page<EncodedEpisode>> {
    const page = await this.episodes.list(tenant, query);
    if (query.include !== 'steps' || page.items.length === 0) return page;
    const steps = await this.episodes.stepsOf(
      tenant,
      page.items.map((e) => e.id),
    );
    return { ...page, items: page.items.map((e) => withSteps(e, steps.get(e.id) ?? [])) };
  }

  async patch(
    tenant: string,
    id: string,
    patch: EpisodePatch,
    ifMatch?: number,
  ): Promise<WriteOutcome<EpisodeRecord>> {
    return this.change(tenant, id, ifMatch, (current) => {
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
    });
  }

  async complete(
    tenant: string,
    id: string,
    input: EpisodeComplete,
    idem?: IdempotencyRequest,
  ): Promise<WriteOutcome<EpisodeRecord>> {
    return this.idempotent(tenant, idem, () =>
      this.change(
        tenant,
        id,
        undefined,
        (current) => ({
          ...current,
          outcome: input.outcome,
          reward: input.reward ?? current.reward,
          reflection: canonicalReflection(input.reflection) ?? current.reflection,
          end_time: input.end_time ? toCanonicalTimestamp(input.end_time) : now(),
        }),
        { mustBeInProgress: true, idem },
      ),
    );
  }

  async delete(tenant: string, id: string, ifMatch?: number): Promise<DeletionReport> {
    return this.episodes.delete(tenant, id, ifMatch);
  }

  async appendSteps(
    tenant: string,
    episodeId: string,
    input: { steps: StepCreate[]; single: boolean },
    strict: boolean,
    idem?: IdempotencyRequest,
  ): Promise<WriteOutcome<StepRecord | { items: StepRecord[] }>> {
    return this.idempotent(tenant, idem, async () => {
      const numbered = input.steps.filter((s) => s.step_number !== undefined).length;
      if (numbered !== 0 && numbered !== input.steps.length) {
        throw new InvalidRequest(400, [
          { in: 'body', path: '/steps', message: 'give step_number to every step of the request or to none' },
        ]);
      }
      const autoNumber = numbered === 0;
      const steps = input.steps.map((s) => stepRecord(episodeId, s, s.step_number ?? 0));
      const shape = (records: StepRecord[]) =>
        input.single ? (records[0] as StepRecord) : { items: records };
      const headersOf = (records: StepRecord[]) => ({
        location: `/v1/episodes/${episodeId}/steps/${records[0]?.step_number ?? ''}`,
      });
      const paths = autoNumber
        ? steps.map((_, i) => (input.single ? '$.step_number' : `$.items[${i}].step_number`))
        : [];
      const remembered = idem && {
        ...idem,
        status: 201,
        headers: autoNumber ? {} : headersOf(steps),
        body: shape(steps),
        stepNumberPaths: paths,
      };
      const stored = await this.episodes.appendSteps(
        tenant,
        episodeId,
        { steps, autoNumber, strict },
        remembered,
      );
      return { status: 201, headers: headersOf(stored), body: shape(stored) };
    });
  }

  async getStep(tenant: string, episodeId: string, stepNumber: number): Promise<StepRecord> {
    const step = await this.episodes.getStep(tenant, episodeId, stepNumber);
    if (!step) throw new StepNotFound(stepNumber, episodeId);
    return step;
  }

  async listSteps(
    tenant: string,
    episodeId: string,
    limit: number,
    cursor?: string,
  ): Promise<Page<StepRecord>> {
    const page = await this.episodes.listSteps(tenant, episodeId, limit, cursor);
    if (page.items.length === 0 && !(await this.episodes.get(tenant, episodeId)))
      throw new EpisodeNotFound(episodeId);
    return page;
  }

  listAllSteps(tenant: string, query: GlobalStepListQuery): Promise<Page<StepRecord>> {
    return this.episodes.listAllSteps(tenant, query);
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
    const endTime = fields.end_time ? toCanonicalTimestamp(fields.end_time) : null;
    let next = 0;
    const taken = new Set<number>();
    const steps = stepInputs.map((s, i) => {
      const number = s.step_number ?? Math.max(next, ...taken) + 1;
      if (taken.has(number)) {
        throw new InvalidRequest(400, [
          {
            in: 'body',
            path: `${path}/steps/${i}/step_number`,
            message: `step number ${number} appears twice`,
          },
        ]);
      }
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
      start_time: fields.start_time ? toCanonicalTimestamp(fields.start_time) : at,
      end_time: endTime,
      status: endTime === null ? 'in_progress' : 'completed',
      archived: fields.archived ?? false,
      step_count: steps.length,
      created_at: at,
      updated_at: at,
      version: 1,
    };
    // Only a client-chosen id can be sent twice; a server id is new, so it needs no hash to compare against.
    return { record, steps, bodyHash: givenId ? hashOf(input) : '', embedding };
  }

  private created(record: EpisodeRecord): WriteOutcome<EpisodeRecord> {
    return {
      status: 201,
      headers: { location: `/v1/episodes/${record.id}`, etag: etagOf(record.version) },
      body: record,
    };
  }

  /** Read-modify-write with optimistic concurrency: retried while other writers move the version, unless If-Match pins it. */
  private async change(
    tenant: string,
    id: string,
    ifMatch: number | undefined,
    apply: (current: EpisodeRecord) => EpisodeRecord,
    options: { mustBeInProgress?: boolean; idem?: IdempotencyRequest | undefined } = {},
  ): Promise<WriteOutcome<EpisodeRecord>> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.current(tenant, id);
      if (options.mustBeInProgress && current.end_time !== null) throw new EpisodeAlreadyCompleted(id);
      if (ifMatch !== undefined && current.version !== ifMatch)
        throw new PreconditionFailed(String(current.version));
      const next = apply(current);
      next.status = next.end_time === null ? 'in_progress' : 'completed';
      next.version = current.version + 1;
      next.updated_at = now();
      const outcome: WriteOutcome<EpisodeRecord> = {
        status: 200,
        headers: { etag: etagOf(next.version) },
        body: next,
      };
      try {
        await this.episodes.update(
          tenant,
          { record: next, expectedVersion: current.version, mustBeInProgress: options.mustBeInProgress },
          options.idem && { ...options.idem, ...outcome },
        );
        return outcome;
      } catch (err) {
        const raced = err instanceof PreconditionFailed && ifMatch === undefined && attempt < 10;
        if (!raced) throw err;
      }
    }
  }

  /** Runs a write once per Idempotency-Key: a replay returns the remembered response (SPEC §2). */
  private async idempotent<T>(
    tenant: string,
    idem: IdempotencyRequest | undefined,
    run: () => Promise<WriteOutcome<T>>,
  ): Promise<WriteOutcome<T>> {
    if (!idem) return run();
    const replay = async (): Promise<WriteOutcome<T> | null> => {
      const stored = await this.idempotency.find(tenant, idem.key);
      if (!stored) return null;
      if (stored.fingerprint !== idem.fingerprint) throw new IdempotencyKeyReused();
      return { status: stored.status, headers: stored.headers, body: stored.body as T, replayed: true };
    };
    const earlier = await replay();
    if (earlier) return earlier;
    try {
      return await run();
    } catch (err) {
      if (!(err instanceof IdempotencyKeyTaken)) throw err;
      const winner = await replay();
      if (!winner) throw new IdempotencyKeyInFlight();
      return winner;
    }
  }
}
