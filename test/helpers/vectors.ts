import type { TestApp } from './app.js';
import { send } from './backends.js';

/** A vector as the store keeps it: float32. */
export const f32 = (v: number[]) => Array.from(Float32Array.from(v));

export function cosine(a: number[], b: number[]): number {
  let [dot, na, nb] = [0, 0, 0];
  a.forEach((x, i) => {
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  });
  return dot / Math.sqrt(na * nb);
}

export interface ModelEntry {
  name: string;
  count: number;
  unindexed: number;
  dimension: number;
}

/**
 * Waits until the background indexer has caught up with `model` (none of its vectors left unindexed) and
 * returns the model's entry in /v1/embedding-models; throws after `timeoutMs`.
 */
export async function waitForIndexer(app: TestApp, model: string, timeoutMs = 50_000): Promise<ModelEntry> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const models = await send(app, 'GET', '/v1/embedding-models');
    const entry = (models.body.items as ModelEntry[]).find((m) => m.name === model);
    if (entry?.unindexed === 0) return entry;
    if (Date.now() > deadline) {
      throw new Error(`the indexer did not catch up with ${model} within ${timeoutMs / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
