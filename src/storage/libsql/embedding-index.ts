import { setTimeout as sleep, setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Database } from '../../db/database.js';
import { sql } from '../../db/types.js';
import type { DiskAnnOptions } from '../../domain/embedding.js';

// The DiskANN index of each model (SPEC §3.4), derived from the store of record `embeddings`.
//
// Why not index on write: a DiskANN insert at 384-d costs milliseconds of the single writer (tens to a few
// hundred rows/s), far below the 500 vectors/s an agent fleet writes. So a write only stores the vector
// (durable and acknowledged at once, `indexed = 0`), and this indexer moves unindexed vectors into the
// model's index table in small batches behind it, yielding the writer between batches. Searches cover the
// rows it has not reached by scanning them exactly, so a result never misses a stored vector.
//
// Writes first: a batch waits while the process has other writes in flight (on the embedded file they would
// otherwise share its group-commit transaction and wait for its DiskANN inserts), for at most
// MAX_DEFER_MS, so that a steady stream of writes slows the index down but cannot stop it.
//
// Batches are sized by time, not count: each transaction aims to hold the writer for about `batchMs`.
// Measured (bench/RESULTS.md): a DiskANN insert rewrites the blocks of the neighbours it links to, so many
// inserts per transaction share those rewrites and one commit; 256 per transaction cost ~40 % less CPU per
// vector than 16. The time budget keeps that gain without letting a batch hold other writes back for long,
// whatever the per-insert cost is at this index's size, options and the machine's load.

/** The longest an index batch waits for other writes to finish. */
const MAX_DEFER_MS = 1_000;
/**
 * Vectors per transaction: at most (a bound on one statement's work), and at least (unless a batch failed):
 * on a starved CPU the time budget alone would shrink batches to a vector or two, each then paying a whole
 * commit of the blocks it rewrote — measured at ~17 CPU ms per vector instead of ~5.
 */
const MAX_BATCH = 4_096;
const MIN_BATCH = 16;

/** The index table of a model: a typed vector column per model, as DiskANN needs. */
export const indexTable = (modelId: number) => `embedding_index_${modelId}`;
export const indexName = (modelId: number) => `embedding_index_${modelId}_ann`;

export function indexOptionsSql(options: DiskAnnOptions): string {
  return [
    'metric=cosine',
    `compress_neighbors=${options.compress_neighbors}`,
    `max_neighbors=${options.max_neighbors}`,
    `search_l=${options.search_l}`,
    `insert_l=${options.insert_l}`,
  ]
    .map((o) => `'${o}'`)
    .join(', ');
}

export interface IndexerOptions {
  /** Options of a model's index when the model has none of its own. */
  defaults: DiskAnnOptions;
  /** How long one indexing transaction aims to hold the writer (its vector count follows the last ones). */
  batchMs: number;
  onError(err: unknown): void;
}

/**
 * Indexes unindexed vectors, model by model, batch by batch, until none is left; then waits for `kick()`
 * (after a write) or the next tick of `start`. One pass at a time per process; several processes may index
 * at once (each batch re-reads what is unindexed inside its own transaction).
 */
export class EmbeddingIndexer {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Vectors in the next batch, sized from how long the last ones took. */
  private batch = MIN_BATCH;

  constructor(
    private readonly db: Database,
    private readonly options: IndexerOptions,
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** Something was written: index it soon. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((err: unknown) => this.options.onError(err))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Indexes until nothing is left (or stop). Resolves when this pass ends. */
  async drain(): Promise<void> {
    for (;;) {
      // Housekeeping across tenants: the partial index `embeddings_unindexed` makes this a short read. It is
      // background work: outside the resilience policy (never counted against the breaker, never a pool
      // slot of a request), and not at all while the breaker is not closed (the database is not called).
      if (this.db.policy.breakerSnapshot.state !== 'closed') return;
      const models = await this.db.readInBackground(
        `SELECT m.id, m.dimension, m.index_options FROM embedding_models m
         WHERE m.id IN (SELECT DISTINCT model_id FROM embeddings WHERE indexed = 0)`,
      );
      if (models.length === 0 || this.stopped) return;
      for (const m of models) {
        const options = m.index_options
          ? (JSON.parse(String(m.index_options)) as DiskAnnOptions)
          : this.options.defaults;
        await this.writesFirst();
        if (this.stopped) return;
        const started = performance.now();
        const indexed = await this.indexBatch(Number(m.id), Number(m.dimension), options).catch(
          (err: unknown) => {
            this.batch = Math.max(1, Math.floor(this.batch / 2)); // e.g. past the deadline: try less next time
            throw err;
          },
        );
        this.resize(indexed, performance.now() - started);
        await yieldToLoop();
        if (this.stopped) return;
      }
    }
  }

  /** The next batch's size: as many vectors as the last batch's rate fits into `batchMs` (at most doubling). */
  private resize(indexed: number, elapsedMs: number): void {
    if (indexed < this.batch) return; // the model ran out of vectors: the time says nothing about the rate
    const fits = Math.floor((indexed * this.options.batchMs) / Math.max(elapsedMs, 1));
    this.batch = Math.max(MIN_BATCH, Math.min(MAX_BATCH, 2 * this.batch, fits));
  }

  private async writesFirst(): Promise<void> {
    const until = Date.now() + MAX_DEFER_MS;
    while (this.db.writing && Date.now() < until && !this.stopped) await sleep(5);
  }

  /** One transaction: the model's index (created with its options on first use) takes a batch of vectors. */
  /** Resolves to the number of vectors indexed. */
  private async indexBatch(modelId: number, dimension: number, options: DiskAnnOptions): Promise<number> {
    const table = indexTable(modelId);
    const next = `SELECT id FROM embeddings WHERE model_id = ? AND indexed = 0 ORDER BY id LIMIT ?`;
    const results = await this.db.write([
      sql(
        `CREATE TABLE IF NOT EXISTS ${table} (id INTEGER PRIMARY KEY, vector F32_BLOB(${dimension}) NOT NULL)`,
      ),
      sql(
        `CREATE INDEX IF NOT EXISTS ${indexName(modelId)} ON ${table} (libsql_vector_idx(vector, ${indexOptionsSql(options)}))`,
      ),
      sql(`CREATE TRIGGER IF NOT EXISTS ${table}_delete AFTER DELETE ON embeddings WHEN OLD.model_id = ${modelId}
           BEGIN DELETE FROM ${table} WHERE id = OLD.id; END`),
      sql(
        'UPDATE embedding_models SET index_options = ? WHERE id = ? AND index_options IS NULL',
        JSON.stringify(options),
        modelId,
      ),
      sql(
        `INSERT OR REPLACE INTO ${table} (id, vector)
         SELECT id, vector FROM embeddings WHERE id IN (${next})`,
        modelId,
        this.batch,
      ),
      sql(`UPDATE embeddings SET indexed = 1 WHERE id IN (${next})`, modelId, this.batch),
    ]);
    return results.at(-1)?.changes ?? 0;
  }
}
