import type { Database } from '../../db/database.js';
import type { Statement } from '../../db/types.js';
import { sql } from '../../db/types.js';
import { episodeOfItem, type ItemType } from '../../domain/embedding.js';
import { EmbeddingDimensionMismatch } from '../../domain/errors.js';
import { type Failures, guard } from './statements.js';
import { tenantScope } from './where.js';

// Vectors of items (SPEC §3.4), the store of record (migration 4): one row per (item, model) in
// `embeddings`; a model's dimension is fixed by its first vector. The DiskANN index of each model derives
// from these rows (embedding-index.ts). Repositories compose these builders into their own transactions.

export interface EmbeddingInput {
  model: string;
  vector: number[];
}

export interface Item {
  type: ItemType;
  id: string;
}

export type EmbeddingFailure = 'EMBEDDING_DIMENSION_MISMATCH';

/** The model and length of a mismatch's subject (a subject of another shape names the model alone). */
function parseSubject(subject: string | undefined): [string, number] {
  try {
    const parsed = JSON.parse(subject ?? '') as unknown;
    if (Array.isArray(parsed)) return [String(parsed[0]), Number(parsed[1])];
  } catch {
    // not JSON: the subject is the model's name
  }
  return [subject ?? '', Number.NaN];
}

/** A guard's subject for a dimension mismatch: the model and the length of the vector refused. */
const mismatchSubject = (model: string, length: number) => JSON.stringify([model, length]);

/** A guard refused a vector's length; `withModelDimension` turns it into the error that names both sizes. */
class VectorLengthRefused extends Error {
  constructor(
    readonly model: string,
    readonly length: number,
  ) {
    super(`a vector of ${length} dimensions was refused by model ${model}`);
  }
}

export const EMBEDDING_FAILURES: Failures<EmbeddingFailure> = {
  EMBEDDING_DIMENSION_MISMATCH: (subject) => {
    const [model, length] = parseSubject(subject);
    return new VectorLengthRefused(model, length);
  },
};

/** Runs a write that may store vectors: a refused length becomes EmbeddingDimensionMismatch with both sizes. */
export async function withModelDimension<T>(db: Database, tenant: string, write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (err) {
    if (!(err instanceof VectorLengthRefused)) throw err;
    const where = tenantScope(tenant).and('name = ?', err.model);
    const [row] = await db.readLatest(`SELECT dimension FROM embedding_models WHERE ${where}`, where.args);
    throw new EmbeddingDimensionMismatch(err.length, err.model, Number(row?.dimension));
  }
}

/** Float32, little-endian, as libSQL's vector functions read an untyped BLOB. */
export function vectorBlob(vector: readonly number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(vector).buffer);
}

/** A BLOB's bytes, as either driver hands it over. */
export const blobBytes = (blob: unknown): Uint8Array =>
  blob instanceof Uint8Array ? blob : new Uint8Array(blob as ArrayBuffer);

export function vectorOfBlob(blob: unknown): number[] {
  const bytes = blobBytes(blob);
  const aligned = new Uint8Array(bytes); // a copy: Float32Array needs a 4-byte aligned offset
  return Array.from(new Float32Array(aligned.buffer, 0, aligned.byteLength / 4));
}

/** The model's id, as a sub-select. */
export function modelIdOf(tenant: string, model: string): { sql: string; args: [string, string] } {
  return { sql: '(SELECT id FROM embedding_models WHERE tenant = ? AND name = ?)', args: [tenant, model] };
}

/**
 * Stores an item's vector in a model: registers the model on first use (its dimension is this vector's),
 * refuses a vector of another length (EmbeddingDimensionMismatch), and inserts the vector or replaces the
 * one the item has (a new version, and unindexed again unless the vector is the same).
 */
export function embeddingInserts(
  tenant: string,
  item: Item,
  input: EmbeddingInput,
  nowMs: number,
): Statement[] {
  return [
    ...modelOfLength(tenant, input.model, input.vector.length, nowMs),
    vectorInsert(tenant, item, input, nowMs),
  ];
}

/**
 * Registers a model on first use with this dimension, and guards that its dimension is `length`: once per
 * (model, length) of a transaction, before its vectors' `vectorInsert`s.
 */
export function modelOfLength(tenant: string, model: string, length: number, nowMs: number): Statement[] {
  const ofModel = tenantScope(tenant).and('name = ?', model);
  return [
    sql(
      `INSERT INTO embedding_models (tenant, name, dimension, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (tenant, name) DO NOTHING`,
      tenant,
      model,
      length,
      nowMs,
    ),
    guard<EmbeddingFailure>(
      { code: 'EMBEDDING_DIMENSION_MISMATCH', subject: mismatchSubject(model, length) },
      `(SELECT dimension FROM embedding_models WHERE ${ofModel}) = ?`,
      ...ofModel.args,
      length,
    ),
  ];
}

/**
 * Inserts an item's vector in a registered model, or replaces the one it has. A new row's id is the next of
 * `embedding_next_id` (migration 12), never one a deleted vector had: the vector cache names vectors by id.
 */
export function vectorInsert(
  tenant: string,
  item: Item,
  { model, vector }: EmbeddingInput,
  nowMs: number,
): Statement {
  const modelId = modelIdOf(tenant, model);
  return sql(
    `INSERT INTO embeddings
       (id, tenant, model_id, item_type, item_id, episode_id, vector, indexed, version, created_at, updated_at)
     VALUES ((SELECT next FROM embedding_next_id), ?, ${modelId.sql}, ?, ?, ?, ?, 0, 1, ?, ?)
     ON CONFLICT (tenant, model_id, item_type, item_id) DO UPDATE SET
       vector = excluded.vector,
       indexed = indexed AND vector = excluded.vector,
       version = version + 1,
       updated_at = excluded.updated_at`,
    tenant,
    ...modelId.args,
    item.type,
    item.id,
    episodeOfItem(item.type, item.id),
    vectorBlob(vector),
    nowMs,
    nowMs,
  );
}

/**
 * Deletes every vector of an item, in all models; for item types whose rows have no delete trigger
 * (patterns, heuristics): their repository composes this into its delete. The index rows follow by the
 * models' triggers.
 */
export function embeddingDeletes(tenant: string, item: Item): Statement[] {
  const where = tenantScope(tenant).and('item_type = ?', item.type).and('item_id = ?', item.id);
  return [sql(`DELETE FROM embeddings WHERE ${where}`, ...where.args)];
}

/**
 * Whether an item exists, per item type: a condition over its own table. A type without an entry has no
 * table yet, so none of its items exists. Adding a type is one entry.
 */
const ITEM_EXISTS: Partial<Record<ItemType, (tenant: string, id: string) => Statement>> = {
  episode: (tenant, id) => {
    const where = tenantScope(tenant).and('id = ?', id);
    return sql(`EXISTS (SELECT 1 FROM episodes WHERE ${where})`, ...where.args);
  },
  step: (tenant, id) => {
    const [episodeId, number] = id.split(':');
    const where = tenantScope(tenant)
      .and('episode_id = ?', episodeId ?? '')
      .and('step_number = ?', Number(number));
    return sql(`EXISTS (SELECT 1 FROM steps WHERE ${where})`, ...where.args);
  },
  pattern: (tenant, id) => {
    const where = tenantScope(tenant).and('id = ?', id);
    return sql(`EXISTS (SELECT 1 FROM patterns WHERE ${where})`, ...where.args);
  },
  heuristic: (tenant, id) => {
    const where = tenantScope(tenant).and('id = ?', id);
    return sql(`EXISTS (SELECT 1 FROM heuristics WHERE ${where})`, ...where.args);
  },
};

/** A guard that the item exists (label EMBEDDING_ITEM_NOT_FOUND, subject `<type>/<id>`). */
export function itemExists(tenant: string, item: Item): Statement {
  const condition = ITEM_EXISTS[item.type]?.(tenant, item.id) ?? sql('0');
  return guard(
    { code: 'EMBEDDING_ITEM_NOT_FOUND', subject: `${item.type}/${item.id}` },
    condition.sql,
    ...condition.args,
  );
}
