import { normaliseTags } from '../../domain/common.js';
import type { EpisodeFilter } from '../../domain/episode-list.js';
import { ftsQuery, ms } from './episode-rows.js';
import type { Where } from './where.js';

/**
 * The one "episode filter → SQL" builder: adds the conditions of `filter` (SPEC §3.1's list filters) over
 * the episodes row aliased `e` to `where`, which already holds the tenant scope. Every query that filters
 * episodes (the list, similarity search) builds its conditions here, so a new filter is added once.
 */
export function andEpisodeFilter(where: Where, filter: EpisodeFilter, e = 'e'): Where {
  const q = filter;
  if (q.archived !== 'any') where.and(`${e}.archived = ?`, q.archived === 'true' ? 1 : 0);
  if (q.task_type?.length) where.in(`${e}.task_type`, q.task_type);
  if (q.domain !== undefined) where.and(`${e}.domain = ?`, q.domain);
  if (q.language !== undefined) where.and(`${e}.language = ?`, q.language);
  if (q.agent_id !== undefined) where.and(`${e}.agent_id = ?`, q.agent_id);
  if (q.session_id !== undefined) where.and(`${e}.session_id = ?`, q.session_id);
  if (q.status) where.and(q.status === 'completed' ? `${e}.end_time IS NOT NULL` : `${e}.end_time IS NULL`);
  if (q.outcome?.length) where.in(`${e}.outcome_type`, q.outcome);
  if (q.min_reward !== undefined) where.and(`${e}.reward_total >= ?`, q.min_reward);
  if (q.max_reward !== undefined) where.and(`${e}.reward_total <= ?`, q.max_reward);
  if (q.started_after !== undefined) where.and(`${e}.start_time >= ?`, ms(q.started_after));
  if (q.started_before !== undefined) where.and(`${e}.start_time < ?`, ms(q.started_before));
  const tags = normaliseTags(q.tag ?? []);
  if (tags.length > 0) {
    const tagged = `SELECT 1 FROM episode_tags t WHERE t.tenant = ${e}.tenant AND t.episode_id = ${e}.id AND t.tag`;
    if (q.tags_match === 'all') for (const tag of tags) where.and(`EXISTS (${tagged} = ?)`, tag);
    else where.and(`EXISTS (${tagged} IN (${tags.map(() => '?').join(', ')}))`, ...tags);
  }
  for (const [key, value] of Object.entries(q.metadata)) {
    where.and(
      `EXISTS (SELECT 1 FROM json_each(${e}.body, '$.metadata') m WHERE m.key = ? AND m.value = ?)`,
      key,
      value,
    );
  }
  const match = q.q === undefined ? null : ftsQuery(q.q);
  if (match) where.and(`${e}.rowid IN (SELECT rowid FROM episodes_fts WHERE episodes_fts MATCH ?)`, match);
  return where;
}
