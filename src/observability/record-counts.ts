import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import type { Metrics } from './metrics.js';

const COUNTED_TABLES = ['episodes', 'steps', 'episode_tags', 'embeddings', 'idempotency_keys'] as const;

/**
 * Keeps the `engram_records` gauges (rows per table) fresh in the background, so that a scrape costs no
 * database work. Counting runs off the event loop and outside the resilience policy: it never takes a pool
 * slot from requests and its failures never count against the breaker; they are logged.
 */
export class RecordCounts {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly db: Database,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  start(intervalMs: number): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), intervalMs);
    this.timer.unref();
  }

  /** Counts now (or joins the count in progress); never rejects. */
  refresh(): Promise<void> {
    this.running ??= this.count().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private async count(): Promise<void> {
    try {
      const rows = await this.db.readInBackground(
        COUNTED_TABLES.map((t) => `SELECT '${t}' AS name, COUNT(*) AS n FROM ${t}`).join(' UNION ALL '),
      );
      for (const row of rows) this.metrics.records.set({ table: String(row.name) }, Number(row.n));
    } catch (err) {
      this.log.warn({ err }, 'counting records for the metrics failed');
    }
  }
}
