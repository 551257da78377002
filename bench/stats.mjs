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
