import type { Migration } from './migration.js';

// Any finite step latency is stored, so one episode's candidate can carry an Infinity latency (two steps near
// float64's limit), and so can the running total it is summed into. Removing such a candidate from its total
// (deleting the episode, or mining it again after an update or an append) computed Infinity − Infinity: NaN,
// which SQLite makes NULL, and the total's NOT NULL failed the whole write (a 500, found by the fuzz seed
// 1662421356's neighbourhood). A total that has overflowed now stays Infinity until its last candidate goes
// (read as the largest finite mean: `minedSuggestions`), as an overflowed reward sum does.
export const suggestionTotalsOverflow: Migration = {
  version: 11,
  name: 'suggestion totals: removing an overflowed candidate keeps the overflowed sum',
  statements: [
    'DROP TRIGGER suggestion_grams_delete',
    `CREATE TRIGGER suggestion_grams_delete AFTER DELETE ON suggestion_grams BEGIN
         UPDATE suggestion_totals SET support = support - 1, successes = successes - OLD.ok,
           occurrences = occurrences - OLD.occurrences, latency = COALESCE(latency - OLD.latency, latency)
         WHERE tenant = OLD.tenant AND kind = OLD.kind AND domain = OLD.domain AND key = OLD.key
           AND tools = OLD.tools AND task_type = OLD.task_type;
         DELETE FROM suggestion_totals
         WHERE tenant = OLD.tenant AND kind = OLD.kind AND domain = OLD.domain AND key = OLD.key
           AND tools = OLD.tools AND task_type = OLD.task_type AND support = 0;
       END`,
  ],
};
