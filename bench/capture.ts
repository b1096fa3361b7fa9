import { loadConfig } from '../src/config.js';
import { createDatabase } from '../src/db/create-database.js';
import type { Row, SqlDriver, SqlValue, Statement, StatementResult } from '../src/db/types.js';
import { EpisodeCreate } from '../src/domain/episode.js';
import { EpisodeListQuery } from '../src/domain/episode-list.js';
import { ClaimedWrites } from '../src/services/common/writes.js';
import { EpisodeService } from '../src/services/episode-service.js';
import { LibsqlEpisodeRepository } from '../src/storage/libsql/episode-repository.js';
import { LibsqlWriteClaimRepository } from '../src/storage/libsql/write-claims.js';
import { MIGRATIONS } from '../src/storage/migrations.js';

// The baselines must do the same database work as the service. Rather than copy its SQL (and drift
// when the repository changes), the service's own code runs against a driver that records statements.

/**
 * Records every statement instead of running it; writes "succeed", reads return no rows, or what `answer`
 * reads (for code whose next statement depends on the rows of the last).
 */
export class RecordingDriver implements SqlDriver {
  readonly mode = 'embedded' as const;
  readonly writes: Statement[][] = [];
  readonly reads: Statement[] = [];

  constructor(private readonly answer: (stmt: Statement) => Row[] = () => []) {}

  async query(stmt: Statement): Promise<Row[]> {
    this.reads.push(stmt);
    return this.answer(stmt);
  }

  async transaction(stmts: readonly Statement[]): Promise<StatementResult[]> {
    this.writes.push([...stmts]);
    return stmts.map(() => ({ rows: [{ step_number: 1 }], changes: 1 }));
  }

  async close(): Promise<void> {}
}

async function recording<T>(run: (episodes: EpisodeService, repo: LibsqlEpisodeRepository) => Promise<T>) {
  const driver = new RecordingDriver();
  const db = createDatabase(loadConfig({}), { driver });
  const repo = new LibsqlEpisodeRepository(db);
  try {
    await run(new EpisodeService(repo, new ClaimedWrites(new LibsqlWriteClaimRepository(db))), repo);
  } finally {
    await db.close();
  }
  return driver;
}

/** Placeholder that a template's arguments carry where each instance puts its own value. */
export const SENTINEL = '@@BENCH@@';

/** A recorded statement list and how to stamp out instances of it. */
export interface StatementTemplate {
  readonly stmts: readonly Statement[];
  /** The statements with every argument equal to an `exact` one or containing SENTINEL replaced. */
  instance(replacements: { exact?: [string, string][]; sentinel?: string }): Statement[];
}

function template(stmts: readonly Statement[]): StatementTemplate {
  return {
    stmts,
    instance({ exact, sentinel }) {
      const swap = (a: SqlValue): SqlValue => {
        if (typeof a !== 'string') return a;
        const swapped = exact?.find(([from]) => from === a);
        if (swapped) return swapped[1];
        return sentinel !== undefined && a.includes(SENTINEL) ? a.replaceAll(SENTINEL, sentinel) : a;
      };
      return stmts.map((s) => ({ sql: s.sql, args: s.args.map(swap) }));
    },
  };
}

/**
 * The statements `POST /v1/episodes` writes for `body` (one transaction: its claim first), with the
 * server-generated id and write id. Instances: `instance({ exact: [[id, newId], [claimKey, newKey]],
 * sentinel: '123' })` for a new id, write id and task number.
 */
export async function episodeCreateStatements(
  body: string,
): Promise<{ id: string; claimKey: string; write: StatementTemplate }> {
  const input = EpisodeCreate.parse(JSON.parse(body));
  let id = '';
  const driver = await recording(async (episodes) => {
    id = (await episodes.create('default', input)).value.id;
  });
  const stmts = driver.writes[0];
  if (driver.writes.length !== 1 || !stmts)
    throw new Error(`expected one write, got ${driver.writes.length}`);
  return { id, claimKey: String(stmts[0]?.args[1]), write: template(stmts) };
}

/** The same create without its write claim (its first statement): what the claim costs, measured. */
export const withoutClaim = (episode: { id: string; claimKey: string; write: StatementTemplate }) => ({
  ...episode,
  write: template(episode.write.stmts.slice(1)),
});

/** The SELECT of `GET /v1/episodes/{id}`; instances take `{ exact: [[SENTINEL, id]] }`. */
export async function getByIdStatement(): Promise<StatementTemplate> {
  const driver = await recording(async (_episodes, repo) => {
    await repo.get('default', SENTINEL);
  });
  return template(onlyRead(driver));
}

/** The SELECT of `GET /v1/episodes?domain=…&status=completed&limit=20`; instances take `{ exact: [[SENTINEL, domain]] }`. */
export async function filteredListStatement(): Promise<StatementTemplate> {
  const query = EpisodeListQuery.parse({ domain: SENTINEL, status: 'completed', limit: '20' });
  const driver = await recording(async (_episodes, repo) => {
    await repo.list('default', query);
  });
  return template(onlyRead(driver));
}

function onlyRead(driver: RecordingDriver): Statement[] {
  if (driver.reads.length !== 1 || driver.writes.length !== 0) {
    throw new Error(`expected one read, got ${driver.reads.length} reads and ${driver.writes.length} writes`);
  }
  return driver.reads;
}

/** Every statement of the service's schema, in order (the migration ledger aside). */
export const schemaStatements = (): string[] =>
  [...MIGRATIONS].sort((a, b) => a.version - b.version).flatMap((m) => m.statements);
