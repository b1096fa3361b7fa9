import fc from 'fast-check';
import type { z } from 'zod';
import { Complexity, type EpisodeCreate, TaskType } from '../../src/domain/episode.js';
import type { StepCreate } from '../../src/domain/step.js';

// Random VALID request bodies, for property tests such as "GET returns exactly what POST stored".
// Every value is already in the form the service returns: timestamps canonical (UTC, milliseconds),
// tags normalised and sorted, no -0 (JSON cannot carry it), objects with a normal prototype (as
// JSON.parse builds them). Absent optional fields read back as their defaults (see the schemas).

type StepBody = z.input<typeof StepCreate>;
type EpisodeBody = z.input<typeof EpisodeCreate>;

const plain = { noNullPrototype: true } as const;

/** -0 becomes 0: JSON.stringify(-0) is "0", so a client can never send -0. */
const noNegativeZero = (x: number) => x + 0;

/** Any Unicode text (astral planes included, never an unpaired surrogate). Up to 2 UTF-16 units per char. */
const text = (minLength = 0, maxLength = 40) => fc.string({ unit: 'binary', minLength, maxLength });
/** Within the 200-character limit of names, even when every character is astral. */
// Names are indexed columns and refuse U+0000 (SQLite reads TEXT up to a NUL); free text may hold it.
const name = () => text(1, 60).filter((s) => !s.includes('\u0000'));
const finite = () => fc.double({ noNaN: true, noDefaultInfinity: true }).map(noNegativeZero);
const uuid = () => fc.uuid({ version: [4, 7] });

const timestamp = () =>
  fc
    .date({
      min: new Date('0000-01-01T00:00:00.000Z'),
      max: new Date('9999-12-31T23:59:59.999Z'),
      noInvalidDate: true,
    })
    .map((d) => d.toISOString());

const tag = () => fc.stringMatching(/^[a-z0-9][a-z0-9._:/-]{1,30}$/);
/** Normalised tag sets: unique and sorted ascending, as normaliseTags returns them. */
const tags = () => fc.uniqueArray(tag(), { maxLength: 8 }).map((list) => [...list].sort());

const metadata = () =>
  fc.dictionary(
    fc.stringMatching(/^[A-Za-z0-9_.-]{1,20}$/).filter((key) => key !== '__proto__'),
    text(0, 40),
    { maxKeys: 6, ...plain },
  );

const location = () =>
  fc.record(
    {
      lat: fc.double({ min: -90, max: 90, noNaN: true }).map(noNegativeZero),
      lon: fc.double({ min: -180, max: 180, noNaN: true }).map(noNegativeZero),
      alt_m: finite(),
      accuracy_m: fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }).map(noNegativeZero),
      place: name(),
    },
    { requiredKeys: ['lat', 'lon'], ...plain },
  );

// `__proto__` and `constructor` keys are refused by fastify's JSON parser (prototype poisoning guard).
const jsonKey = () => text(0, 12).filter((key) => key !== '__proto__' && key !== 'constructor');

/** Nested JSON objects with every kind of JSON value, a few levels deep. */
const jsonObject = () =>
  fc.letrec<{ value: unknown; object: Record<string, unknown> }>((tie) => ({
    value: fc.oneof(
      { maxDepth: 4, depthIdentifier: 'json' },
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      finite(),
      text(),
      fc.array(tie('value'), { maxLength: 4, depthIdentifier: 'json' }),
      tie('object'),
    ),
    object: fc.dictionary(jsonKey(), tie('value'), { maxKeys: 5, depthIdentifier: 'json', ...plain }),
  })).object;

const stepResult = () =>
  fc.oneof(
    fc.constant(null),
    fc.record({ type: fc.constant('success' as const), output: text() }, plain),
    fc.record({ type: fc.constant('error' as const), message: text() }, plain),
    fc.record({ type: fc.constant('timeout' as const) }, plain),
  );

/** A valid step body; every optional field is sometimes present. */
export function validStepCreate(): fc.Arbitrary<StepBody> {
  return fc.record(
    {
      step_number: fc.integer({ min: 1, max: 1_000 }),
      timestamp: timestamp(),
      tool: name(),
      action: text(1, 80),
      parameters: jsonObject(),
      result: stepResult(),
      latency_ms: fc.nat(),
      tokens_used: fc.nat(),
      metadata: metadata(),
      location: location(),
    },
    { requiredKeys: ['tool', 'action'], ...plain },
  );
}

/** Either every step has an explicit, increasing (possibly gapped) number, or none has one. */
const stepList = () =>
  fc
    .tuple(
      fc.array(validStepCreate(), { maxLength: 5 }),
      fc.boolean(),
      fc.array(fc.integer({ min: 1, max: 3 })),
    )
    .map(([steps, numbered, gaps]) => {
      let next = 0;
      return steps.map(({ step_number: _, ...step }, index) => {
        next += gaps[index] ?? 1;
        return numbered ? { ...step, step_number: next } : step;
      });
    });

const list = <T>(item: fc.Arbitrary<T>) => fc.array(item, { maxLength: 4 });

const outcome = () =>
  fc.oneof(
    fc.record(
      { type: fc.constant('success' as const), verdict: text(), artifacts: list(text(0, 200)) },
      { requiredKeys: ['type', 'verdict'], ...plain },
    ),
    fc.record(
      {
        type: fc.constant('partial_success' as const),
        verdict: text(),
        completed: list(text()),
        failed: list(text()),
      },
      { requiredKeys: ['type', 'verdict'], ...plain },
    ),
    fc.record(
      { type: fc.constant('failure' as const), reason: text(), error_details: text(0, 200) },
      { requiredKeys: ['type', 'reason'], ...plain },
    ),
    fc.record(
      {
        type: fc.constant('abstained' as const),
        reason: text(),
        stopped_at_step: fc.nat(1_000),
        infeasibility_signals: list(text()),
      },
      { requiredKeys: ['type', 'reason', 'stopped_at_step'], ...plain },
    ),
  );

const reward = () =>
  fc.record(
    {
      total: finite(),
      base: finite(),
      efficiency: finite(),
      complexity_bonus: finite(),
      quality_multiplier: finite(),
      learning_bonus: finite(),
      abstention_score: finite(),
    },
    {
      requiredKeys: [
        'total',
        'base',
        'efficiency',
        'complexity_bonus',
        'quality_multiplier',
        'learning_bonus',
      ],
      ...plain,
    },
  );

const reflection = () =>
  fc.record(
    {
      successes: list(text()),
      improvements: list(text()),
      insights: list(text()),
      generated_at: timestamp(),
    },
    { requiredKeys: ['generated_at'], ...plain },
  );

const appliedPattern = () =>
  fc.record(
    {
      pattern_id: uuid(),
      applied_at_step: fc.nat(1_000),
      outcome: fc.constantFrom(
        'helped' as const,
        'no_effect' as const,
        'hindered' as const,
        'pending' as const,
      ),
      notes: text(),
    },
    { requiredKeys: ['pattern_id', 'applied_at_step', 'outcome'], ...plain },
  );

const salientFeatures = () =>
  fc.record(
    {
      critical_decisions: list(text()),
      tool_combinations: list(list(name())),
      error_recovery_patterns: list(text()),
      key_insights: list(text()),
    },
    { requiredKeys: [], ...plain },
  );

// A model's dimension is fixed by its first vector, so the model name carries the dimension. Values
// are float32 so that a store using 32-bit vectors gives back exactly what was sent.
const embedding = () =>
  fc.integer({ min: 1, max: 8 }).chain((dimension) =>
    fc
      .array(fc.float({ noNaN: true, noDefaultInfinity: true }).map(noNegativeZero), {
        minLength: dimension,
        maxLength: dimension,
      })
      .map((vector) => ({ model: `arbitrary-${dimension}d`, vector })),
  );

/** start_time and end_time never disagree: none, start only, or both with end ≥ start. */
const span = () =>
  fc.oneof(
    fc.constant({}),
    timestamp().map((start_time) => ({ start_time })),
    fc.tuple(timestamp(), timestamp()).map((pair) => {
      const [start_time, end_time] = pair.sort();
      return { start_time, end_time };
    }),
  );

/**
 * A valid episode body; every optional field is sometimes present. `patterns`, `heuristics` and
 * `applied_patterns[].pattern_id` are random ids that need not exist.
 */
export function validEpisodeCreate({
  withSteps = false,
}: {
  withSteps?: boolean;
} = {}): fc.Arbitrary<EpisodeBody> {
  const body = fc.record(
    {
      id: uuid(),
      agent_id: name(),
      session_id: name(),
      task_type: fc.constantFrom(...TaskType.options),
      task_description: text(1, 200),
      context: fc.record(
        {
          domain: name(),
          language: name(),
          framework: name(),
          complexity: fc.constantFrom(...Complexity.options),
          tags: list(name()),
        },
        { requiredKeys: ['domain'], ...plain },
      ),
      tags: tags(),
      outcome: outcome(),
      reward: reward(),
      reflection: reflection(),
      patterns: list(uuid()),
      heuristics: list(uuid()),
      applied_patterns: list(appliedPattern()),
      salient_features: salientFeatures(),
      metadata: metadata(),
      location: location(),
      archived: fc.boolean(),
      embedding: embedding(),
    },
    { requiredKeys: ['task_type', 'task_description', 'context'], ...plain },
  );
  return fc
    .tuple(body, span(), withSteps ? stepList() : fc.constant(undefined))
    .map(([episode, times, steps]) => ({ ...episode, ...times, ...(steps ? { steps } : {}) }));
}

const rate = () => fc.double({ min: 0, max: 1, noNaN: true }).map(noNegativeZero);
const nonNegative = () => fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }).map(noNegativeZero);
const prose = () => text(1, 40);

const patternContext = () =>
  fc.record(
    {
      domain: name(),
      language: name(),
      framework: name(),
      complexity: fc.constantFrom(...Complexity.options),
      tags: fc.array(name(), { maxLength: 4 }),
    },
    { requiredKeys: ['domain'], ...plain },
  );

const patternCommon = { id: uuid(), tags: tags() };

/** A valid pattern body of any of the four kinds; every optional field is sometimes present. */
export function validPatternCreate(): fc.Arbitrary<Record<string, unknown>> {
  const kind = <K extends string>(
    name: K,
    fields: Record<string, fc.Arbitrary<unknown>>,
    required: string[],
  ) =>
    fc.record<Record<string, unknown>>(
      { kind: fc.constant(name), ...patternCommon, ...fields },
      { requiredKeys: ['kind', ...required], ...plain },
    );
  return fc.oneof(
    kind(
      'tool_sequence',
      {
        tools: fc.array(name(), { minLength: 1, maxLength: 6 }),
        context: patternContext(),
        success_rate: rate(),
        avg_latency_ms: nonNegative(),
        occurrence_count: fc.nat(),
      },
      ['tools', 'context', 'success_rate', 'avg_latency_ms', 'occurrence_count'],
    ),
    kind(
      'decision_point',
      {
        condition: prose(),
        action: prose(),
        outcome_stats: fc
          .tuple(fc.nat(1000), fc.nat(1000), fc.nat(1000), nonNegative())
          .map(([success_count, failure_count, rest, avg_duration_secs]) => ({
            success_count,
            failure_count,
            total_count: success_count + failure_count + rest,
            avg_duration_secs,
          })),
        context: patternContext(),
      },
      ['condition', 'action', 'outcome_stats', 'context'],
    ),
    kind(
      'error_recovery',
      {
        error_type: prose(),
        recovery_steps: fc.array(prose(), { minLength: 1, maxLength: 5 }),
        success_rate: rate(),
        context: patternContext(),
      },
      ['error_type', 'recovery_steps', 'success_rate', 'context'],
    ),
    kind(
      'context_pattern',
      {
        context_features: fc.array(prose(), { minLength: 1, maxLength: 5 }),
        recommended_approach: prose(),
        evidence: fc.array(uuid(), { maxLength: 5 }),
        success_rate: rate(),
        context: patternContext(),
      },
      ['context_features', 'recommended_approach', 'evidence', 'success_rate'],
    ),
  );
}
