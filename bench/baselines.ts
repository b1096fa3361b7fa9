import { type Client, createClient, type InStatement } from '@libsql/client';
import Database from 'libsql';
import { v7 as uuidv7 } from 'uuid';
import type { Statement } from '../src/db/types.js';
import { SENTINEL, type StatementTemplate } from './capture.js';
import { type Measurement, measureLoop } from './load.js';

// In-process baselines: the same SQL the service runs, without HTTP, validation or the service layer.
// Every database gets WAL + synchronous=FULL, as the service's embedded driver sets them.

export interface LoopTiming {
  durationS: number;
  warmupS: number;
}

const toClient = (s: Statement): InStatement => ({ sql: s.sql, args: [...s.args] });

/** A @libsql/client on a `file:` database with one connection (so the PRAGMAs hold for every call). */
export async function openClient(path: string): Promise<Client> {
  const client = createClient({ url: `file:${path}`, concurrency: 1 });
  await client.execute('PRAGMA journal_mode = WAL');
  await client.execute('PRAGMA synchronous = FULL');
  await client.execute('PRAGMA foreign_keys = ON');
  await client.execute('PRAGMA busy_timeout = 50');
  const sync = (await client.execute('PRAGMA synchronous')).rows[0]?.[0];
  if (Number(sync) !== 2) throw new Error(`synchronous is ${String(sync)}, expected 2 (FULL)`);
  return client;
}

/** The raw `libsql` driver (better-sqlite3 API) with the same PRAGMAs and a prepared-statement cache. */
export function openRaw(path: string) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 50');
  const cache = new Map<string, ReturnType<typeof db.prepare>>();
  const prepared = (text: string) => {
    let stmt = cache.get(text);
    if (!stmt) {
      stmt = db.prepare(text);
      cache.set(text, stmt);
    }
    return stmt;
  };
  return {
    db,
    /** Runs one statement as the service's embedded driver does (readers with all(), writers with run()). */
    run(s: Statement): unknown {
      const stmt = prepared(s.sql);
      return stmt.reader ? stmt.all([...s.args]) : stmt.run([...s.args]);
    },
    close: () => db.close(),
  };
}

/** Creates the service's schema in a fresh database file. */
export async function createSchema(path: string, schema: string[]): Promise<void> {
  const raw = openRaw(path);
  try {
    raw.db.exec('BEGIN IMMEDIATE');
    for (const s of schema) raw.db.exec(s);
    raw.db.exec('COMMIT');
  } finally {
    raw.close();
  }
}

/** Episode `n` of a baseline: the service's statements with fresh UUIDv7s (id, write id) and task number `n`. */
function episodeWriter(write: StatementTemplate, templateId: string, claimKey: string) {
  let n = 0;
  return () =>
    write.instance({
      exact: [
        [templateId, uuidv7()],
        [claimKey, ` ${uuidv7()}`],
      ],
      sentinel: String(++n),
    });
}

/** Direct @libsql/client: one `batch(…, 'write')` per episode, sequentially (fresh file). */
export async function directCreate(
  path: string,
  schema: string[],
  episode: { id: string; claimKey: string; write: StatementTemplate },
  timing: LoopTiming,
): Promise<Measurement> {
  await createSchema(path, schema);
  const client = await openClient(path);
  const next = episodeWriter(episode.write, episode.id, episode.claimKey);
  try {
    return await measureLoop(() => client.batch(next().map(toClient), 'write'), timing);
  } finally {
    client.close();
  }
}

/** Raw prepared `libsql` statements, `perTransaction` episodes per BEGIN IMMEDIATE … COMMIT (fresh file). */
export async function rawGroupedCreate(
  path: string,
  schema: string[],
  episode: { id: string; claimKey: string; write: StatementTemplate },
  perTransaction: number,
  timing: LoopTiming,
): Promise<Measurement> {
  await createSchema(path, schema);
  const raw = openRaw(path);
  const next = episodeWriter(episode.write, episode.id, episode.claimKey);
  const transaction = () => {
    raw.db.exec('BEGIN IMMEDIATE');
    try {
      for (let i = 0; i < perTransaction; i++) for (const s of next()) raw.run(s);
      raw.db.exec('COMMIT');
    } catch (err) {
      if (raw.db.inTransaction) raw.db.exec('ROLLBACK');
      throw err;
    }
  };
  try {
    return await measureLoop(transaction, { ...timing, unitsPerOp: perTransaction });
  } finally {
    raw.close();
  }
}

/** A read statement with one varying argument, looped sequentially through @libsql/client `execute`. */
export async function directRead(
  path: string,
  read: StatementTemplate,
  pick: () => string,
  timing: LoopTiming,
): Promise<Measurement> {
  const client = await openClient(path);
  try {
    return await measureLoop(() => {
      const [s] = read.instance({ exact: [[SENTINEL, pick()]] });
      return client.execute(toClient(s as Statement));
    }, timing);
  } finally {
    client.close();
  }
}

/** The same read through a raw prepared `libsql` statement (what the service's embedded driver uses). */
export async function rawRead(
  path: string,
  read: StatementTemplate,
  pick: () => string,
  timing: LoopTiming,
): Promise<Measurement> {
  const raw = openRaw(path);
  try {
    return await measureLoop(() => {
      const [s] = read.instance({ exact: [[SENTINEL, pick()]] });
      return raw.run(s as Statement);
    }, timing);
  } finally {
    raw.close();
  }
}
