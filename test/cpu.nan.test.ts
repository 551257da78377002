// NaN and ±Inf on the CPU travel as in the PyTorch modules (issue 8): every op and option, both
// layouts, non-finite values at random positions of x, the residual, each weight and bias, and
// whole ±Inf channels. Against the float64 reference (test/reference.ts states the NaN rules and
// test/cpu.nan-torch.test.ts checks them against real PyTorch): NaN must meet NaN, ±Inf the same
// infinity, finite values within 1e-5 of max|ref|. Outputs are poisoned (NaN) before each call,
// so every test also needs finite results where the reference has them.
import { describe, expect, test } from 'vitest';
import { cbamForward, cbamForwardAsync, ecaForward, ecaForwardAsync, seForward, seForwardAsync } from '../dist/index.js';
import { ieeeMismatch, nchwToNhwc, refCBAM, refSE, type Shape4 } from './reference.js';
import { ACTS, GATES, LAYOUTS, TOL_F32, bitsEqual, freshRng, poisoned, product, randCBAMWeights, seedNote } from './helpers.js';
import { argsFor, caseLabel, makeNanProblem, refFor, targetsFor, type NanCase, type NanProblem } from './nan-cases.js';

type Fn = (x: Float32Array, shape: Shape4, w: unknown, o: unknown) => Float32Array;
type AsyncFn = (x: Float32Array, shape: Shape4, w: unknown, o: unknown) => Promise<Float32Array>;
const SYNC: Record<NanCase['op'], Fn> = { se: seForward as Fn, eca: ecaForward as Fn, cbam: cbamForward as Fn };
const ASYNC: Record<NanCase['op'], AsyncFn> = { se: seForwardAsync as AsyncFn, eca: ecaForwardAsync as AsyncFn, cbam: cbamForwardAsync as AsyncFn };

const SE_CASES: NanCase[] = product({
  twoFc: [true, false],
  biases: [true, false],
  activation: ACTS,
  gate: GATES,
  residual: [false, true],
  outRelu: [false, true],
}).filter((c) => c.twoFc || c.activation === 'relu').map((c) => ({ op: 'se' as const, ...c }));
const ECA_CASES: NanCase[] = product({ gate: GATES, k: [1, 3, 5, 9] }).map((c) => ({ op: 'eca' as const, biases: false, ...c }));
const CBAM_CASES: NanCase[] = product({ biases: [true, false], activation: ACTS, gate: GATES, k: [1, 3, 7] }).map((c) => ({
  op: 'cbam' as const,
  ...c,
}));

// Small shapes with borders on every side of a k = 7 conv, odd C (vector tails), C = 1, H·W = 1.
const SHAPES: Shape4[] = [
  [2, 5, 4, 6],
  [1, 19, 3, 7],
  [3, 1, 5, 5],
  [2, 8, 1, 1],
  [1, 33, 9, 2],
];

/** Runs p in one layout with poisoned out/scaleOut; returns y, the scale (SE/ECA) and the reference. */
function runCpu(p: NanProblem, layout: 'NCHW' | 'NHWC') {
  const { x, options } = argsFor(p, layout);
  const out = poisoned(x.length);
  const scaleOut = p.c.op === 'cbam' ? undefined : poisoned(p.shape[0] * p.shape[1]);
  const y = SYNC[p.c.op](x, p.shape, p.weights, { ...options, device: 'cpu', out, ...(scaleOut ? { scaleOut } : {}) });
  expect(y).toBe(out);
  return { y, scaleOut, ref: refFor(p, layout), x, options };
}

function expectIeee(y: ArrayLike<number>, ref: ArrayLike<number>, what: string): void {
  const bad = ieeeMismatch(y, ref, TOL_F32);
  expect(bad, what).toBeNull();
}

function suite(name: string, cases: NanCase[]): void {
  describe(`${name} on the CPU with NaN/±Inf`, () => {
    test.each(cases.map((c, i) => [caseLabel(c), c, i] as const))('%s', (_n, c, i) => {
      const rng = freshRng();
      for (const target of targetsFor(c)) {
        const shape = SHAPES[(i + target.length) % SHAPES.length];
        const p = makeNanProblem(rng, c, shape, target);
        const ys: Float32Array[] = [];
        for (const layout of LAYOUTS) {
          const { y, scaleOut, ref } = runCpu(p, layout);
          const ctx = `${p.label} ${layout} ${seedNote(rng)}`;
          expectIeee(y, ref.y, `y: ${ctx}`);
          if (scaleOut) expectIeee(scaleOut, ref.scale, `scaleOut: ${ctx}`);
          ys.push(layout === 'NCHW' ? nchwToNhwc(y, shape) : y);
        }
        // the same logical tensor in both layouts gives the same result
        expect(ieeeMismatch(ys[1], ys[0], TOL_F32), `NCHW vs NHWC: ${p.label} ${seedNote(rng)}`).toBeNull();
      }
    });
  });
}

suite('SE', SE_CASES);
suite('ECA', ECA_CASES);
suite('CBAM', CBAM_CASES);

describe('NaN/±Inf: named cases', () => {
  test('issue 8 example: SE relu, x = [NaN, 1, 2, 3], w1 = w2 = [1] gives s = [NaN] and y all NaN', () => {
    const x = new Float32Array([Number.NaN, 1, 2, 3]);
    const shape: Shape4 = [1, 1, 2, 2];
    const w = { w1: new Float32Array([1]), w2: new Float32Array([1]) };
    for (const layout of LAYOUTS) {
      const out = new Float32Array(4).fill(7); // not NaN: the kernel must write NaN itself
      const scaleOut = new Float32Array([7]);
      seForward(x, shape, w, { layout, activation: 'relu', gate: 'sigmoid', device: 'cpu', out, scaleOut });
      expect(Array.from(scaleOut), layout).toEqual([Number.NaN]);
      expect(Array.from(out), layout).toEqual([Number.NaN, Number.NaN, Number.NaN, Number.NaN]);
      const ref = refSE(x, shape, w, { layout });
      expect(Array.from(ref.y)).toEqual([Number.NaN, Number.NaN, Number.NaN, Number.NaN]);
    }
  });

  test('output relu after the residual add keeps NaN and +Inf, maps -Inf to 0', () => {
    const rng = freshRng();
    const shape: Shape4 = [1, 4, 3, 3];
    const c: NanCase = { op: 'se', twoFc: true, biases: true, activation: 'relu', gate: 'sigmoid', residual: true, outRelu: true };
    const p = makeNanProblem(rng, c, shape, 'x');
    p.x.set(rng.normals(p.x.length, 1, 0.3)); // finite x: only the residual carries the specials
    p.residual!.set([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY], 10);
    for (const layout of LAYOUTS) {
      const { y } = runCpu(p, layout);
      const at = (i: number) => (layout === 'NCHW' ? i : nchwToNhwc(Float32Array.from({ length: 36 }, (_, k) => k), shape).indexOf(i));
      expect(y[at(10)], `NaN ${layout} ${seedNote(rng)}`).toBeNaN();
      expect(y[at(11)], `+Inf ${layout}`).toBe(Number.POSITIVE_INFINITY);
      expect(y[at(12)], `-Inf ${layout}`).toBe(0);
    }
  });

  test("a subnormal gate with a negative x and the output relu: +0 where x·gate is a nonzero float32, -0 where it underflows too (README, precision at the edges)", () => {
    // gate = sigmoid(-100) ≈ 3.78e-44, a float32 subnormal (float32 PyTorch flushes it to 0 and gives -0 for all three).
    const w = { w1: Float32Array.of(0), b1: Float32Array.of(-100) };
    const x = Float32Array.of(-1, -1e-3, -1e-5);
    for (const layout of LAYOUTS) {
      const s = new Float32Array(3).fill(Number.NaN);
      const y = seForward(x, [3, 1, 1, 1], w, { outputActivation: 'relu', scaleOut: s, layout, out: poisoned(3) });
      expect(s[0]! > 0 && s[0]! < 1.1754943508222875e-38, `gate ${s[0]} is subnormal`).toBe(true);
      expect(Object.is(y[0], 0), `x = -1: ${y[0]} (${layout})`).toBe(true);
      expect(Object.is(y[1], -0), `x = -1e-3: ${y[1]} (${layout})`).toBe(true);
      expect(Object.is(y[2], -0), `x = -1e-5: ${y[2]} (${layout})`).toBe(true);
    }
  });

  test('CBAM: a NaN anywhere in x makes every output NaN, wherever it sits and in both layouts', () => {
    const rng = freshRng();
    const shape: Shape4 = [1, 16, 6, 7];
    const c: NanCase = { op: 'cbam', biases: true, activation: 'relu', gate: 'sigmoid', k: 7 };
    const base = makeNanProblem(rng, c, shape, 'x');
    base.x.set(rng.normals(base.x.length, 1, 0.3));
    for (const at of [0, 5, 17, 100, base.x.length - 1]) {
      const p = { ...base, x: base.x.slice() };
      p.x[at] = Number.NaN;
      for (const layout of LAYOUTS) {
        const { y } = runCpu(p, layout);
        expect(y.every(Number.isNaN), `NaN at ${at} ${layout} ${seedNote(rng)}`).toBe(true);
      }
    }
  });

  test.each(LAYOUTS)('ECA: a NaN/Inf weight tap on the zero padding gives 0·w = NaN at the borders (%s)', (layout) => {
    const x = new Float32Array(6 * 4).map((_, i) => 0.5 + (i % 5) * 0.1);
    const shape: Shape4 = [1, 6, 2, 2];
    for (const [v, bad] of [[Number.POSITIVE_INFINITY, [0]], [Number.NaN, [0, 1, 2, 3, 4, 5]]] as const) {
      const weight = new Float32Array([v, 0.3, -0.2]);
      const scaleOut = poisoned(6);
      ecaForward(layout === 'NCHW' ? x : nchwToNhwc(x, shape), shape, { weight }, { layout, device: 'cpu', scaleOut });
      for (let c = 0; c < 6; c++) expect(Number.isNaN(scaleOut[c]), `w[0]=${v} channel ${c}`).toBe((bad as readonly number[]).includes(c));
    }
  });

  test('async equals sync bitwise with NaN/Inf, scaleOut included', async () => {
    const rng = freshRng();
    for (const c of [SE_CASES[3], ECA_CASES[2], CBAM_CASES[5]]) {
      for (const target of ['x-inf', 'channel', 'w1'] as const) {
        if (c.op === 'eca' && target === 'w1') continue;
        const p = makeNanProblem(rng, c, [2, 9, 5, 4], target);
        for (const layout of LAYOUTS) {
          const { y, scaleOut, x, options } = runCpu(p, layout);
          const out = poisoned(x.length);
          const s2 = scaleOut ? poisoned(scaleOut.length) : undefined;
          const ya = await ASYNC[c.op](x, p.shape, p.weights, { ...options, device: 'cpu', out, ...(s2 ? { scaleOut: s2 } : {}) });
          expect(ya).toBe(out);
          expect(bitsEqual(ya, y), `${p.label} ${layout} ${seedNote(rng)}`).toBe(true);
          if (scaleOut) expect(bitsEqual(s2!, scaleOut), `scaleOut ${p.label} ${layout}`).toBe(true);
        }
      }
    }
  });
});

describe('CBAM spatialBias NaN / ±Inf (a folded BatchNorm bias) propagates as in PyTorch', () => {
  test.each(product({ bias: [Number.NaN, Infinity, -Infinity], layout: LAYOUTS, gate: GATES }))('%o', async ({ bias, layout, gate }) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 6, 4, 5];
    const w = randCBAMWeights(rng, 6, 2, 3, { b1: true, b2: true, spatialBias: true });
    w.spatialBias = Float32Array.of(bias);
    const x = rng.normals(2 * 6 * 4 * 5);
    const ref = refCBAM(x, shape, w, { layout, gate });
    const y = cbamForward(x, shape, w, { layout, gate, device: 'cpu', out: poisoned(x.length) });
    expectIeee(y, ref.y, `spatialBias ${bias} ${layout} ${gate} ${seedNote(rng)}`);
    const ya = await cbamForwardAsync(x, shape, w, { layout, gate, device: 'cpu' });
    expect(bitsEqual(ya, y)).toBe(true);
    // NaN reaches every output; +Inf opens the spatial gate fully (y = x1), -Inf closes it (sigmoid: 0).
    if (Number.isNaN(bias)) expect(Array.from(y).every(Number.isNaN)).toBe(true);
  });
});
