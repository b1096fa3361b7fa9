import Database from 'libsql';
import { populateAnalytics, populationId } from './analytics.js';
import { Samples } from './load.js';
import { mdTable } from './report.js';
import { clusteredVectors } from './vector-workload.js';
import { DOMAIN_COUNT, domainOf } from './workload.js';

// The `vectors` scenario (issue 11 item 7): N generated, clustered, seeded 384-d vectors stored through
// POST /v1/embeddings/batch while a client searches (ingestion rate under searches), the background index
// catching up, then k = 10 searches at 1 and 8 clients with and without a selective filter (p50/p95/p99),
// recall@10 against an exact scan computed here from the same vectors, and bytes per vector on disk.

const DIM = 384;
const MODEL = 'bench-384';
const UPSERT_BATCH = 500;
const RECALL_QUERIES = 50;
const JSON_HEADERS = { 'content-type': 'application/json' };
/** The id series of this scenario's episodes (the analytics population is series 0). */
const VECTOR_SERIES = 1;

export interface VectorOptions {
  population: number;
  durationS: number;
  /** How long to wait for the index to catch up before measuring searches anyway. */
  indexWaitS: number;
  dbPath: string;
  /** The file holds the vectors of an earlier run (same population): searches, recall and size only. */
  reused: boolean;
}

export interface VectorReport {
  lines: string[];
  problems: string[];
}

const f32 = (v: Float32Array) => Array.from(v);
const cosine = (a: Float32Array, b: Float32Array) => {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.sqrt(na * nb);
};

interface Answer {
  status: number;
  body: { strategy?: string; items?: { item_id: string }[] };
}

/**
 * The parts of a search, each timed alone straight on the file (the baseline of the HTTP figures): a search
 * body's JSON, the index's candidates, their exact re-rank, the exact scan of the filtered vectors in SQL, and
 * what the service reads instead to score them in memory.
 */
function searchParts(db: Database.Database, queries: Float32Array[], domain: string): Record<string, number> {
  const model = db.prepare('SELECT id, tenant FROM embedding_models WHERE name = ?').get([MODEL]) as {
    id: number;
    tenant: string;
  };
  const index = `embedding_index_${model.id}_ann`;
  const blob = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  const top = db.prepare('SELECT id FROM vector_top_k(?, ?, 100)');
  const reranked = db.prepare(
    `SELECT v.id FROM vector_top_k(?, ?, 100) top CROSS JOIN embeddings v ON v.id = top.id
     ORDER BY vector_distance_cos(v.vector, ?) LIMIT 10`,
  );
  const filtered = db.prepare(
    `SELECT v.id FROM episodes e
     CROSS JOIN embeddings v INDEXED BY embeddings_by_episode ON v.tenant = e.tenant AND v.episode_id = e.id
     WHERE e.tenant = ? AND e.domain = ? AND e.archived = 0 AND v.model_id = ?
     ORDER BY vector_distance_cos(v.vector, ?) LIMIT 10`,
  );
  // What the service's exact path reads instead: which vectors match and their stamps, from the covering index.
  const keys = db.prepare(
    `SELECT json_group_array(v.id), json_group_array(v.version), json_group_array(v.created_at) FROM episodes e
     CROSS JOIN embeddings v INDEXED BY embeddings_by_episode ON v.tenant = e.tenant AND v.episode_id = e.id
     WHERE e.tenant = ? AND e.domain = ? AND e.archived = 0 AND v.model_id = ?`,
  );
  const time = (run: (q: Float32Array) => unknown) => {
    const samples = new Samples();
    for (const q of queries) {
      const t0 = performance.now();
      run(q);
      samples.add(performance.now() - t0);
    }
    return samples.percentile(50);
  };
  return {
    'search body JSON (stringify + parse)': time((q) =>
      JSON.parse(JSON.stringify({ model: MODEL, vector: f32(q), k: 10 })),
    ),
    'vector_top_k, 100 candidates': time((q) => top.all([index, blob(q)])),
    'vector_top_k + exact re-rank of the 100': time((q) => reranked.all([index, blob(q), blob(q)])),
    [`exact scan of the filtered vectors in SQL (domain ${domain})`]: time((q) =>
      filtered.all([model.tenant, domain, model.id, blob(q)]),
    ),
    'the ids, versions and creation times of the same vectors (covering index)': time(() =>
      keys.all([model.tenant, domain, model.id]),
    ),
  };
}

async function post(url: string, body: unknown): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

interface Ingestion {
  started: number;
  upsertRate: number;
  /** Searches answered while the vectors were stored. */
  duringIngest: Samples;
}

const log = (line: string) => console.log(`  ${line}`);

/** The episodes, then their vectors through the API while one client searches: the ingestion figures. */
async function ingest(
  url: string,
  o: VectorOptions,
  ids: string[],
  data: Float32Array[],
  queries: Float32Array[],
  problems: string[],
): Promise<Ingestion> {
  // The episodes that hold the vectors, by direct SQL into the server's file (seconds, where the batch API
  // takes minutes on a loaded machine): what is measured is the vectors' API.
  log(`vectors: creating ${o.population} episodes to hold the vectors (direct SQL)…`);
  const populatedS = populateAnalytics(o.dbPath, o.population, 0, VECTOR_SERIES);
  log(`vectors: ${o.population} episodes in ${populatedS.toFixed(1)} s`);

  // Ingestion while a client searches: 2 batches in flight, one search at a time beside them.
  let ingesting = true;
  const duringIngest = new Samples();
  const searcher = (async () => {
    let q = 0;
    while (ingesting) {
      const t0 = performance.now();
      const res = await post(`${url}/v1/search/similar`, {
        model: MODEL,
        vector: f32(queries[q++ % queries.length] as Float32Array),
        k: 10,
      });
      if (res.status === 200) duringIngest.add(performance.now() - t0);
      else if (res.status !== 404) problems.push(`search during ingestion answered ${res.status}`); // 404: no model yet
    }
  })();
  log(
    `vectors: upserting ${o.population} × ${DIM}-d through POST /v1/embeddings/batch × ${UPSERT_BATCH}, 2 in flight, 1 client searching…`,
  );
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    for (let at = next; at < o.population; at = next) {
      next += UPSERT_BATCH;
      const items = ids.slice(at, at + UPSERT_BATCH).map((id, i) => ({
        item_type: 'episode',
        item_id: id,
        model: MODEL,
        vector: f32(data[at + i] as Float32Array),
      }));
      const res = await post(`${url}/v1/embeddings/batch`, { items });
      if (res.status !== 200)
        problems.push(
          `POST /v1/embeddings/batch answered ${res.status}: ${JSON.stringify(res.body).slice(0, 200)}`,
        );
    }
  };
  await Promise.all([worker(), worker()]);
  const ingestS = (performance.now() - started) / 1000;
  ingesting = false;
  await searcher;
  const upsertRate = o.population / ingestS;
  log(
    `vectors: ${upsertRate.toFixed(0)} vectors/s acknowledged; searches meanwhile p50 ${duringIngest.percentile(50).toFixed(1)} ms`,
  );

  return { started, upsertRate, duringIngest };
}

export async function vectors(url: string, o: VectorOptions): Promise<VectorReport> {
  const problems: string[] = [];
  const lines: string[] = [];
  const { vectors: data, queries } = clusteredVectors({ n: o.population, dim: DIM, queries: 200, seed: 7 });

  const ids = Array.from({ length: o.population }, (_, i) => populationId(i, VECTOR_SERIES));
  const ingestion = o.reused ? null : await ingest(url, o, ids, data, queries, problems);
  const started = ingestion?.started ?? performance.now();

  // The index catching up: searches are measured once it has (else they would scan the rest exactly).
  const waitStart = performance.now();
  const unindexedNow = async () => {
    const res = await fetch(`${url}/v1/embedding-models`);
    const model = ((await res.json()) as { items: { name: string; unindexed: number }[] }).items.find(
      (m) => m.name === MODEL,
    );
    return model?.unindexed ?? o.population;
  };
  const behindAtIngestEnd = await unindexedNow();
  let unindexed = behindAtIngestEnd;
  while (unindexed > 0 && (performance.now() - waitStart) / 1000 < o.indexWaitS) {
    await new Promise((r) => setTimeout(r, 1000));
    unindexed = await unindexedNow();
    if (Math.round((performance.now() - waitStart) / 1000) % 60 === 0)
      log(
        `vectors: ${unindexed} still unindexed after ${((performance.now() - waitStart) / 1000).toFixed(0)} s`,
      );
  }
  const waitedS = (performance.now() - waitStart) / 1000;
  const caughtUpS = (performance.now() - started) / 1000;
  // The indexer's own rate once ingestion stopped: nothing else was writing.
  const indexRate = (behindAtIngestEnd - unindexed) / waitedS;
  log(
    `vectors: index ${unindexed === 0 ? 'caught up' : `still ${unindexed} behind`} ${caughtUpS.toFixed(0)} s after the first upsert; ${behindAtIngestEnd} were unindexed when ingestion ended, indexed at ${indexRate.toFixed(1)}/s after it`,
  );

  // Searches at 1 and 8 clients, without and with a selective filter (one domain of DOMAIN_COUNT).
  const domain = domainOf(3);
  const inDomain = new Set(ids.filter((_, i) => domainOf(i) === domain));
  const rows: string[][] = [];
  const strategies: Record<string, number> = {};
  for (const filtered of [false, true]) {
    for (const clients of [1, 8]) {
      const samples = new Samples();
      const until = performance.now() + o.durationS * 1000;
      let q = 0;
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (performance.now() < until) {
            const body = {
              model: MODEL,
              vector: f32(queries[q++ % queries.length] as Float32Array),
              k: 10,
              ...(filtered ? { filter: { domain } } : {}),
            };
            const t0 = performance.now();
            const res = await post(`${url}/v1/search/similar`, body);
            samples.add(performance.now() - t0);
            if (res.status !== 200) problems.push(`search answered ${res.status}`);
            else strategies[String(res.body.strategy)] = (strategies[String(res.body.strategy)] ?? 0) + 1;
          }
        }),
      );
      rows.push([
        filtered ? `k=10, filter domain (1/${DOMAIN_COUNT})` : 'k=10, no filter',
        String(clients),
        (samples.count / o.durationS).toFixed(0),
        samples.percentile(50).toFixed(1),
        samples.percentile(95).toFixed(1),
        samples.percentile(99).toFixed(1),
      ]);
    }
  }

  // Recall@10 against an exact scan of the same vectors, here.
  const recall = async (filtered: boolean) => {
    let hits = 0;
    for (const query of queries.slice(0, RECALL_QUERIES)) {
      const truth = data
        .map((v, i) => ({ id: ids[i] as string, s: cosine(query, v) }))
        .filter((x) => !filtered || inDomain.has(x.id))
        .sort((a, b) => b.s - a.s)
        .slice(0, 10)
        .map((x) => x.id);
      const res = await post(`${url}/v1/search/similar`, {
        model: MODEL,
        vector: f32(query),
        k: 10,
        ...(filtered ? { filter: { domain } } : {}),
      });
      const got = new Set((res.body.items ?? []).map((x) => x.item_id));
      hits += truth.filter((id) => got.has(id)).length;
    }
    return hits / (10 * RECALL_QUERIES);
  };
  const recallAll = await recall(false);
  const recallFiltered = await recall(true);

  // Bytes per vector: the model's index (table, DiskANN shadow table) and the store of record.
  const db = new Database(o.dbPath, { readonly: true });
  const sizeOf = (pattern: string) =>
    Number(
      (
        db.prepare(`SELECT COALESCE(SUM(pgsize), 0) AS b FROM dbstat WHERE name LIKE ?`).get([pattern]) as {
          b: number;
        }
      ).b,
    );
  const indexBytes = sizeOf('embedding_index_%');
  const storeBytes = sizeOf('embeddings');
  const parts = searchParts(db, queries.slice(0, RECALL_QUERIES), domain);
  db.close();

  lines.push(
    `Vectors: ${o.population.toLocaleString('en-US')} × ${DIM}-d, clustered (seeded), model \`${MODEL}\`.`,
    '',
    ingestion
      ? `- Ingestion: ${ingestion.upsertRate.toFixed(0)} vectors/s acknowledged (POST /v1/embeddings/batch × ${UPSERT_BATCH}, 2 in flight) while 1 client searched (${ingestion.duringIngest.count} searches, p50 ${ingestion.duringIngest.percentile(50).toFixed(1)} ms, p95 ${ingestion.duringIngest.percentile(95).toFixed(1)} ms); target ≥ 500/s: ${ingestion.upsertRate >= 500 ? 'PASS' : 'MISS'}`
      : '- Ingestion: not measured in this run (the vectors were stored by an earlier run, `--vectors-db`)',
    ingestion
      ? `- Index: ${unindexed === 0 ? `caught up ${caughtUpS.toFixed(0)} s after the first upsert (${(o.population / caughtUpS).toFixed(0)} vectors/s indexed overall)` : `${unindexed} vectors still unindexed after ${caughtUpS.toFixed(0)} s (searches scanned them exactly)`}; ${behindAtIngestEnd} were unindexed when ingestion ended (${(o.population - behindAtIngestEnd).toLocaleString('en-US')} indexed during it), then ${indexRate.toFixed(1)} vectors/s with nothing else writing (${waitedS.toFixed(0)} s)`
      : `- Index: ${behindAtIngestEnd} vectors unindexed when the run began, ${unindexed} when the searches began`,
    `- Recall@10 against an exact scan (${RECALL_QUERIES} queries): ${recallAll.toFixed(3)} without filter, ${recallFiltered.toFixed(3)} with the domain filter; target ≥ 0.95: ${Math.min(recallAll, recallFiltered) >= 0.95 ? 'PASS' : 'MISS'}`,
    `- Bytes per vector: index ${(indexBytes / o.population / 1024).toFixed(1)} KiB, store of record ${(storeBytes / o.population).toFixed(0)} B`,
    `- Where a search's time goes (p50 over ${RECALL_QUERIES} queries, in the bench process, straight on the file, server idle): ${Object.entries(
      parts,
    )
      .map(([part, ms]) => `${part} ${ms.toFixed(2)} ms`)
      .join('; ')}`,
    `- Search strategies answered: ${Object.entries(strategies)
      .map(([s, n]) => `${s} ${n}`)
      .join(', ')}`,
    '',
    mdTable(['search', 'clients', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms'], rows, new Set([1, 2, 3, 4, 5])),
    '',
  );
  return { lines, problems };
}
