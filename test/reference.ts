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

/** Flat index of logical (n, c, h, w) in the given layout. */
export function indexer(shape: Shape4, layout: Layout): (n: number, c: number, h: number, w: number) => number {
  const [, C, H, W] = shape;
  return layout === 'NCHW'
    ? (n, c, h, w) => ((n * C + c) * H + h) * W + w
    : (n, c, h, w) => ((n * H + h) * W + w) * C + c;
}

function channelMeans(x: Num, shape: Shape4, layout: Layout): Float64Array {
  const [N, C, H, W] = shape;
  const at = indexer(shape, layout);
  const z = new Float64Array(N * C);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      let sum = 0;
      for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) sum += x[at(n, c, h, w)];
      z[n * C + c] = sum / (H * W);
    }
  return z;
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

function applyChannelScale(x: Num, shape: Shape4, layout: Layout, s: Float64Array): Float64Array {
  const [N, C, H, W] = shape;
  const at = indexer(shape, layout);
  const y = new Float64Array(N * C * H * W);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const sc = s[n * C + c];
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) {
          const i = at(n, c, h, w);
          y[i] = x[i] * sc;
        }
    }
  return y;
}

export function refSE(x: Num, shape: Shape4, weights: SEWeightsRef, opts: SERefOptions = {}): RefResult {
  const [N, C] = shape;
  const layout = opts.layout ?? 'NCHW';
  const a = opts.activation ?? 'relu';
  const g = opts.gate ?? 'sigmoid';
  const hidden = weights.w1.length / C;
  if (!Number.isInteger(hidden)) throw new Error('refSE: w1 length is not a multiple of C');
  const z = channelMeans(x, shape, layout);
  const scale = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    const zn = z.subarray(n * C, (n + 1) * C);
    let v: Float64Array;
    if (weights.w2) {
      const hvec = matvec(weights.w1, weights.b1, zn, hidden, C).map((t) => act(t, a));
      v = matvec(weights.w2, weights.b2, hvec, C, hidden);
    } else {
      if (hidden !== C) throw new Error('refSE: single-FC w1 must be [C, C]');
      v = matvec(weights.w1, weights.b1, zn, C, C);
    }
    for (let c = 0; c < C; c++) scale[n * C + c] = gate(v[c], g);
  }
  const y = applyChannelScale(x, shape, layout, scale);
  if (opts.residual) for (let i = 0; i < y.length; i++) y[i] += opts.residual[i];
  if (opts.outputActivation === 'relu') for (let i = 0; i < y.length; i++) y[i] = relu(y[i]);
  return { y, scale };
}

export function refECA(x: Num, shape: Shape4, weights: ECAWeightsRef, opts: { layout?: Layout; gate?: Gate } = {}): RefResult {
  const [N, C] = shape;
  const layout = opts.layout ?? 'NCHW';
  const g = opts.gate ?? 'sigmoid';
  const k = weights.weight.length;
  const pad = (k - 1) / 2;
  const z = channelMeans(x, shape, layout);
  const scale = new Float64Array(N * C);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      let acc = 0;
      for (let j = 0; j < k; j++) {
        const cc = c + j - pad;
        acc += weights.weight[j] * (cc >= 0 && cc < C ? z[n * C + cc] : 0); // padding: a zero operand
      }
      scale[n * C + c] = gate(acc, g);
    }
  return { y: applyChannelScale(x, shape, layout, scale), scale };
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
  const avg = channelMeans(x, shape, layout);
  const mx = channelMaxes(x, shape, layout);
  const mlp = (v: ArrayLike<number>) => {
    const hvec = matvec(weights.w1, weights.b1, v, hidden, C).map((t) => act(t, a));
    return matvec(weights.w2, weights.b2, hvec, C, hidden);
  };
  const scale = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    const va = mlp(avg.subarray(n * C, (n + 1) * C));
    const vm = mlp(mx.subarray(n * C, (n + 1) * C));
    for (let c = 0; c < C; c++) scale[n * C + c] = gate(va[c] + vm[c], g);
  }
  const x1 = applyChannelScale(x, shape, layout, scale);
  const y = new Float64Array(x1.length);
  const spatial = new Float64Array(N * H * W);
  const bias = weights.spatialBias ? weights.spatialBias[0] : 0;
  const meanMap = new Float64Array(H * W);
  const maxMap = new Float64Array(H * W);
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++)
      for (let w = 0; w < W; w++) {
        let sum = 0;
        let m = -Infinity;
        for (let c = 0; c < C; c++) {
          const v = x1[at(n, c, h, w)];
          sum += v;
          m = Math.max(m, v);
        }
        meanMap[h * W + w] = sum / C;
        maxMap[h * W + w] = m;
      }
    for (let h = 0; h < H; h++)
      for (let w = 0; w < W; w++) {
        let acc = bias;
        for (let dy = 0; dy < k; dy++) {
          const hh = h + dy - pad;
          for (let dx = 0; dx < k; dx++) {
            const ww = w + dx - pad;
            const inside = hh >= 0 && hh < H && ww >= 0 && ww < W; // padding: a zero operand
            acc += weights.spatialWeight[dy * k + dx] * (inside ? meanMap[hh * W + ww] : 0);
            acc += weights.spatialWeight[k * k + dy * k + dx] * (inside ? maxMap[hh * W + ww] : 0);
          }
        }
        const gv = gate(acc, g);
        spatial[(n * H + h) * W + w] = gv;
        for (let c = 0; c < C; c++) {
          const i = at(n, c, h, w);
          y[i] = x1[i] * gv;
        }
      }
  }
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
 * infinity, and finite values must agree within `tol` relative to the largest finite |ref| (and
 * be finite). Returns null when everything matches, else a description of the first mismatch.
 */
export function ieeeMismatch(y: ArrayLike<number>, ref: ArrayLike<number>, tol: number): string | null {
  if (y.length !== ref.length) return `length ${y.length} vs ${ref.length}`;
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) if (Number.isFinite(ref[i])) maxRef = Math.max(maxRef, Math.abs(ref[i]));
  const bound = tol * (maxRef > 0 ? maxRef : 1);
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
