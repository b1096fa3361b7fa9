import type { Migration } from './migration.js';

// Each spatiotemporal entry carries what a place search sorts and filters by (issue 12.7): its time span and
// whether its episode is archived. A page of a box search is then chosen from the R*Tree and the entries
// alone, and only its rows' episodes are read: at 1M episodes a ±0.5° + 30 days box holds ~408 candidates,
// and reading each one's episode (two more B-tree lookups in the largest table) cost ~3× the rest of the
// search (bench/RESULTS.md).
//
// The columns are kept by triggers, in the transaction of every write that touches them: an entry is filled
// when it is inserted (by this code or by an older instance during a rolling start), and an episode's
// completion or archiving is copied to its entries. The existing entries are filled by a backfill in bounded
// chunks, each its own transaction (sqld ends a transaction that holds its write lock for more than 5 s).

/** The span and archived flag of the entry `row` (NEW in a trigger), from its episode (step 0) or its step. */
const filled = (row: string) => `(start_time, end_time, archived) = (
    SELECT CASE WHEN ${row}.step_number = 0 THEN e.start_time ELSE s.timestamp END,
      CASE WHEN ${row}.step_number = 0 THEN e.end_time ELSE s.timestamp END,
      e.archived
    FROM episodes e
      LEFT JOIN steps s ON s.tenant = e.tenant AND s.episode_id = e.id AND s.step_number = ${row}.step_number
    WHERE e.tenant = ${row}.tenant AND e.id = ${row}.episode_id)`;

/** Entries filled by one backfill transaction: ~0.1 s on a quiet machine, well inside sqld's 5 s. */
const BACKFILL_CHUNK = 5_000;
const progress = 'SELECT next_id FROM schema_backfills WHERE version = 9';

export const spatiotemporalEntrySpans: Migration = {
  version: 9,
  name: 'spatiotemporal entries carry their span and archived flag',
  statements: [
    'ALTER TABLE spatiotemporal_entries ADD COLUMN start_time INTEGER',
    'ALTER TABLE spatiotemporal_entries ADD COLUMN end_time INTEGER',
    'ALTER TABLE spatiotemporal_entries ADD COLUMN archived INTEGER',
    `CREATE TRIGGER spatiotemporal_entries_fill AFTER INSERT ON spatiotemporal_entries BEGIN
         UPDATE spatiotemporal_entries SET ${filled('NEW')} WHERE id = NEW.id;
       END`,
    `CREATE TRIGGER episodes_spatiotemporal_span AFTER UPDATE OF end_time, archived ON episodes
       WHEN OLD.end_time IS NOT NEW.end_time OR OLD.archived IS NOT NEW.archived BEGIN
         UPDATE spatiotemporal_entries
           SET end_time = CASE WHEN step_number = 0 THEN NEW.end_time ELSE end_time END, archived = NEW.archived
           WHERE tenant = NEW.tenant AND episode_id = NEW.id;
       END`,
    // The entries there now, by id: later ones are filled by the trigger.
    `CREATE TABLE IF NOT EXISTS schema_backfills (
        version INTEGER PRIMARY KEY,
        next_id INTEGER NOT NULL,
        last_id INTEGER NOT NULL
      )`,
    `INSERT INTO schema_backfills (version, next_id, last_id)
       SELECT 9, (SELECT MIN(id) FROM spatiotemporal_entries), (SELECT MAX(id) FROM spatiotemporal_entries)
       WHERE EXISTS (SELECT 1 FROM spatiotemporal_entries)`,
  ],
  backfill: [
    `UPDATE spatiotemporal_entries SET ${filled('spatiotemporal_entries')}
       WHERE id >= (${progress}) AND id < (${progress}) + ${BACKFILL_CHUNK}`,
    `UPDATE schema_backfills SET next_id = next_id + ${BACKFILL_CHUNK} WHERE version = 9`,
    'DELETE FROM schema_backfills WHERE version = 9 AND next_id > last_id',
  ],
};
