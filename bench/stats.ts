/**
 * The statistics of the benchmarks, in one place: rounding, percentiles, medians, the spread
 * (median, min, max) of repeated measurements and the ratio of two medians.
 */

/** Rounds to 3 decimals, the precision of the numbers written to the JSON results. */
export function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** The nearest-rank percentile (p in 0..1) of ascending values; null when there are none. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[index] ?? null;
}

/** The median of ascending values: the middle one, or the mean of the two middle ones. */
export function median(sorted: readonly number[]): number {
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Median, min and max of repeated measurements. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** A spread with the measurements it was computed from (bench/ingest.ts keeps them). */
export interface Summary extends Spread {
  values: number[];
}

/** The exact spread of `values` (0 for each when there are none). */
export function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: median(sorted), min: sorted[0] ?? 0, max: sorted[sorted.length - 1] ?? 0 };
}

/**
 * The spread of the finite values among `values` (null, NaN and infinities are left out), the
 * median rounded to 3 decimals, with the values kept; null when none is left.
 */
export function summarize(values: ReadonlyArray<number | null>): Summary | null {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (present.length === 0) return null;
  const { median, min, max } = spread(present);
  return { median: round3(median), min, max, values: present };
}

/** p50, p99 and max of request latencies in ms, each rounded to 3 decimals; null when there are none. */
export function latencyPercentiles(latencies: readonly number[]): {
  p50: number | null;
  p99: number | null;
  max: number | null;
} {
  const sorted = [...latencies].sort((a, b) => a - b);
  const rounded = (value: number | null): number | null => (value === null ? null : round3(value));
  return {
    p50: rounded(percentile(sorted, 0.5)),
    p99: rounded(percentile(sorted, 0.99)),
    max: rounded(sorted.at(-1) ?? null),
  };
}

/** a's median over b's, rounded to 3 decimals; null when either is missing or b's median is 0. */
export function ratioOfMedians(a: Spread | null, b: Spread | null): number | null {
  if (a === null || b === null || b.median === 0) return null;
  return round3(a.median / b.median);
}
