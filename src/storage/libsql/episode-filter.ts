import { normaliseTags } from '../../domain/common.js';
import type { EpisodeFilter } from '../../domain/episode-list.js';
import { ftsQuery, ms } from './episode-rows.js';
import { whereEpisodeInSpaceTime } from './spatiotemporal.js';
import type { Where } from './where.js';

/**
 * The episode filter → SQL: adds the filter's conditions on the episode aliased `e` to `where`. The one
 * builder every query over episodes uses (the list, the spatiotemporal search, the similarity search), so
 * that a filter means the same everywhere. Each condition is a range of an episode index where one exists; near
 * and within read the R*Tree (a coarse filter, re-checked exactly). An episode in progress spans until `nowMs`.
 */
export function whereEpisodeMatches(where: Where, f: EpisodeFilter, nowMs = Date.now()): Where {
  if (f.archived !== 'any') where.and('e.archived = ?', f.archived === 'true' ? 1 : 0);
  if (f.task_type?.length) where.in('e.task_type', f.task_type);
  if (f.domain !== undefined) where.and('e.domain = ?', f.domain);
  if (f.language !== undefined) where.and('e.language = ?', f.language);
  if (f.agent_id !== undefined) where.and('e.agent_id = ?', f.agent_id);
  if (f.session_id !== undefined) where.and('e.session_id = ?', f.session_id);
  if (f.status) where.and(f.status === 'completed' ? 'e.end_time IS NOT NULL' : 'e.end_time IS NULL');
  if (f.outcome?.length) where.in('e.outcome_type', f.outcome);
  if (f.min_reward !== undefined) where.and('e.reward_total >= ?', f.min_reward);
  if (f.max_reward !== undefined) where.and('e.reward_total <= ?', f.max_reward);
  if (f.started_after !== undefined) where.and('e.start_time >= ?', ms(f.started_after));
  if (f.started_before !== undefined) where.and('e.start_time < ?', ms(f.started_before));
  const tags = normaliseTags(f.tag ?? []);
  if (tags.length > 0) {
    const tagged = 'SELECT 1 FROM episode_tags t WHERE t.tenant = e.tenant AND t.episode_id = e.id AND t.tag';
    if (f.tags_match === 'all') for (const tag of tags) where.and(`EXISTS (${tagged} = ?)`, tag);
    else where.and(`EXISTS (${tagged} IN (${tags.map(() => '?').join(', ')}))`, ...tags);
  }
  for (const [key, value] of Object.entries(f.metadata ?? {})) {
    where.and(
      `EXISTS (SELECT 1 FROM json_each(e.body, '$.metadata') m WHERE m.key = ? AND m.value = ?)`,
      key,
      value,
    );
  }
  const match = f.q === undefined ? null : ftsQuery(f.q);
  if (match) where.and('e.rowid IN (SELECT rowid FROM episodes_fts WHERE episodes_fts MATCH ?)', match);
  if (f.near || f.within || f.time) whereEpisodeInSpaceTime(where, f, nowMs);
  return where;
}
