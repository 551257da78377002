// Every array argument as a misaligned view into a larger NaN-filled buffer, for all three ops and
// both layouts, against the float64 reference. The SIMD kernels load and store unaligned (SSE2/AVX2
// loadu/storeu, NEON vld1q/vst1q) and pick aligned streaming stores only for aligned outputs; these
// cases put x, out, residual, scaleOut and the weights at every float offset mod 8 (every byte
// misalignment mod 32), each array at a different one, on channel counts and H·W that are not
// multiples of the vector width, so the vector bodies, their scalar tails and heads all run from
// unaligned addresses. The guard elements around each view must stay NaN (nothing written outside).
import { describe, expect, test } from 'vitest';
import { cbamForward, ecaForward, seForward } from '../dist/index.js';
import { refCBAM, refECA, refSE, type Layout, type Shape4 } from './reference.js';
import { LAYOUTS, TOL_F32, expectClose, freshRng, residualTol, numel, product, randCBAMWeights, randECAWeight, randSEWeights, seedNote } from './helpers.js';

/** Places arrays in one NaN-filled buffer, each at the given float offset past a NaN gap. */
class Arena {
  private readonly parts: { start: number; len: number }[] = [];
  private used = 0;
  readonly buf: Float32Array;
  constructor(capacity: number) {
    this.buf = new Float32Array(capacity).fill(Number.NaN);
  }
  /** A view of `len` floats starting `offset` (0..7) floats past the next 32-byte boundary + 8 guards. */
  view(len: number, offset: number, data?: ArrayLike<number>): Float32Array {
    const start = Math.ceil((this.used + 8) / 8) * 8 + offset;
    if (start + len + 8 > this.buf.length) throw new Error('arena too small');
    const v = this.buf.subarray(start, start + len);
    if (data) v.set(data);
    this.parts.push({ start, len });
    this.used = start + len;
    return v;
  }
  /** Indices of elements outside every view that are no longer NaN. */
  touchedGuards(): number[] {
    const inside = new Uint8Array(this.buf.length);
    for (const p of this.parts) inside.fill(1, p.start, p.start + p.len);
    const bad: number[] = [];
    for (let i = 0; i < this.buf.length; i++) if (!inside[i] && !Number.isNaN(this.buf[i])) bad.push(i);
    return bad;
  }
}

/** Capacity for arrays of these lengths, each with up to 16 floats of padding and guards. */
const capacity = (...lens: number[]) => lens.reduce((a, b) => a + b + 24, 16);

// C and H·W chosen off the vector widths (4 for SSE2/NEON, 8 for AVX2), plus one C % 8 == 0 case.
const SHAPES: readonly Shape4[] = [
  [2, 9, 5, 5],
  [1, 37, 3, 7],
  [3, 13, 11, 1],
  [2, 24, 7, 9],
];
// Float offsets of x, out, residual/scaleOut and the weights: every value mod 8 appears for x and out.
const OFFSETS = [
  { x: 1, out: 3, aux: 5, w: 7 },
  { x: 2, out: 7, aux: 1, w: 3 },
  { x: 3, out: 0, aux: 6, w: 2 },
  { x: 5, out: 6, aux: 2, w: 1 },
  { x: 7, out: 2, aux: 3, w: 5 },
  { x: 0, out: 4, aux: 7, w: 6 },
  { x: 4, out: 1, aux: 0, w: 4 },
  { x: 6, out: 5, aux: 4, w: 0 },
];
const CASES = product({ layout: LAYOUTS, shape: SHAPES, o: OFFSETS.map((_, i) => i) });
const label = (layout: Layout, shape: Shape4, o: number) =>
  `${layout} ${shape.join('×')} offsets x=${OFFSETS[o]!.x} out=${OFFSETS[o]!.out} aux=${OFFSETS[o]!.aux} w=${OFFSETS[o]!.w}`;

describe('CPU kernels on misaligned views into a larger buffer', () => {
  test.each(CASES.map((c) => [label(c.layout, c.shape, c.o), c] as const))('SE %s', (_l, { layout, shape, o }) => {
    const rng = freshRng();
    const off = OFFSETS[o]!;
    const [N, C] = shape;
    const n = numel(shape);
    const hidden = rng.int(1, Math.max(2, C >> 1));
    const w = randSEWeights(rng, C, hidden, { twoFc: true, b1: true, b2: true });
    const x = rng.normals(n, 1, 0.3);
    const residual = rng.normals(n);
    const a = new Arena(capacity(n, n, n, N * C, w.w1.length, w.b1!.length, w.w2!.length, w.b2!.length));
    const xv = a.view(n, off.x, x);
    const outv = a.view(n, off.out);
    const rv = a.view(n, off.aux, residual);
    const sv = a.view(N * C, (off.aux + 3) % 8);
    const wv = {
      w1: a.view(w.w1.length, off.w, w.w1),
      b1: a.view(w.b1!.length, (off.w + 1) % 8, w.b1!),
      w2: a.view(w.w2!.length, (off.w + 2) % 8, w.w2!),
      b2: a.view(w.b2!.length, (off.w + 3) % 8, w.b2!),
    };
    const y = seForward(xv, shape, wv, { layout, activation: 'silu', gate: 'sigmoid', residual: rv, outputActivation: 'relu', device: 'cpu', out: outv, scaleOut: sv });
    expect(y).toBe(outv);
    const ref = refSE(x, shape, w, { layout, activation: 'silu', gate: 'sigmoid', residual, outputActivation: 'relu' });
    const ctx = `${label(layout, shape, o)} hidden=${hidden} ${seedNote(rng)}`;
    expectClose(outv, ref.y, TOL_F32, ctx, residualTol(residual));
    expectClose(sv, ref.scale, TOL_F32, `scaleOut ${ctx}`);
    expect(a.touchedGuards(), `elements outside the views were written: ${ctx}`).toEqual([]);
  });

  test.each(CASES.map((c) => [label(c.layout, c.shape, c.o), c] as const))('ECA %s', (_l, { layout, shape, o }) => {
    const rng = freshRng();
    const off = OFFSETS[o]!;
    const [N, C] = shape;
    const n = numel(shape);
    const k = [3, 5, 7][o % 3]!;
    const weight = randECAWeight(rng, k);
    const x = rng.normals(n, 1, 0.3);
    const a = new Arena(capacity(n, n, N * C, k));
    const xv = a.view(n, off.x, x);
    const outv = a.view(n, off.out);
    const sv = a.view(N * C, off.aux);
    const wv = a.view(k, off.w, weight);
    const y = ecaForward(xv, shape, { weight: wv }, { layout, gate: 'hardsigmoid', device: 'cpu', out: outv, scaleOut: sv });
    expect(y).toBe(outv);
    const ref = refECA(x, shape, { weight }, { layout, gate: 'hardsigmoid' });
    const ctx = `${label(layout, shape, o)} k=${k} ${seedNote(rng)}`;
    expectClose(outv, ref.y, TOL_F32, ctx);
    expectClose(sv, ref.scale, TOL_F32, `scaleOut ${ctx}`);
    expect(a.touchedGuards(), `elements outside the views were written: ${ctx}`).toEqual([]);
  });

  test.each(CASES.map((c) => [label(c.layout, c.shape, c.o), c] as const))('CBAM %s', (_l, { layout, shape, o }) => {
    const rng = freshRng();
    const off = OFFSETS[o]!;
    const C = shape[1];
    const n = numel(shape);
    const k = [3, 5, 7][o % 3]!;
    const hidden = rng.int(1, Math.max(2, C >> 1));
    const w = randCBAMWeights(rng, C, hidden, k, { b1: true, b2: true, spatialBias: true });
    const x = rng.normals(n, 1, 0.3);
    const a = new Arena(capacity(n, n, w.w1.length, w.b1!.length, w.w2.length, w.b2!.length, w.spatialWeight.length, 1));
    const xv = a.view(n, off.x, x);
    const outv = a.view(n, off.out);
    const wv = {
      w1: a.view(w.w1.length, off.w, w.w1),
      b1: a.view(w.b1!.length, (off.w + 1) % 8, w.b1!),
      w2: a.view(w.w2.length, (off.w + 2) % 8, w.w2),
      b2: a.view(w.b2!.length, (off.w + 3) % 8, w.b2!),
      spatialWeight: a.view(w.spatialWeight.length, off.aux, w.spatialWeight),
      spatialBias: a.view(1, (off.aux + 1) % 8, w.spatialBias!),
    };
    const y = cbamForward(xv, shape, wv, { layout, activation: 'relu', gate: 'sigmoid', device: 'cpu', out: outv });
    expect(y).toBe(outv);
    const ref = refCBAM(x, shape, w, { layout, activation: 'relu', gate: 'sigmoid' });
    const ctx = `${label(layout, shape, o)} k=${k} hidden=${hidden} ${seedNote(rng)}`;
    expectClose(outv, ref.y, TOL_F32, ctx);
    expect(a.touchedGuards(), `elements outside the views were written: ${ctx}`).toEqual([]);
  });

  // y >= 16 MB takes the streaming-store branch on x86 (aligned outputs only; a misaligned out
  // must fall back to ordinary stores, or take a scalar head): 1×40×320×330 floats = 16.9 MB.
  test.each(LAYOUTS)('SE, output of 16.9 MB (streaming-store size) at a misaligned offset, %s', (layout) => {
    const rng = freshRng();
    const shape: Shape4 = [1, 40, 320, 330];
    const n = numel(shape);
    const w = randSEWeights(rng, 40, 10, { twoFc: true, b1: true, b2: true });
    const x = rng.normals(n, 1, 0.3);
    const a = new Arena(capacity(n, n));
    const xv = a.view(n, 3, x);
    const outv = a.view(n, 1);
    seForward(xv, shape, w, { layout, device: 'cpu', out: outv });
    const ctx = `${layout} ${seedNote(rng)}`;
    expectClose(outv, refSE(x, shape, w, { layout }).y, TOL_F32, ctx);
    expect(a.touchedGuards(), `elements outside the views were written: ${ctx}`).toEqual([]);
  }, 120_000);
});
