/** One forward-only schema change, applied atomically (see `migrate`). */
export interface Migration {
  version: number;
  name: string;
  statements: string[];
  /**
   * Carries existing rows over in bounded chunks, each one transaction of these statements, for a table too
   * large for one (sqld ends a transaction that holds its write lock for more than 5 s). `statements`
   * register the work in `schema_backfills` (version, next_id, last_id); each chunk advances `next_id` and
   * deletes the row once past `last_id`. A crash between chunks loses nothing: the next start resumes.
   */
  backfill?: string[];
}
