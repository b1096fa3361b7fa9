import type { Migration } from './migration.js';

/**
 * Patterns, heuristics and the running totals behind /v1/stats (SPEC §3.3, §3.6):
 * - `patterns`: the kind and the columns its list filters and sorts on (domain, language, success_rate,
 *   effectiveness, created_at) beside the JSON body of the kind's own fields; the effectiveness counters
 *   are columns, so an application updates them, and the `effectiveness` score, in one statement.
 *   `pattern_tags` holds the normalised tags (the `tag` filter); `pattern_applications` each application.
 * - `heuristics`: confidence as a column (the list's order), the rest in the body.
 * - `stats_tools` and `stats_episodes`: running totals kept by triggers on `steps` and `episodes`, so the
 *   stats answer from a few hundred rows instead of aggregating a million steps. Existing rows are counted
 *   into them here.
 */
export const patternsHeuristicsAndStats: Migration = {
  version: 3,
  name: 'patterns, heuristics, pattern applications, running totals for stats',
  statements: [
    `CREATE TABLE patterns (
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('tool_sequence', 'decision_point', 'error_recovery', 'context_pattern')),
        domain TEXT,
        language TEXT,
        success_rate REAL CHECK (success_rate BETWEEN 0 AND 1),
        times_retrieved INTEGER NOT NULL DEFAULT 0,
        times_applied INTEGER NOT NULL DEFAULT 0,
        success_when_applied INTEGER NOT NULL DEFAULT 0,
        failure_when_applied INTEGER NOT NULL DEFAULT 0,
        avg_reward_delta REAL NOT NULL DEFAULT 0,
        reward_samples INTEGER NOT NULL DEFAULT 0,
        last_used INTEGER,
        effectiveness REAL NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        body_hash TEXT NOT NULL,
        PRIMARY KEY (tenant, id)
      )`,
    `CREATE INDEX patterns_by_success ON patterns (tenant, success_rate DESC, id DESC)`,
    `CREATE INDEX patterns_by_kind ON patterns (tenant, kind, success_rate DESC, id DESC)`,
    `CREATE INDEX patterns_by_domain ON patterns (tenant, domain, success_rate DESC, id DESC) WHERE domain IS NOT NULL`,
    `CREATE INDEX patterns_by_language ON patterns (tenant, language, success_rate DESC, id DESC) WHERE language IS NOT NULL`,
    `CREATE INDEX patterns_by_effectiveness ON patterns (tenant, effectiveness DESC, id DESC)`,
    `CREATE INDEX patterns_by_recency ON patterns (tenant, created_at DESC, id DESC)`,
    `CREATE TABLE pattern_tags (
        tenant TEXT NOT NULL,
        pattern_id TEXT NOT NULL,
        tag TEXT NOT NULL,
        PRIMARY KEY (tenant, pattern_id, tag),
        FOREIGN KEY (tenant, pattern_id) REFERENCES patterns (tenant, id) ON DELETE CASCADE
      ) WITHOUT ROWID`,
    `CREATE INDEX pattern_tags_by_tag ON pattern_tags (tenant, tag, pattern_id)`,
    `CREATE TABLE pattern_applications (
        id INTEGER PRIMARY KEY,
        tenant TEXT NOT NULL,
        pattern_id TEXT NOT NULL,
        episode_id TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('helped', 'no_effect', 'hindered')),
        reward_delta REAL,
        applied_at INTEGER NOT NULL,
        FOREIGN KEY (tenant, pattern_id) REFERENCES patterns (tenant, id) ON DELETE CASCADE
      )`,
    `CREATE INDEX pattern_applications_by_pattern ON pattern_applications (tenant, pattern_id, applied_at)`,
    `CREATE TABLE heuristics (
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        confidence REAL NOT NULL CHECK (confidence BETWEEN 0 AND 1),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        body_hash TEXT NOT NULL,
        PRIMARY KEY (tenant, id)
      )`,
    `CREATE INDEX heuristics_by_confidence ON heuristics (tenant, confidence DESC, id DESC)`,
    // Running totals. Rows whose counts fall to zero stay (the stats skip them).
    `CREATE TABLE stats_tools (
        tenant TEXT NOT NULL,
        tool TEXT NOT NULL,
        uses INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        PRIMARY KEY (tenant, tool)
      ) WITHOUT ROWID`,
    `CREATE INDEX stats_tools_by_uses ON stats_tools (tenant, uses DESC, tool)`,
    `CREATE TRIGGER steps_stats_insert AFTER INSERT ON steps BEGIN
         INSERT INTO stats_tools (tenant, tool, uses, errors) VALUES (NEW.tenant, NEW.tool, 1, NEW.result_type IS 'error')
         ON CONFLICT (tenant, tool) DO UPDATE SET uses = uses + 1, errors = errors + excluded.errors;
       END`,
    `CREATE TRIGGER steps_stats_delete AFTER DELETE ON steps BEGIN
         UPDATE stats_tools SET uses = uses - 1, errors = errors - (OLD.result_type IS 'error')
         WHERE tenant = OLD.tenant AND tool = OLD.tool;
       END`,
    `INSERT INTO stats_tools (tenant, tool, uses, errors)
       SELECT tenant, tool, COUNT(*), SUM(result_type IS 'error') FROM steps GROUP BY tenant, tool`,
    `CREATE TABLE stats_episodes (
        tenant TEXT NOT NULL,
        dimension TEXT NOT NULL CHECK (dimension IN ('task_type', 'domain')),
        value TEXT NOT NULL,
        episodes INTEGER NOT NULL,
        completed INTEGER NOT NULL,
        successes INTEGER NOT NULL,
        rewarded INTEGER NOT NULL,
        reward_sum REAL NOT NULL,
        PRIMARY KEY (tenant, dimension, value)
      ) WITHOUT ROWID`,
    ...(['task_type', 'domain'] as const).flatMap((dimension) => [
      `CREATE TRIGGER episodes_stats_insert_${dimension} AFTER INSERT ON episodes BEGIN
         INSERT INTO stats_episodes (tenant, dimension, value, episodes, completed, successes, rewarded, reward_sum)
         VALUES (NEW.tenant, '${dimension}', NEW.${dimension}, 1, NEW.end_time IS NOT NULL,
           NEW.outcome_type IS 'success', NEW.reward_total IS NOT NULL, COALESCE(NEW.reward_total, 0))
         ON CONFLICT (tenant, dimension, value) DO UPDATE SET episodes = episodes + 1,
           completed = completed + excluded.completed, successes = successes + excluded.successes,
           rewarded = rewarded + excluded.rewarded, reward_sum = reward_sum + excluded.reward_sum;
       END`,
      `CREATE TRIGGER episodes_stats_delete_${dimension} AFTER DELETE ON episodes BEGIN
         UPDATE stats_episodes SET episodes = episodes - 1, completed = completed - (OLD.end_time IS NOT NULL),
           successes = successes - (OLD.outcome_type IS 'success'), rewarded = rewarded - (OLD.reward_total IS NOT NULL),
           reward_sum = reward_sum - COALESCE(OLD.reward_total, 0)
         WHERE tenant = OLD.tenant AND dimension = '${dimension}' AND value = OLD.${dimension};
       END`,
      `CREATE TRIGGER episodes_stats_update_${dimension}
         AFTER UPDATE OF ${dimension}, end_time, outcome_type, reward_total ON episodes BEGIN
         UPDATE stats_episodes SET episodes = episodes - 1, completed = completed - (OLD.end_time IS NOT NULL),
           successes = successes - (OLD.outcome_type IS 'success'), rewarded = rewarded - (OLD.reward_total IS NOT NULL),
           reward_sum = reward_sum - COALESCE(OLD.reward_total, 0)
         WHERE tenant = OLD.tenant AND dimension = '${dimension}' AND value = OLD.${dimension};
         INSERT INTO stats_episodes (tenant, dimension, value, episodes, completed, successes, rewarded, reward_sum)
         VALUES (NEW.tenant, '${dimension}', NEW.${dimension}, 1, NEW.end_time IS NOT NULL,
           NEW.outcome_type IS 'success', NEW.reward_total IS NOT NULL, COALESCE(NEW.reward_total, 0))
         ON CONFLICT (tenant, dimension, value) DO UPDATE SET episodes = episodes + 1,
           completed = completed + excluded.completed, successes = successes + excluded.successes,
           rewarded = rewarded + excluded.rewarded, reward_sum = reward_sum + excluded.reward_sum;
       END`,
      `INSERT INTO stats_episodes (tenant, dimension, value, episodes, completed, successes, rewarded, reward_sum)
         SELECT tenant, '${dimension}', ${dimension}, COUNT(*), SUM(end_time IS NOT NULL), SUM(outcome_type IS 'success'),
           SUM(reward_total IS NOT NULL), COALESCE(SUM(reward_total), 0)
         FROM episodes GROUP BY tenant, ${dimension}`,
    ]),
  ],
};
