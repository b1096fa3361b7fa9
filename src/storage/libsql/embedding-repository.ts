import type { Database } from '../../db/database.js';
import { type Row, type Statement, sql } from '../../db/types.js';
import type { DiskAnnOptions, EmbeddingModel, ItemType } from '../../domain/embedding.js';
import { EmbeddingItemNotFound, EmbeddingNotFound, ResponseTooLarge } from '../../domain/errors.js';
import { MAX_PAGE_BYTES } from '../../domain/limits.js';
import type {
  EmbeddingRepository,
  Nearest,
  RankedItem,
  SimilarHit,
  SimilarQuery,
  StoredVector,
  TextQuery,
  UpsertResult,
  VectorWrite,
} from '../embedding-repository.js';
import { VersionMismatch, type WriteClaim, type Written } from '../types.js';
import { type EmbeddingIndexer, indexName } from './embedding-index.js';
import {
  blobBytes,
  EMBEDDING_FAILURES,
  type Item,
  itemExists,
  modelIdOf,
  modelOfLength,
  vectorBlob,
  vectorInsert,
  vectorOfBlob,
  withModelDimension,
} from './embeddings.js';
import { whereEpisodeMatches } from './episode-filter.js';
import { EPISODE_COLUMNS, ftsQuery, iso, toEncodedEpisode } from './episode-rows.js';
import { HEURISTIC_COLUMNS, PATTERN_COLUMNS, toEncodedHeuristic, toEncodedPattern } from './pattern-rows.js';
import type { Failures } from './statements.js';
import { guard } from './statements.js';
import { STEP_COLUMNS, toEncodedStep } from './step-rows.js';
import { VectorCache, type VectorRow } from './vector-cache.js';
import { tenantScope, type Where } from './where.js';
import { claimResultUpdate, runClaimed } from './write-claims.js';

/** Models remembered by `model` (an entry is a few dozen bytes). */
const KNOWN_MODELS_MAX = 10_000;

type Failure = 'EMBEDDING_ITEM_NOT_FOUND' | 'EMBEDDING_NOT_FOUND' | 'VERSION_MISMATCH';

const FAILURES: Failures<Failure> = {
  EMBEDDING_ITEM_NOT_FOUND: (item) => new EmbeddingItemNotFound(item ?? ''),
  EMBEDDING_NOT_FOUND: (subject) => {
    const [item, model] = JSON.parse(subject ?? '["", ""]') as [string, string];
    return new EmbeddingNotFound(item, model);
  },
  VERSION_MISMATCH: (subject) => new VersionMismatch(subject ?? ''),
};

export interface SearchSettings {
  /** At most this many matching vectors are scanned exactly rather than searched through the index. */
  exactScanMax: number;
  /** Index candidates per result wanted, before conditions and re-ranking. */
  overfetch: number;
  /** Index options shown for a model whose index does not exist yet. */
  defaults: DiskAnnOptions;
  /** Memory for the vectors exact searches score (see `VectorCache`); 0 scans them in SQL. */
  cacheBytes: number;
}

/** See `matching`. */
interface Matching {
  /** Every matching vector. */
  scan: string;
  /** The matching vectors the indexer has not reached. */
  unindexed: string;
  /** The index's candidates (`top`; two arguments: the query vector and how many) and their vectors. */
  top: string;
  /** Whether a filter's episodes drive (else the model's own vectors are the set). */
  filtered: boolean;
  where: Where;
}

/** The matching vectors' row ids and what identifies their content (see `VectorCache`), by position. */
interface VectorKeys {
  ids: number[];
  versions: number[];
  created: number[];
}

/** The row of one vector of an item in a model. */
function vectorRow(tenant: string, item: Item, model: string): Where {
  const modelId = modelIdOf(tenant, model);
  return tenantScope(tenant)
    .and(`model_id = ${modelId.sql}`, ...modelId.args)
    .and('item_type = ?', item.type)
    .and('item_id = ?', item.id);
}

export class LibsqlEmbeddingRepository implements EmbeddingRepository {
  /** Models whose index exists (an index is never dropped, so a positive answer stays true). */
  private readonly indexed = new Set<number>();
  /**
   * Models found, by tenant and name: a model is never deleted and its id and dimension never change, so a
   * search needs no read to find them after the first. Bounded: cleared when full.
   */
  private readonly knownModels = new Map<string, { id: number; dimension: number }>();
  private readonly cache: VectorCache;

  constructor(
    private readonly db: Database,
    private readonly indexer: EmbeddingIndexer,
    private readonly settings: SearchSettings,
  ) {
    this.cache = new VectorCache(settings.cacheBytes);
  }

  async upsert(
    tenant: string,
    writes: VectorWrite[],
    claim: WriteClaim,
    expectedVersion?: number,
  ): Promise<Written<UpsertResult[]>> {
    const now = Date.now();
    const stmts: Statement[] = [];
    const registered = new Set<string>();
    for (const w of writes) {
      stmts.push(itemExists(tenant, w.item));
      if (expectedVersion !== undefined) {
        const row = vectorRow(tenant, w.item, w.model);
        stmts.push(
          guard(
            { code: 'VERSION_MISMATCH', subject: `${w.item.type}/${w.item.id}` },
            `(SELECT version FROM embeddings WHERE ${row}) = ?`,
            ...row.args,
            expectedVersion,
          ),
        );
      }
      // A batch registers and checks each (model, length) once, not once per vector.
      const modelKey = JSON.stringify([w.model, w.vector.length]);
      if (!registered.has(modelKey)) stmts.push(...modelOfLength(tenant, w.model, w.vector.length, now));
      registered.add(modelKey);
      stmts.push(vectorInsert(tenant, w.item, w, now));
    }
    const keys = JSON.stringify(writes.map((w) => [w.item.type, w.item.id, w.model]));
    const result = claimResultUpdate(
      tenant,
      claim,
      `SELECT json_group_array(json(r)) FROM (
         SELECT json_object('item_type', v.item_type, 'item_id', v.item_id, 'model', m.name,
           'dimension', m.dimension, 'version', v.version,
           'created_at', strftime('%Y-%m-%dT%H:%M:%fZ', v.created_at / 1000.0, 'unixepoch'),
           'updated_at', strftime('%Y-%m-%dT%H:%M:%fZ', v.updated_at / 1000.0, 'unixepoch'), 'created', json(iif(v.version = 1, 'true', 'false'))) AS r
         FROM json_each(?) w
         JOIN embedding_models m ON m.tenant = ? AND m.name = w.value ->> 2
         JOIN embeddings v ON v.tenant = m.tenant AND v.model_id = m.id
           AND v.item_type = w.value ->> 0 AND v.item_id = w.value ->> 1
         ORDER BY w.key)`,
      keys,
      tenant,
    );
    stmts.push(result);
    const written = await withModelDimension(
      this.db,
      tenant,
      runClaimed<UpsertResult[]>(
        this.db,
        tenant,
        claim,
        stmts,
        { computed: result },
        {
          ...EMBEDDING_FAILURES,
          ...FAILURES,
        },
      ),
    );
    this.indexer.kick();
    return written;
  }

  async get(tenant: string, item: Item, model: string): Promise<StoredVector | null> {
    const where = vectorRow(tenant, item, model);
    const [row] = await this.db.read(
      `SELECT item_type, item_id, vector, version, created_at, updated_at FROM embeddings WHERE ${where}`,
      where.args,
    );
    if (!row) return null;
    const vector = vectorOfBlob(row.vector);
    return {
      item_type: row.item_type as ItemType,
      item_id: String(row.item_id),
      model,
      dimension: vector.length,
      vector,
      created_at: iso(Number(row.created_at)),
      updated_at: iso(Number(row.updated_at)),
      version: Number(row.version),
    };
  }

  delete(
    tenant: string,
    item: Item,
    model: string,
    expectedVersion: number | undefined,
    claim: WriteClaim,
  ): Promise<Written<null>> {
    const where = vectorRow(tenant, item, model);
    const stmts: Statement[] = [
      guard(
        { code: 'EMBEDDING_NOT_FOUND', subject: JSON.stringify([`${item.type}/${item.id}`, model]) },
        `EXISTS (SELECT 1 FROM embeddings WHERE ${where})`,
        ...where.args,
      ),
    ];
    if (expectedVersion !== undefined) {
      stmts.push(
        guard(
          { code: 'VERSION_MISMATCH', subject: `${item.type}/${item.id}` },
          `(SELECT version FROM embeddings WHERE ${where}) = ?`,
          ...where.args,
          expectedVersion,
        ),
      );
    }
    stmts.push(sql(`DELETE FROM embeddings WHERE ${where}`, ...where.args));
    return runClaimed(this.db, tenant, claim, stmts, { known: null }, FAILURES);
  }

  async models(tenant: string): Promise<EmbeddingModel[]> {
    const where = tenantScope(tenant, 'm');
    const rows = await this.db.scan(
      `SELECT m.name, m.dimension, m.metric, m.index_options, m.created_at,
         (SELECT COUNT(*) FROM embeddings e WHERE e.tenant = m.tenant AND e.model_id = m.id) AS count,
         (SELECT COUNT(*) FROM embeddings e WHERE e.model_id = m.id AND e.indexed = 0) AS unindexed
       FROM embedding_models m WHERE ${where} ORDER BY m.name`,
      where.args,
    );
    return rows.map((r) => ({
      name: String(r.name),
      dimension: Number(r.dimension),
      metric: 'cosine',
      count: Number(r.count),
      unindexed: Number(r.unindexed),
      index: r.index_options
        ? (JSON.parse(String(r.index_options)) as DiskAnnOptions)
        : this.settings.defaults,
      created_at: iso(Number(r.created_at)),
    }));
  }

  async model(tenant: string, name: string): Promise<{ id: number; dimension: number } | null> {
    const key = JSON.stringify([tenant, name]);
    const known = this.knownModels.get(key);
    if (known) return known;
    const where = tenantScope(tenant).and('name = ?', name);
    const [row] = await this.db.read(`SELECT id, dimension FROM embedding_models WHERE ${where}`, where.args);
    if (!row) return null;
    const model = { id: Number(row.id), dimension: Number(row.dimension) };
    if (this.knownModels.size >= KNOWN_MODELS_MAX) this.knownModels.clear();
    this.knownModels.set(key, model);
    return model;
  }

  async nearest(tenant: string, q: SimilarQuery): Promise<Nearest> {
    const m = this.matching(tenant, q);
    const few = await this.matchingKeys(m, this.settings.exactScanMax);
    if (few && this.cache.fits(few.ids.length, q.model.dimension)) return this.inMemory(tenant, q, few);
    const query = vectorBlob(q.vector);
    if (!few && (await this.hasIndex(q.model.id))) {
      const answer = nearestOf(q, await this.viaIndex(q, m, query), 'index');
      if (answer.ranked.length >= q.k) return answer;
      // Only an exact scan says which k are best: in memory too, when the cache can hold every match.
      const all = await this.matchingKeys(m, this.cache.capacity(q.model.dimension));
      if (all) return this.inMemory(tenant, q, all);
    }
    return nearestOf(q, await this.exact(q, m, query), 'exact');
  }

  async textRanked(tenant: string, q: TextQuery): Promise<RankedItem[]> {
    const match = ftsQuery(q.text);
    if (match === null || (q.itemType !== undefined && q.itemType !== 'episode')) return [];
    const where = tenantScope(tenant, 'e');
    if (q.filter) whereEpisodeMatches(where, q.filter);
    if (q.exclude?.type === 'episode') where.and('e.id <> ?', q.exclude.id);
    const rows = await this.db.scan(
      `SELECT e.id, bm25(episodes_fts) AS rank
       FROM episodes_fts JOIN episodes e ON e.rowid = episodes_fts.rowid
       WHERE episodes_fts MATCH ? AND ${where} ORDER BY rank, e.id LIMIT ?`,
      [match, ...where.args, q.k],
    );
    // FTS5's bm25() is lower for a better match; the score is its negation (higher first).
    return rows.map((r) => ({ type: 'episode', id: String(r.id), similarity: null, score: -Number(r.rank) }));
  }

  /**
   * The rows a search may answer: the model's vectors under the query's conditions (`v`, and `e` with a
   * filter), and the three ways a search reaches them. The join orders are fixed (CROSS JOIN keeps its left
   * table outer) because the planner, without statistics, picked ones that read every vector of the model
   * per search: a scan of the model's rows for the unindexed ones instead of their partial index, and the
   * vectors outside with `vector_top_k` inside. With a filter the episodes drive, through the filter's
   * episode index (a filter is an index range, like the list's), and their vectors follow by episode.
   */
  private matching(tenant: string, q: SimilarQuery): Matching {
    const where = tenantScope(tenant, 'v').and('v.model_id = ?', q.model.id);
    if (q.itemType) where.and('v.item_type = ?', q.itemType);
    if (q.exclude) where.and('NOT (v.item_type = ? AND v.item_id = ?)', q.exclude.type, q.exclude.id);
    const top = `vector_top_k('${indexName(q.model.id)}', ?, ?) top CROSS JOIN embeddings v ON v.id = top.id`;
    const unindexed = 'embeddings v INDEXED BY embeddings_unindexed';
    if (!q.filter) return { scan: 'embeddings v', unindexed, top, filtered: false, where };
    whereEpisodeMatches(where.and('e.tenant = ?', tenant), q.filter);
    const episode = 'CROSS JOIN episodes e ON e.tenant = v.tenant AND e.id = v.episode_id';
    return {
      scan: 'episodes e CROSS JOIN embeddings v INDEXED BY embeddings_by_episode ON v.tenant = e.tenant AND v.episode_id = e.id',
      unindexed: `${unindexed} ${episode}`,
      top: `${top} ${episode}`,
      filtered: true,
      where,
    };
  }

  /** Every matching vector, ranked (see `nearestOf`): a heavy read. */
  private exact(q: SimilarQuery, m: Matching, query: Uint8Array): Promise<Row[]> {
    return this.db.scan(
      `SELECT v.item_type, v.item_id, v.id, vector_distance_cos(v.vector, ?) AS distance
       FROM ${m.scan} WHERE ${m.where} ORDER BY distance NULLS LAST, v.id LIMIT ?`,
      [query, ...m.where.args, q.k],
    );
  }

  /**
   * The matching vectors' row ids and content stamps, when there are at most `max` (else null). Filtered,
   * one read of the covering index both counts and lists them; unfiltered, the model's count (an index
   * range) comes first, as listing a large model's first `max` rows would read each row.
   */
  private async matchingKeys(m: Matching, max: number): Promise<VectorKeys | null> {
    const bounded = `FROM ${m.scan} WHERE ${m.where} LIMIT ?`;
    if (!m.filtered) {
      const [count] = await this.db.read(`SELECT COUNT(*) AS n FROM (SELECT 1 ${bounded})`, [
        ...m.where.args,
        max + 1,
      ]);
      if (Number(count?.n) > max) return null;
    }
    const [row] = await this.db.scan(
      `SELECT COUNT(*) AS n, json_group_array(id) AS ids, json_group_array(version) AS versions,
         json_group_array(created_at) AS created
       FROM (SELECT v.id, v.version, v.created_at ${bounded})`,
      [...m.where.args, max + 1],
    );
    if (Number(row?.n) > max) return null;
    // As three JSON arrays: parsed in a third of the time of the same numbers split from text.
    return {
      ids: JSON.parse(String(row?.ids)) as number[],
      versions: JSON.parse(String(row?.versions)) as number[],
      created: JSON.parse(String(row?.created)) as number[],
    };
  }

  /** An exact search of the few matching vectors, scored in memory (see `VectorCache`). */
  private async inMemory(tenant: string, q: SimilarQuery, keys: VectorKeys): Promise<Nearest> {
    const nearest = this.cache.nearest(q.vector, q.k);
    if (!nearest) return { ranked: [], strategy: 'exact' }; // no distance to anything, as in SQL
    const missing: number[] = [];
    keys.ids.forEach((id, i) => {
      const vector = this.cache.get(id, keys.versions[i] as number, keys.created[i] as number);
      if (vector) nearest.add(id, vector);
      else missing.push(id);
    });
    // Read now (a vector written since the ids were read comes as it is now; a deleted one not at all).
    if (missing.length > 0)
      for (const row of await this.vectorsOf(tenant, missing, q.model.dimension))
        nearest.add(row.id, this.cache.add(row));
    const rows = nearest
      .best()
      .map((s) => ({ item_type: s.vector.itemType, item_id: s.vector.itemId, distance: s.distance }));
    return nearestOf(q, rows, 'exact');
  }

  /**
   * The rows of these vectors (of one model: one dimension), as one row: their fields as JSON arrays and
   * their vectors end to end in one BLOB. A row per vector cost ~20 µs each to hand over (16,700 vectors:
   * ~350 ms); one row costs the copy.
   */
  private async vectorsOf(tenant: string, ids: number[], dimension: number): Promise<VectorRow[]> {
    const where = tenantScope(tenant);
    const [row] = await this.db.scan(
      `SELECT json_group_array(id) AS ids, json_group_array(version) AS versions,
         json_group_array(created_at) AS created, json_group_array(item_type) AS types,
         json_group_array(item_id) AS items, CAST(group_concat(vector, '') AS BLOB) AS vectors
       FROM embeddings WHERE id IN (SELECT value FROM json_each(?)) AND ${where}`,
      [JSON.stringify(ids), ...where.args],
    );
    const column = (name: string) => JSON.parse(String(row?.[name])) as unknown[];
    const [versions, created, types, items] = [
      column('versions'),
      column('created'),
      column('types'),
      column('items'),
    ];
    const found = column('ids') as number[];
    const vectors = found.length > 0 ? blobBytes(row?.vectors) : new Uint8Array(0);
    const bytes = dimension * 4;
    return found.map((id, i) => ({
      id,
      version: Number(versions[i]),
      createdAt: Number(created[i]),
      itemType: types[i] as ItemType,
      itemId: String(items[i]),
      vector: vectors.subarray(i * bytes, (i + 1) * bytes),
    }));
  }

  /**
   * The DiskANN candidates (over-fetched: the index cannot apply the conditions) re-ranked exactly with the
   * stored vectors, together with the vectors the indexer has not reached, scanned exactly; ranked (see
   * `nearestOf`).
   */
  private viaIndex(q: SimilarQuery, m: Matching, query: Uint8Array): Promise<Row[]> {
    return this.db.scan(
      `SELECT item_type, item_id, id, distance FROM (
         SELECT v.item_type, v.item_id, v.id, vector_distance_cos(v.vector, ?) AS distance
         FROM ${m.top} WHERE ${m.where} AND v.indexed = 1
         UNION ALL
         SELECT v.item_type, v.item_id, v.id, vector_distance_cos(v.vector, ?) AS distance
         FROM ${m.unindexed} WHERE ${m.where} AND v.indexed = 0)
       ORDER BY distance NULLS LAST, id LIMIT ?`,
      [query, query, q.k * this.settings.overfetch, ...m.where.args, query, ...m.where.args, q.k],
    );
  }

  private async hasIndex(modelId: number): Promise<boolean> {
    if (this.indexed.has(modelId)) return true;
    const [row] = await this.db.read("SELECT 1 AS ok FROM sqlite_master WHERE type = 'index' AND name = ?", [
      indexName(modelId),
    ]);
    if (row) this.indexed.add(modelId);
    return row !== undefined;
  }

  async withItems(
    tenant: string,
    ranked: RankedItem[],
    similarityTo?: { modelId: number; vector: number[] },
  ): Promise<SimilarHit[]> {
    const sources = RECORD_SOURCES.map((source) => ({
      ...source,
      ids: JSON.stringify(ranked.filter((r) => r.type === source.type).map((r) => r.id)),
      where: tenantScope(tenant, source.alias),
    })).filter((source) => source.ids !== '[]');
    // The size check comes with the records, in the same read: k records of up to 1 MiB each may not fit
    // one answer, and none is returned (only the total) when they do not. (No record: a row of NULLs.)
    const total = sources.map(
      (x) =>
        `(SELECT COALESCE(SUM(octet_length(${x.alias}.body)), 0) FROM json_each(?) i CROSS JOIN ${x.join} WHERE ${x.where})`,
    );
    const totalArgs = sources.flatMap((x) => [x.ids, ...x.where.args]);
    const records = new Map<string, string>();
    for (const x of sources) {
      const rows = await this.db.scan(
        `WITH page(bytes) AS MATERIALIZED (SELECT ${total.join(' + ')})
         SELECT page.bytes AS page_bytes, r.* FROM page LEFT JOIN (
           SELECT ${x.columns} FROM json_each(?) i CROSS JOIN ${x.join} WHERE ${x.where}) r ON page.bytes <= ?`,
        [...totalArgs, x.ids, ...x.where.args, MAX_PAGE_BYTES],
      );
      if (Number(rows[0]?.page_bytes) > MAX_PAGE_BYTES) {
        throw new ResponseTooLarge(
          `the ${ranked.length} items found are larger than one response; ask for fewer (k)`,
        );
      }
      for (const row of rows) if (row.body !== null) records.set(`${x.type}/${x.idOf(row)}`, x.json(row));
    }
    const similarities = await this.similarities(tenant, ranked, similarityTo);
    return ranked.map((r) => ({
      item_type: r.type,
      item_id: r.id,
      similarity: r.similarity ?? similarities.get(`${r.type}/${r.id}`) ?? null,
      score: r.score,
      item: records.get(`${r.type}/${r.id}`) ?? null,
    }));
  }

  /** The similarity to a query vector of the ranked items that lack one (a text match's vector, if stored). */
  private async similarities(
    tenant: string,
    ranked: RankedItem[],
    to: { modelId: number; vector: number[] } | undefined,
  ): Promise<Map<string, number>> {
    const missing = ranked.filter((r) => r.similarity === null).map((r) => [r.type, r.id]);
    if (!to || missing.length === 0) return new Map();
    const where = tenantScope(tenant, 'v').and('v.model_id = ?', to.modelId);
    const rows = await this.db.scan(
      `SELECT v.item_type, v.item_id, vector_distance_cos(v.vector, ?) AS distance
       FROM json_each(?) i CROSS JOIN embeddings v ON v.item_type = i.value ->> 0 AND v.item_id = i.value ->> 1
       WHERE ${where}`,
      [vectorBlob(to.vector), JSON.stringify(missing), ...where.args],
    );
    return new Map(rows.map((r) => [`${r.item_type}/${r.item_id}`, similarityOf(Number(r.distance))]));
  }
}

interface RecordSource {
  type: ItemType;
  alias: string;
  join: string;
  columns: string;
  idOf: (row: Row) => string;
  json: (row: Row) => string;
}

/** A record table keyed by its `id` column, read as `encode` reads it elsewhere. */
const keyedById = (
  type: ItemType,
  table: string,
  alias: string,
  columns: string,
  encode: (row: Row) => { json: string },
): RecordSource => ({
  type,
  alias,
  join: `${table} ${alias} ON ${alias}.id = i.value`,
  columns,
  idOf: (row) => String(row.id),
  json: (row) => encode(row).json,
});

/**
 * Where each item type's records are, joined to a JSON array of ids (`i.value`). The ids drive (CROSS JOIN):
 * without statistics the planner read the tenant's whole table through an index on `tenant` and probed the
 * k ids for each row (14 ms at 10k episodes, 50–100 ms under load, growing with the table).
 */
const RECORD_SOURCES: RecordSource[] = [
  keyedById('episode', 'episodes', 'e', EPISODE_COLUMNS, toEncodedEpisode),
  {
    type: 'step',
    alias: 's',
    join: 'steps s ON s.episode_id = substr(i.value, 1, 36) AND s.step_number = CAST(substr(i.value, 38) AS INTEGER)',
    columns: STEP_COLUMNS,
    idOf: (row) => `${row.episode_id}:${row.step_number}`,
    json: toEncodedStep,
  },
  keyedById('pattern', 'patterns', 'p', PATTERN_COLUMNS, toEncodedPattern),
  keyedById('heuristic', 'heuristics', 'h', HEURISTIC_COLUMNS, toEncodedHeuristic),
];

// Cosine distance is 1 − cosine similarity; float32 rounding may step just outside [-1, 1].
const similarityOf = (distance: number) => Math.min(1, Math.max(-1, 1 - distance));

/**
 * A search's answer from its statement's rows: the statements rank by distance with NULL last (a vector whose norm
 * float32 cannot hold has none) and take k, so dropping those and the ones beyond `min_similarity` here
 * gives what applying both before the limit would, without computing each distance twice (a condition on
 * a subquery's column copies the expression into the WHERE clause when SQLite flattens it).
 */
function nearestOf(q: SimilarQuery, rows: Row[], strategy: Nearest['strategy']): Nearest {
  const maxDistance = q.minSimilarity === undefined ? Number.POSITIVE_INFINITY : 1 - q.minSimilarity;
  const answering = rows.filter((r) => r.distance !== null && Number(r.distance) <= maxDistance);
  return { ranked: answering.map(rankedBySimilarity), strategy };
}

const rankedBySimilarity = (row: Row): RankedItem => {
  const similarity = similarityOf(Number(row.distance));
  return { type: row.item_type as ItemType, id: String(row.item_id), similarity, score: similarity };
};
