// Float64 reference implementations of SE, ECA and CBAM, written straight from the spec
// (shared brief), independent of lib/ and native/. Every test compares against these.
//
// Semantics (shape is always the logical [N, C, H, W]; layout only changes memory order):
//   SE:   z = mean_HW x[n,c]; s = gate(W2·act(W1·z + b1) + b2), or s = gate(W1·z + b1) with no W2
//         (single FC, W1 [C, C], no activation); y = x·s (+ residual), then optional relu.
//   ECA:  s = gate(conv1d_k(z) over channels, zero pad (k-1)/2, no bias); y = x·s.
//   CBAM: s = gate(MLP(avg) + MLP(max)), MLP = fc1(+b1) -> act -> fc2(+b2) (b2 counted once per
//         branch, so twice); x1 = x·s; m = [mean_c x1, max_c x1]; g = gate(conv2d_kxk(m) + bias),
//         zero pad (k-1)/2, input channel 0 = mean map, 1 = max map; y = x1·g.
//
// NaN and ±Inf follow the PyTorch modules (torch 1.13, checked by scripts/gen_nan_fixture.py):
//   - IEEE arithmetic throughout: NaN in, NaN out; Inf − Inf, 0·Inf and Inf/Inf are NaN.
//   - relu(NaN) = NaN (torch.relu), max/amax with a NaN is NaN (torch.amax), hardsigmoid(NaN) = NaN,
//     silu(−Inf) = −Inf / (1 + Inf) = NaN, sigmoid(±Inf) = 1 / 0. JS Math.max/Math.min propagate NaN
//     exactly like that, so they are used for every max and clamp here; `v > 0 ? v : 0` is not.
//   - Zero padding of the ECA and CBAM convolutions is an operand, not a skipped tap: a tap on the
//     padding contributes w·0, NaN for a NaN/±Inf weight (torch float64, and float32 where torch
//     does not hand the conv to oneDNN, which skips padded taps; see native/dev/NOTES-cpu.md).

export type Layout = 'NCHW' | 'NHWC';
export type Shape4 = [number, number, number, number];
export type Act = 'relu' | 'silu';
export type Gate = 'sigmoid' | 'hardsigmoid';
export type Num = ArrayLike<number>;

export interface SEWeightsRef {
  w1: Num;
  b1?: Num | null;
  w2?: Num | null;
  b2?: Num | null;
}
export interface SERefOptions {
  layout?: Layout;
  activation?: Act;
  gate?: Gate;
  residual?: Num | null;
  outputActivation?: 'none' | 'relu';
}
export interface ECAWeightsRef {
  weight: Num;
}
export interface CBAMWeightsRef {
  w1: Num;
  b1?: Num | null;
  w2: Num;
  b2?: Num | null;
  spatialWeight: Num; // [1, 2, k, k]
  spatialBias?: Num | null; // [1]
}
export interface RefResult {
  y: Float64Array; // in the requested layout
  scale: Float64Array; // channel gate s, [N, C]
}

/** torch.relu: NaN stays NaN (Math.max propagates NaN). */
export function relu(v: number): number {
  return Math.max(v, 0);
}

export function act(v: number, a: Act): number {
  if (a === 'relu') return relu(v);
  return v / (1 + Math.exp(-v)); // silu as torch's CPU kernel: finite v gives finite, −Inf gives NaN
}

export function gate(v: number, g: Gate): number {
  if (g === 'sigmoid') return 1 / (1 + Math.exp(-v));
  return Math.min(Math.max(v + 3, 0), 6) / 6;
}

// ---------------------------------------------------------------------------------------------
// First-order error scale. Each reference output also gets E(y): what float32 rounding of every
// step can move it by, in units of the unit roundoff u, with no length factor: a sum adds
// Σ(|term| + E(term)), a product |a|·E(b) + |b|·E(a) + |a·b|, and f(v) adds |f'(v)|·E(v) + |f(v)|.
// E is max|ref| or a few times it in a well-conditioned case (median 3.7, worst 127 over the CPU
// suites), and much larger where float32 does not determine the output to 1e-5 of max|ref| at
// all: a hardsigmoid gate just above 0 (v ≈ −3) over every pixel of a small map gives y ≈ 1e-3·x,
// whose relative error is (Σ|terms of v|)/6/1e-3 times u, in PyTorch's float32 as in ours. Every
// float32 output of the suites lies within 0.91·u·max E of the float64 value (2359 comparisons,
// 2026-11-30), so allowedError grants 4·u·max E where that exceeds tol·max|ref|. That happened in
// 2.8% of those comparisons, at most 3.0e-5·max|ref|: a defect that moves an output by more than
// that fails everywhere, and one between 1e-5 and 3e-5 of max|ref| can pass only there.

/** Float32's unit roundoff, 2^-24. */
export const U_F32 = 2 ** -24;
/** The allowance in unit roundoffs of the error scale (4.4× the worst seen). */
export const ERROR_SCALE_ULPS = 4;

const errorScales = new WeakMap<object, number>();

/** max over finite E(y) of a reference output (undefined for arrays this file did not make). */
export function errorScaleOf(a: ArrayLike<number>): number | undefined {
  return typeof a === 'object' && a !== null ? errorScales.get(a) : undefined;
}

/**
 * The largest max|y - ref| a float32 result may have: tol·max|ref|, or ERROR_SCALE_ULPS·u·max E
 * where the output is that ill-conditioned (E from errorScaleOf; 0 for arrays without one).
 */
export function allowedError(ref: ArrayLike<number>, maxRef: number, tol: number): number {
  return Math.max(tol * maxRef, ERROR_SCALE_ULPS * U_F32 * (errorScaleOf(ref) ?? 0));
}

function keepErrorScale(a: Float64Array, e: ArrayLike<number>): void {
  let m = 0;
  for (let i = 0; i < e.length; i++) if (Number.isFinite(e[i]) && e[i] > m) m = e[i];
  errorScales.set(a, m);
}

// A kink (relu at 0, hardsigmoid at ±3) counts as inside the sloped side when the value is within
// this many error scales of it: the rounded value may lie on either side.
const KINK = 2 ** -20;

function actSlope(h: number, eh: number, a: Act): number {
  if (a === 'relu') return h > -KINK * eh ? 1 : 0;
  const s = 1 / (1 + Math.exp(-h));
  return Math.abs(s * (1 + h * (1 - s)));
}

function gateSlope(v: number, ev: number, g: Gate): number {
  if (g === 'sigmoid') {
    const s = 1 / (1 + Math.exp(-v));
    return s * (1 - s);
  }
  return v > -3 - KINK * ev && v < 3 + KINK * ev ? 1 / 6 : 0;
}

/** E of out[r] = b[r] + Σ_j W[r, j]·v[j]: |b[r]| + Σ_j |W[r, j]|·(|v[j]| + E(v[j])). */
function matvecError(Wm: Num, b: Num | null | undefined, v: ArrayLike<number>, ev: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let e = b ? Math.abs(b[r]) : 0;
    for (let j = 0; j < cols; j++) e += Math.abs(Wm[r * cols + j]) * (Math.abs(v[j]) + ev[j]);
    out[r] = e;
  }
  return out;
}

/** Flat index of logical (n, c, h, w) in the given layout. */
export function indexer(shape: Shape4, layout: Layout): (n: number, c: number, h: number, w: number) => number {
  const [, C, H, W] = shape;
  return layout === 'NCHW'
    ? (n, c, h, w) => ((n * C + c) * H + h) * W + w
    : (n, c, h, w) => ((n * H + h) * W + w) * C + c;
}

/** Per-channel spatial means [N, C], with their error scales Σ_hw |x| / (H·W) (exact inputs). */
function channelMeans(x: Num, shape: Shape4, layout: Layout): { z: Float64Array; err: Float64Array } {
  const [N, C, H, W] = shape;
  const at = indexer(shape, layout);
  const z = new Float64Array(N * C);
  const err = new Float64Array(N * C);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      let sum = 0;
      let abs = 0;
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) {
          const v = x[at(n, c, h, w)];
          sum += v;
          abs += Math.abs(v);
        }
      z[n * C + c] = sum / (H * W);
      err[n * C + c] = abs / (H * W);
    }
  return { z, err };
}

function channelMaxes(x: Num, shape: Shape4, layout: Layout): Float64Array {
  const [N, C, H, W] = shape;
  const at = indexer(shape, layout);
  const z = new Float64Array(N * C);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      let m = -Infinity;
      for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) m = Math.max(m, x[at(n, c, h, w)]);
      z[n * C + c] = m;
    }
  return z;
}

/** out[r] = sum_j W[r, j] * v[j] + (b ? b[r] : 0), W row-major [rows, cols]. */
function matvec(Wm: Num, b: Num | null | undefined, v: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let acc = b ? b[r] : 0;
    for (let j = 0; j < cols; j++) acc += Wm[r * cols + j] * v[j];
    out[r] = acc;
  }
  return out;
}

/** y = x·s, s per channel, in x's layout, with E(y) = |x|·E(s) + |x·s| (exact x). */
function applyChannelScale(x: Num, shape: Shape4, layout: Layout, s: Float64Array, sErr: Float64Array): { y: Float64Array; err: Float64Array } {
  const [N, C, H, W] = shape;
  const at = indexer(shape, layout);
  const y = new Float64Array(N * C * H * W);
  const err = new Float64Array(N * C * H * W);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const sc = s[n * C + c];
      const es = sErr[n * C + c];
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) {
          const i = at(n, c, h, w);
          y[i] = x[i] * sc;
          err[i] = Math.abs(x[i]) * es + Math.abs(y[i]);
        }
    }
  return { y, err };
}

export function refSE(x: Num, shape: Shape4, weights: SEWeightsRef, opts: SERefOptions = {}): RefResult {
  const [N, C] = shape;
  const layout = opts.layout ?? 'NCHW';
  const a = opts.activation ?? 'relu';
  const g = opts.gate ?? 'sigmoid';
  const hidden = weights.w1.length / C;
  if (!Number.isInteger(hidden)) throw new Error('refSE: w1 length is not a multiple of C');
  const { z, err: zErr } = channelMeans(x, shape, layout);
  const scale = new Float64Array(N * C);
  const scaleErr = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    const zn = z.subarray(n * C, (n + 1) * C);
    const en = zErr.subarray(n * C, (n + 1) * C);
    let v: Float64Array;
    let ev: Float64Array;
    if (weights.w2) {
      const pre = matvec(weights.w1, weights.b1, zn, hidden, C);
      const ePre = matvecError(weights.w1, weights.b1, zn, en, hidden, C);
      const hvec = pre.map((t) => act(t, a));
      const eh = hvec.map((t, j) => actSlope(pre[j], ePre[j], a) * ePre[j] + Math.abs(t));
      v = matvec(weights.w2, weights.b2, hvec, C, hidden);
      ev = matvecError(weights.w2, weights.b2, hvec, eh, C, hidden);
    } else {
      if (hidden !== C) throw new Error('refSE: single-FC w1 must be [C, C]');
      v = matvec(weights.w1, weights.b1, zn, C, C);
      ev = matvecError(weights.w1, weights.b1, zn, en, C, C);
    }
    for (let c = 0; c < C; c++) {
      const sc = gate(v[c], g);
      scale[n * C + c] = sc;
      scaleErr[n * C + c] = gateSlope(v[c], ev[c], g) * ev[c] + Math.abs(sc);
    }
  }
  const { y, err: yErr } = applyChannelScale(x, shape, layout, scale, scaleErr);
  if (opts.residual)
    for (let i = 0; i < y.length; i++) {
      y[i] += opts.residual[i];
      yErr[i] += Math.abs(y[i]);
    }
  if (opts.outputActivation === 'relu')
    for (let i = 0; i < y.length; i++) {
      yErr[i] = actSlope(y[i], yErr[i], 'relu') * yErr[i];
      y[i] = relu(y[i]);
    }
  keepErrorScale(y, yErr);
  keepErrorScale(scale, scaleErr);
  return { y, scale };
}

export function refECA(x: Num, shape: Shape4, weights: ECAWeightsRef, opts: { layout?: Layout; gate?: Gate } = {}): RefResult {
  const [N, C] = shape;
  const layout = opts.layout ?? 'NCHW';
  const g = opts.gate ?? 'sigmoid';
  const k = weights.weight.length;
  const pad = (k - 1) / 2;
  const { z, err: zErr } = channelMeans(x, shape, layout);
  const scale = new Float64Array(N * C);
  const scaleErr = new Float64Array(N * C);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      let acc = 0;
      let e = 0;
      for (let j = 0; j < k; j++) {
        const cc = c + j - pad;
        const inside = cc >= 0 && cc < C;
        acc += weights.weight[j] * (inside ? z[n * C + cc] : 0); // padding: a zero operand
        if (inside) e += Math.abs(weights.weight[j]) * (Math.abs(z[n * C + cc]) + zErr[n * C + cc]);
      }
      const sc = gate(acc, g);
      scale[n * C + c] = sc;
      scaleErr[n * C + c] = gateSlope(acc, e, g) * e + Math.abs(sc);
    }
  const { y, err: yErr } = applyChannelScale(x, shape, layout, scale, scaleErr);
  keepErrorScale(y, yErr);
  keepErrorScale(scale, scaleErr);
  return { y, scale };
}

export function refCBAM(
  x: Num,
  shape: Shape4,
  weights: CBAMWeightsRef,
  opts: { layout?: Layout; activation?: Act; gate?: Gate } = {},
): RefResult & { spatial: Float64Array /* [N, H, W] */ } {
  const [N, C, H, W] = shape;
  const layout = opts.layout ?? 'NCHW';
  const a = opts.activation ?? 'relu';
  const g = opts.gate ?? 'sigmoid';
  const hidden = weights.w1.length / C;
  const k = Math.round(Math.sqrt(weights.spatialWeight.length / 2));
  if (2 * k * k !== weights.spatialWeight.length) throw new Error('refCBAM: spatialWeight must be [1,2,k,k]');
  const pad = (k - 1) / 2;
  const at = indexer(shape, layout);
  const { z: avg, err: avgErr } = channelMeans(x, shape, layout);
  const mx = channelMaxes(x, shape, layout); // a max of exact inputs is exact: E = 0
  const mlp = (v: ArrayLike<number>, ev: ArrayLike<number>) => {
    const pre = matvec(weights.w1, weights.b1, v, hidden, C);
    const ePre = matvecError(weights.w1, weights.b1, v, ev, hidden, C);
    const hvec = pre.map((t) => act(t, a));
    const eh = hvec.map((t, j) => actSlope(pre[j], ePre[j], a) * ePre[j] + Math.abs(t));
    return { v: matvec(weights.w2, weights.b2, hvec, C, hidden), e: matvecError(weights.w2, weights.b2, hvec, eh, C, hidden) };
  };
  const scale = new Float64Array(N * C);
  const scaleErr = new Float64Array(N * C);
  const zeros = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const va = mlp(avg.subarray(n * C, (n + 1) * C), avgErr.subarray(n * C, (n + 1) * C));
    const vm = mlp(mx.subarray(n * C, (n + 1) * C), zeros);
    for (let c = 0; c < C; c++) {
      const v = va.v[c] + vm.v[c];
      const ev = va.e[c] + vm.e[c] + Math.abs(v);
      scale[n * C + c] = gate(v, g);
      scaleErr[n * C + c] = gateSlope(v, ev, g) * ev + Math.abs(scale[n * C + c]);
    }
  }
  const { y: x1, err: x1Err } = applyChannelScale(x, shape, layout, scale, scaleErr);
  const y = new Float64Array(x1.length);
  const yErr = new Float64Array(x1.length);
  const spatial = new Float64Array(N * H * W);
  const bias = weights.spatialBias ? weights.spatialBias[0] : 0;
  const meanMap = new Float64Array(H * W);
  const maxMap = new Float64Array(H * W);
  const meanErr = new Float64Array(H * W);
  const maxErr = new Float64Array(H * W);
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++)
      for (let w = 0; w < W; w++) {
        let sum = 0;
        let m = -Infinity;
        let eSum = 0;
        let eMax = 0; // the max of rounded values is off by at most the largest E among them
        for (let c = 0; c < C; c++) {
          const i = at(n, c, h, w);
          const v = x1[i];
          sum += v;
          m = Math.max(m, v);
          eSum += Math.abs(v) + x1Err[i];
          eMax = Math.max(eMax, x1Err[i]);
        }
        meanMap[h * W + w] = sum / C;
        maxMap[h * W + w] = m;
        meanErr[h * W + w] = eSum / C;
        maxErr[h * W + w] = eMax;
      }
    for (let h = 0; h < H; h++)
      for (let w = 0; w < W; w++) {
        let acc = bias;
        let e = Math.abs(bias);
        for (let dy = 0; dy < k; dy++) {
          const hh = h + dy - pad;
          for (let dx = 0; dx < k; dx++) {
            const ww = w + dx - pad;
            const inside = hh >= 0 && hh < H && ww >= 0 && ww < W; // padding: a zero operand
            const wMean = weights.spatialWeight[dy * k + dx];
            const wMax = weights.spatialWeight[k * k + dy * k + dx];
            acc += wMean * (inside ? meanMap[hh * W + ww] : 0);
            acc += wMax * (inside ? maxMap[hh * W + ww] : 0);
            if (inside) {
              const j = hh * W + ww;
              e += Math.abs(wMean) * (Math.abs(meanMap[j]) + meanErr[j]) + Math.abs(wMax) * (Math.abs(maxMap[j]) + maxErr[j]);
            }
          }
        }
        const gv = gate(acc, g);
        const eg = gateSlope(acc, e, g) * e + Math.abs(gv);
        spatial[(n * H + h) * W + w] = gv;
        for (let c = 0; c < C; c++) {
          const i = at(n, c, h, w);
          y[i] = x1[i] * gv;
          yErr[i] = Math.abs(x1[i]) * eg + Math.abs(gv) * x1Err[i] + Math.abs(y[i]);
        }
      }
  }
  keepErrorScale(y, yErr);
  keepErrorScale(scale, scaleErr);
  return { y, scale, spatial };
}

// ---------------------------------------------------------------------------------------------
// Layout converters (generic over the typed-array kind).

type AnyArr = Float32Array | Float64Array | Uint16Array;

export function nchwToNhwc<T extends AnyArr>(a: T, shape: Shape4): T {
  const [N, C, H, W] = shape;
  const out = new (a.constructor as { new (n: number): T })(a.length);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) out[((n * H + h) * W + w) * C + c] = a[((n * C + c) * H + h) * W + w];
  return out;
}

export function nhwcToNchw<T extends AnyArr>(a: T, shape: Shape4): T {
  const [N, C, H, W] = shape;
  const out = new (a.constructor as { new (n: number): T })(a.length);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) out[((n * C + c) * H + h) * W + w] = a[((n * H + h) * W + w) * C + c];
  return out;
}

export function toLayout<T extends AnyArr>(nchw: T, shape: Shape4, layout: Layout): T {
  return layout === 'NCHW' ? nchw : nchwToNhwc(nchw, shape);
}

// ---------------------------------------------------------------------------------------------
// Seeded PRNG (mulberry32) with normal draws (Box-Muller).

export interface Rng {
  readonly seed: number;
  next(): number; // [0, 1)
  uniform(lo: number, hi: number): number;
  int(lo: number, hiInclusive: number): number;
  normal(): number;
  pick<T>(items: readonly T[]): T;
  /** Float32Array of normal(0, scale) + offset values. */
  normals(n: number, scale?: number, offset?: number): Float32Array;
}

export function makeRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => {
    const u1 = Math.max(next(), 1e-300);
    const u2 = next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  };
  return {
    seed: seed >>> 0,
    next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    normal,
    pick: (items) => items[Math.floor(next() * items.length)],
    normals(n, scale = 1, offset = 0) {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = normal() * scale + offset;
      return a;
    },
  };
}

/**
 * First mismatch of y against ref under the NaN/Inf rules: NaN must meet NaN, ±Inf the same
 * infinity, and finite values must agree within allowedError (`tol` relative to the largest finite
 * |ref|, or more for an ill-conditioned output) plus `absTol` (float16's subnormal floor) and be
 * finite. Returns null when everything matches,
 * else a description of the first mismatch.
 */
export function ieeeMismatch(y: ArrayLike<number>, ref: ArrayLike<number>, tol: number, absTol = 0): string | null {
  if (y.length !== ref.length) return `length ${y.length} vs ${ref.length}`;
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) if (Number.isFinite(ref[i])) maxRef = Math.max(maxRef, Math.abs(ref[i]));
  const bound = (maxRef > 0 ? allowedError(ref, maxRef, tol) : tol) + absTol;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i];
    const v = y[i];
    const ok = Number.isNaN(r) ? Number.isNaN(v) : Number.isFinite(r) ? Number.isFinite(v) && Math.abs(v - r) <= bound : v === r;
    if (!ok) return `index ${i}: got ${v}, expected ${r} (finite bound ${bound.toExponential(2)})`;
  }
  return null;
}

/**
 * max|y - ref| / max|ref|. Any non-finite y where ref is finite (a poisoned, unwritten element)
 * gives Infinity. When ref is all zero the absolute error is returned.
 */
export function relErr(y: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (y.length !== ref.length) return Infinity;
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i];
    const v = y[i];
    if (!Number.isFinite(v) && v !== r) return Infinity;
    const d = Math.abs(v - r);
    if (d > maxDiff) maxDiff = d;
    const ar = Math.abs(r);
    if (ar > maxRef) maxRef = ar;
  }
  return maxRef > 0 ? maxDiff / maxRef : maxDiff;
}
