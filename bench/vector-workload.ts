// Clustered vectors for the vector benchmarks (issue 11): embeddings of real text cluster by topic, and
// DiskANN's recall on clustered data differs from uniform noise. Seeded: the same data on every run.

/** mulberry32: a small seeded PRNG. */
export function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal (Box–Muller). */
function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/**
 * `n` vectors around `clusters` random centres (spread 0.35 per dimension relative to the centre's unit
 * scale), and `queries` more drawn the same way (near the data, as real queries are).
 */
export function clusteredVectors(o: {
  n: number;
  dim: number;
  queries: number;
  seed: number;
  clusters?: number;
}) {
  const random = seeded(o.seed);
  const clusters = o.clusters ?? Math.max(10, Math.round(Math.sqrt(o.n) / 2));
  const centres = Array.from({ length: clusters }, () =>
    Float32Array.from({ length: o.dim }, () => gaussian(random)),
  );
  const draw = () => {
    const centre = centres[Math.floor(random() * clusters)] as Float32Array;
    return Float32Array.from(centre, (c) => c + 0.35 * gaussian(random));
  };
  return {
    vectors: Array.from({ length: o.n }, draw),
    queries: Array.from({ length: o.queries }, draw),
  };
}
