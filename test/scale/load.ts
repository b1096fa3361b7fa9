import { AUTH, type EpisodeDraft, errorCode, http, newEpisode, postEpisode } from '../e2e/helpers/http.js';

// Load for the scale scenario: writers, write-then-read pairs and plain readers through the load balancer,
// with disruptions run at given fractions of the run. Everything is recorded, nothing is asserted here.

const WRITERS = 8;
const PAIRS = 4;
const READERS = 2;
/** A read-your-writes client sends back the token its write answered with. */
export const CONSISTENCY_TOKEN = 'consistency-token';

export interface ScheduledAction {
  /** Fraction of the run at which it starts (0..1). */
  at: number;
  what: string;
  run(): Promise<void>;
}

interface Outcome {
  /** ms since the start of the run when the answer (or the error) came. */
  endMs: number;
  ms: number;
  /** HTTP status; 0 when no answer came (then `error` says why). */
  status: number;
  error?: string;
}

export interface LoadReport {
  durationMs: number;
  writes: Outcome[];
  acknowledged: EpisodeDraft[];
  /** Reads of a pair's own write, straight after it was acknowledged. */
  pairReads: (Outcome & { miss: boolean; withToken: boolean; detail?: string })[];
  /** Reads of older acknowledged episodes without a token, and list pages. */
  reads: (Outcome & { notFound: boolean })[];
  actions: { what: string; atMs: number; tookMs: number; error?: string }[];
}

export async function driveLoad(
  lbUrl: string,
  { durationMs, actions }: { durationMs: number; actions: readonly ScheduledAction[] },
): Promise<LoadReport> {
  const started = Date.now();
  const since = () => Date.now() - started;
  const deadline = started + durationMs;
  const report: LoadReport = {
    durationMs,
    writes: [],
    acknowledged: [],
    pairReads: [],
    reads: [],
    actions: [],
  };
  const ackedAt: number[] = [];
  let n = 0;

  const write = async (label: string) => {
    const episode = newEpisode(`${label}-${n++}`);
    const t0 = Date.now();
    try {
      const res = await postEpisode(lbUrl, episode);
      report.writes.push({ endMs: since(), ms: Date.now() - t0, status: res.status });
      if (res.status !== 200 && res.status !== 201) return undefined;
      report.acknowledged.push(episode);
      ackedAt.push(Date.now());
      const token = res.headers[CONSISTENCY_TOKEN];
      return { episode, token: typeof token === 'string' ? token : undefined };
    } catch (err) {
      report.writes.push({ endMs: since(), ms: Date.now() - t0, status: 0, error: errorCode(err) });
      return undefined;
    }
  };

  const read = async (url: string, headers: Record<string, string> = {}) => {
    const t0 = Date.now();
    try {
      const res = await http(url, { headers: { ...AUTH, ...headers }, timeoutMs: 15_000 });
      return { res, outcome: { endMs: since(), ms: Date.now() - t0, status: res.status } };
    } catch (err) {
      return { outcome: { endMs: since(), ms: Date.now() - t0, status: 0, error: errorCode(err) } };
    }
  };

  const writer = async () => {
    while (Date.now() < deadline) await write('scale-w');
  };

  const pair = async () => {
    while (Date.now() < deadline) {
      const written = await write('scale-p');
      if (!written) continue;
      const headers: Record<string, string> = written.token ? { [CONSISTENCY_TOKEN]: written.token } : {};
      const { res, outcome } = await read(`${lbUrl}/v1/episodes/${written.episode.id}`, headers);
      const miss =
        outcome.status === 404 ||
        (outcome.status === 200 && res?.json().task_description !== written.episode.task_description);
      // What the miss answered, to trace it (the load balancer does not say which instance answered).
      const detail = miss ? `token=${written.token} ${res?.text.slice(0, 120)}` : undefined;
      report.pairReads.push({
        ...outcome,
        miss,
        withToken: written.token !== undefined,
        ...(detail ? { detail } : {}),
      });
    }
  };

  const reader = async () => {
    for (let i = 0; Date.now() < deadline; i++) {
      // Episodes acknowledged at least a second ago: a replica normally has them, but nothing promises it.
      const settled = ackedAt.findLastIndex((t) => t < Date.now() - 1_000);
      if (settled < 0 || i % 10 === 0) {
        const { outcome } = await read(`${lbUrl}/v1/episodes?limit=20`);
        report.reads.push({ ...outcome, notFound: false });
      } else {
        const episode = report.acknowledged[Math.floor(Math.random() * (settled + 1))] as EpisodeDraft;
        const { outcome } = await read(`${lbUrl}/v1/episodes/${episode.id}`);
        report.reads.push({ ...outcome, notFound: outcome.status === 404 });
      }
      if (settled < 0) await new Promise((r) => setTimeout(r, 100));
    }
  };

  // In order, each at its time or once the one before has finished, whichever is later: a `start` issued
  // while the `stop` before it is still draining the instance would find nothing to start.
  const disruptions = (async () => {
    for (const action of actions) {
      await new Promise((r) => setTimeout(r, Math.max(0, started + action.at * durationMs - Date.now())));
      const atMs = since();
      try {
        await action.run();
        report.actions.push({ what: action.what, atMs, tookMs: since() - atMs });
      } catch (err) {
        report.actions.push({ what: action.what, atMs, tookMs: since() - atMs, error: String(err) });
      }
    }
  })();

  await Promise.all([
    ...Array.from({ length: WRITERS }, writer),
    ...Array.from({ length: PAIRS }, pair),
    ...Array.from({ length: READERS }, reader),
    disruptions,
  ]);
  report.durationMs = since();
  return report;
}

function byStatus(outcomes: readonly Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) {
    if (o.status >= 200 && o.status < 300) continue;
    const key = o.status === 0 ? `no answer (${o.error})` : String(o.status);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0);
}

/** The longest time without an acknowledged write, from the start of the run to its end. */
function longestGap(report: LoadReport): { ms: number; fromMs: number } {
  const acks = report.writes
    .filter((w) => w.status === 200 || w.status === 201)
    .map((w) => w.endMs)
    .sort((a, b) => a - b);
  let gap = { ms: 0, fromMs: 0 };
  let previous = 0;
  for (const t of [...acks, report.durationMs]) {
    if (t - previous > gap.ms) gap = { ms: t - previous, fromMs: previous };
    previous = t;
  }
  return gap;
}

export function summarise(report: LoadReport, missing: readonly string[], run: Record<string, unknown>) {
  const latencies = report.writes.map((w) => w.ms).sort((a, b) => a - b);
  const gap = longestGap(report);
  return {
    ...run,
    duration_s: Math.round(report.durationMs / 100) / 10,
    longest_write_gap_ms: gap.ms,
    longest_write_gap_from_s: Math.round(gap.fromMs / 100) / 10,
    writes: {
      attempted: report.writes.length,
      acknowledged: report.acknowledged.length,
      per_second: Math.round(report.acknowledged.length / (report.durationMs / 1_000)),
      latency_ms: {
        p50: percentile(latencies, 0.5),
        p99: percentile(latencies, 0.99),
        max: latencies.at(-1),
      },
    },
    read_after_write: {
      checked: report.pairReads.length,
      with_token: report.pairReads.filter((r) => r.withToken).length,
      misses: report.pairReads.filter((r) => r.miss).length,
      miss_details: report.pairReads
        .filter((r) => r.miss)
        .slice(0, 10)
        .map((r) => `at ${(r.endMs / 1000).toFixed(1)} s: ${r.detail}`),
    },
    reads_without_token: {
      total: report.reads.length,
      not_found: report.reads.filter((r) => r.notFound).length,
    },
    non_2xx: {
      writes: byStatus(report.writes),
      read_after_write: byStatus(report.pairReads),
      reads: byStatus(report.reads),
    },
    acknowledged_vs_found: {
      acknowledged: report.acknowledged.length,
      found: report.acknowledged.length - missing.length,
      missing: missing.length,
    },
    actions: report.actions,
  };
}
