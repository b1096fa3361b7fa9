import type { Statement } from '../../db/types.js';
import { sql } from '../../db/types.js';
import type { Location } from '../../domain/common.js';
import { tenantScope } from './where.js';

// The spatiotemporal index (SPEC §3.5): an entry row per located episode (step number 0) or step, and its
// box in the R*Tree (lat, lon, time in seconds; 32-bit floats, so a coarse filter re-checked exactly).

/** R*Tree time axis: seconds; an episode still in progress extends to "the end of time". */
const OPEN_END_S = 1e12;

/** Which entry: the episode itself, a step by number, or the step inserted just before (auto-numbered). */
export type LocatedItem = { episode: true } | { step: number } | { lastInsertedStep: true };

/**
 * Inserts a located item: its entry and its box over `[startMs, endMs]` (`endMs` null: still open). The
 * caller guarantees `endMs ≥ startMs` (the R*Tree refuses an inverted box; requests that would make one
 * are refused before they get here).
 */
export function locationInserts(
  tenant: string,
  episodeId: string,
  item: LocatedItem,
  location: Location | null,
  startMs: number,
  endMs: number | null,
): Statement[] {
  if (!location) return [];
  let entry: Statement;
  if ('lastInsertedStep' in item) {
    // The step just inserted by auto-numbering holds the episode's highest number.
    const steps = tenantScope(tenant).and('episode_id = ?', episodeId);
    entry = sql(
      `INSERT INTO spatiotemporal_entries (tenant, episode_id, step_number, lat, lon)
       VALUES (?, ?, (SELECT MAX(step_number) FROM steps WHERE ${steps}), ?, ?)`,
      tenant,
      episodeId,
      ...steps.args,
      location.lat,
      location.lon,
    );
  } else {
    const number = 'step' in item ? item.step : 0;
    entry = sql(
      'INSERT INTO spatiotemporal_entries (tenant, episode_id, step_number, lat, lon) VALUES (?, ?, ?, ?, ?)',
      tenant,
      episodeId,
      number,
      location.lat,
      location.lon,
    );
  }
  return [
    entry,
    sql(
      `INSERT INTO spatiotemporal_index (id, min_lat, max_lat, min_lon, max_lon, min_t, max_t)
       VALUES (last_insert_rowid(), ?, ?, ?, ?, ?, ?)`,
      location.lat,
      location.lat,
      location.lon,
      location.lon,
      startMs / 1000,
      endMs === null ? OPEN_END_S : endMs / 1000,
    ),
  ];
}

/** Removes the episode's own entry (its box goes with it, by trigger). */
export function episodeLocationDelete(tenant: string, episodeId: string): Statement {
  const where = tenantScope(tenant).and('episode_id = ?', episodeId).and('step_number = 0');
  return sql(`DELETE FROM spatiotemporal_entries WHERE ${where}`, ...where.args);
}
