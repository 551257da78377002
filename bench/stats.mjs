// Order statistics of timing samples, shared by the benches.

/** The q-quantile (0 <= q <= 1) of `values` by rank: sorted[floor(q · n)], the last for q = 1. */
export function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** sorted[floor(n / 2)]: the upper median for an even count. */
export function median(values) {
  return quantile(values, 0.5);
}

/** The arithmetic mean: total time / calls, so that a call's share of the GC pauses counts. */
export function mean(values) {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/**
 * A time in ms as the JSON keeps it: six significant digits (a fixed 4 decimals kept one digit of
 * a 0.5 µs row, so a ratio rebuilt from two such columns was off by up to 10%).
 */
export function roundMs(ms) {
  return +ms.toPrecision(6);
}
