// Request bodies of the benchmark: deterministic, realistic in size and shape (SPEC §3.1, §3.2).

export const DOMAIN_COUNT = 20;
export const domainOf = (i: number) => `domain-${String(i % DOMAIN_COUNT).padStart(2, '0')}`;
/** Episodes created by the `episode create` scenario live in their own domain, outside the list filter. */
export const CREATE_DOMAIN = 'bench-create';

const TASK_TYPES = [
  'code_generation',
  'debugging',
  'refactoring',
  'testing',
  'analysis',
  'documentation',
] as const;
const TOOLS = ['read_file', 'edit_file', 'bash', 'grep', 'run_tests'] as const;

const filler = (words: number, seed: number) =>
  Array.from(
    { length: words },
    (_, i) => ['alpha', 'parser', 'retry', 'cache', 'schema', 'index', 'router'][(i * 3 + seed) % 7],
  )
    .join(' ')
    .slice(0, words * 7);

function step(i: number, seed: number) {
  const tool = TOOLS[i % TOOLS.length] as string;
  return {
    tool,
    action: `${tool} on src/module_${seed % 97}/file_${i}.ts: ${filler(8, seed + i)}`,
    parameters: { path: `src/module_${seed % 97}/file_${i}.ts`, line: 10 + i * 7, dry_run: false },
    result: { type: 'success', output: `exit 0; ${filler(6, seed * 3 + i)}` },
    latency_ms: 40 + ((seed + i * 13) % 400),
    tokens_used: 120 + ((seed * 7 + i) % 900),
  };
}

/**
 * The `POST /v1/episodes` body: ≈2 KB of JSON with 5 steps, tags, context, location and metadata.
 * Returned as two halves around the task number so that each request is unique at the cost of a concat.
 */
export function createBodyTemplate(): { before: string; after: string } {
  const marker = '@@N@@';
  const body = {
    agent_id: 'bench-agent-1',
    session_id: 'bench-session-1',
    task_type: 'code_generation',
    task_description: `Task ${marker}: implement the retry policy for the HTTP client with exponential backoff, jitter and a circuit breaker; ${filler(24, 1)}`,
    context: {
      domain: CREATE_DOMAIN,
      language: 'typescript',
      framework: 'fastify',
      complexity: 'moderate',
      tags: ['http', 'resilience'],
    },
    tags: ['bench', 'retry', 'http-client', 'typescript'],
    metadata: { run: 'bench', model: 'agent-model-x' },
    location: { lat: 52.52, lon: 13.405, accuracy_m: 25, place: 'Berlin' },
    steps: Array.from({ length: 5 }, (_, i) => step(i, 1)),
  };
  const [before, after] = JSON.stringify(body).split(marker) as [string, string];
  return { before, after };
}

export function createBody(n: number): string {
  const { before, after } = createBodyTemplate();
  return before + n + after;
}

const DAY_MS = 86_400_000;

/**
 * Episode `i` of the pre-populated set (no steps, ≈1 KB): domain i mod 20, half of each domain completed
 * (with outcome, reward and reflection), start times one minute apart from a year before `nowMs`.
 */
export function populationEpisode(i: number, nowMs: number) {
  const start = nowMs - 365 * DAY_MS + i * 60_000;
  // Every other round of the 20 domains: each domain gets completed and in-progress episodes alike.
  const completed = Math.floor(i / DOMAIN_COUNT) % 2 === 0;
  const success = i % 3 !== 0;
  return {
    agent_id: `agent-${i % 50}`,
    session_id: `session-${Math.floor(i / 25)}`,
    task_type: TASK_TYPES[i % TASK_TYPES.length],
    task_description: `Episode ${i}: ${filler(40, i)}`,
    context: {
      domain: domainOf(i),
      language: i % 4 === 0 ? 'python' : 'typescript',
      complexity: (['simple', 'moderate', 'complex'] as const)[i % 3],
      tags: ['bench'],
    },
    tags: ['bench', `t${i % 30}`, `team-${i % 7}`],
    start_time: new Date(start).toISOString(),
    ...(completed
      ? {
          end_time: new Date(start + 45_000).toISOString(),
          outcome: success
            ? { type: 'success', verdict: `done: ${filler(10, i)}`, artifacts: [`src/file_${i % 100}.ts`] }
            : { type: 'failure', reason: `tests failed: ${filler(10, i)}` },
          reward: {
            total: success ? 0.8 : 0.1,
            base: 0.5,
            efficiency: 0.2,
            complexity_bonus: 0.1,
            quality_multiplier: 1,
            learning_bonus: 0,
          },
          reflection: {
            successes: [filler(8, i)],
            improvements: [filler(8, i + 1)],
            insights: [],
            generated_at: new Date(start + 46_000).toISOString(),
          },
        }
      : {}),
    metadata: { run: 'bench' },
    location: { lat: -60 + (i % 120), lon: -170 + ((i * 7) % 340) },
  };
}

/** Episodes with steps for the isolation scenario live in their own domain, outside the list filter. */
export const STEPS_DOMAIN = 'bench-steps';
export const STEPS_PER_EPISODE = 5;

/** Episode `i` of the set with steps: like the population (≈1 KB), in STEPS_DOMAIN, with 5 steps (≈2 KB). */
export function episodeWithSteps(i: number, nowMs: number) {
  const episode = populationEpisode(i, nowMs);
  return {
    ...episode,
    context: { ...episode.context, domain: STEPS_DOMAIN },
    steps: Array.from({ length: STEPS_PER_EPISODE }, (_, k) => step(k, i)),
  };
}

/** The `POST /v1/episodes/{id}/steps` body: one step, numbered by the server (≈300 B). */
export function stepBody(): string {
  return JSON.stringify(step(2, 5));
}
