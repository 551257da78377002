// Types of the parts of bench/cpu.mjs that test/bench-cli.test.ts checks (the bench itself is plain JS).

export interface Rates {
  sizes: number[];
  isa?: string;
  copy: number[][];
  read: number[][];
  fma64: number[];
  fma32: number[];
}
export interface FloorCase {
  op: 'se' | 'eca' | 'cbam';
  batch: number;
  c: number;
  h: number;
  w: number;
  hidden: number | null;
  k: number | null;
}
export function rateAt(rates: Rates, table: 'copy' | 'read', bytes: number): number;
export function floorSizes(cs: FloorCase): { xBytes: number; weightBytes: number };
export function floorMs(rates: Rates, cs: FloorCase): number;
export function bestRates(a: Rates, b: Rates): Rates;
export function measureRates(threads: number, sizes?: number[]): { rates: Rates; reason?: undefined } | { reason: string; rates?: undefined };
