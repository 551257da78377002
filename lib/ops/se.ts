// Squeeze-and-excitation: s = gate(W2·act(W1·mean_HW(x) + b1) + b2), y = x·s (+ residual),
// optional output relu. Without w2: s = gate(W1·z + b1), W1 [C, C].

import { OP_CODE } from '../backend/contract.js';
import { parseObject } from '../args.js';
import type { DeviceTensor } from '../device-tensor.js';
import { rangeError, typeError } from '../arg-errors.js';
import { MathRound, MathSqrt } from '../primordials.js';
import type { Activation, DeviceSelection, Gate, HostOrDevice, Layout, Offload, OutputActivation, Shape4 } from '../types.js';
import { prepare, runAsync, runSync } from './run.js';
import { awaitable } from '../awaitable.js';
import type { OpSpec, WeightSet } from './spec.js';
import { expectLength, rememberFit, validateMlp, weightArray, weightLength } from './weights.js';

/**
 * SE weights on the host: float32, row-major, exactly as PyTorch stores them. Two forms:
 *
 * - two FCs (timm SEModule, torchvision SqueezeExcitation, timm EfficientNet SqueezeExcite):
 *   `w1` [hidden, C], `b1` [hidden], `w2` [C, hidden], `b2` [C]; a 1×1 conv weight
 *   [out, in, 1, 1] is the same bytes. hidden (timm's `rd_channels`, torchvision's
 *   `squeeze_channels`) comes from the lengths.
 * - one FC (timm EffectiveSEModule, w2 omitted): `w1` [C, C], `b1` [C]; s = gate(w1·z + b1).
 *   `b2` is then refused (TypeError, code 'ERR_INVALID_ARG_TYPE', argument 'weights.b2'), so
 *   this form has neither `w2` nor `b2`.
 *
 * Lengths are in elements. A wrong length is a RangeError (code 'ERR_OUT_OF_RANGE') naming the
 * weight and the length it must have; a value that is not a Float32Array (or is detached) a
 * TypeError (code 'ERR_INVALID_ARG_TYPE'). An omitted bias is zero.
 */
export type SEWeights =
  | {
      /** fc1 weight [hidden, C]: hidden·C elements. */
      w1: Float32Array;
      /** fc1 bias [hidden]; default zeros. */
      b1?: Float32Array | undefined;
      /** fc2 weight [C, hidden]: C·hidden elements. */
      w2: Float32Array;
      /** fc2 bias [C]; default zeros. */
      b2?: Float32Array | undefined;
    }
  | {
      /** The single FC's weight [C, C]: C·C elements. */
      w1: Float32Array;
      /** The single FC's bias [C]; default zeros. */
      b1?: Float32Array | undefined;
      /** Omitted: the single-FC form. */
      w2?: undefined;
      /** The single-FC form has one bias, b1: b2 must be omitted too. */
      b2?: undefined;
    };

/**
 * SE weights already on the GPU (with a DeviceTensor x only): float32 DeviceTensors, live and on
 * x's device, of any 4-D shape with the element count of the host form ({@link SEWeights}: e.g.
 * w1 as [hidden, C, 1, 1], as PyTorch's 1×1 conv stores it). Nothing is uploaded per call. All
 * the weights of one call are DeviceTensors or all are Float32Arrays (mixing them is a TypeError,
 * code 'ERR_INVALID_ARG_TYPE'); a disposed one, another dtype or another device is a RangeError
 * (code 'ERR_OUT_OF_RANGE'). As on the host, b2 needs w2.
 */
export type SEDeviceWeights =
  | {
      /** fc1 weight, hidden·C elements. */
      w1: DeviceTensor;
      /** fc1 bias, hidden elements; default zeros. */
      b1?: DeviceTensor | undefined;
      /** fc2 weight, C·hidden elements. */
      w2: DeviceTensor;
      /** fc2 bias, C elements; default zeros. */
      b2?: DeviceTensor | undefined;
    }
  | {
      /** The single FC's weight, C·C elements. */
      w1: DeviceTensor;
      /** The single FC's bias, C elements; default zeros. */
      b1?: DeviceTensor | undefined;
      /** Omitted: the single-FC form. */
      w2?: undefined;
      /** Must be omitted with w2. */
      b2?: undefined;
    };

/**
 * Options of seForward over host arrays. Every array is a Float32Array of float32 elements; an
 * unknown key is a TypeError (code 'ERR_INVALID_ARG_TYPE') that names it, a bad value a TypeError
 * or RangeError (code 'ERR_OUT_OF_RANGE') naming the option. `device` and `deviceIndex`: see
 * {@link DeviceSelection} (no `deviceIndex` with device 'cpu').
 */
export type SEOptions = DeviceSelection & {
  /** Memory layout of x, residual and out; default 'NCHW'. See {@link Layout}. */
  layout?: Layout | undefined;
  /** Between the two FCs; default 'relu'. Unused by the single-FC form. See {@link Activation}. */
  activation?: Activation | undefined;
  /** Default 'sigmoid'. See {@link Gate}. */
  gate?: Gate | undefined;
  /**
   * Added after scaling: y = x·s + residual. N·C·H·W elements, in `layout`. `out` may be this
   * array itself (in place) or disjoint from it, not partly overlap it.
   */
  residual?: Float32Array | undefined;
  /** Applied after the residual add; default 'none'. See {@link OutputActivation}. */
  outputActivation?: OutputActivation | undefined;
  /**
   * Receives y (N·C·H·W elements, in `layout`) and is returned. May be x or residual itself (in
   * place); otherwise disjoint from x, residual and the weights (RangeError, code
   * 'ERR_OUT_OF_RANGE'). Default: a new array (a large one costs page faults; pass `out` in loops).
   */
  out?: Float32Array | undefined;
  /**
   * Receives the gate values s, [N, C] row-major (N·C elements): disjoint from x, residual, out
   * and the weights.
   */
  scaleOut?: Float32Array | undefined;
  /**
   * cudaStream_t for the CUDA backend (a live stream of this process: CUDA cannot check a handle), as a bigint in [0n, 2n ** 64n); default 0n (the legacy
   * default stream). cudaStreamPerThread (2n) is refused (RangeError, code 'ERR_OUT_OF_RANGE'):
   * it names another stream on every thread. Given with device 'auto' (any value, 0n included), it
   * sends host arrays to CUDA when CUDA is usable (it names a CUDA stream; the CPU runs them otherwise); omit it to run them on the CPU. On the CPU its value is checked (2n refused, as above) and otherwise ignored.
   */
  stream?: bigint | undefined;
  /** Async calls on the CPU: 'always' runs the op off the calling thread even when copying its operands costs more; default 'auto' (see {@link Offload}). */
  offload?: Offload | undefined;
};

/**
 * Options of seForward with a DeviceTensor x: residual, out and scaleOut must be DeviceTensors
 * too (a Float32Array there is a TypeError, code 'ERR_INVALID_ARG_TYPE'), and the call runs on
 * CUDA, enqueued on `stream`.
 */
export interface SEDeviceOptions {
  /** Must equal x.layout if given (RangeError, code 'ERR_OUT_OF_RANGE'). */
  layout?: Layout | undefined;
  /** Between the two FCs; default 'relu'. Unused by the single-FC form. */
  activation?: Activation | undefined;
  /** Default 'sigmoid'. */
  gate?: Gate | undefined;
  /** y = x·s + residual: a DeviceTensor like x (shape, dtype, layout, device), live. */
  residual?: DeviceTensor | undefined;
  /** Applied after the residual add; default 'none'. */
  outputActivation?: OutputActivation | undefined;
  /** 'auto' (default) or 'cuda': a DeviceTensor x always runs on CUDA ('cpu' is refused). */
  device?: 'auto' | 'cuda' | undefined;
  /**
   * Receives y and is returned: a DeviceTensor like x, live; may be x or residual itself (in
   * place), not partly overlap either, nor overlap DeviceTensor weights. Default: a new
   * DeviceTensor like x (yours to dispose).
   */
  out?: DeviceTensor | undefined;
  /** Receives s: a float32 DeviceTensor of N·C elements on x's device, disjoint from x, residual, out and the weights. */
  scaleOut?: DeviceTensor | undefined;
  /** cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle) the kernel is enqueued on; default 0n. Not cudaStreamPerThread (2n). */
  stream?: bigint | undefined;
  /** Must equal x.device if given (RangeError, code 'ERR_OUT_OF_RANGE'). */
  deviceIndex?: number | undefined;
}

/**
 * Options of seForward for an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}):
 * those both forms take. residual, out and scaleOut are not among them (their kind must be x's:
 * narrow x to pass them), nor device 'cpu' (refused for a DeviceTensor x).
 */
export interface SEEitherOptions {
  /** Memory layout of a host x; a DeviceTensor x's own layout, if given. */
  layout?: Layout | undefined;
  /** Between the two FCs; default 'relu'. */
  activation?: Activation | undefined;
  /** Default 'sigmoid'. */
  gate?: Gate | undefined;
  /** Default 'none'. */
  outputActivation?: OutputActivation | undefined;
  /** 'auto' (default) or 'cuda'. */
  device?: 'auto' | 'cuda' | undefined;
  /** cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle); default 0n. Not cudaStreamPerThread (2n). */
  stream?: bigint | undefined;
  /** CUDA device index (a DeviceTensor x: x.device). */
  deviceIndex?: number | undefined;
  /** Async CPU calls over a host x; ignored for a DeviceTensor x. See {@link Offload}. */
  offload?: Offload | undefined;
}

/** @internal The keys seForward's options may have. */
export const SE_OPTION_KEYS = [
  'layout', 'activation', 'gate', 'residual', 'outputActivation', 'device', 'out', 'scaleOut', 'stream', 'deviceIndex', 'offload',
] as const;
const SE_WEIGHT_KEYS = ['w1', 'b1', 'w2', 'b2'] as const;

function validateSeWeights(
  fn: string,
  weights: unknown,
  cKnown: number | undefined,
  channels: number | undefined,
  acceptDevice: boolean,
): WeightSet {
  const w = parseObject(fn, 'weights', weights, SE_WEIGHT_KEYS, false);
  if (w.w2 !== undefined) {
    const m = validateMlp(fn, w, cKnown, channels, acceptDevice);
    return { c: m.c, hidden: m.hidden, twoFc: 1, ecaK: 0, spatialK: 0, spatialBias: 0, slots: [m.w1, m.b1, m.w2, m.b2, null] };
  }
  const w1 = weightArray(fn, 'weights.w1', w.w1, false, acceptDevice)!;
  const b1 = weightArray(fn, 'weights.b1', w.b1, true, acceptDevice);
  if (w.b2 !== undefined) {
    throw typeError(fn, 'weights.b2', 'undefined when weights.w2 is omitted (single-FC SE has one bias, b1)', w.b2);
  }
  // Single FC: w1 is [C, C], so C is its length's square root when that is an integer.
  const w1Len = weightLength(w1);
  const root = MathRound(MathSqrt(w1Len));
  if (cKnown === undefined && channels !== undefined && root * root === w1Len && root !== channels) {
    throw rangeError(fn, 'options.channels', `${root} (weights.w1 is [C, C] with ${w1Len} elements: single-FC SE, w2 omitted), or omitted`, channels);
  }
  let c = cKnown ?? channels;
  if (c === undefined) {
    if (root < 1 || root * root !== w1Len) {
      throw rangeError(fn, 'weights.w1', 'a Float32Array of length C × C (single-FC SE, w2 omitted)', w1);
    }
    c = root;
  }
  const b1Len = b1 === null ? 0 : weightLength(b1);
  try {
    // A two-FC SE's w1 ([hidden, C]) with w2 left out by mistake: say so, not only what one FC needs.
    expectLength(fn, 'weights.w1', w1, c * c, () =>
      `C × C = ${c} × ${c}: single-FC SE, w2 omitted` +
      (w1Len % c === 0 ? `; if this is fc1.weight [hidden, C] = [${w1Len / c}, ${c}] of a two-FC SE, pass fc2.weight [C, hidden] as weights.w2` : ''));
    expectLength(fn, 'weights.b1', b1, c, () => `C = ${c}: single-FC SE, w2 omitted`);
  } catch (err) {
    rememberFit(err, (other) => w1Len === other * other && (b1 === null || b1Len === other));
    throw err;
  }
  return { c, hidden: c, twoFc: 0, ecaK: 0, spatialK: 0, spatialBias: 0, slots: [w1, b1, null, null, null] };
}

/** @internal */
export const SE_SPEC: OpSpec = {
  op: OP_CODE.se,
  name: 'SE',
  optionKeys: SE_OPTION_KEYS,
  hasResidual: true,
  hasScaleOut: true,
  hasActivation: true,
  hasOutputActivation: true,
  weightFields: ['w1', 'b1', 'w2', 'b2', null],
  validateWeights: validateSeWeights,
};

/**
 * Squeeze-and-excitation forward (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018,
 * arXiv:1709.01507; as timm.layers.squeeze_excite.SEModule and torchvision.ops.SqueezeExcitation
 * compute it): z = mean of x over H·W, per sample and channel; s = gate(w2·act(w1·z + b1) + b2),
 * [N, C]; y = x·s (+ residual), then the output activation. With w2 omitted (timm
 * EffectiveSEModule): s = gate(w1·z + b1).
 *
 * Every argument is checked before any work, and a refused call writes nothing (`out` included).
 *
 * @param x - [N, C, H, W] activations in `options.layout`: a Float32Array of N·C·H·W elements.
 * @param shape - logical [N, C, H, W], whatever the layout (see {@link Shape4}); C must match
 *   the weights.
 * @param weights - see {@link SEWeights}.
 * @param options - see {@link SEOptions}.
 * @returns y, N·C·H·W elements in `options.layout`: `options.out` when given, else a new array.
 * @throws TypeError (code 'ERR_INVALID_ARG_TYPE') or RangeError (code 'ERR_OUT_OF_RANGE'), with
 *   `argument` naming the argument, for a wrong kind or value (wrong length, unknown option key,
 *   overlapping out); Error with code 'ERR_SQEX_CUDA_UNAVAILABLE' for device 'cuda' without a
 *   usable GPU; Error with code 'ERR_SQEX_UNSUPPORTED' when the CUDA kernel cannot take the
 *   shape with device 'cuda' (with 'auto' and a deviceIndex or stream, the CPU runs it
 *   instead, warning once with code SQEX_CPU_FALLBACK); Error with code 'ERR_SQEX_CUDA' (`cudaError`, `cudaErrorName`) for a
 *   CUDA failure; Error with code 'ERR_SQEX_OUT_OF_MEMORY' (`bytes`) when the result array cannot
 *   be allocated; RangeError with code
 *   'ERR_SQEX_INVALID_ARGUMENT' when a CUDA cache (workspace, weights) would have to grow while
 *   `options.stream` is being captured into a CUDA graph (run one call before capturing); LoadError (code 'ERR_SQEX_LOAD') when the native addon cannot be
 *   loaded (with device 'cuda' and host arrays, Error 'ERR_SQEX_CUDA_UNAVAILABLE' instead, whose
 *   message gives the load failure).
 */
export function seForward(x: Float32Array, shape: Shape4, weights: SEWeights, options?: SEOptions): Float32Array;
/**
 * seForward with a DeviceTensor x (float32, float16 or bfloat16, either layout): runs on CUDA,
 * enqueued on `options.stream`, and returns a DeviceTensor like x (`options.out`, or a new one
 * that is yours to dispose). Weights may be Float32Arrays (uploaded for the call) or float32
 * DeviceTensors ({@link SEDeviceWeights}: nothing uploaded). `shape` must equal x.shape.
 * Errors as the Float32Array form, and an Error with code 'ERR_SQEX_CUDA_UNAVAILABLE' without a
 * usable GPU; a disposed x is a RangeError (code 'ERR_OUT_OF_RANGE'). A shape the CUDA kernel
 * cannot take is 'ERR_SQEX_UNSUPPORTED' whatever `options.device` says: x is on the GPU, so
 * nothing falls back to the CPU.
 */
export function seForward(x: DeviceTensor, shape: Shape4, weights: SEWeights | SEDeviceWeights, options?: SEDeviceOptions): DeviceTensor;
/**
 * seForward with an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}): host
 * weights, and only the options both forms take ({@link SEEitherOptions}); returns the kind of
 * x, typed `Float32Array | DeviceTensor`. Narrow x (`x instanceof Float32Array`) for the precise
 * forms and their residual, out and scaleOut. Shapes and
 * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x): x holds
 * N·C·H·W elements, the result x's length or x.shape.
 */
export function seForward<X extends Float32Array | DeviceTensor>(
  x: HostOrDevice<X>,
  shape: Shape4,
  weights: SEWeights,
  options?: SEEitherOptions,
): Float32Array | DeviceTensor;
/**
 * As the overload above, for an x typed by a type parameter (`T extends Float32Array |
 * DeviceTensor`), which the conditional {@link HostOrDevice} cannot resolve. Shapes and
 * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x): x holds
 * N·C·H·W elements, the result x's length or x.shape.
 */
export function seForward(
  x: Float32Array | DeviceTensor,
  shape: Shape4,
  weights: SEWeights,
  options?: SEEitherOptions,
): Float32Array | DeviceTensor;
/**
 * The Float32Array form again, declared last: TypeScript reports a call that matches no overload
 * against the last one, so a wrong host call is reported against this form (see the first).
 */
export function seForward(x: Float32Array, shape: Shape4, weights: SEWeights, options?: SEOptions): Float32Array;
export function seForward(x: unknown, shape: unknown, weights: unknown, options?: unknown): Float32Array | DeviceTensor {
  const fn = 'seForward';
  const opts = parseObject(fn, 'options', options, SE_OPTION_KEYS, true);
  return runSync(prepare(fn, SE_SPEC, x, shape, weights, opts));
}

/**
 * As {@link seForward}, off the event loop: host work runs on the libuv pool (or, with
 * `offload: 'auto'`, on the calling thread when staging its arrays would cost that thread more;
 * see {@link Offload}), device work resolves once the stream has finished it. Results are
 * bitwise identical to the sync call's. Bad arguments reject the Promise (never a synchronous
 * throw) with the sync call's errors, and `out` is then untouched; an array detached, transferred
 * or resized while the call runs rejects it with an Error of code 'ERR_SQEX_ARRAY_CHANGED' naming
 * it, and nothing is written.
 */
export function seForwardAsync(x: Float32Array, shape: Shape4, weights: SEWeights, options?: SEOptions): Promise<Float32Array>;
/**
 * seForwardAsync with a DeviceTensor x: as {@link seForward}'s DeviceTensor form; the Promise
 * resolves once the kernel has finished on `options.stream` (waited for off the event loop), and
 * x, the weights, residual, scaleOut and the result stay alive until then.
 */
export function seForwardAsync(
  x: DeviceTensor,
  shape: Shape4,
  weights: SEWeights | SEDeviceWeights,
  options?: SEDeviceOptions,
): Promise<DeviceTensor>;
/**
 * seForwardAsync with an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}): host
 * weights and {@link SEEitherOptions}; resolves to the kind of x. Shapes and
 * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x): x holds
 * N·C·H·W elements, the result x's length or x.shape.
 */
export function seForwardAsync<X extends Float32Array | DeviceTensor>(
  x: HostOrDevice<X>,
  shape: Shape4,
  weights: SEWeights,
  options?: SEEitherOptions,
): Promise<Float32Array | DeviceTensor>;
/**
 * As the overload above, for an x typed by a type parameter (`T extends Float32Array |
 * DeviceTensor`), which the conditional {@link HostOrDevice} cannot resolve. Shapes and
 * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x): x holds
 * N·C·H·W elements, the result x's length or x.shape.
 */
export function seForwardAsync(
  x: Float32Array | DeviceTensor,
  shape: Shape4,
  weights: SEWeights,
  options?: SEEitherOptions,
): Promise<Float32Array | DeviceTensor>;
/**
 * The Float32Array form again, declared last: TypeScript reports a call that matches no overload
 * against the last one, so a wrong host call is reported against this form (see the first).
 */
export function seForwardAsync(x: Float32Array, shape: Shape4, weights: SEWeights, options?: SEOptions): Promise<Float32Array>;
export async function seForwardAsync(x: unknown, shape: unknown, weights: unknown, options?: unknown): Promise<Float32Array | DeviceTensor> {
  const fn = 'seForwardAsync';
  const opts = parseObject(fn, 'options', options, SE_OPTION_KEYS, true);
  return await awaitable(runAsync(prepare(fn, SE_SPEC, x, shape, weights, opts))); // lib/awaitable.ts says why
}
