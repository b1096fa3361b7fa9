import type { Statement } from '../../db/types.js';
import { sql } from '../../db/types.js';
import { EmbeddingDimensionMismatch } from '../../domain/errors.js';
import { type Failures, guard } from './statements.js';
import { tenantScope } from './where.js';

// Vectors of items (SPEC §3.4): one per (item, model); a model's dimension is fixed by its first vector.

export interface EmbeddingInput {
  model: string;
  vector: number[];
}

export type EmbeddingFailure = 'EMBEDDING_DIMENSION_MISMATCH';

export const EMBEDDING_FAILURES: Failures<EmbeddingFailure> = {
  EMBEDDING_DIMENSION_MISMATCH: (model) => new EmbeddingDimensionMismatch(model ?? ''),
};

function vectorBlob(vector: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(vector).buffer);
}

/** Stores an item's vector: registers the model on first use, then refuses a vector of another length. */
export function embeddingInserts(
  tenant: string,
  item: { type: 'episode' | 'step' | 'pattern' | 'heuristic'; id: string },
  { model, vector }: EmbeddingInput,
  nowMs: number,
): Statement[] {
  const ofModel = tenantScope(tenant).and('name = ?', model);
  return [
    sql(
      `INSERT INTO embedding_models (tenant, name, dimension, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (tenant, name) DO NOTHING`,
      tenant,
      model,
      vector.length,
      nowMs,
    ),
    guard<EmbeddingFailure>(
      { code: 'EMBEDDING_DIMENSION_MISMATCH', subject: model },
      `(SELECT dimension FROM embedding_models WHERE ${ofModel}) = ?`,
      ...ofModel.args,
      vector.length,
    ),
    sql(
      `INSERT INTO embeddings (tenant, item_type, item_id, model, vector, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      tenant,
      item.type,
      item.id,
      model,
      vectorBlob(vector),
      nowMs,
      nowMs,
    ),
  ];
}

/** Deletes every vector of an item (all models): part of deleting the item, in its transaction. */
export function itemEmbeddingsDelete(
  tenant: string,
  item: { type: 'episode' | 'step' | 'pattern' | 'heuristic'; id: string },
): Statement {
  const where = tenantScope(tenant).and('item_type = ?', item.type).and('item_id = ?', item.id);
  return sql(`DELETE FROM embeddings WHERE ${where}`, ...where.args);
}
