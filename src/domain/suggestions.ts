import { z } from 'zod';
import { Name, queryNumber, Timestamp, Uuid } from './common.js';
import { TaskType } from './episode.js';
import { PatternCreate } from './pattern.js';

// Mined suggestions (SPEC §3.3): candidate patterns computed in SQL from the steps table.

/** Evidence episode ids a suggestion carries at most (the newest ids by UUID order). */
export const MAX_EVIDENCE_IDS = 20;

export const SuggestionQuery = z.strictObject({
  kind: z
    .enum(['tool_sequence', 'error_recovery'])
    .describe(
      'tool_sequence: the most frequent runs of 2..4 consecutive tools in completed episodes; error_recovery: the 1..3 tools that followed a step with an error result, in completed episodes of which at least one succeeded',
    ),
  domain: Name.optional().describe('Only episodes of this domain'),
  task_type: TaskType.optional().describe('Only episodes of this task type'),
  since: Timestamp.optional().describe('Only episodes that started at or after this time'),
  min_support: queryNumber(z.int('must be an integer').min(1).max(1_000_000))
    .default(2)
    .describe('Least number of distinct episodes a candidate must occur in'),
  limit: queryNumber(z.int('must be an integer').min(1).max(100)).default(20).describe('Candidates, 1..100'),
});
export type SuggestionQuery = z.infer<typeof SuggestionQuery>;

export const Suggestion = z.strictObject({
  pattern: PatternCreate.describe('A pattern body that POST /v1/patterns accepts unchanged'),
  support: z.int().min(1).describe('Distinct completed episodes in which it occurs'),
  successes: z.int().min(0).describe('Of those, episodes whose outcome is success'),
  evidence_episode_ids: z
    .array(Uuid)
    .max(MAX_EVIDENCE_IDS)
    .describe(
      `Up to ${MAX_EVIDENCE_IDS} of those episodes (the greatest ids, i.e. the newest server ids), descending`,
    ),
});
export type Suggestion = z.infer<typeof Suggestion>;

export const SuggestionList = z.strictObject({ items: z.array(Suggestion) });
