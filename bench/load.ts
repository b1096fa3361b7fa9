import autocannon, { type AutocannonRequest, type AutocannonResult } from 'autocannon';
import { type CpuUse, cpuMeter, sampleRss } from './processes.js';

/** Latencies (ms) kept whole, so that any percentile is exact (autocannon reports no p95). */
export class Samples {
  private values = new Float64Array(1 << 16);
  private n = 0;
  private sorted: Float64Array | undefined;

  add(ms: number): void {
    if (this.n === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.n++] = ms;
    this.sorted = undefined;
  }

  get count(): number {
    return this.n;
  }

  /** Nearest-rank percentile, `p` in 0..100; NaN when empty. */
  percentile(p: number): number {
    if (this.n === 0) return Number.NaN;
    this.sorted ??= this.values.slice(0, this.n).sort();
    const rank = Math.min(this.n - 1, Math.max(0, Math.ceil((p / 100) * this.n) - 1));
    return this.sorted[rank] as number;
  }
}

export interface Measurement {
  /** Completed requests (or operations) per second over the measured phase. */
  rate: number;
  p50: number;
  p95: number;
  p99: number;
  count: number;
  /** Largest server RSS seen during the measured phase, MB (null for in-process loops). */
  rssMb: number | null;
  /** Responses that were not 2xx, plus connection errors and timeouts (measured phase). */
  failures: number;
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  /** Same counters for the warm-up phase. */
  warmupFailures: number;
  /** Wall clock (ms since the epoch) at the start and end of the measured phase. */
  startedAt: number;
  finishedAt: number;
  /** CPU use during the measured phase, in cores. */
  cpu: CpuUse;
}

export interface LoadSpec {
  /** Base URL of the server, e.g. http://127.0.0.1:8080. */
  url: string;
  /** The request(s) each connection sends in a loop; give `setupRequest` for per-request variety. */
  requests: AutocannonRequest[];
  connections: number;
  durationS: number;
  warmupS: number;
  /** Process whose RSS is sampled. */
  pid: number;
}

interface Phase {
  result: AutocannonResult;
  latencies: Samples;
  statuses: Record<string, number>;
  failures: number;
}

function phase(spec: LoadSpec, durationS: number): Promise<Phase> {
  const latencies = new Samples();
  const statuses: Record<string, number> = {};
  let failures = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        duration: durationS,
        timeout: 10,
        requests: spec.requests,
      },
      (err, result) => {
        if (err) reject(err);
        else resolve({ result, latencies, statuses, failures: failures + result.errors });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, ms) => {
      latencies.add(ms);
      const key = String(statusCode);
      statuses[key] = (statuses[key] ?? 0) + 1;
      if (statusCode < 200 || statusCode > 299) failures++;
    });
  });
}

/** A warm-up phase (discarded but checked), then the measured phase with RSS sampling. */
export async function measureLoad(spec: LoadSpec): Promise<Measurement> {
  let warmupFailures = 0;
  if (spec.warmupS > 0) warmupFailures = (await phase(spec, spec.warmupS)).failures;
  const rss = sampleRss(spec.pid);
  const cpu = cpuMeter(spec.pid);
  const startedAt = Date.now();
  const started = performance.now();
  const measured = await phase(spec, spec.durationS);
  const seconds = (performance.now() - started) / 1000;
  const cpuUse = cpu.stop();
  const { result, latencies } = measured;
  return {
    rate: latencies.count / Math.max(seconds, result.duration, 1e-9),
    p50: latencies.percentile(50),
    p95: latencies.percentile(95),
    p99: latencies.percentile(99),
    count: latencies.count,
    rssMb: rss.stop(),
    failures: measured.failures,
    statuses: measured.statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    warmupFailures,
    startedAt,
    finishedAt: Date.now(),
    cpu: cpuUse,
  };
}

/**
 * An in-process loop: `op` runs back to back (never overlapping) for `durationS` seconds after a warm-up
 * of `warmupS`. The rate counts `unitsPerOp` units per call (e.g. 32 episodes per transaction).
 */
export async function measureLoop(
  op: () => unknown,
  options: { durationS: number; warmupS: number; unitsPerOp?: number },
): Promise<Measurement> {
  const units = options.unitsPerOp ?? 1;
  const warmupEnd = performance.now() + options.warmupS * 1000;
  while (performance.now() < warmupEnd) await op();
  const latencies = new Samples();
  const startedAt = Date.now();
  const started = performance.now();
  const cpu = cpuMeter(null);
  const end = started + options.durationS * 1000;
  let calls = 0;
  for (let now = started; now < end; ) {
    await op();
    const after = performance.now();
    latencies.add(after - now);
    now = after;
    calls++;
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    rate: (calls * units) / seconds,
    p50: latencies.percentile(50),
    p95: latencies.percentile(95),
    p99: latencies.percentile(99),
    count: calls * units,
    // The benchmark process's own RSS would say more about autocannon's leftovers than about the baseline.
    rssMb: null,
    failures: 0,
    statuses: {},
    errors: 0,
    timeouts: 0,
    warmupFailures: 0,
    startedAt,
    finishedAt: Date.now(),
    cpu: cpu.stop(),
  };
}
