// editDistance (lib/args.ts), the did-you-mean of option values, keys and safetensors names: with a
// limit it computes only a band and stops early (a review: 500 names of 1,000 characters took 4 s
// for one missing name), and must still equal the full optimal-string-alignment distance up to the
// limit, and exceed the limit beyond it.
import { describe, expect, test } from 'vitest';
import { editDistance } from '../dist/args.js';
import { freshRng, seedNote } from './helpers.js';

/** The textbook O(|a|·|b|) optimal string alignment distance. */
function osa(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push(Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

describe('editDistance', () => {
  test('the examples of its docstring', () => {
    expect(editDistance('NWHC', 'NHWC')).toBe(1);
    expect(editDistance('NWHC', 'NCHW')).toBe(2);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('abc', 'abc', 0)).toBe(0);
  });

  test('equals the full distance up to the limit and exceeds the limit beyond it (random strings)', () => {
    const rng = freshRng();
    const word = (): string => {
      const n = rng.int(0, 24);
      let s = '';
      for (let i = 0; i < n; i++) s += 'abcd'[rng.int(0, 3)];
      return s;
    };
    for (let t = 0; t < 20_000; t++) {
      const a = word();
      // near copies (swaps, edits) as well as unrelated words
      let b = rng.next() < 0.5 ? word() : a;
      if (b === a && a.length > 1) {
        const k = rng.int(0, a.length - 2);
        b = rng.next() < 0.5 ? a.slice(0, k) + a[k + 1] + a[k] + a.slice(k + 2) : a.slice(0, k) + 'x' + a.slice(k + 1);
      }
      const full = osa(a, b);
      const limit = rng.int(0, 12);
      const got = editDistance(a, b, limit);
      const note = `${JSON.stringify(a)} ${JSON.stringify(b)} limit ${limit}, ${seedNote(rng)}`;
      if (full <= limit) expect(got, note).toBe(full);
      else expect(got, note).toBe(limit + 1);
      expect(editDistance(a, b), note).toBe(full);
    }
  });
});
