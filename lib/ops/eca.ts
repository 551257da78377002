// Efficient channel attention: s = gate(conv1d_k(mean_HW(x)) over channels, zero pad (k-1)/2,
// no bias), y = x·s.

import { OP_CODE } from '../backend/contract.js';
import { parseObject } from '../args.js';
import { type DeviceTensor, isDeviceTensor } from '../device-tensor.js';
import { rangeError, rangeErrorText, typeError } from '../arg-errors.js';
import { MathAbs, MathFloor, MathLog, MathMax, NumberIsFinite, NumberIsSafeInteger } from '../primordials.js';
import type { DeviceSelection, Gate, HostOrDevice, Layout, Offload, Shape4 } from '../types.js';
import { prepare, runAsync, runSync } from './run.js';
import { awaitable } from '../awaitable.js';
import type { OpSpec, WeightSet } from './spec.js';
import { weightArray, weightLength } from './weights.js';

/**
 * ECA weights on the host: the 1-D conv kernel over the channel axis, float32, k elements with
 * k odd, 1 ≤ k ≤ 2^20 − 1 (timm EcaModule's `conv.weight` [1, 1, k], flattened). No bias. k is
 * independent of C ({@link ecaKernelSize} gives the paper's k for C). A wrong length is a
 * RangeError (code 'ERR_OUT_OF_RANGE'); not a Float32Array, a TypeError (code
 * 'ERR_INVALID_ARG_TYPE').
 */
export interface ECAWeights {
  /** The conv1d kernel [k], k odd, tap j weighting channel c + j − (k − 1) / 2. */
  weight: Float32Array;
}

/**
 * ECA weights already on the GPU (with a DeviceTensor x only): a float32 DeviceTensor of k
 * elements (k odd), live and on x's device (else a RangeError, code 'ERR_OUT_OF_RANGE').
 */
export interface ECADeviceWeights {
  /** The conv1d kernel, k elements (any 4-D shape, e.g. [1, 1, k, 1]). */
  weight: DeviceTensor;
}

/**
 * Options of ecaForward over host arrays (Float32Arrays). An unknown key (ECA has no residual,
 * activation or outputActivation) is a TypeError (code 'ERR_INVALID_ARG_TYPE') naming it.
 * `device` and `deviceIndex`: see {@link DeviceSelection} (no `deviceIndex` with device 'cpu').
 */
export type ECAOptions = DeviceSelection & {
  /** Memory layout of x and out; default 'NCHW'. See {@link Layout}. */
  layout?: Layout | undefined;
  /** Default 'sigmoid' (timm EcaModule's). See {@link Gate}. */
  gate?: Gate | undefined;
  /**
   * Receives y (N·C·H·W elements, in `layout`) and is returned; may be x itself (in place), else
   * disjoint from x and the weight (RangeError, code 'ERR_OUT_OF_RANGE'). Default: a new array.
   */
  out?: Float32Array | undefined;
  /** Receives the gate values s, [N, C] row-major (N·C elements); disjoint from x, out and the weight. */
  scaleOut?: Float32Array | undefined;
  /**
   * cudaStream_t for the CUDA backend (a live stream of this process: CUDA cannot check a handle), as a bigint in [0n, 2n ** 64n); default 0n. Not
   * cudaStreamPerThread (2n: RangeError, code 'ERR_OUT_OF_RANGE'). Given with device 'auto' (any value, 0n
   * included), it sends host arrays to CUDA when CUDA is usable (it names a CUDA stream; the CPU runs them otherwise); omit it to run them on the CPU. On the CPU its value is checked (2n refused, as above) and otherwise ignored.
   */
  stream?: bigint | undefined;
  /** Async calls on the CPU: 'always' runs the op off the calling thread even when copying its operands costs more; default 'auto' (see {@link Offload}). */
  offload?: Offload | undefined;
};

/**
 * Options of ecaForward with a DeviceTensor x: out and scaleOut must be DeviceTensors too; the
 * call runs on CUDA, enqueued on `stream`.
 */
export interface ECADeviceOptions {
  /** Must equal x.layout if given (RangeError, code 'ERR_OUT_OF_RANGE'). */
  layout?: Layout | undefined;
  /** Default 'sigmoid'. */
  gate?: Gate | undefined;
  /** 'auto' (default) or 'cuda': a DeviceTensor x always runs on CUDA. */
  device?: 'auto' | 'cuda' | undefined;
  /** Receives y and is returned: a DeviceTensor like x (shape, dtype, layout, device), live; may be x itself. Default: a new DeviceTensor. */
  out?: DeviceTensor | undefined;
  /** Receives s: a float32 DeviceTensor of N·C elements on x's device, disjoint from x, out and the weight. */
  scaleOut?: DeviceTensor | undefined;
  /** cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle) the kernel is enqueued on; default 0n. Not cudaStreamPerThread (2n). */
  stream?: bigint | undefined;
  /** Must equal x.device if given (RangeError, code 'ERR_OUT_OF_RANGE'). */
  deviceIndex?: number | undefined;
}

/**
 * Options of ecaForward for an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}):
 * those both forms take (no out or scaleOut, whose kind must be x's; no device 'cpu').
 */
export interface ECAEitherOptions {
  /** Memory layout of a host x; a DeviceTensor x's own layout, if given. */
  layout?: Layout | undefined;
  /** Default 'sigmoid'. */
  gate?: Gate | undefined;
  /** 'auto' (default) or 'cuda'. */
  device?: 'auto' | 'cuda' | undefined;
  /** cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle); default 0n. Not cudaStreamPerThread (2n). */
  stream?: bigint | undefined;
  /** CUDA device index (a DeviceTensor x: x.device). */
  deviceIndex?: number | undefined;
  /** Async CPU calls over a host x; ignored for a DeviceTensor x. See {@link Offload}. */
  offload?: Offload | undefined;
}

/** @internal The keys ecaForward's options may have. */
export const ECA_OPTION_KEYS = ['layout', 'gate', 'device', 'out', 'scaleOut', 'stream', 'deviceIndex', 'offload'] as const;
const ECA_WEIGHT_KEYS = ['weight'] as const;
/** @internal The native re-check's bound (cfg ecaK ≤ 2^20). */
export const MAX_ECA_K = 2 ** 20 - 1;

function validateEcaWeights(
  fn: string,
  weights: unknown,
  _c: number | undefined,
  _channels: number | undefined,
  acceptDevice: boolean,
): WeightSet {
  const w = parseObject(fn, 'weights', weights, ECA_WEIGHT_KEYS, false);
  const weight = weightArray(fn, 'weights.weight', w.weight, false, acceptDevice)!;
  const k = weightLength(weight);
  if (k < 1 || k % 2 === 0 || k > MAX_ECA_K) {
    const kind = isDeviceTensor(weight) ? 'a float32 DeviceTensor of an odd number k of elements' : 'a Float32Array of odd length k';
    throw rangeError(fn, 'weights.weight', `${kind}, 1 ≤ k ≤ ${MAX_ECA_K} (the conv kernel over channels)`, weight);
  }
  return { c: 0, hidden: 0, twoFc: 0, ecaK: k, spatialK: 0, spatialBias: 0, slots: [null, null, null, null, weight] };
}

/** @internal */
export const ECA_SPEC: OpSpec = {
  op: OP_CODE.eca,
  name: 'ECA',
  optionKeys: ECA_OPTION_KEYS,
  hasResidual: false,
  hasScaleOut: true,
  hasActivation: false,
  hasOutputActivation: false,
  weightFields: [null, null, null, null, 'weight'],
  validateWeights: validateEcaWeights,
};

/**
 * Efficient channel attention forward (Wang et al., "ECA-Net: Efficient Channel Attention for
 * Deep Convolutional Neural Networks", CVPR 2020, arXiv:1910.03151; as timm.layers.eca.EcaModule
 * computes it): z = mean of x over H·W, [N, C]; s = gate(conv1d_k(z)) across the channels, zero
 * padding (k − 1) / 2 at both ends, no bias; y = x·s.
 *
 * Every argument is checked before any work, and a refused call writes nothing (`out` included).
 *
 * @param x - [N, C, H, W] activations in `options.layout`: a Float32Array of N·C·H·W elements.
 * @param shape - logical [N, C, H, W] (see {@link Shape4}); any C (the kernel does not fix it).
 * @param weights - `{ weight }`, k odd; {@link ecaKernelSize} gives the usual k for C.
 * @param options - see {@link ECAOptions}.
 * @returns y, N·C·H·W elements in `options.layout`: `options.out` when given, else a new array.
 * @throws TypeError (code 'ERR_INVALID_ARG_TYPE') or RangeError (code 'ERR_OUT_OF_RANGE'), with
 *   `argument` naming the argument; Error with code 'ERR_SQEX_CUDA_UNAVAILABLE' for device 'cuda'
 *   without a usable GPU; Error with code 'ERR_SQEX_UNSUPPORTED' when the CUDA kernel cannot take
 *   the call with device 'cuda' (with 'auto' and a deviceIndex or stream, the CPU runs it, warning once, code
 *   SQEX_CPU_FALLBACK); Error with code 'ERR_SQEX_CUDA' for a CUDA failure; Error with code
 *   'ERR_SQEX_OUT_OF_MEMORY' (`bytes`) when the result cannot be allocated; RangeError with code
 *   'ERR_SQEX_INVALID_ARGUMENT' when a CUDA cache (workspace, weights) would have to grow while
 *   `options.stream` is being captured into a CUDA graph (run one call before capturing); LoadError (code
 *   'ERR_SQEX_LOAD') when the native addon cannot be
 *   loaded (with device 'cuda' and host arrays, Error 'ERR_SQEX_CUDA_UNAVAILABLE' instead, whose
 *   message gives the load failure).
 */
export function ecaForward(x: Float32Array, shape: Shape4, weights: ECAWeights, options?: ECAOptions): Float32Array;
/**
 * ecaForward with a DeviceTensor x (float32, float16 or bfloat16, either layout): runs on CUDA,
 * enqueued on `options.stream`, and returns a DeviceTensor like x (`options.out`, or a new one
 * that is yours to dispose). The weight may be a Float32Array or a float32 DeviceTensor
 * ({@link ECADeviceWeights}). `shape` must equal x.shape. Errors as the Float32Array form, and
 * an Error with code 'ERR_SQEX_CUDA_UNAVAILABLE' without a usable GPU. A shape the CUDA kernel
 * cannot take is 'ERR_SQEX_UNSUPPORTED' whatever `options.device` says: x is on the GPU, so
 * nothing falls back to the CPU.
 */
export function ecaForward(
  x: DeviceTensor,
  shape: Shape4,
  weights: ECAWeights | ECADeviceWeights,
  options?: ECADeviceOptions,
): DeviceTensor;
/**
 * ecaForward with an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}): a host
 * weight and {@link ECAEitherOptions}; returns the kind of x, typed `Float32Array | DeviceTensor`. Shapes and
 * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x): x holds
 * N·C·H·W elements, the result x's length or x.shape.
 */
export function ecaForward<X extends Float32Array | DeviceTensor>(
  x: HostOrDevice<X>,
  shape: Shape4,
  weights: ECAWeights,
  options?: ECAEitherOptions,
): Float32Array | DeviceTensor;
/**
 * As the overload above, for an x typed by a type parameter (`T extends Float32Array |
 * DeviceTensor`), which the conditional {@link HostOrDevice} cannot resolve. Shapes and
 * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x): x holds
 * N·C·H·W elements, the result x's length or x.shape.
 */
export function ecaForward(
  x: Float32Array | DeviceTensor,
  shape: Shape4,
  weights: ECAWeights,
  options?: ECAEitherOptions,
): Float32Array | DeviceTensor;
/**
 * The Float32Array form again, declared last: TypeScript reports a call that matches no overload
 * against the last one, so a wrong host call is reported against this form (see the first).
 */
export function ecaForward(x: Float32Array, shape: Shape4, weights: ECAWeights, options?: ECAOptions): Float32Array;
export function ecaForward(x: unknown, shape: unknown, weights: unknown, options?: unknown): Float32Array | DeviceTensor {
  const fn = 'ecaForward';
  const opts = parseObject(fn, 'options', options, ECA_OPTION_KEYS, true);
  return runSync(prepare(fn, ECA_SPEC, x, shape, weights, opts));
}

/**
 * As {@link ecaForward}, off the event loop: host work runs on the libuv pool (or, with
 * `offload: 'auto'`, on the calling thread when staging its arrays would cost that thread more;
 * see {@link Offload}), device work resolves once the stream has finished it. Results are
 * bitwise identical to the sync call's. Bad arguments reject the
 * Promise with the sync call's errors (never a synchronous throw); an array detached,
 * transferred or resized while the call runs rejects it with code 'ERR_SQEX_ARRAY_CHANGED', and
 * nothing is written.
 */
export function ecaForwardAsync(x: Float32Array, shape: Shape4, weights: ECAWeights, options?: ECAOptions): Promise<Float32Array>;
/**
 * ecaForwardAsync with a DeviceTensor x: as {@link ecaForward}'s DeviceTensor form; resolves once
 * the kernel has finished on `options.stream`, and the tensors it uses stay alive until then.
 */
export function ecaForwardAsync(
  x: DeviceTensor,
  shape: Shape4,
  weights: ECAWeights | ECADeviceWeights,
  options?: ECADeviceOptions,
): Promise<DeviceTensor>;
/**
 * ecaForwardAsync with an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}): a
 * host weight and {@link ECAEitherOptions}; resolves to the kind of x. Shapes and
 * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x): x holds
 * N·C·H·W elements, the result x's length or x.shape.
 */
export function ecaForwardAsync<X extends Float32Array | DeviceTensor>(
  x: HostOrDevice<X>,
  shape: Shape4,
  weights: ECAWeights,
  options?: ECAEitherOptions,
): Promise<Float32Array | DeviceTensor>;
/**
 * As the overload above, for an x typed by a type parameter (`T extends Float32Array |
 * DeviceTensor`), which the conditional {@link HostOrDevice} cannot resolve. Shapes and
 * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x): x holds
 * N·C·H·W elements, the result x's length or x.shape.
 */
export function ecaForwardAsync(
  x: Float32Array | DeviceTensor,
  shape: Shape4,
  weights: ECAWeights,
  options?: ECAEitherOptions,
): Promise<Float32Array | DeviceTensor>;
/**
 * The Float32Array form again, declared last: TypeScript reports a call that matches no overload
 * against the last one, so a wrong host call is reported against this form (see the first).
 */
export function ecaForwardAsync(x: Float32Array, shape: Shape4, weights: ECAWeights, options?: ECAOptions): Promise<Float32Array>;
export async function ecaForwardAsync(x: unknown, shape: unknown, weights: unknown, options?: unknown): Promise<Float32Array | DeviceTensor> {
  const fn = 'ecaForwardAsync';
  const opts = parseObject(fn, 'options', options, ECA_OPTION_KEYS, true);
  return await awaitable(runAsync(prepare(fn, ECA_SPEC, x, shape, weights, opts))); // lib/awaitable.ts says why
}

const LN2 = MathLog(2);

/**
 * The ECA kernel size for C channels, as timm.layers.eca.EcaModule computes it when given no
 * kernel_size (after Wang et al., ECA-Net, CVPR 2020: k = |log2(C)/γ + b/γ| rounded to an odd
 * number): t = floor(|log2(C) + beta| / gamma), k = t if t is odd else t + 1, and at least 3,
 * with log2(C) computed as timm does (math.log(C, 2) = ln C / ln 2, which is 29.000000000000004
 * at C = 2^29). E.g. C = 64 → 3, 256 → 5, 2048 → 7 with the
 * defaults.
 *
 * @param channels - C, a positive safe integer.
 * @param gamma - γ, a positive finite number; default 2.
 * @param beta - b, a finite number; default 1.
 * @returns k, an odd integer ≥ 3, the length of the ECA weight.
 * @throws TypeError (code 'ERR_INVALID_ARG_TYPE') for a non-number argument; RangeError (code
 *   'ERR_OUT_OF_RANGE', `argument` naming it) for channels < 1 or not a safe integer, gamma ≤ 0
 *   or not finite, beta not finite, or a gamma/beta that makes k exceed 2^53 − 1.
 */
export function ecaKernelSize(channels: number, gamma = 2, beta = 1): number {
  const fn = 'ecaKernelSize';
  if (typeof channels !== 'number') throw typeError(fn, 'channels', 'a positive integer', channels);
  if (!NumberIsSafeInteger(channels) || channels < 1) throw rangeError(fn, 'channels', 'a positive integer (at most 2^53 - 1)', channels);
  if (typeof gamma !== 'number') throw typeError(fn, 'gamma', 'a positive finite number', gamma);
  if (!NumberIsFinite(gamma) || gamma <= 0) throw rangeError(fn, 'gamma', 'a positive finite number', gamma);
  if (typeof beta !== 'number') throw typeError(fn, 'beta', 'a finite number', beta);
  if (!NumberIsFinite(beta)) throw rangeError(fn, 'beta', 'a finite number', beta);
  // log2 as timm takes it, Python's math.log(C, 2) = log(C) / log(2): at C = 2^29 that is
  // 29.000000000000004, where Math.log2 is exact, and with gamma 1, beta -31 the floor differs.
  const t = MathFloor(MathAbs(MathLog(channels) / LN2 + beta) / gamma);
  // Past 2^53 the parity test and t + 1 mean nothing (ecaKernelSize(256, 1e-300) gave 9e300).
  if (!NumberIsSafeInteger(t + 1)) {
    // log2 of a safe integer is at most 53: past that, beta is what made the size too large.
    const byBeta = MathAbs(beta) > 64;
    const arg = byBeta ? 'beta' : 'gamma', value = byBeta ? beta : gamma;
    throw rangeErrorText(fn, arg, 'such that |log2(channels) + beta| / gamma stays below 2^53 - 1 (a kernel size)', `${value}, which gives ${t}`);
  }
  const k = t % 2 === 1 ? t : t + 1;
  return MathMax(k, 3);
}
