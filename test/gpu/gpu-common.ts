// Shared pieces of the GPU suites: per-op problem builders, half-precision upload/download with
// this suite's own converters, poisoned device outputs, and the dtype tolerances.
import { DeviceTensor, cbamForward, cbamForwardAsync, ecaForward, ecaForwardAsync, seForward, seForwardAsync } from '../../dist/index.js';
import { refCBAM, refECA, refSE, type Act, type Gate, type Layout, type RefResult, type Shape4 } from '../reference.js';
import {
  HALF_NAN,
  TOL_F32,
  halfBits,
  halfToFloat64,
  numel,
  poisoned,
  randCBAMWeights,
  randECAWeight,
  randSEWeights,
  residualTol,
  type HalfDtype,
} from '../helpers.js';
import type { Rng } from '../reference.js';

export type DType = 'float32' | 'float16' | 'bfloat16';
export const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];

/**
 * Bounds on max|y - ref| / max|ref| per storage type. The reference is computed in float64 from
 * the inputs as rounded to the storage type (so input rounding is not counted), with fp32 weights.
 * What remains: the kernel's fp32 arithmetic (~1e-6) and the rounding of y to the storage type,
 * at most u·|y| <= u·max|ref| with unit roundoff u = 2^-11 (fp16) or 2^-8 (bf16). We allow 8u
 * (written 4·2^-10 and 4·2^-7), which leaves room for an implementation that keeps one
 * intermediate in the storage type (CBAM's x·s between passes, or x·s before the residual add):
 * that adds at most u·|x·s| plus its effect through the spatial gate, whose slope is at most 1/4
 * (sigmoid) or 1/6 (hardsigmoid) times the l1 norm of the spatial taps (~1.5·k·sqrt(2)/sqrt(2)
 * ~ 1.5k for our random weights, k <= 7) times the map error, itself at most u·max|x1|; for
 * |x| ~ 1 that stays within a few u. A kernel that rounds more often than that, or computes in
 * half precision throughout (errors growing with H·W in the mean), fails, as it should.
 */
export const TOL: Record<DType, number> = { float32: TOL_F32, float16: 4 * 2 ** -10, bfloat16: 4 * 2 ** -7 };
/**
 * float16 also has an absolute floor: below 2^-14 its spacing is the subnormal step 2^-24, so a
 * y whose every element is tiny (e.g. a nearly closed gate with C = 1) is stored with an error of
 * up to 2^-25 whatever its size, which no relative bound covers. bfloat16 and float32 share
 * float32's exponent range and need none for data of this size.
 */
export const ABS_TOL: Record<DType, number> = { float32: 0, float16: 2 ** -24, bfloat16: 0 };

/** The absolute part of the bound: ABS_TOL, plus the residual's allowance (helpers.ts residualTol). */
export function absTolFor(dtype: DType, residual: ArrayLike<number> | undefined): number {
  return ABS_TOL[dtype] + residualTol(residual, TOL[dtype]);
}

export type OpName = 'se' | 'eca' | 'cbam';

export interface Problem {
  op: OpName;
  shape: Shape4;
  layout: Layout;
  weights: Record<string, Float32Array>;
  /** op-specific API options (activation, gate, outputActivation), no tensors */
  options: Record<string, unknown>;
  residual: boolean;
  hasScale: boolean;
  ref(x: ArrayLike<number>, residual: ArrayLike<number> | undefined): RefResult;
  label: string;
}

export interface SECase {
  twoFc: boolean;
  b1: boolean;
  b2: boolean;
  act: Act;
  gate: Gate;
  residual: boolean;
  outAct: 'none' | 'relu';
}
export function seProblem(rng: Rng, shape: Shape4, layout: Layout, c: SECase): Problem {
  const C = shape[1];
  const hidden = c.twoFc ? rng.int(1, Math.max(2, C)) : C;
  const w = randSEWeights(rng, C, hidden, { twoFc: c.twoFc, b1: c.b1, b2: c.b2 });
  const options: Record<string, unknown> = { gate: c.gate, outputActivation: c.outAct };
  if (c.twoFc) options.activation = c.act;
  return {
    op: 'se',
    shape,
    layout,
    weights: { ...w },
    options,
    residual: c.residual,
    hasScale: true,
    ref: (x, r) => refSE(x, shape, w, { layout, activation: c.act, gate: c.gate, residual: r, outputActivation: c.outAct }),
    label: `se ${c.twoFc ? 'two-FC' : 'single-FC'} b1=${c.b1} b2=${c.b2} ${c.act} ${c.gate} residual=${c.residual} out=${c.outAct} hidden=${hidden}`,
  };
}

export function ecaProblem(rng: Rng, shape: Shape4, layout: Layout, gate: Gate, k: number): Problem {
  const weight = randECAWeight(rng, k);
  return {
    op: 'eca',
    shape,
    layout,
    weights: { weight },
    options: { gate },
    residual: false,
    hasScale: true,
    ref: (x) => refECA(x, shape, { weight }, { layout, gate }),
    label: `eca ${gate} k=${k}`,
  };
}

export interface CBAMCase {
  b1: boolean;
  b2: boolean;
  act: Act;
  gate: Gate;
  k: number;
  spatialBias: boolean;
}
export function cbamProblem(rng: Rng, shape: Shape4, layout: Layout, c: CBAMCase): Problem {
  const C = shape[1];
  const hidden = rng.int(1, Math.max(2, C));
  const w = randCBAMWeights(rng, C, hidden, c.k, { b1: c.b1, b2: c.b2, spatialBias: c.spatialBias });
  return {
    op: 'cbam',
    shape,
    layout,
    weights: { ...w },
    options: { activation: c.act, gate: c.gate },
    residual: false,
    hasScale: false,
    ref: (x) => refCBAM(x, shape, w, { layout, activation: c.act, gate: c.gate }),
    label: `cbam b1=${c.b1} b2=${c.b2} ${c.act} ${c.gate} k=${c.k} spatialBias=${c.spatialBias} hidden=${hidden}`,
  };
}

type AnyFn = (x: unknown, shape: Shape4, w: unknown, o: unknown) => unknown;
export const SYNC: Record<OpName, AnyFn> = { se: seForward as AnyFn, eca: ecaForward as AnyFn, cbam: cbamForward as AnyFn };
export const ASYNC: Record<OpName, AnyFn> = {
  se: seForwardAsync as AnyFn,
  eca: ecaForwardAsync as AnyFn,
  cbam: cbamForwardAsync as AnyFn,
};

/** Values as stored in `dtype`: the bits to upload and the exact values they hold. */
export function quantize(a: Float32Array, dtype: DType): { host: Float32Array | Uint16Array; values: ArrayLike<number> } {
  if (dtype === 'float32') return { host: a, values: a };
  const bits = halfBits(a, dtype as HalfDtype);
  return { host: bits, values: halfToFloat64(bits, dtype as HalfDtype) };
}

export function upload(host: Float32Array | Uint16Array, shape: Shape4, layout: Layout, dtype: DType): DeviceTensor {
  return DeviceTensor.from(host, shape, { layout, dtype });
}

/** A device tensor filled with NaN (of its own storage type), through DeviceTensor.from. */
export function poisonTensor(shape: Shape4, layout: Layout, dtype: DType): DeviceTensor {
  const n = numel(shape);
  const host = dtype === 'float32' ? poisoned(n) : new Uint16Array(n).fill(HALF_NAN[dtype as HalfDtype]);
  return DeviceTensor.from(host, shape, { layout, dtype });
}

/** Downloads with this suite's own half converter; returns float64 values. */
export async function download(t: DeviceTensor): Promise<ArrayLike<number>> {
  const host = await t.toHost();
  if (host instanceof Float32Array) return host;
  return halfToFloat64(host as Uint16Array, t.dtype as HalfDtype);
}

export interface DeviceRun {
  x: Float32Array; // float32 draw, before quantization
  xValues: ArrayLike<number>;
  rValues?: ArrayLike<number>;
  y: ArrayLike<number>;
  yBits: Float32Array | Uint16Array;
  scale?: Float32Array;
  ref: RefResult;
}

/**
 * Uploads x (and residual), runs the op on CUDA into poisoned out / scaleOut tensors, downloads.
 * Every tensor it makes is disposed before it returns.
 */
export async function runOnDevice(
  p: Problem,
  dtype: DType,
  rng: Rng,
  opt: { async?: boolean; x?: Float32Array; residual?: Float32Array; xScale?: number; stream?: bigint } = {},
): Promise<DeviceRun> {
  const n = numel(p.shape);
  const [N, C] = p.shape;
  const xScale = opt.xScale ?? 1;
  const x = opt.x ?? rng.normals(n, xScale, 0.3 * xScale);
  const qx = quantize(x, dtype);
  const r = p.residual ? (opt.residual ?? rng.normals(n, xScale)) : undefined;
  const qr = r ? quantize(r, dtype) : undefined;
  const made: DeviceTensor[] = [];
  try {
    const xT = upload(qx.host, p.shape, p.layout, dtype);
    made.push(xT);
    const outT = poisonTensor(p.shape, p.layout, dtype);
    made.push(outT);
    const options: Record<string, unknown> = { ...p.options, layout: p.layout, device: 'cuda', out: outT };
    if (opt.stream !== undefined) options.stream = opt.stream;
    if (qr) {
      const rT = upload(qr.host, p.shape, p.layout, dtype);
      made.push(rT);
      options.residual = rT;
    }
    let sT: DeviceTensor | undefined;
    if (p.hasScale) {
      sT = DeviceTensor.from(poisoned(N * C), [N, C, 1, 1]);
      made.push(sT);
      options.scaleOut = sT;
    }
    const result = opt.async ? await ASYNC[p.op](xT, p.shape, p.weights, options) : SYNC[p.op](xT, p.shape, p.weights, options);
    if (result !== outT) throw new Error(`${p.label}: the returned tensor is not options.out`);
    const yBits = await outT.toHost();
    const y = await download(outT);
    const scale = sT ? ((await sT.toHost()) as Float32Array) : undefined;
    return { x, xValues: qx.values, rValues: qr?.values, y, yBits, scale, ref: p.ref(qx.values, qr?.values) };
  } finally {
    for (const t of made) t.dispose();
  }
}
