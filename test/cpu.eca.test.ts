// ECA on the CPU against the float64 reference, plus ecaKernelSize against timm's formula.
import { describe, expect, test } from 'vitest';
import { ecaForward, ecaForwardAsync, ecaKernelSize } from '../dist/index.js';
import { nchwToNhwc, refECA, type Gate, type Layout, type Shape4 } from './reference.js';
import {
  GATES,
  LAYOUTS,
  ODD_SHAPES,
  TOL_F32,
  bitsEqual,
  expectAgree,
  expectClose,
  freshRng,
  loadEcaKernelTable,
  numel,
  poisoned,
  product,
  randECAWeight,
  saturated,
  seedNote,
} from './helpers.js';

const KS = [1, 3, 5, 7, 9] as const;
const CASES = product({ gate: GATES, layout: LAYOUTS, k: KS });

function problem(rng: ReturnType<typeof freshRng>, shape: Shape4, k: number, xScale = 1) {
  return { x: rng.normals(numel(shape), xScale, 0.3 * xScale), weight: randECAWeight(rng, k) };
}

describe('ECA on the CPU: every option combination', () => {
  test.each(CASES.map((c, i) => [`${c.gate} ${c.layout} k=${c.k}`, c, i] as const))('%s', (_n, c, i) => {
    const rng = freshRng();
    // Three shapes per combination, including C smaller than k (the zero padding covers it all).
    for (const shape of [0, 4, 9].map((d) => ODD_SHAPES[(i + d) % ODD_SHAPES.length])) {
      const { x, weight } = problem(rng, shape, c.k);
      const out = poisoned(x.length);
      const scaleOut = poisoned(shape[0] * shape[1]);
      const y = ecaForward(x, shape, { weight }, { layout: c.layout, gate: c.gate, device: 'cpu', out, scaleOut });
      expect(y).toBe(out);
      const ref = refECA(x, shape, { weight }, { layout: c.layout, gate: c.gate });
      const ctx = `${c.gate} ${c.layout} k=${c.k} shape=${shape} ${seedNote(rng)}`;
      expectClose(y, ref.y, TOL_F32, ctx);
      expectClose(scaleOut, ref.scale, TOL_F32, `scaleOut ${ctx}`);
    }
  });

  test('default options equal the reference (NCHW, sigmoid)', () => {
    const rng = freshRng();
    const shape: Shape4 = [2, 12, 4, 4];
    const { x, weight } = problem(rng, shape, 3);
    expectClose(ecaForward(x, shape, { weight }), refECA(x, shape, { weight }).y, TOL_F32, seedNote(rng));
  });

  test.each(LAYOUTS)('large H·W (2×24×112×112, %s), k=5', (layout) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 24, 112, 112];
    const { x, weight } = problem(rng, shape, 5);
    const out = poisoned(x.length);
    const scaleOut = poisoned(48);
    ecaForward(x, shape, { weight }, { layout, device: 'cpu', out, scaleOut });
    const ref = refECA(x, shape, { weight }, { layout });
    expectClose(out, ref.y, TOL_F32, seedNote(rng));
    expectClose(scaleOut, ref.scale, TOL_F32, seedNote(rng));
  });

  test.each(product({ gate: GATES, layout: LAYOUTS }))('|x| ~ 1e4, saturated gates stay finite (%o)', ({ gate, layout }) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 33, 5, 9];
    // Redraw until all reference gates are saturated (see cpu.se.test.ts for why).
    let p = problem(rng, shape, 5, 1e4);
    let ref = refECA(p.x, shape, { weight: p.weight }, { layout, gate });
    for (let t = 0; t < 500 && !saturated(ref.scale, gate); t++) {
      p = problem(rng, shape, 5, 1e4);
      p.weight = p.weight.map((v) => (Math.abs(v) < 0.05 ? 0.05 : v)); // avoid near-zero taps
      ref = refECA(p.x, shape, { weight: p.weight }, { layout, gate });
    }
    expect(saturated(ref.scale, gate), 'could not draw a fully saturated problem').toBe(true);
    const out = poisoned(p.x.length);
    ecaForward(p.x, shape, { weight: p.weight }, { layout, gate, device: 'cpu', out });
    expectClose(out, ref.y, TOL_F32, seedNote(rng));
  });
});

// A kernel wider than 2C - 1 reaches past the channels on both sides: its outer taps meet only the
// zero padding. With finite weights the CPU skips them (an attack: C 16384, k 1048575 multiplied
// 2^34 padding taps, 13 s a sample); the taps on channels must all stay, in their order. So the
// result equals, bit for bit, that of the kernel cut to its middle 2C - 1 taps, and the reference.
describe('ECA on the CPU: kernels wider than the channels', () => {
  test.each([[3, 9], [5, 31], [64, 1025], [200, 4097]])('C=%i, k=%i: equal to the middle 2C - 1 taps, and to the reference', (c, k) => {
    const rng = freshRng();
    const shape: Shape4 = [3, c, 2, 3];
    const x = rng.normals(numel(shape), 1, 0.3);
    const weight = randECAWeight(rng, k);
    const mid = weight.slice((k - 1) / 2 - (c - 1), (k - 1) / 2 + c);
    expect(mid.length).toBe(2 * c - 1);
    for (const layout of LAYOUTS) {
      const s1 = poisoned(3 * c);
      const s2 = poisoned(3 * c);
      const y = ecaForward(x, shape, { weight }, { layout, device: 'cpu', scaleOut: s1 });
      const yMid = ecaForward(x, shape, { weight: mid }, { layout, device: 'cpu', scaleOut: s2 });
      expect(bitsEqual(s1, s2), `${layout} gates`).toBe(true);
      expect(bitsEqual(y, yMid), `${layout} y`).toBe(true);
      expectClose(y, refECA(x, shape, { weight }, { layout }).y, TOL_F32, `${layout} ${seedNote(rng)}`);
    }
  });
  // From a review: both sides of the test above ran the new loop, so it could not see a change
  // to the order of the taps; here the order decides: (1 + 1e20) - 1e20 = 0, the other way 1.
  test('the taps on channels keep their order: weight [1, 1e20, -1e20] over ones gives the middle gate sigmoid(0)', () => {
    const s = poisoned(3);
    ecaForward(new Float32Array(3).fill(1), [1, 3, 1, 1], { weight: Float32Array.of(1, 1e20, -1e20) }, { device: 'cpu', scaleOut: s });
    expect(s[1]).toBe(0.5);
  });
  // A non-finite weight made every channel run all k taps again (a review: C 4096, k 1048575, one
  // NaN weight: 2976 ms, 20 with finite weights); now it enters where the full loop meets it.
  test.each([
    ['a leading padding tap', 0],
    ['a trailing padding tap', 4096],
    ['the middle tap', 2048],
    ['a tap on channels for some channels, padding for others', 2046],
  ])('a NaN or Inf on %s of a 4097-tap kernel: gates NaN, ±1, 0 where the float64 reference has them', (_n, at) => {
    const c = 6;
    const x = new Float32Array(c * 4).map((_, i) => 0.25 + (i % 5) * 0.1);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const weight = new Float32Array(4097).fill(0.01);
      weight[at] = bad;
      const s = poisoned(c);
      ecaForward(x, [1, c, 2, 2], { weight }, { device: 'cpu', scaleOut: s });
      const ref = refECA(x, [1, c, 2, 2], { weight }).scale;
      for (let ch = 0; ch < c; ch++) {
        if (Number.isNaN(ref[ch]!)) expect(Number.isNaN(s[ch]!), `${bad} at ${at}, channel ${ch}`).toBe(true);
        else expect(Math.abs(s[ch]! - ref[ch]!), `${bad} at ${at}, channel ${ch}: ${s[ch]} against ${ref[ch]}`).toBeLessThanOrEqual(1e-6 * Math.abs(ref[ch]!));
      }
    }
  });
  // An attack (2026-12-02): the weights were scanned for non-finite taps once per sample, k each,
  // so a large batch of small samples took N k (N 16384, C 1, k 2^20 - 1: 17 s; with a NaN tap,
  // which also built a (k + 1)-entry index per sample, 1 hour at 4 MiB). Now once per call.
  test('N 32768 samples of one channel, k 2^20 - 1 with a NaN tap: every gate NaN (the weights scanned once per call)', () => {
    const k = 2 ** 20 - 1;
    const n = 32768;
    const weight = new Float32Array(k).fill(1e-3);
    weight[0] = Number.NaN;
    const s = poisoned(n);
    const y = ecaForward(new Float32Array(n).fill(1), [n, 1, 1, 1], { weight }, { device: 'cpu', scaleOut: s });
    expect(s.every((v) => Number.isNaN(v)) && y.every((v) => Number.isNaN(v))).toBe(true);
    weight[0] = 1e-3;
    const yFinite = ecaForward(new Float32Array(n).fill(1), [n, 1, 1, 1], { weight }, { device: 'cpu', scaleOut: s });
    const ref = refECA(new Float32Array(1).fill(1), [1, 1, 1, 1], { weight }).scale[0]!;
    expect(s.every((v) => Math.abs(v - ref) <= 1e-6 * ref) && yFinite.every((v, i) => v === s[i])).toBe(true);
  }, 15_000);
  test('a non-finite weight on a tap that meets only padding still makes every gate NaN, as torch.conv1d', () => {
    const c = 4, k = 21;
    const weight = new Float32Array(k).fill(0.1);
    weight[0] = Number.POSITIVE_INFINITY; // reaches channel ch - 10: padding for every channel
    const s = poisoned(c);
    ecaForward(new Float32Array(c).fill(1), [1, c, 1, 1], { weight }, { device: 'cpu', scaleOut: s });
    expect(Array.from(s, (v) => Number.isNaN(v))).toEqual([true, true, true, true]);
  });
});

describe('ECA on the CPU: layouts, aliasing, async', () => {
  test('NCHW and NHWC agree', () => {
    const rng = freshRng();
    for (const shape of [[2, 13, 7, 11], [1, 64, 5, 6]] as Shape4[]) {
      const { x, weight } = problem(rng, shape, 5);
      const a = ecaForward(x, shape, { weight }, { layout: 'NCHW', gate: 'hardsigmoid', device: 'cpu' });
      const b = ecaForward(nchwToNhwc(x, shape), shape, { weight }, { layout: 'NHWC', gate: 'hardsigmoid', device: 'cpu' });
      const ref = refECA(x, shape, { weight }, { gate: 'hardsigmoid' });
      expectAgree(b, nchwToNhwc(a, shape), ref.y, TOL_F32, `shape=${shape} ${seedNote(rng)}`);
    }
  });

  test.each(LAYOUTS)('in place: out === x (%s)', (layout: Layout) => {
    const rng = freshRng();
    const shape: Shape4 = [3, 10, 4, 7];
    const { x, weight } = problem(rng, shape, 3);
    const ref = refECA(x, shape, { weight }, { layout });
    const buf = x.slice();
    const scaleOut = poisoned(30);
    expect(ecaForward(buf, shape, { weight }, { layout, device: 'cpu', out: buf, scaleOut })).toBe(buf);
    expectClose(buf, ref.y, TOL_F32, seedNote(rng));
    expectClose(scaleOut, ref.scale, TOL_F32, seedNote(rng));
  });

  test('async equals sync bitwise', async () => {
    const rng = freshRng();
    for (const [i, c] of CASES.entries()) {
      const shape = ODD_SHAPES[(i * 5 + 1) % ODD_SHAPES.length];
      const { x, weight } = problem(rng, shape, c.k);
      const opts = { layout: c.layout, gate: c.gate as Gate, device: 'cpu' as const };
      const s1 = poisoned(shape[0] * shape[1]);
      const s2 = poisoned(shape[0] * shape[1]);
      const ySync = ecaForward(x, shape, { weight }, { ...opts, out: poisoned(x.length), scaleOut: s1 });
      const out = poisoned(x.length);
      const yAsync = await ecaForwardAsync(x, shape, { weight }, { ...opts, out, scaleOut: s2 });
      expect(yAsync).toBe(out);
      expect(bitsEqual(ySync, yAsync), `shape=${shape} ${seedNote(rng)}`).toBe(true);
      expect(bitsEqual(s1, s2)).toBe(true);
    }
    // and without out / in place
    const shape: Shape4 = [2, 6, 3, 3];
    const { x, weight } = problem(rng, shape, 3);
    const fresh = await ecaForwardAsync(x, shape, { weight }, { device: 'cpu' });
    const buf = x.slice();
    await ecaForwardAsync(buf, shape, { weight }, { device: 'cpu', out: buf });
    expect(bitsEqual(fresh, buf)).toBe(true);
    expectClose(fresh, refECA(x, shape, { weight }).y, TOL_F32, seedNote(rng));
  });
});

describe('ecaKernelSize', () => {
  const table = loadEcaKernelTable();

  test('matches timm EcaModule for C = 1..1024 and large C (gamma=2, beta=1), default arguments', () => {
    const g = table.groups.find((t) => t.gamma === 2 && t.beta === 1)!;
    expect(g.channels.length).toBeGreaterThan(1000);
    const wrong: string[] = [];
    g.channels.forEach((c, i) => {
      const k = ecaKernelSize(c);
      if (k !== g.k[i]) wrong.push(`C=${c}: got ${k}, timm ${g.k[i]}`);
      if (ecaKernelSize(c, 2, 1) !== k) wrong.push(`C=${c}: explicit (2, 1) differs from the defaults`);
    });
    expect(wrong).toEqual([]);
  });

  test('matches timm\'s formula for other gamma/beta', () => {
    const wrong: string[] = [];
    for (const g of table.groups) {
      g.channels.forEach((c, i) => {
        const k = ecaKernelSize(c, g.gamma, g.beta);
        if (k !== g.k[i]) wrong.push(`C=${c} gamma=${g.gamma} beta=${g.beta}: got ${k}, timm ${g.k[i]}`);
      });
    }
    expect(wrong).toEqual([]);
  });

  // Found by an attack (2026-11-30): gamma = 1e-300 returned 9e300, neither odd nor an integer
  // JavaScript can count; channels = 2^53 was taken.
  test('a gamma so small that the size passes 2^53, or channels past 2^53 - 1, is a coded RangeError', () => {
    expect(() => ecaKernelSize(256, 1e-300)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', argument: 'gamma' }));
    expect(() => ecaKernelSize(256, 2, 1e300)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', argument: 'beta' }));
    expect(() => ecaKernelSize(2 ** 53)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', argument: 'channels' }));
    expect(ecaKernelSize(2 ** 53 - 1)).toBe(27);
    expect(ecaKernelSize(256, 1e-13)).toBe(90_000_000_000_001);
  });

  test('is odd and at least 3, and agrees with an inline formula for random C', () => {
    const rng = freshRng();
    for (let i = 0; i < 2000; i++) {
      const c = rng.int(1, 1 << 20);
      const t = Math.trunc(Math.abs(Math.log2(c) + 1) / 2);
      const expected = Math.max(t % 2 ? t : t + 1, 3);
      const k = ecaKernelSize(c);
      expect(k % 2, `C=${c}`).toBe(1);
      expect(k, `C=${c} ${seedNote(rng)}`).toBe(expected);
    }
  });
});
