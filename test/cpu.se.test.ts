// SE on the CPU against the float64 reference: every option combination, odd shapes, large H·W,
// large magnitudes, layouts, in-place, residual aliasing, async == sync, scaleOut.
import { describe, expect, test } from 'vitest';
import { seForward, seForwardAsync } from '../dist/index.js';
import { nchwToNhwc, refSE, type Act, type Gate, type Layout, type Shape4 } from './reference.js';
import {
  ACTS,
  GATES,
  LAYOUTS,
  ODD_SHAPES,
  TOL_F32,
  bitsEqual,
  expectAgree,
  expectClose,
  freshRng,
  numel,
  poisoned,
  product,
  randSEWeights,
  residualRoundingMismatch,
  residualTol,
  saturated,
  seedNote,
} from './helpers.js';

interface Case {
  twoFc: boolean;
  b1: boolean;
  b2: boolean;
  act: Act;
  gate: Gate;
  residual: boolean;
  outAct: 'none' | 'relu';
  layout: Layout;
}

// Single-FC SE has no second layer (so no b2) and no activation: those combinations are dropped.
const CASES: Case[] = product({
  twoFc: [true, false],
  b1: [true, false],
  b2: [true, false],
  act: ACTS,
  gate: GATES,
  residual: [false, true],
  outAct: ['none', 'relu'] as const,
  layout: LAYOUTS,
}).filter((c) => c.twoFc || (!c.b2 && c.act === 'relu'));

function caseName(c: Case): string {
  return [
    c.twoFc ? 'two-FC' : 'single-FC',
    c.b1 ? '+b1' : '-b1',
    c.twoFc ? (c.b2 ? '+b2' : '-b2') : '',
    c.twoFc ? c.act : '',
    c.gate,
    c.residual ? 'residual' : '',
    c.outAct === 'relu' ? 'out-relu' : '',
    c.layout,
  ]
    .filter(Boolean)
    .join(' ');
}

function makeProblem(rng: ReturnType<typeof freshRng>, shape: Shape4, c: Case, xScale = 1) {
  const [N, C] = shape;
  const hidden = c.twoFc ? rng.int(1, Math.max(2, C)) : C;
  const weights = randSEWeights(rng, C, hidden, { twoFc: c.twoFc, b1: c.b1, b2: c.b2 });
  const x = rng.normals(numel(shape), xScale, 0.3 * xScale);
  const residual = c.residual ? rng.normals(numel(shape), xScale) : undefined;
  const refOpts = {
    layout: c.layout,
    activation: c.act,
    gate: c.gate,
    residual,
    outputActivation: c.outAct,
  };
  const apiOpts = (out?: Float32Array, scaleOut?: Float32Array) => ({
    layout: c.layout,
    ...(c.twoFc ? { activation: c.act } : {}),
    gate: c.gate,
    ...(residual ? { residual } : {}),
    outputActivation: c.outAct,
    device: 'cpu' as const,
    ...(out ? { out } : {}),
    ...(scaleOut ? { scaleOut } : {}),
  });
  return { N, C, hidden, weights, x, residual, refOpts, apiOpts };
}

/** expectClose for an SE output, with the residual's allowance (helpers.ts residualTol). */
function expectSE(y: ArrayLike<number>, ref: ArrayLike<number>, p: { residual?: Float32Array }, ctx: string): number {
  return expectClose(y, ref, TOL_F32, ctx, residualTol(p.residual));
}

describe('SE on the CPU: every option combination', () => {
  test.each(CASES.map((c, i) => [caseName(c), c, i] as const))('%s', (_name, c, i) => {
    const rng = freshRng();
    // Two shapes per combination, spread so every odd shape meets every option over the suite.
    for (const shape of [ODD_SHAPES[i % ODD_SHAPES.length], ODD_SHAPES[(i * 7 + 3) % ODD_SHAPES.length]]) {
      const p = makeProblem(rng, shape, c);
      const xCopy = p.x.slice();
      const out = poisoned(p.x.length);
      const scaleOut = poisoned(p.N * p.C);
      const y = seForward(p.x, shape, p.weights, p.apiOpts(out, scaleOut));
      const ctx = `${caseName(c)} shape=${shape} hidden=${p.hidden} ${seedNote(rng)}`;
      expect(y, 'returns the out array').toBe(out);
      const ref = refSE(p.x, shape, p.weights, p.refOpts);
      expectSE(y, ref.y, p, ctx);
      expectClose(scaleOut, ref.scale, TOL_F32, `scaleOut ${ctx}`);
      expect(bitsEqual(p.x, xCopy), `x was modified: ${ctx}`).toBe(true);
    }
  });
});

describe('SE on the CPU: shapes and magnitudes', () => {
  test('allocates and returns a fresh output when out is not given', () => {
    const rng = freshRng();
    const shape: Shape4 = [2, 24, 5, 7];
    const c: Case = { twoFc: true, b1: true, b2: true, act: 'relu', gate: 'sigmoid', residual: false, outAct: 'none', layout: 'NCHW' };
    const p = makeProblem(rng, shape, c);
    const y = seForward(p.x, shape, p.weights, p.apiOpts());
    expect(y).toBeInstanceOf(Float32Array);
    expect(y).not.toBe(p.x);
    expectSE(y, refSE(p.x, shape, p.weights, p.refOpts).y, p, seedNote(rng));
  });

  test('default options (NCHW, relu, sigmoid) equal the reference', () => {
    const rng = freshRng();
    const shape: Shape4 = [2, 16, 3, 5];
    const w = randSEWeights(rng, 16, 4, { twoFc: true, b1: true, b2: true });
    const x = rng.normals(numel(shape), 1, 0.3);
    expectClose(seForward(x, shape, w), refSE(x, shape, w).y, TOL_F32, seedNote(rng));
  });

  test.each(LAYOUTS)('large H·W (1×16×112×112, %s), residual + output relu, silu', (layout) => {
    const rng = freshRng();
    const shape: Shape4 = [1, 16, 112, 112];
    const c: Case = { twoFc: true, b1: true, b2: true, act: 'silu', gate: 'sigmoid', residual: true, outAct: 'relu', layout };
    const p = makeProblem(rng, shape, c);
    const out = poisoned(p.x.length);
    const scaleOut = poisoned(p.N * p.C);
    seForward(p.x, shape, p.weights, p.apiOpts(out, scaleOut));
    const ref = refSE(p.x, shape, p.weights, p.refOpts);
    expectSE(out, ref.y, p, seedNote(rng));
    expectClose(scaleOut, ref.scale, TOL_F32, `scaleOut ${seedNote(rng)}`);
  });

  test.each(product({ act: ACTS, gate: GATES, layout: LAYOUTS }))(
    '|x| ~ 1e4 saturates the gates and stays finite (%o)',
    ({ act, gate, layout }) => {
      const rng = freshRng();
      const shape: Shape4 = [2, 19, 9, 7];
      const c: Case = { twoFc: true, b1: true, b2: true, act, gate, residual: true, outAct: 'none', layout };
      // Redraw until every gate is saturated in the reference: a gate left in its transition
      // region would turn fp32 rounding of |x|~1e4 sums into errors far above 1e-5 of any
      // correct fp32 kernel, which is not what this test is about.
      let p = makeProblem(rng, shape, c, 1e4);
      let ref = refSE(p.x, shape, p.weights, p.refOpts);
      for (let tries = 0; tries < 200 && !saturated(ref.scale, gate); tries++) {
        p = makeProblem(rng, shape, c, 1e4);
        ref = refSE(p.x, shape, p.weights, p.refOpts);
      }
      expect(saturated(ref.scale, gate), 'could not draw a fully saturated problem').toBe(true);
      const out = poisoned(p.x.length);
      const scaleOut = poisoned(p.N * p.C);
      seForward(p.x, shape, p.weights, p.apiOpts(out, scaleOut));
      expectSE(out, ref.y, p, seedNote(rng));
      expectClose(scaleOut, ref.scale, TOL_F32, `scaleOut ${seedNote(rng)}`);
    },
  );
});

describe('SE on the CPU: layouts, aliasing, async', () => {
  test('NCHW and NHWC agree on the same logical tensor', () => {
    const rng = freshRng();
    for (const shape of [[2, 13, 7, 11], [1, 64, 6, 5], [3, 1, 4, 4]] as Shape4[]) {
      const c: Case = { twoFc: true, b1: true, b2: true, act: 'silu', gate: 'hardsigmoid', residual: true, outAct: 'relu', layout: 'NCHW' };
      const p = makeProblem(rng, shape, c);
      const yNchw = seForward(p.x, shape, p.weights, p.apiOpts(poisoned(p.x.length)));
      const xN = nchwToNhwc(p.x, shape);
      const rN = nchwToNhwc(p.residual!, shape);
      const yNhwc = seForward(xN, shape, p.weights, {
        layout: 'NHWC',
        activation: 'silu',
        gate: 'hardsigmoid',
        residual: rN,
        outputActivation: 'relu',
        device: 'cpu',
        out: poisoned(p.x.length),
      });
      expectAgree(yNhwc, nchwToNhwc(yNchw, shape), refSE(p.x, shape, p.weights, p.refOpts).y, TOL_F32, `shape=${shape} ${seedNote(rng)}`);
    }
  });

  test.each(LAYOUTS)('in place: out === x (%s)', (layout) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 21, 6, 5];
    const c: Case = { twoFc: true, b1: true, b2: false, act: 'relu', gate: 'sigmoid', residual: true, outAct: 'relu', layout };
    const p = makeProblem(rng, shape, c);
    const ref = refSE(p.x, shape, p.weights, p.refOpts);
    const buf = p.x.slice();
    const scaleOut = poisoned(p.N * p.C);
    const y = seForward(buf, shape, p.weights, { ...p.apiOpts(buf, scaleOut) });
    expect(y).toBe(buf);
    expectSE(buf, ref.y, p, seedNote(rng));
    expectClose(scaleOut, ref.scale, TOL_F32, seedNote(rng));
  });

  test.each(LAYOUTS)('residual === out (%s)', (layout) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 11, 7, 3];
    const c: Case = { twoFc: true, b1: true, b2: true, act: 'silu', gate: 'sigmoid', residual: true, outAct: 'none', layout };
    const p = makeProblem(rng, shape, c);
    const ref = refSE(p.x, shape, p.weights, p.refOpts);
    const buf = p.residual!.slice();
    const y = seForward(p.x, shape, p.weights, { ...p.apiOpts(buf), residual: buf });
    expect(y).toBe(buf);
    expectSE(buf, ref.y, p, seedNote(rng));
  });

  test('views with a byte offset into a larger buffer are honoured', () => {
    const rng = freshRng();
    const shape: Shape4 = [2, 9, 5, 5];
    const c: Case = { twoFc: true, b1: true, b2: true, act: 'relu', gate: 'sigmoid', residual: true, outAct: 'none', layout: 'NCHW' };
    const p = makeProblem(rng, shape, c);
    const n = p.x.length;
    const big = new Float32Array(3 * n + 10).fill(Number.NaN);
    const xv = big.subarray(1, 1 + n);
    xv.set(p.x);
    const rv = big.subarray(n + 3, 2 * n + 3);
    rv.set(p.residual!);
    const outv = big.subarray(2 * n + 7, 3 * n + 7);
    seForward(xv, shape, p.weights, { ...p.apiOpts(outv), residual: rv });
    expectSE(outv, refSE(p.x, shape, p.weights, p.refOpts).y, p, seedNote(rng));
    // the guard elements around the views stay untouched
    expect(Number.isNaN(big[0]) && Number.isNaN(big[n + 1]) && Number.isNaN(big[2 * n + 6]) && Number.isNaN(big[3 * n + 7])).toBe(true);
  });

  test('async equals sync bitwise, for every option combination', async () => {
    const rng = freshRng();
    for (const [i, c] of CASES.entries()) {
      if (i % 4 !== 0) continue; // a quarter of the combinations, spread over all options
      const shape = ODD_SHAPES[i % ODD_SHAPES.length];
      const p = makeProblem(rng, shape, c);
      const outSync = poisoned(p.x.length);
      const scaleSync = poisoned(p.N * p.C);
      seForward(p.x, shape, p.weights, p.apiOpts(outSync, scaleSync));
      const outAsync = poisoned(p.x.length);
      const scaleAsync = poisoned(p.N * p.C);
      const y = await seForwardAsync(p.x, shape, p.weights, p.apiOpts(outAsync, scaleAsync));
      expect(y).toBe(outAsync);
      const ctx = `${caseName(c)} shape=${shape} ${seedNote(rng)}`;
      expect(bitsEqual(outSync, outAsync), ctx).toBe(true);
      expect(bitsEqual(scaleSync, scaleAsync), ctx).toBe(true);
      expectSE(outAsync, refSE(p.x, shape, p.weights, p.refOpts).y, p, ctx);
    }
  });

  test('many async calls in flight at once each get their own correct result', async () => {
    const rng = freshRng();
    const shape: Shape4 = [2, 32, 28, 28];
    const c: Case = { twoFc: true, b1: true, b2: true, act: 'silu', gate: 'sigmoid', residual: true, outAct: 'relu', layout: 'NHWC' };
    const problems = Array.from({ length: 8 }, () => makeProblem(rng, shape, c));
    const outs = problems.map((p) => poisoned(p.x.length));
    const ys = await Promise.all(problems.map((p, i) => seForwardAsync(p.x, shape, p.weights, p.apiOpts(outs[i]))));
    ys.forEach((y, i) => {
      expect(y).toBe(outs[i]);
      expectSE(y, refSE(problems[i].x, shape, problems[i].weights, problems[i].refOpts).y, problems[i], `call ${i} ${seedNote(rng)}`);
    });
  });

  test('async in place (out === x) and async without out', async () => {
    const rng = freshRng();
    const shape: Shape4 = [1, 7, 13, 7];
    const c: Case = { twoFc: false, b1: true, b2: false, act: 'relu', gate: 'hardsigmoid', residual: false, outAct: 'none', layout: 'NHWC' };
    const p = makeProblem(rng, shape, c);
    const ref = refSE(p.x, shape, p.weights, p.refOpts);
    const fresh = await seForwardAsync(p.x, shape, p.weights, p.apiOpts());
    expectSE(fresh, ref.y, p, seedNote(rng));
    const buf = p.x.slice();
    const y = await seForwardAsync(buf, shape, p.weights, p.apiOpts(buf));
    expect(y).toBe(buf);
    expect(bitsEqual(buf, fresh)).toBe(true);
  });
});

// A sample's output must not depend on the batch it came in: batch 1 takes the split path
// (channels or pixels over threads), batches >= 2 whole-sample tasks or, where the FC weights
// outweigh a sample (C = 1024, 2048), blocks of samples sharing one weight pass. Each path's FCs
// sum every output in one order (NOTES-cpu.md items 13, 23, 40); the float64 reference bounds
// batch 1.
describe('SE on the CPU: a sample gives the same bits whatever batch it is in', () => {
  // 2048x4x4 and 2048x1x1: a lone sample smaller than its 2 MB of weights runs as a block (item 81).
  for (const [C, H, hidden] of [[1024, 14, 64], [2048, 7, 128], [2048, 4, 128], [2048, 1, 128], [300, 5, 20], [257, 3, 16]] as const) {
    for (const layout of LAYOUTS) {
      test(`${C}x${H}x${H} hidden ${hidden} ${layout}: batch 1 = sample 0 of batches 2, 3, 8, 9`, () => {
        const rng = freshRng();
        const per = C * H * H;
        const all = rng.normals(per * 9, 2);
        const weights = randSEWeights(rng, C, hidden, { twoFc: true, b1: true, b2: true });
        const opts = { layout, device: 'cpu' as const };
        const one = seForward(all.slice(0, per), [1, C, H, H], weights, opts);
        expectClose(one, refSE(all.slice(0, per), [1, C, H, H], weights, { layout }).y, TOL_F32, `batch 1 ${seedNote(rng)}`);
        for (const n of [2, 3, 8, 9]) {
          const y = seForward(all.slice(0, per * n), [n, C, H, H], weights, opts);
          expect(bitsEqual(y.subarray(0, per), one), `batch ${n} ${seedNote(rng)}`).toBe(true);
        }
      });
    }
  }
});

// y = x·s + residual rounds twice, as PyTorch's eager `x * s` then `+ residual` does: the build
// turns off floating-point contraction (-ffp-contract=off), without which GCC fused the two into
// one FMA in the AVX2 and AVX-512 tables (one rounding) but not in the SSE2 one or under
// node-gyp's -std=c++17, so the bits depended on the machine and the build route. The shapes
// cover the vector body, the scalar heads and tails, and (16.8 MB) the streaming stores.
describe('SE on the CPU: x·s + residual rounds x·s to float32 first, as PyTorch eager', () => {
  const shapes: Shape4[] = [[2, 5, 7, 9], [3, 33, 6, 5], [1, 256, 128, 128]];
  for (const shape of shapes) {
    for (const layout of LAYOUTS) {
      for (const outAct of ['none', 'relu'] as const) {
        test(`${shape.join('×')} ${layout} output ${outAct}`, () => {
          const rng = freshRng();
          const [N, C] = shape;
          const weights = randSEWeights(rng, C, Math.max(1, C >> 2), { twoFc: true, b1: true, b2: true });
          const x = rng.normals(numel(shape), 3, 0.5);
          const residual = rng.normals(numel(shape), 3);
          const scaleOut = poisoned(N * C);
          const y = seForward(x, shape, weights, { layout, residual, outputActivation: outAct, scaleOut, device: 'cpu' });
          const bad = residualRoundingMismatch(y, x, residual, scaleOut, shape, layout, outAct === 'relu');
          expect(bad, `first element off: ${bad} ${seedNote(rng)}`).toBe(-1);
        });
      }
    }
  }
});
