import type { Logger } from 'pino';
import type { PatternRepository } from '../storage/pattern-repository.js';
import type { ClaimedWrites } from './common/writes.js';

/** Distinct (tenant, pattern) counts held before a flush is started early. */
const MAX_PENDING = 10_000;

/**
 * `times_retrieved` without a write per read (SPEC §3.3): lists count the patterns they return here, in
 * memory, and the counts are written in one claimed statement per tenant every `intervalMs` (and at
 * shutdown). What a crash may cost: the counts of the last interval (at most `intervalMs`), and those of a
 * flush that fails (logged), are lost — retrieval counts are a statistic, never a reason to fail a read.
 */
export class RetrievalCounter {
  private pending = new Map<string, Map<string, number>>();
  private size = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly patterns: PatternRepository,
    private readonly writes: ClaimedWrites,
    private readonly logger: Pick<Logger, 'warn'>,
    readonly intervalMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  count(tenant: string, ids: readonly string[]): void {
    if (ids.length === 0) return;
    let counts = this.pending.get(tenant);
    if (!counts) {
      counts = new Map();
      this.pending.set(tenant, counts);
    }
    for (const id of ids) {
      const n = counts.get(id);
      if (n === undefined) this.size++;
      counts.set(id, (n ?? 0) + 1);
    }
    if (this.size >= MAX_PENDING) void this.flush();
  }

  /** Writes what has been counted so far; resolves when it is written (or given up). */
  flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    this.size = 0;
    this.flushing = this.flushing.then(async () => {
      for (const [tenant, counts] of batch) {
        try {
          await this.writes.run(tenant, undefined, (claim) =>
            this.patterns.addRetrievals(tenant, counts, claim),
          );
        } catch (err) {
          this.logger.warn({ err, tenant, patterns: counts.size }, 'retrieval counts could not be written');
        }
      }
    });
    return this.flushing;
  }

  /** Stops the timer and writes what is pending. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
