// CBAM (timm CbamModule with BatchNorm folded): channel gate from avg- and max-pooled MLP, then a
// spatial gate from a k×k conv over [mean over C, max over C] of the channel-gated x.

import { OP_CODE } from '../backend/contract.js';
import { parseObject } from '../args.js';
import { type DeviceTensor, isDeviceTensor } from '../device-tensor.js';
import { rangeError } from '../is.js';
import type { Activation, Device, Gate, Layout, Offload, Shape4 } from '../types.js';
import { prepare, runAsync, runSync } from './run.js';
import type { OpSpec, WeightSet } from './spec.js';
import { expectLength, hostWeightArray, validateMlp, weightArray, weightLength } from './weights.js';

/**
 * CBAM weights, fp32: the shared channel MLP w1 [hidden, C], b1 [hidden], w2 [C, hidden], b2 [C]
 * (b2 counts once per pooled branch, as in timm), and the spatial conv spatialWeight [1, 2, k, k]
 * (input channel 0: mean map, 1: max map; k odd) with spatialBias [1] (folded BatchNorm).
 */
export interface CBAMWeights {
  w1: Float32Array;
  b1?: Float32Array;
  w2: Float32Array;
  b2?: Float32Array;
  spatialWeight: Float32Array;
  spatialBias?: Float32Array;
}

/**
 * CBAM weights on the GPU (with a DeviceTensor x only): float32 DeviceTensors on x's device with
 * the element counts of the host form. spatialBias stays a Float32Array: it is one scalar,
 * passed by value with the call.
 */
export interface CBAMDeviceWeights {
  w1: DeviceTensor;
  b1?: DeviceTensor;
  w2: DeviceTensor;
  b2?: DeviceTensor;
  spatialWeight: DeviceTensor;
  spatialBias?: Float32Array;
}

/** Options of cbamForward with host arrays. */
export interface CBAMOptions {
  layout?: Layout;
  activation?: Activation;
  gate?: Gate;
  device?: Device;
  /** Receives y; may be x itself, not a partial overlap of it. */
  out?: Float32Array;
  stream?: bigint;
  deviceIndex?: number;
  /** Async calls on the CPU: 'always' runs the op off the calling thread even when copying its operands costs more; default 'auto' (see Offload). */
  offload?: Offload;
}

/** Options of cbamForward with a DeviceTensor x. */
export interface CBAMDeviceOptions {
  layout?: Layout;
  activation?: Activation;
  gate?: Gate;
  device?: 'auto' | 'cuda';
  out?: DeviceTensor;
  stream?: bigint;
  deviceIndex?: number;
}

export const CBAM_OPTION_KEYS = ['layout', 'activation', 'gate', 'device', 'out', 'stream', 'deviceIndex', 'offload'] as const;
const CBAM_WEIGHT_KEYS = ['w1', 'b1', 'w2', 'b2', 'spatialWeight', 'spatialBias'] as const;
/** The native re-check's bound (cfg spatialK ≤ 4096). */
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
  const k = Math.round(Math.sqrt(swLen / 2));
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

/** With a DeviceTensor x: see the Float32Array form below; the result is a DeviceTensor. */
export function cbamForward(
  x: DeviceTensor,
  shape: Shape4,
  weights: CBAMWeights | CBAMDeviceWeights,
  options?: CBAMDeviceOptions,
): DeviceTensor;
/**
 * CBAM forward: s = gate(MLP(avgpool x) + MLP(maxpool x)), x1 = x·s; m = [mean over C of x1,
 * max over C of x1]; g = gate(conv2d_k×k(m) + spatialBias); y = x1·g.
 *
 * Arguments are all checked before any work (TypeError / RangeError naming the argument; `out`
 * untouched on error). A DeviceTensor x gives a DeviceTensor result.
 */
export function cbamForward(x: Float32Array, shape: Shape4, weights: CBAMWeights, options?: CBAMOptions): Float32Array;
export function cbamForward(
  x: Float32Array | DeviceTensor,
  shape: Shape4,
  weights: CBAMWeights | CBAMDeviceWeights,
  options?: CBAMOptions | CBAMDeviceOptions,
): Float32Array | DeviceTensor {
  const fn = 'cbamForward';
  const opts = parseObject(fn, 'options', options, CBAM_OPTION_KEYS, true);
  return runSync(prepare(fn, CBAM_SPEC, x, shape, weights, opts));
}

/** With a DeviceTensor x: see the Float32Array form below; the result is a DeviceTensor. */
export function cbamForwardAsync(
  x: DeviceTensor,
  shape: Shape4,
  weights: CBAMWeights | CBAMDeviceWeights,
  options?: CBAMDeviceOptions,
): Promise<DeviceTensor>;
/** As {@link cbamForward}, resolving when done; bad arguments reject the Promise. */
export function cbamForwardAsync(x: Float32Array, shape: Shape4, weights: CBAMWeights, options?: CBAMOptions): Promise<Float32Array>;
export async function cbamForwardAsync(
  x: Float32Array | DeviceTensor,
  shape: Shape4,
  weights: CBAMWeights | CBAMDeviceWeights,
  options?: CBAMOptions | CBAMDeviceOptions,
): Promise<Float32Array | DeviceTensor> {
  const fn = 'cbamForwardAsync';
  const opts = parseObject(fn, 'options', options, CBAM_OPTION_KEYS, true);
  return runAsync(prepare(fn, CBAM_SPEC, x, shape, weights, opts));
}
