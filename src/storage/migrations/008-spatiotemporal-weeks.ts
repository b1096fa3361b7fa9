import type { Migration } from './migration.js';

// The R*Tree's time axis in weeks instead of seconds (issue 12.7). SQLite's R*Tree chooses where to split a node
// by the sum of its edges over all axes: with time in seconds a year spans 3.2e7 against 360 degrees of
// longitude, so every split was a split in time and every node spanned the whole globe. At 1M episodes a 10 km +
// 7 days search read 99 nodes and a ±0.5° + 30 days one 153; in weeks (a year is 52, like the degrees), 4 and 18
// (bench/RESULTS.md). A new tree, built from the entries and their episodes and steps (the records, not the old
// float32 boxes): rescaling the old boxes in place would keep the old tree's shape.

/** Milliseconds per unit of the R*Tree's time axis: a week. */
export const INDEX_TIME_UNIT_MS = 604_800_000;
/**
 * The R*Tree's end of an episode still in progress, in weeks: later than any time the API accepts (the end of
 * year 9999 is week 418,985), so its box overlaps every window after its start (the exact check says "until now").
 */
export const INDEX_OPEN_END = 1e7;

const unit = (ms: string) => `(${ms}) / ${INDEX_TIME_UNIT_MS}.0`;

export const spatiotemporalWeeks: Migration = {
  version: 8,
  name: 'the spatiotemporal R*Tree rebuilt with its time axis in weeks',
  statements: [
    'DROP TRIGGER spatiotemporal_entries_delete',
    'DROP TABLE spatiotemporal_index',
    'CREATE VIRTUAL TABLE spatiotemporal_index USING rtree(id, min_lat, max_lat, min_lon, max_lon, min_t, max_t)',
    // An episode's box spans its start to its end (max(): the R*Tree refuses an inverted box, whatever a row holds).
    `INSERT INTO spatiotemporal_index (id, min_lat, max_lat, min_lon, max_lon, min_t, max_t)
       SELECT x.id, x.lat, x.lat, x.lon, x.lon, ${unit('e.start_time')},
         CASE WHEN e.end_time IS NULL THEN ${INDEX_OPEN_END} ELSE ${unit('max(e.start_time, e.end_time)')} END
       FROM spatiotemporal_entries x JOIN episodes e ON e.tenant = x.tenant AND e.id = x.episode_id
       WHERE x.step_number = 0`,
    `INSERT INTO spatiotemporal_index (id, min_lat, max_lat, min_lon, max_lon, min_t, max_t)
       SELECT x.id, x.lat, x.lat, x.lon, x.lon, ${unit('s.timestamp')}, ${unit('s.timestamp')}
       FROM spatiotemporal_entries x
         JOIN steps s ON s.tenant = x.tenant AND s.episode_id = x.episode_id AND s.step_number = x.step_number
       WHERE x.step_number > 0`,
    `CREATE TRIGGER spatiotemporal_entries_delete AFTER DELETE ON spatiotemporal_entries BEGIN
         DELETE FROM spatiotemporal_index WHERE id = OLD.id;
       END`,
  ],
};
