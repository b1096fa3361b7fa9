import { z } from 'zod';
import { queryNumber } from './common.js';
import { TaskType } from './episode.js';
import { PatternKind } from './pattern.js';

// Analytics (SPEC §3.6): aggregates over the tenant's records, computed in SQL.

export const StatsQuery = z.strictObject({
  top: queryNumber(z.int('must be an integer').min(1).max(100))
    .default(20)
    .describe('How many domains and tools to list (the most used first), 1..100'),
});
export type StatsQuery = z.infer<typeof StatsQuery>;

const outcomeTotals = {
  episodes: z.int().min(0),
  completed: z.int().min(0).describe('Episodes with an end_time'),
  successes: z.int().min(0).describe('Episodes whose outcome is success'),
  success_rate: z
    .number()
    .min(0)
    .max(1)
    .nullable()
    .describe('successes / completed; null when none completed'),
  avg_reward: z
    .number()
    .nullable()
    .describe('Mean reward.total of the episodes that have a reward; null when none'),
};

export const StatsRecord = z.strictObject({
  counts: z.strictObject({
    episodes: z.int().min(0),
    steps: z.int().min(0),
    patterns: z.int().min(0),
    heuristics: z.int().min(0),
  }),
  by_task_type: z
    .array(z.strictObject({ task_type: TaskType, ...outcomeTotals }))
    .describe('Every task type with episodes'),
  by_domain: z
    .array(z.strictObject({ domain: z.string(), ...outcomeTotals }))
    .describe('The `top` domains with the most episodes (ties by name)'),
  top_tools: z
    .array(
      z.strictObject({
        tool: z.string(),
        uses: z.int().min(0),
        errors: z.int().min(0).describe('Steps with an error result'),
        error_rate: z.number().min(0).max(1),
      }),
    )
    .describe('The `top` most used tools (ties by name)'),
  patterns_by_kind: z.strictObject(
    Object.fromEntries(PatternKind.options.map((kind) => [kind, z.int().min(0)])) as Record<
      PatternKind,
      z.ZodInt
    >,
  ),
});
export type StatsRecord = z.infer<typeof StatsRecord>;
