// Squeeze-and-excitation: s = gate(W2·act(W1·mean_HW(x) + b1) + b2), y = x·s (+ residual),
// optional output relu. Without w2: s = gate(W1·z + b1), W1 [C, C].

import { OP_CODE } from '../backend/contract.js';
import { parseObject } from '../args.js';
import type { DeviceTensor } from '../device-tensor.js';
import { rangeError, typeError } from '../is.js';
import type { Activation, Device, Gate, Layout, Offload, OutputActivation, Shape4 } from '../types.js';
import { prepare, runAsync, runSync } from './run.js';
import type { OpSpec, WeightSet } from './spec.js';
import { expectLength, validateMlp, weightArray, weightLength } from './weights.js';

/**
 * SE weights, fp32, row-major as PyTorch stores them: w1 [hidden, C], b1 [hidden], w2 [C, hidden],
 * b2 [C]. With w2 omitted the block is a single FC: s = gate(w1·z + b1) with w1 [C, C] (b2 then
 * must be omitted too).
 */
export interface SEWeights {
  w1: Float32Array;
  b1?: Float32Array;
  w2?: Float32Array;
  b2?: Float32Array;
}

/**
 * SE weights already on the GPU (with a DeviceTensor x only): float32 DeviceTensors on x's
 * device, any 4-D shape with the element count of the host form (e.g. w1 as [hidden, C, 1, 1],
 * as PyTorch's 1×1 conv stores it). Nothing is uploaded per call.
 */
export interface SEDeviceWeights {
  w1: DeviceTensor;
  b1?: DeviceTensor;
  w2?: DeviceTensor;
  b2?: DeviceTensor;
}

/** Options of seForward with host arrays. */
export interface SEOptions {
  /** Memory layout of x, residual and out; default 'NCHW'. */
  layout?: Layout;
  /** Between the two FCs; default 'relu'. Unused by the single-FC form. */
  activation?: Activation;
  /** Default 'sigmoid'. */
  gate?: Gate;
  /** Added after scaling: y = x·s + residual. Same length and layout as x. */
  residual?: Float32Array;
  /** Applied after the residual add; default 'none'. */
  outputActivation?: OutputActivation;
  /** Default 'auto': CUDA when available, else the CPU. */
  device?: Device;
  /** Receives y (length of x). May be x or residual itself (in place), but not partly overlap either. */
  out?: Float32Array;
  /** Receives the gate values s, [N, C]. */
  scaleOut?: Float32Array;
  /** cudaStream_t for the CUDA backend; default 0n. Ignored on the CPU. */
  stream?: bigint;
  /** CUDA device; default 0. */
  deviceIndex?: number;
  /** Async calls on the CPU: 'always' runs the op off the calling thread even when copying its operands costs more; default 'auto' (see Offload). */
  offload?: Offload;
}

/** Options of seForward with a DeviceTensor x: tensors must be DeviceTensors like x. */
export interface SEDeviceOptions {
  /** Must equal x.layout if given. */
  layout?: Layout;
  activation?: Activation;
  gate?: Gate;
  residual?: DeviceTensor;
  outputActivation?: OutputActivation;
  device?: 'auto' | 'cuda';
  out?: DeviceTensor;
  /** float32, N·C elements, same device. */
  scaleOut?: DeviceTensor;
  stream?: bigint;
  /** Must equal x.device if given. */
  deviceIndex?: number;
}

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
  let c = cKnown ?? channels;
  if (c === undefined) {
    const root = Math.round(Math.sqrt(weightLength(w1)));
    if (root < 1 || root * root !== weightLength(w1)) {
      throw rangeError(fn, 'weights.w1', 'a Float32Array of length C × C (single-FC SE, w2 omitted)', w1);
    }
    c = root;
  }
  expectLength(fn, 'weights.w1', w1, c * c, () => `C × C = ${c} × ${c}: single-FC SE, w2 omitted`);
  expectLength(fn, 'weights.b1', b1, c, () => `C = ${c}: single-FC SE, w2 omitted`);
  return { c, hidden: c, twoFc: 0, ecaK: 0, spatialK: 0, spatialBias: 0, slots: [w1, b1, null, null, null] };
}

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

/** With a DeviceTensor x: see the Float32Array form below; the result is a DeviceTensor. */
export function seForward(x: DeviceTensor, shape: Shape4, weights: SEWeights | SEDeviceWeights, options?: SEDeviceOptions): DeviceTensor;
/**
 * Squeeze-and-excitation forward: z = mean over H·W of x, s = gate(w2·act(w1·z + b1) + b2),
 * y = x·s (+ residual), then the optional output activation.
 *
 * Every argument is checked before any work; a bad one throws a TypeError (wrong kind) or a
 * RangeError (wrong value or size) naming it, and `out` is left untouched.
 *
 * @param x - [N, C, H, W] activations in `options.layout`: a Float32Array, or a DeviceTensor
 *   (then the result is a DeviceTensor of the same dtype and layout, enqueued on `options.stream`).
 * @param shape - logical [N, C, H, W], whatever the layout.
 * @param weights - see {@link SEWeights}; with a DeviceTensor x also {@link SEDeviceWeights}
 *   (resident weights: nothing is uploaded per call).
 * @returns y: `options.out` when given, else a new array or DeviceTensor.
 * @throws Error if device 'cuda' is requested without CUDA (the message gives the reason).
 */
export function seForward(x: Float32Array, shape: Shape4, weights: SEWeights, options?: SEOptions): Float32Array;
export function seForward(
  x: Float32Array | DeviceTensor,
  shape: Shape4,
  weights: SEWeights | SEDeviceWeights,
  options?: SEOptions | SEDeviceOptions,
): Float32Array | DeviceTensor {
  const fn = 'seForward';
  const opts = parseObject(fn, 'options', options, SE_OPTION_KEYS, true);
  return runSync(prepare(fn, SE_SPEC, x, shape, weights, opts));
}

/** With a DeviceTensor x: see the Float32Array form below; the result is a DeviceTensor. */
export function seForwardAsync(
  x: DeviceTensor,
  shape: Shape4,
  weights: SEWeights | SEDeviceWeights,
  options?: SEDeviceOptions,
): Promise<DeviceTensor>;
/**
 * As {@link seForward}, off the event loop: host work runs on the libuv pool (or, with
 * `offload: 'auto'`, on the calling thread when staging its arrays would cost that thread more;
 * see {@link Offload}), device work resolves once the stream has finished it. Bad arguments
 * reject the Promise (never a synchronous throw), and `out` is then untouched.
 */
export function seForwardAsync(x: Float32Array, shape: Shape4, weights: SEWeights, options?: SEOptions): Promise<Float32Array>;
export async function seForwardAsync(
  x: Float32Array | DeviceTensor,
  shape: Shape4,
  weights: SEWeights | SEDeviceWeights,
  options?: SEOptions | SEDeviceOptions,
): Promise<Float32Array | DeviceTensor> {
  const fn = 'seForwardAsync';
  const opts = parseObject(fn, 'options', options, SE_OPTION_KEYS, true);
  return runAsync(prepare(fn, SE_SPEC, x, shape, weights, opts));
}
