import type { Database } from '../db/database.js';
import { DbError } from '../db/errors.js';
import { CLAIM, labelled, sql } from '../db/types.js';
import { initialSchema } from './migrations/001-initial-schema.js';
import { writeClaimsAndGuards } from './migrations/002-write-claims-and-guards.js';
import { patternsHeuristicsAndStats } from './migrations/003-patterns-heuristics-and-stats.js';
import { embeddingsPerModel } from './migrations/004-embeddings-per-model.js';
import { timelineRollups } from './migrations/005-timeline-rollups.js';
import { suggestionTotals } from './migrations/006-suggestion-totals.js';
import { statsSuccessesOfCompleted } from './migrations/007-stats-successes-of-completed.js';
import { spatiotemporalWeeks } from './migrations/008-spatiotemporal-weeks.js';
import { spatiotemporalEntrySpans } from './migrations/009-spatiotemporal-entry-spans.js';
import { embeddingsByEpisodeCovering } from './migrations/010-embeddings-by-episode-covering.js';
import { suggestionTotalsOverflow } from './migrations/011-suggestion-totals-overflow.js';
import { embeddingIdsNeverReused } from './migrations/012-embedding-ids-never-reused.js';
import type { Migration } from './migrations/migration.js';

export type { Migration } from './migrations/migration.js';

/** Every migration, in order. A landed migration is never edited: changes are new migrations. */
export const MIGRATIONS: readonly Migration[] = [
  initialSchema,
  writeClaimsAndGuards,
  patternsHeuristicsAndStats,
  embeddingsPerModel,
  timelineRollups,
  suggestionTotals,
  statsSuccessesOfCompleted,
  spatiotemporalWeeks,
  spatiotemporalEntrySpans,
  embeddingsByEpisodeCovering,
  suggestionTotalsOverflow,
  embeddingIdsNeverReused,
];

const LEDGER = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL
)`;

export const latestSchemaVersion = (migrations: readonly Migration[] = MIGRATIONS) =>
  migrations.reduce((max, m) => Math.max(max, m.version), 0);

export async function schemaVersion(db: Database): Promise<number> {
  const rows = await db.read('SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations');
  return Number(rows[0]?.version ?? 0);
}

/**
 * Applies pending migrations, each in one transaction whose first statement claims its version in
 * `schema_migrations` (a write claim of its own: a retry of an applied migration meets it). Two processes
 * starting at once: the loser's claim hits the primary key, its transaction rolls back whole, and it moves
 * on — the winner has applied that migration.
 */
export async function migrate(
  db: Database,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  // Reads first: an instance that starts while the server answers reads but not writes (sqld's write
  // livelock) finds the schema current and starts without writing anything.
  const ledger = await db.read(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
  );
  if (
    ledger.length > 0 &&
    (await schemaVersion(db)) >= latestSchemaVersion(migrations) &&
    (await pendingBackfills(db)).length === 0
  )
    return [];
  // Startup work, without the per-request deadline: a migration of a big database may take minutes.
  await db.writeUnbounded([sql(LEDGER)]);
  const current = await schemaVersion(db);
  const applied: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (m.version <= current) continue;
    try {
      await db.writeUnbounded([
        labelled(
          { code: CLAIM },
          sql(
            'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
            m.version,
            m.name,
            Date.now(),
          ),
        ),
        ...m.statements.map((s) => sql(s)),
      ]);
      applied.push(m.version);
    } catch (err) {
      const claimedElsewhere = err instanceof DbError && err.label?.code === CLAIM;
      if (!claimedElsewhere) throw err;
    }
  }
  await runBackfills(db, migrations);
  return applied;
}

/** Versions whose backfill has chunks left (see `Migration.backfill`). */
async function pendingBackfills(db: Database): Promise<number[]> {
  const table = await db.read(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_backfills'",
  );
  if (table.length === 0) return [];
  const rows = await db.read('SELECT version FROM schema_backfills ORDER BY version');
  return rows.map((r) => Number(r.version));
}

/**
 * Runs the pending backfills to the end, one chunk per transaction. Instances starting at once take turns:
 * each chunk reads its progress inside its own transaction.
 */
async function runBackfills(db: Database, migrations: readonly Migration[]): Promise<void> {
  for (const version of await pendingBackfills(db)) {
    const chunk = migrations.find((m) => m.version === version)?.backfill;
    if (!chunk) throw new Error(`schema_backfills lists version ${version}, which has no backfill`);
    const left = () => db.read('SELECT 1 FROM schema_backfills WHERE version = ?', [version]);
    while ((await left()).length > 0) await db.writeUnbounded(chunk.map((s) => sql(s)));
  }
}
