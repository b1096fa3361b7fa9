/**
 * The SQL expression `expr` where its value is a finite number, else NULL. Any finite reward is stored, so a
 * running sum of rewards may overflow to ±Infinity (or NaN, which SQLite stores as NULL). Over Hrana's JSON a
 * non-finite float arrives as null and fails the whole read (HRANA_PROTO_ERROR), which would answer 503: sums
 * are read through this, and an overflowed one is answered as a null mean.
 */
export const finiteOrNull = (expr: string): string =>
  `CASE WHEN abs(${expr}) <= ${Number.MAX_VALUE} THEN ${expr} END`;

/** The mean of `count` rewards from their sum as read through `finiteOrNull`: null for none, or an overflow. */
export const meanOrNull = (sum: unknown, count: number): number | null =>
  count === 0 || sum === null ? null : Number(sum) / count;
