import fc from 'fast-check';

/** A small seeded generator (mulberry32): every choice of a fuzz worker comes from one of these. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)] as T;
  }

  /** One value of a fast-check arbitrary, reproducible from this generator's state. */
  draw<T>(arb: fc.Arbitrary<T>): T {
    return fc.sample(arb, { seed: this.int(2 ** 31), numRuns: 1 })[0] as T;
  }
}

/** Mixes a seed with a stream number, so workers get independent but reproducible streams. */
export const streamSeed = (seed: number, stream: number) =>
  (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + stream * 0x27d4eb2f) >>> 0;
