// CBAM (timm CbamModule with BatchNorm folded): channel gate from avg- and max-pooled MLP, then a
// spatial gate from a k×k conv over [mean over C, max over C] of the channel-gated x.

import { OP_CODE } from '../backend/contract.js';
import { parseObject } from '../args.js';
import { type DeviceTensor, isDeviceTensor } from '../device-tensor.js';
import { rangeError } from '../arg-errors.js';
import { MathRound, MathSqrt } from '../primordials.js';
import type { Activation, DeviceSelection, Gate, HostOrDevice, Layout, Offload, Shape4 } from '../types.js';
import { prepare, runAsync, runSync } from './run.js';
import { awaitable } from '../awaitable.js';
// For a doc comment's link.
import type { attentionWeightsFromStateDict } from '../state-dict.js';
import type { OpSpec, WeightSet } from './spec.js';
import { expectLength, hostWeightArray, validateMlp, weightArray, weightLength } from './weights.js';

/**
 * CBAM weights on the host (timm CbamModule, its BatchNorm folded), float32, row-major as PyTorch
 * stores them. The shared channel MLP: w1 [hidden, C], b1 [hidden], w2 [C, hidden], b2 [C]
 * (hidden is timm's rd; b2 counts once per pooled branch, as in timm, so it enters s twice);
 * the spatial conv: spatialWeight [1, 2, k, k] (input channel 0 the mean map, 1 the max map;
 * k odd, 1 ≤ k ≤ 4095) and spatialBias [1]. CbamModule's spatial ConvNormAct has a conv without
 * bias followed by BatchNorm2d(1): folded in eval mode (γ, β, running_mean μ, running_var σ²,
 * eps), spatialWeight = W·γ/√(σ² + eps) and spatialBias = β − μ·γ/√(σ² + eps) (torch.nn.BatchNorm2d's
 * eval formula applied to the conv's output, as torch.nn.utils.fusion.fuse_conv_bn_weights folds it);
 * {@link attentionWeightsFromStateDict} and CBAMBlock.fromStateDict do this. A wrong length is a
 * RangeError (code 'ERR_OUT_OF_RANGE') naming the weight; not a Float32Array, a TypeError (code
 * 'ERR_INVALID_ARG_TYPE'). An omitted bias is zero.
 */
export interface CBAMWeights {
  /** channel.fc1 weight [hidden, C]: hidden·C elements. */
  w1: Float32Array;
  /** channel.fc1 bias [hidden] (timm's default mlp_bias=False stores none); default zeros. */
  b1?: Float32Array | undefined;
  /** channel.fc2 weight [C, hidden]: C·hidden elements. */
  w2: Float32Array;
  /** channel.fc2 bias [C]; default zeros. */
  b2?: Float32Array | undefined;
  /** The spatial conv [1, 2, k, k]: 2·k² elements, k odd (98 for timm's k = 7). */
  spatialWeight: Float32Array;
  /** The spatial conv's bias (folded BatchNorm), 1 element; default 0. NaN and ±Inf propagate. */
  spatialBias?: Float32Array | undefined;
}

/**
 * CBAM weights on the GPU (with a DeviceTensor x only): float32 DeviceTensors, live and on x's
 * device (else a RangeError, code 'ERR_OUT_OF_RANGE'), with the element counts of the host form
 * ({@link CBAMWeights}); not mixed with Float32Arrays (TypeError, code 'ERR_INVALID_ARG_TYPE').
 * spatialBias stays a Float32Array: it is one scalar, passed by value with the call.
 */
export interface CBAMDeviceWeights {
  /** hidden·C elements. */
  w1: DeviceTensor;
  /** hidden elements; default zeros. */
  b1?: DeviceTensor | undefined;
  /** C·hidden elements. */
  w2: DeviceTensor;
  /** C elements; default zeros. */
  b2?: DeviceTensor | undefined;
  /** 2·k² elements, k odd. */
  spatialWeight: DeviceTensor;
  /** A Float32Array of 1 element (not a DeviceTensor: passed by value); default 0. */
  spatialBias?: Float32Array | undefined;
}

/**
 * Options of cbamForward over host arrays (Float32Arrays). An unknown key (CBAM has no residual,
 * scaleOut or outputActivation) is a TypeError (code 'ERR_INVALID_ARG_TYPE') naming it.
 * `device` and `deviceIndex`: see {@link DeviceSelection} (no `deviceIndex` with device 'cpu').
 */
export type CBAMOptions = DeviceSelection & {
  /** Memory layout of x and out; default 'NCHW'. See {@link Layout}. */
  layout?: Layout | undefined;
  /** Between the channel MLP's two FCs; default 'relu' (timm's). See {@link Activation}. */
  activation?: Activation | undefined;
  /** Of both the channel and the spatial gate; default 'sigmoid' (timm's). See {@link Gate}. */
  gate?: Gate | undefined;
  /**
   * Receives y (N·C·H·W elements, in `layout`) and is returned; may be x itself (in place), else
   * disjoint from x and the weights (RangeError, code 'ERR_OUT_OF_RANGE'). Default: a new array.
   */
  out?: Float32Array | undefined;
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
 * Options of cbamForward with a DeviceTensor x: out must be a DeviceTensor too; the call runs on
 * CUDA, enqueued on `stream`.
 */
export interface CBAMDeviceOptions {
  /** Must equal x.layout if given (RangeError, code 'ERR_OUT_OF_RANGE'). */
  layout?: Layout | undefined;
  /** Between the channel MLP's FCs; default 'relu'. */
  activation?: Activation | undefined;
  /** Default 'sigmoid'. */
  gate?: Gate | undefined;
  /** 'auto' (default) or 'cuda': a DeviceTensor x always runs on CUDA. */
  device?: 'auto' | 'cuda' | undefined;
  /** Receives y and is returned: a DeviceTensor like x (shape, dtype, layout, device), live; may be x itself. Default: a new DeviceTensor. */
  out?: DeviceTensor | undefined;
  /** cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle) the kernel is enqueued on; default 0n. Not cudaStreamPerThread (2n). */
  stream?: bigint | undefined;
  /** Must equal x.device if given (RangeError, code 'ERR_OUT_OF_RANGE'). */
  deviceIndex?: number | undefined;
}

/**
 * Options of cbamForward for an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}):
 * those both forms take (no out, whose kind must be x's; no device 'cpu').
 */
export interface CBAMEitherOptions {
  /** Memory layout of a host x; a DeviceTensor x's own layout, if given. */
  layout?: Layout | undefined;
  /** Default 'relu'. */
  activation?: Activation | undefined;
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

/** @internal The keys cbamForward's options may have. */
export const CBAM_OPTION_KEYS = ['layout', 'activation', 'gate', 'device', 'out', 'stream', 'deviceIndex', 'offload'] as const;
const CBAM_WEIGHT_KEYS = ['w1', 'b1', 'w2', 'b2', 'spatialWeight', 'spatialBias'] as const;
/** @internal The native re-check's bound (cfg spatialK ≤ 4096). */
export const MAX_SPATIAL_K = 4095;

function validateCbamWeights(
  fn: string,
  weights: unknown,
  cKnown: number | undefined,
  channels: number | undefined,
  acceptDevice: boolean,
): WeightSet {
  const w = parseObject(fn, 'weights', weights, CBAM_WEIGHT_KEYS, false);
  const m = validateMlp(fn, w, cKnown, channels, acceptDevice);
  const sw = weightArray(fn, 'weights.spatialWeight', w.spatialWeight, false, acceptDevice)!;
  const swLen = weightLength(sw);
  const k = MathRound(MathSqrt(swLen / 2));
  if (k < 1 || 2 * k * k !== swLen || k % 2 === 0 || k > MAX_SPATIAL_K) {
    const kind = isDeviceTensor(sw) ? 'a float32 DeviceTensor [1, 2, k, k] of 2·k² elements' : 'a Float32Array [1, 2, k, k] of length 2·k²';
    throw rangeError(fn, 'weights.spatialWeight', `${kind} with k odd, k ≤ ${MAX_SPATIAL_K} (e.g. 98 for k = 7)`, sw);
  }
  // A scalar that goes into the call's configuration: a host array even with DeviceTensor weights.
  const sb = hostWeightArray(fn, 'weights.spatialBias', w.spatialBias, true, 'the spatial conv bias is passed by value, also with DeviceTensor weights');
  expectLength(fn, 'weights.spatialBias', sb, 1, () => 'the single spatial conv bias');
  // NaN and ±Inf are taken, as PyTorch takes a non-finite BatchNorm bias: they propagate.
  return {
    c: m.c,
    hidden: m.hidden,
    twoFc: 1,
    ecaK: 0,
    spatialK: k,
    spatialBias: sb === null ? 0 : sb[0]!,
    slots: [m.w1, m.b1, m.w2, m.b2, sw],
  };
}

/** @internal */
export const CBAM_SPEC: OpSpec = {
  op: OP_CODE.cbam,
  name: 'CBAM',
  optionKeys: CBAM_OPTION_KEYS,
  hasResidual: false,
  hasScaleOut: false,
  hasActivation: true,
  hasOutputActivation: false,
  weightFields: ['w1', 'b1', 'w2', 'b2', 'spatialWeight'],
  validateWeights: validateCbamWeights,
};

/**
 * CBAM forward (Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018,
 * arXiv:1807.06521; as timm.layers.cbam.CbamModule computes it in eval mode): channel gate
 * s = gate(MLP(avgpool x) + MLP(maxpool x)) with MLP(v) = w2·act(w1·v + b1) + b2, pooled over
 * H·W, [N, C]; x1 = x·s; m = [mean over C of x1, max over C of x1], [N, 2, H, W];
 * g = gate(conv2d_k×k(m) + spatialBias), zero padding (k − 1) / 2, [N, 1, H, W]; y = x1·g.
 *
 * Every argument is checked before any work, and a refused call writes nothing (`out` included).
 *
 * @param x - [N, C, H, W] activations in `options.layout`: a Float32Array of N·C·H·W elements.
 * @param shape - logical [N, C, H, W] (see {@link Shape4}); C must match the weights.
 * @param weights - see {@link CBAMWeights}.
 * @param options - see {@link CBAMOptions}.
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
export function cbamForward(x: Float32Array, shape: Shape4, weights: CBAMWeights, options?: CBAMOptions): Float32Array;
/**
 * cbamForward with a DeviceTensor x (float32, float16 or bfloat16, either layout): runs on CUDA,
 * enqueued on `options.stream`, and returns a DeviceTensor like x (`options.out`, or a new one
 * that is yours to dispose). Weights may be Float32Arrays or float32 DeviceTensors
 * ({@link CBAMDeviceWeights}). `shape` must equal x.shape. Errors as the Float32Array form, and
 * an Error with code 'ERR_SQEX_CUDA_UNAVAILABLE' without a usable GPU. A shape the CUDA kernel
 * cannot take is 'ERR_SQEX_UNSUPPORTED' whatever `options.device` says: x is on the GPU, so
 * nothing falls back to the CPU.
 */
export function cbamForward(
  x: DeviceTensor,
  shape: Shape4,
  weights: CBAMWeights | CBAMDeviceWeights,
  options?: CBAMDeviceOptions,
): DeviceTensor;
/**
 * cbamForward with an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}): host
 * weights and {@link CBAMEitherOptions}; returns the kind of x, typed `Float32Array | DeviceTensor`. Shapes and
 * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x): x holds
 * N·C·H·W elements, the result x's length or x.shape.
 */
export function cbamForward<X extends Float32Array | DeviceTensor>(
  x: HostOrDevice<X>,
  shape: Shape4,
  weights: CBAMWeights,
  options?: CBAMEitherOptions,
): Float32Array | DeviceTensor;
/**
 * As the overload above, for an x typed by a type parameter (`T extends Float32Array |
 * DeviceTensor`), which the conditional {@link HostOrDevice} cannot resolve. Shapes and
 * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x): x holds
 * N·C·H·W elements, the result x's length or x.shape.
 */
export function cbamForward(
  x: Float32Array | DeviceTensor,
  shape: Shape4,
  weights: CBAMWeights,
  options?: CBAMEitherOptions,
): Float32Array | DeviceTensor;
/**
 * The Float32Array form again, declared last: TypeScript reports a call that matches no overload
 * against the last one, so a wrong host call is reported against this form (see the first).
 */
export function cbamForward(x: Float32Array, shape: Shape4, weights: CBAMWeights, options?: CBAMOptions): Float32Array;
export function cbamForward(x: unknown, shape: unknown, weights: unknown, options?: unknown): Float32Array | DeviceTensor {
  const fn = 'cbamForward';
  const opts = parseObject(fn, 'options', options, CBAM_OPTION_KEYS, true);
  return runSync(prepare(fn, CBAM_SPEC, x, shape, weights, opts));
}

/**
 * As {@link cbamForward}, off the event loop: host work runs on the libuv pool (or, with
 * `offload: 'auto'`, on the calling thread when staging its arrays would cost that thread more;
 * see {@link Offload}), device work resolves once the stream has finished it. Results are
 * bitwise identical to the sync call's. Bad arguments reject the Promise with the sync call's
 * errors (never a synchronous throw); an array detached, transferred or resized while the call
 * runs rejects it with code 'ERR_SQEX_ARRAY_CHANGED', and nothing is written.
 */
export function cbamForwardAsync(x: Float32Array, shape: Shape4, weights: CBAMWeights, options?: CBAMOptions): Promise<Float32Array>;
/**
 * cbamForwardAsync with a DeviceTensor x: as {@link cbamForward}'s DeviceTensor form; resolves
 * once the kernel has finished on `options.stream`, and the tensors it uses stay alive until then.
 */
export function cbamForwardAsync(
  x: DeviceTensor,
  shape: Shape4,
  weights: CBAMWeights | CBAMDeviceWeights,
  options?: CBAMDeviceOptions,
): Promise<DeviceTensor>;
/**
 * cbamForwardAsync with an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}): host
 * weights and {@link CBAMEitherOptions}; resolves to the kind of x. Shapes and
 * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x): x holds
 * N·C·H·W elements, the result x's length or x.shape.
 */
export function cbamForwardAsync<X extends Float32Array | DeviceTensor>(
  x: HostOrDevice<X>,
  shape: Shape4,
  weights: CBAMWeights,
  options?: CBAMEitherOptions,
): Promise<Float32Array | DeviceTensor>;
/**
 * As the overload above, for an x typed by a type parameter (`T extends Float32Array |
 * DeviceTensor`), which the conditional {@link HostOrDevice} cannot resolve. Shapes and
 * errors as the Float32Array form (a host x) and the DeviceTensor form (a device x): x holds
 * N·C·H·W elements, the result x's length or x.shape.
 */
export function cbamForwardAsync(
  x: Float32Array | DeviceTensor,
  shape: Shape4,
  weights: CBAMWeights,
  options?: CBAMEitherOptions,
): Promise<Float32Array | DeviceTensor>;
/**
 * The Float32Array form again, declared last: TypeScript reports a call that matches no overload
 * against the last one, so a wrong host call is reported against this form (see the first).
 */
export function cbamForwardAsync(x: Float32Array, shape: Shape4, weights: CBAMWeights, options?: CBAMOptions): Promise<Float32Array>;
export async function cbamForwardAsync(x: unknown, shape: unknown, weights: unknown, options?: unknown): Promise<Float32Array | DeviceTensor> {
  const fn = 'cbamForwardAsync';
  const opts = parseObject(fn, 'options', options, CBAM_OPTION_KEYS, true);
  return await awaitable(runAsync(prepare(fn, CBAM_SPEC, x, shape, weights, opts))); // lib/awaitable.ts says why
}
