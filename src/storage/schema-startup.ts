import type { Database } from '../db/database.js';
import { classifyDbError, isUnavailable } from '../db/errors.js';
import { migrate } from './migrations.js';

export interface SchemaStartupLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

/** Whether the schema is current, so that the API may use the database; `stop()` ends the retries. */
export interface SchemaStartup {
  readonly ready: boolean;
  stop(): void;
}

const WARN_EVERY_MS = 30_000;

/**
 * Brings the schema up to date at start: `prepare` (an embedded replica's first sync), then the migrations.
 * When the database does not answer (down, stalled, busy, breaker open) the instance still starts: it listens
 * unready and tries again every `retryMs`, so it joins the load balancer once the database answers instead of
 * crash-looping on its start-up migration. Any other failure is a bug (a migration that cannot apply) and is
 * thrown at once. Resolves after the first attempt, or after `waitMs` while it goes on: migrations run without
 * the per-request deadline (see `Database.writeUnbounded`), and one that rebuilds a big table goes on in the
 * background while the instance listens unready (its failure is then logged, not thrown).
 */
export async function startSchema(
  db: Database,
  options: { retryMs: number; waitMs: number; log: SchemaStartupLog; prepare?: () => Promise<void> },
): Promise<SchemaStartup> {
  let ready = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let attempts = 0;
  let warnedAt = 0;

  const attempt = async (): Promise<void> => {
    attempts++;
    try {
      await options.prepare?.();
      const applied = await migrate(db);
      ready = true;
      if (applied.length > 0) options.log.info({ applied }, 'migrations applied');
      if (attempts > 1) options.log.info({ attempts }, 'database answered: schema ready, serving');
    } catch (err) {
      const dbErr = classifyDbError(err);
      // outcome_unknown: a migration's write went unanswered; the next attempt meets its claim if it committed.
      if (!isUnavailable(dbErr) && dbErr.kind !== 'outcome_unknown') throw err;
      if (Date.now() - warnedAt >= WARN_EVERY_MS) {
        warnedAt = Date.now();
        options.log.warn(
          { attempts, kind: dbErr.kind },
          'database not answering at start: listening unready, trying again',
        );
      }
      if (!stopped) {
        timer = setTimeout(() => {
          attempt().catch((bug: unknown) => options.log.error({ err: bug }, 'start-up migration failed'));
        }, options.retryMs);
        timer.unref();
      }
    }
  };

  let waiting: NodeJS.Timeout | undefined;
  const first = attempt();
  const stillRunning = new Promise<void>((resolve) => {
    waiting = setTimeout(() => {
      first.catch((bug: unknown) => options.log.error({ err: bug }, 'start-up migration failed'));
      options.log.warn({ waited_ms: options.waitMs }, 'schema migration still running: listening unready');
      resolve();
    }, options.waitMs);
  });
  try {
    await Promise.race([first, stillRunning]);
  } finally {
    clearTimeout(waiting);
  }
  return {
    get ready() {
      return ready;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
