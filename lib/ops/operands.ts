// Activation operands: x, residual, out and scaleOut against the shape, their aliasing, and the
// backend a call runs on (host arrays: CPU or CUDA by options.device; a DeviceTensor x: CUDA).

import { SHAPE_EXPECTED, numelOf } from '../args.js';
import { hostArraysUseCuda, requireCuda } from '../cuda.js';
import { DeviceTensor, isDeviceTensor, rawPtr, tensorDisposed } from '../device-tensor.js';
import { rangeError, rangeErrorText, typeError } from '../arg-errors.js';
import { formatShape } from '../describe.js';
import { bufferOf, byteLengthOf, byteOffsetOf, fixedLengthView, isFloat32Array, isUnusableView, lengthOf, USABLE_VIEW } from '../typed-arrays.js';
import type { DType, Layout, Shape4 } from '../types.js';
import { BigIntCtor, joinList } from '../primordials.js';
import type { OpSpec, Settings, WeightSlots } from './spec.js';

/** The usual fixes of the overlap refusals (the native re-check says the same). */
const FIX_OUT_X = 'Pass out: x to compute in place, or one over other memory';
const FIX_OUT_RESIDUAL = 'Pass out: options.residual to write over it, or one over other memory';
const FIX_OTHER_MEMORY = 'Pass one over other memory';

function dimsText(shape: Shape4): string {
  return `N × C × H × W = ${joinList(shape, ' × ')}`;
}

/** why: words for where `length` comes from, built only for a message. */
function hostTensor(fn: string, arg: string, value: unknown, length: number, why: () => string): Float32Array {
  if (!isFloat32Array(value)) throw typeError(fn, arg, `a Float32Array of length ${length} (${why()})`, value);
  // A view past the end of a shrunk resizable buffer reads as length 0, so only an empty batch
  // (N = 0) would have let it through the length check below.
  if (isUnusableView(value)) {
    throw typeError(fn, arg, `a Float32Array of length ${length} (${why()}) ${USABLE_VIEW}`, value);
  }
  if (lengthOf(value) !== length) throw rangeError(fn, arg, `a Float32Array of length ${length} (${why()})`, value);
  return value;
}

// By the intrinsic accessors (a subclass's own `buffer` getter is never asked). Views of one
// SharedArrayBuffer received through different messages are distinct buffer objects: the native
// side re-checks aliasing by address.
// Zero bytes (an empty batch's arrays) overlap nothing.
function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (bufferOf(a) !== bufferOf(b)) return false;
  const ao = byteOffsetOf(a);
  const bo = byteOffsetOf(b);
  const al = byteLengthOf(a);
  const bl = byteLengthOf(b);
  return al !== 0 && bl !== 0 && ao < bo + bl && bo < ao + al;
}

function sameRegion(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return bufferOf(a) === bufferOf(b) && byteOffsetOf(a) === byteOffsetOf(b) && byteLengthOf(a) === byteLengthOf(b);
}

export function deviceOverlaps(a: DeviceTensor, b: DeviceTensor): boolean {
  if (a.device !== b.device || a.byteLength === 0 || b.byteLength === 0) return false;
  const pa = rawPtr(a);
  const pb = rawPtr(b);
  return pa < pb + BigIntCtor(b.byteLength) && pb < pa + BigIntCtor(a.byteLength);
}

export function liveTensor(fn: string, arg: string, value: DeviceTensor): void {
  if (tensorDisposed(value)) throw rangeError(fn, arg, 'a DeviceTensor that has not been disposed', value);
}

/** Like x: same shape, dtype, layout and device. */
function deviceLike(fn: string, arg: string, value: unknown, x: DeviceTensor): DeviceTensor {
  const expected = (): string => `a DeviceTensor like x (${x.dtype} ${x.layout} ${formatShape(x.shape)} on cuda:${x.device})`;
  if (!isDeviceTensor(value)) throw typeError(fn, arg, expected(), value);
  liveTensor(fn, arg, value);
  const s = value.shape;
  const sameShape = s[0] === x.shape[0] && s[1] === x.shape[1] && s[2] === x.shape[2] && s[3] === x.shape[3];
  if (!sameShape || value.dtype !== x.dtype || value.layout !== x.layout || value.device !== x.device) {
    throw rangeError(fn, arg, expected(), value);
  }
  return value;
}

/** Resolved operands of one call. */
export type Operands = HostOperandSet | DeviceOperandSet;

export interface HostOperandSet {
  readonly kind: 'host';
  readonly shape: Shape4;
  readonly layout: Layout;
  readonly x: Float32Array;
  readonly residual: Float32Array | null;
  readonly out: Float32Array | null;
  readonly scaleOut: Float32Array | null;
  /**
   * x, residual, out and scaleOut as the addon gets them: fixed-length views of the lengths checked
   * where a buffer can grow (fixedLengthView), else the same arrays.
   */
  readonly views: readonly [Float32Array, Float32Array | null, Float32Array | null, Float32Array | null];
  readonly cuda: boolean;
  readonly deviceIndex: number;
}

export interface DeviceOperandSet {
  readonly kind: 'device';
  readonly shape: Shape4;
  readonly layout: Layout;
  readonly x: DeviceTensor;
  readonly residual: DeviceTensor | null;
  readonly out: DeviceTensor | null;
  readonly scaleOut: DeviceTensor | null;
}

/** The options object: residual, out and scaleOut are read from it. */
export type RawOperands = Readonly<Record<string, unknown>>;

/**
 * Checks x against the shape (parsed once by the caller; undefined only for a DeviceTensor x
 * called without one, which then supplies its own), then residual, out and scaleOut, aliasing,
 * and finally picks the backend. `weights` are the host arrays that `out` must not overlap.
 * `expectC`: channels fixed by the weights (0 = any). `raw` is a snapshot from parseObject.
 */
export function resolveOperands(
  fn: string,
  spec: OpSpec,
  x: unknown,
  shape: Shape4 | undefined,
  settings: Settings,
  raw: RawOperands,
  weights: WeightSlots,
  expectC: number,
  dtype: DType | undefined,
): Operands {
  if (isDeviceTensor(x)) return resolveDevice(fn, spec, x, shape, settings, raw, expectC, dtype);
  if (!isFloat32Array(x)) throw typeError(fn, 'x', 'a Float32Array or a DeviceTensor', x);
  if (shape === undefined) throw rangeError(fn, 'shape', SHAPE_EXPECTED, shape);
  checkChannels(fn, shape, expectC, settings.layout ?? 'NCHW');
  const numel = numelOf(shape);
  const why = (): string => dimsText(shape);
  const likeX = (): string => `like x: ${dimsText(shape)}`;
  const xs = hostTensor(fn, 'x', x, numel, why);
  const residual = spec.hasResidual && raw.residual !== undefined
    ? hostTensor(fn, 'options.residual', raw.residual, numel, likeX)
    : null;
  const out = raw.out !== undefined ? hostTensor(fn, 'options.out', raw.out, numel, likeX) : null;
  const nc = shape[0] * shape[1];
  const scaleOut = spec.hasScaleOut && raw.scaleOut !== undefined
    ? hostTensor(fn, 'options.scaleOut', raw.scaleOut, nc, () => `N × C = ${shape[0]} × ${shape[1]}`)
    : null;
  if (out !== null) {
    if (overlaps(out, xs) && !sameRegion(out, xs)) {
      throw rangeError(fn, 'options.out', 'x itself or memory disjoint from x (partial overlap with x)', out, FIX_OUT_X);
    }
    if (residual !== null && overlaps(out, residual) && !sameRegion(out, residual)) {
      throw rangeError(fn, 'options.out', 'options.residual itself or memory disjoint from it (partial overlap)', out, FIX_OUT_RESIDUAL);
    }
    for (let i = 0; i < weights.length; i++) {
      const wgt = weights[i];
      if (isFloat32Array(wgt) && overlaps(out, wgt)) throw rangeError(fn, 'options.out', 'memory disjoint from the weights', out, FIX_OTHER_MEMORY);
    }
  }
  if (scaleOut !== null) {
    const names = ['x', 'options.residual', 'options.out'] as const;
    const others = [xs, residual, out] as const;
    for (let i = 0; i < 3; i++) {
      const other = others[i]!;
      if (other !== null && overlaps(scaleOut, other)) {
        throw rangeError(fn, 'options.scaleOut', `memory disjoint from ${names[i]!}`, scaleOut, FIX_OTHER_MEMORY);
      }
    }
    for (let i = 0; i < weights.length; i++) {
      const wgt = weights[i];
      if (isFloat32Array(wgt) && overlaps(scaleOut, wgt)) {
        throw rangeError(fn, 'options.scaleOut', 'memory disjoint from the weights', scaleOut, FIX_OTHER_MEMORY);
      }
    }
  }
  const layout = settings.layout ?? 'NCHW';
  const cuda = hostArraysUseCuda(fn, settings.device, settings.deviceIndex, raw.stream !== undefined);
  return {
    kind: 'host',
    shape,
    layout,
    x: xs,
    residual,
    out,
    scaleOut,
    views: [
      fixedLengthView(xs, numel),
      residual === null ? null : fixedLengthView(residual, numel),
      out === null ? null : fixedLengthView(out, numel),
      scaleOut === null ? null : fixedLengthView(scaleOut, nc),
    ],
    cuda,
    // The CPU has no device index; the native re-check bounds cfg.device, so send 0 there.
    deviceIndex: cuda ? (settings.deviceIndex ?? 0) : 0,
  };
}

/**
 * The end of a refusal's message where the shape reads as the memory order [N, H, W, C] of
 * channels-last data: ". shape is [N, C, H, W] in every layout: ... pass [N, C, H, W]" (C taken
 * as its last dim), or '' where it does not read so. In NHWC every such shape does; in NCHW one
 * whose middle dims are a square map [N, H, H, C]. An NCHW shape whose map is not square but whose
 * last dim the caller knows the weights fit as C (`fitsLastDim`) gets the same advice as a
 * condition ("if x is channels-last data ..."): a plain [N, C, H, W] whose W happens to be the C
 * sought must not be told it is in memory order (a review), and a newcomer's channels-last 7×9
 * map passed as [N, H, W, C] got no word on the layout at all. `toNhwc`: how the caller says NHWC
 * (an option, or a block built so); used only in NCHW.
 */
export function memoryOrderHint(shape: readonly number[], nhwc: boolean, toNhwc: string, fitsLastDim = false): string {
  const n = shape[0]!, c = shape[1]!, h = shape[2]!, w = shape[3]!;
  if (!nhwc && c !== h) {
    if (!fitsLastDim) return '';
    return `. If x is channels-last data of C = ${w} (the memory order [N, H, W, C]), pass the shape [${n}, ${w}, ${c}, ${h}]${toNhwc}: shape is [N, C, H, W] in every layout`;
  }
  return `. shape is [N, C, H, W] in every layout: for channels-last data of C = ${w}, pass [${n}, ${w}, ${c}, ${h}]${nhwc ? '' : toNhwc}, not the memory order [N, H, W, C]`;
}

/**
 * A block's C against the shape's (only blocks fix C). Where a host x's shape ends in the block's
 * C, it may be the memory order [N, H, W, C]: memoryOrderHint says so, as the ops' weight checks do
 * (lib/ops/run.ts withLayoutHint; a newcomer's check found blocks without it). `layout`: the
 * block's, for a host x; undefined for a DeviceTensor, which carries its layout.
 */
function checkChannels(fn: string, shape: Shape4, expectC: number, layout: string | undefined): void {
  if (expectC !== 0 && shape[1] !== expectC) {
    const memoryOrder = layout !== undefined && shape[3] === expectC
      ? memoryOrderHint(shape, layout === 'NHWC', " to a block built with { layout: 'NHWC' }", true)
      : '';
    throw rangeErrorText(fn, 'shape[1] (C)', `${expectC}, the channels of the block's weights`, `the number ${shape[1]} (shape ${formatShape(shape)})${memoryOrder}`);
  }
}

function resolveDevice(
  fn: string,
  spec: OpSpec,
  x: DeviceTensor,
  shape: Shape4 | undefined,
  settings: Settings,
  raw: RawOperands,
  expectC: number,
  dtype: DType | undefined,
): DeviceOperandSet {
  liveTensor(fn, 'x', x);
  if (shape !== undefined) {
    const s = x.shape;
    if (shape[0] !== s[0] || shape[1] !== s[1] || shape[2] !== s[2] || shape[3] !== s[3]) {
      throw rangeErrorText(fn, 'shape', `x.shape ${formatShape(s)} when x is a DeviceTensor`, formatShape(shape));
    }
  }
  checkChannels(fn, x.shape, expectC, undefined);
  if (settings.layout !== undefined && settings.layout !== x.layout) {
    throw rangeError(fn, 'options.layout', `x.layout '${x.layout}' (or omitted) when x is a DeviceTensor`, settings.layout);
  }
  if (dtype !== undefined && dtype !== x.dtype) {
    throw rangeError(fn, 'x', `a DeviceTensor of dtype '${dtype}' (the block's dtype)`, x);
  }
  if (settings.device === 'cpu') {
    throw rangeError(fn, 'options.device', "'auto' or 'cuda' when x is a DeviceTensor", settings.device);
  }
  if (settings.deviceIndex !== undefined && settings.deviceIndex !== x.device) {
    throw rangeError(fn, 'options.deviceIndex', `x.device (${x.device}) or omitted when x is a DeviceTensor`, settings.deviceIndex);
  }
  const residual = spec.hasResidual && raw.residual !== undefined ? deviceLike(fn, 'options.residual', raw.residual, x) : null;
  const out = raw.out !== undefined ? deviceLike(fn, 'options.out', raw.out, x) : null;
  let scaleOut: DeviceTensor | null = null;
  if (spec.hasScaleOut && raw.scaleOut !== undefined) {
    const nc = x.shape[0] * x.shape[1];
    const expected = (): string => `a float32 DeviceTensor of N × C = ${nc} elements on cuda:${x.device}`;
    if (!isDeviceTensor(raw.scaleOut)) throw typeError(fn, 'options.scaleOut', expected(), raw.scaleOut);
    const so = raw.scaleOut;
    liveTensor(fn, 'options.scaleOut', so);
    if (so.dtype !== 'float32' || numelOf(so.shape) !== nc || so.device !== x.device) {
      throw rangeError(fn, 'options.scaleOut', expected(), so);
    }
    scaleOut = so;
  }
  if (out !== null) {
    if (deviceOverlaps(out, x) && rawPtr(out) !== rawPtr(x)) {
      throw rangeError(fn, 'options.out', 'x itself or memory disjoint from x (partial overlap with x)', out, FIX_OUT_X);
    }
    if (residual !== null && deviceOverlaps(out, residual) && rawPtr(out) !== rawPtr(residual)) {
      throw rangeError(fn, 'options.out', 'options.residual itself or memory disjoint from it (partial overlap)', out, FIX_OUT_RESIDUAL);
    }
  }
  if (scaleOut !== null) {
    const names = ['x', 'options.residual', 'options.out'] as const;
    const others = [x, residual, out] as const;
    for (let i = 0; i < 3; i++) {
      const other = others[i]!;
      if (other !== null && deviceOverlaps(scaleOut, other)) {
        throw rangeError(fn, 'options.scaleOut', `memory disjoint from ${names[i]!}`, scaleOut, FIX_OTHER_MEMORY);
      }
    }
  }
  requireCuda(fn, 'a DeviceTensor x');
  return { kind: 'device', shape: x.shape, layout: x.layout, x, residual, out, scaleOut };
}
