import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'libsql';
import { clusteredVectors } from './vector-workload.js';

// `node --import tsx bench/vector-index-params.ts [--n 2000] [--dim 384] [--queries 50] [--candidates 100]
// [--batch 256] [--only <prefix>;<prefix>…]`: DiskANN index options measured on clustered data (issue 11 item 5),
// straight on libSQL (no HTTP): insert rate in transactions of `batch` (as the service's indexer does), with
// the CPU time per insert (the figure that survives a shared machine: wall-clock rates there depend on the
// load), recall@10 of vector_top_k against an exact scan, bytes per vector of the file, and query time.
// One fresh file per configuration.

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '2000' },
    dim: { type: 'string', default: '384' },
    queries: { type: 'string', default: '50' },
    only: { type: 'string' },
    candidates: { type: 'string', default: '100' },
    batch: { type: 'string', default: '256' },
  },
});
const N = Number(values.n);
const DIM = Number(values.dim);
const QUERIES = Number(values.queries);
const BATCH = Number(values.batch);
const WRITER_CACHE_KIB = 262_144;
const CANDIDATES = values.candidates.split(',').map(Number);

const CONFIGS: Record<string, string[]> = {
  defaults: [],
  'float8, max_neighbors=64, search_l=200': [
    "'compress_neighbors=float8'",
    "'max_neighbors=64'",
    "'search_l=200'",
  ],
  'float8, max_neighbors=64, search_l=200, insert_l=40': [
    "'compress_neighbors=float8'",
    "'max_neighbors=64'",
    "'search_l=200'",
    "'insert_l=40'",
  ],
  'float8, max_neighbors=64, search_l=100, insert_l=40': [
    "'compress_neighbors=float8'",
    "'max_neighbors=64'",
    "'search_l=100'",
    "'insert_l=40'",
  ],
  'float8, max_neighbors=64, search_l=50, insert_l=40': [
    "'compress_neighbors=float8'",
    "'max_neighbors=64'",
    "'search_l=50'",
    "'insert_l=40'",
  ],
  'float8, max_neighbors=32, search_l=100, insert_l=40': [
    "'compress_neighbors=float8'",
    "'max_neighbors=32'",
    "'search_l=100'",
    "'insert_l=40'",
  ],
  'float8, max_neighbors=32': ["'compress_neighbors=float8'", "'max_neighbors=32'"],
  'float8, max_neighbors=48, search_l=200, insert_l=40': [
    "'compress_neighbors=float8'",
    "'max_neighbors=48'",
    "'search_l=200'",
    "'insert_l=40'",
  ],
  'float8, max_neighbors=32, search_l=200, insert_l=40': [
    "'compress_neighbors=float8'",
    "'max_neighbors=32'",
    "'search_l=200'",
    "'insert_l=40'",
  ],
  'float8, max_neighbors=48, search_l=200': [
    "'compress_neighbors=float8'",
    "'max_neighbors=48'",
    "'search_l=200'",
  ],
  'float1bit, max_neighbors=32': ["'compress_neighbors=float1bit'", "'max_neighbors=32'"],
  'float1bit, max_neighbors=64, search_l=200': [
    "'compress_neighbors=float1bit'",
    "'max_neighbors=64'",
    "'search_l=200'",
  ],
};

const blob = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
const { vectors, queries } = clusteredVectors({ n: N, dim: DIM, queries: QUERIES, seed: 11 });

console.log(
  `# DiskANN options, ${N} × ${DIM}-d clustered vectors, ${QUERIES} queries, k = 10; load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
console.log(
  `| options | inserts/s | CPU ms/insert | bytes/vector | recall@10 | ${CANDIDATES.map((c) => `recall@10, ${c} re-ranked | ms/query`).join(' | ')} | index ms/query | exact ms/query |`,
);
console.log(`|---|---|---|---|---|${CANDIDATES.map(() => '---|---|').join('')}---|---|`);
for (const [name, options] of Object.entries(CONFIGS)) {
  if (values.only && !values.only.split(';').some((prefix) => name.startsWith(prefix))) continue;
  const dir = mkdtempSync(join(tmpdir(), 'engram-vector-params-'));
  const file = join(dir, 'v.db');
  const db = new Database(file);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = FULL');
  // As the service's writer: a page cache large enough to keep a batch's rewritten neighbour blocks.
  db.exec(`PRAGMA cache_size = -${WRITER_CACHE_KIB}`);
  db.exec(`CREATE TABLE v (id INTEGER PRIMARY KEY, vector F32_BLOB(${DIM}) NOT NULL)`);
  db.exec(`CREATE INDEX v_ann ON v (libsql_vector_idx(vector${options.map((o) => `, ${o}`).join('')}))`);
  const insert = db.prepare('INSERT INTO v (id, vector) VALUES (?, ?)');
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  for (let at = 0; at < N; at += BATCH) {
    db.exec('BEGIN IMMEDIATE');
    for (let i = at; i < Math.min(N, at + BATCH); i++) insert.run([i + 1, blob(vectors[i] as Float32Array)]);
    db.exec('COMMIT');
  }
  const insertsPerS = N / ((performance.now() - started) / 1000);
  const cpu = process.cpuUsage(cpuStarted);
  const cpuMsPerInsert = (cpu.user + cpu.system) / 1000 / N;
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  const bytes = statSync(file).size / N;
  const top = db.prepare('SELECT id FROM vector_top_k(?, ?, 10)');
  const exact = db.prepare('SELECT id FROM v ORDER BY vector_distance_cos(vector, ?) LIMIT 10');
  // As the service searches: k × 10 index candidates re-ranked by the exact distance.
  const reranked = db.prepare(
    `SELECT v.id FROM vector_top_k(?, ?, ?) t JOIN v ON v.id = t.id ORDER BY vector_distance_cos(v.vector, ?) LIMIT 10`,
  );
  let hits = 0;
  const rerankedHits = CANDIDATES.map(() => 0);
  const rerankedMs = CANDIDATES.map(() => 0);
  let indexMs = 0;
  let exactMs = 0;
  for (const q of queries) {
    const t0 = performance.now();
    const got = new Set((top.all(['v_ann', blob(q)]) as { id: number }[]).map((r) => r.id));
    const t1 = performance.now();
    const truth = (exact.all([blob(q)]) as { id: number }[]).map((r) => r.id);
    exactMs += performance.now() - t1;
    CANDIDATES.forEach((c, i) => {
      const t2 = performance.now();
      const gotReranked = new Set(
        (reranked.all(['v_ann', blob(q), c, blob(q)]) as { id: number }[]).map((r) => r.id),
      );
      rerankedMs[i] = (rerankedMs[i] as number) + performance.now() - t2;
      rerankedHits[i] = (rerankedHits[i] as number) + truth.filter((id) => gotReranked.has(id)).length;
    });
    indexMs += t1 - t0;
    hits += truth.filter((id) => got.has(id)).length;
  }
  console.log(
    `| ${name} | ${insertsPerS.toFixed(0)} | ${cpuMsPerInsert.toFixed(1)} | ${(bytes / 1024).toFixed(1)} KiB | ${(hits / (10 * queries.length)).toFixed(3)} | ${CANDIDATES.map((_, i) => `${((rerankedHits[i] as number) / (10 * queries.length)).toFixed(3)} | ${((rerankedMs[i] as number) / queries.length).toFixed(2)}`).join(' | ')} | ${(indexMs / queries.length).toFixed(2)} | ${(exactMs / queries.length).toFixed(2)} |`,
  );
  db.close();
  rmSync(dir, { recursive: true, force: true });
}
