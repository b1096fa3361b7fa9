import { toCanonicalTimestamp } from '../domain/common.js';
import { EpisodeNotFound, InvalidRequest, StepNotFound } from '../domain/errors.js';
import type { AppendedSteps, GlobalStepListQuery, StepCreate, StepRecord } from '../domain/step.js';
import type { EpisodeRepository } from '../storage/episode-repository.js';
import type { StepRepository } from '../storage/step-repository.js';
import type { Encoded, Page, Written } from '../storage/types.js';
import type { ClaimedWrites, IdempotencyKey } from './common/writes.js';

/** The stored form of a step request (its number, when auto-assigned, comes from the database). */
export function stepRecord(episodeId: string, s: StepCreate, stepNumber: number): StepRecord {
  return {
    episode_id: episodeId,
    step_number: stepNumber,
    timestamp: s.timestamp ? toCanonicalTimestamp(s.timestamp) : new Date().toISOString(),
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

/** Step use cases (SPEC §3.2). Knows nothing of HTTP or SQL; answers domain results. */
export class StepService {
  constructor(
    private readonly steps: StepRepository,
    private readonly episodes: EpisodeRepository,
    private readonly writes: ClaimedWrites,
  ) {}

  append(
    tenant: string,
    episodeId: string,
    input: { steps: StepCreate[]; single: boolean },
    strict: boolean,
    idempotency?: IdempotencyKey,
  ): Promise<Written<AppendedSteps>> {
    const numbered = input.steps.filter((s) => s.step_number !== undefined).length;
    if (numbered !== 0 && numbered !== input.steps.length) {
      throw new InvalidRequest(400, [
        { in: 'body', path: '/steps', message: 'give step_number to every step of the request or to none' },
      ]);
    }
    // Auto-numbered steps carry 0 until the transaction gives them their numbers.
    const steps = input.steps.map((s) => stepRecord(episodeId, s, s.step_number ?? 0));
    const append = { steps, autoNumber: numbered === 0, strict, single: input.single };
    return this.writes.run(tenant, idempotency, (claim) =>
      this.steps.append(tenant, episodeId, append, claim),
    );
  }

  async get(tenant: string, episodeId: string, stepNumber: number): Promise<Encoded> {
    const step = await this.steps.get(tenant, episodeId, stepNumber);
    if (!step) throw new StepNotFound(stepNumber, episodeId);
    return step;
  }

  async listForEpisode(
    tenant: string,
    episodeId: string,
    limit: number,
    cursor?: string,
  ): Promise<Page<Encoded>> {
    const page = await this.steps.listForEpisode(tenant, episodeId, limit, cursor);
    if (page.items.length === 0 && !(await this.episodes.get(tenant, episodeId)))
      throw new EpisodeNotFound(episodeId);
    return page;
  }

  list(tenant: string, query: GlobalStepListQuery): Promise<Page<Encoded>> {
    return this.steps.list(tenant, query);
  }
}
