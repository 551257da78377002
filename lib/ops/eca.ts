// Efficient channel attention: s = gate(conv1d_k(mean_HW(x)) over channels, zero pad (k-1)/2,
// no bias), y = x·s.

import { OP_CODE } from '../backend/contract.js';
import { parseObject } from '../args.js';
import { type DeviceTensor, isDeviceTensor } from '../device-tensor.js';
import { rangeError, rangeErrorText, typeError } from '../is.js';
import type { Device, Gate, Layout, Offload, Shape4 } from '../types.js';
import { prepare, runAsync, runSync } from './run.js';
import type { OpSpec, WeightSet } from './spec.js';
import { weightArray, weightLength } from './weights.js';

/** ECA weights: the 1-D conv kernel over the channel axis, [k] with k odd (PyTorch [1, 1, k] flattened). */
export interface ECAWeights {
  weight: Float32Array;
}

/** ECA weights already on the GPU (with a DeviceTensor x only): a float32 DeviceTensor of k elements. */
export interface ECADeviceWeights {
  weight: DeviceTensor;
}

/** Options of ecaForward with host arrays. */
export interface ECAOptions {
  layout?: Layout;
  gate?: Gate;
  device?: Device;
  /** Receives y; may be x itself, not a partial overlap of it. */
  out?: Float32Array;
  /** Receives s, [N, C]. */
  scaleOut?: Float32Array;
  stream?: bigint;
  deviceIndex?: number;
  /** Async calls on the CPU: 'always' runs the op off the calling thread even when copying its operands costs more; default 'auto' (see Offload). */
  offload?: Offload;
}

/** Options of ecaForward with a DeviceTensor x. */
export interface ECADeviceOptions {
  layout?: Layout;
  gate?: Gate;
  device?: 'auto' | 'cuda';
  out?: DeviceTensor;
  scaleOut?: DeviceTensor;
  stream?: bigint;
  deviceIndex?: number;
}

export const ECA_OPTION_KEYS = ['layout', 'gate', 'device', 'out', 'scaleOut', 'stream', 'deviceIndex', 'offload'] as const;
const ECA_WEIGHT_KEYS = ['weight'] as const;
/** The native re-check's bound (cfg ecaK ≤ 2^20). */
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

/** With a DeviceTensor x: see the Float32Array form below; the result is a DeviceTensor. */
export function ecaForward(
  x: DeviceTensor,
  shape: Shape4,
  weights: ECAWeights | ECADeviceWeights,
  options?: ECADeviceOptions,
): DeviceTensor;
/**
 * ECA forward: z = mean over H·W of x, s = gate(conv1d_k(z) across channels, zero padding
 * (k − 1) / 2, no bias), y = x·s.
 *
 * Arguments are all checked before any work (TypeError / RangeError naming the argument; `out`
 * untouched on error). A DeviceTensor x gives a DeviceTensor result.
 *
 * @param x - a Float32Array or a DeviceTensor, [N, C, H, W] in `options.layout`.
 * @param shape - logical [N, C, H, W].
 * @param weights - `{ weight }`, k odd; {@link ecaKernelSize} gives the usual k for C.
 */
export function ecaForward(x: Float32Array, shape: Shape4, weights: ECAWeights, options?: ECAOptions): Float32Array;
export function ecaForward(
  x: Float32Array | DeviceTensor,
  shape: Shape4,
  weights: ECAWeights | ECADeviceWeights,
  options?: ECAOptions | ECADeviceOptions,
): Float32Array | DeviceTensor {
  const fn = 'ecaForward';
  const opts = parseObject(fn, 'options', options, ECA_OPTION_KEYS, true);
  return runSync(prepare(fn, ECA_SPEC, x, shape, weights, opts));
}

/** With a DeviceTensor x: see the Float32Array form below; the result is a DeviceTensor. */
export function ecaForwardAsync(
  x: DeviceTensor,
  shape: Shape4,
  weights: ECAWeights | ECADeviceWeights,
  options?: ECADeviceOptions,
): Promise<DeviceTensor>;
/** As {@link ecaForward}, resolving when done; bad arguments reject the Promise. */
export function ecaForwardAsync(x: Float32Array, shape: Shape4, weights: ECAWeights, options?: ECAOptions): Promise<Float32Array>;
export async function ecaForwardAsync(
  x: Float32Array | DeviceTensor,
  shape: Shape4,
  weights: ECAWeights | ECADeviceWeights,
  options?: ECAOptions | ECADeviceOptions,
): Promise<Float32Array | DeviceTensor> {
  const fn = 'ecaForwardAsync';
  const opts = parseObject(fn, 'options', options, ECA_OPTION_KEYS, true);
  return runAsync(prepare(fn, ECA_SPEC, x, shape, weights, opts));
}

/**
 * The ECA paper's kernel size for C channels: t = floor(|log2(C) + beta| / gamma), k = t if t is
 * odd else t + 1, and at least 3.
 */
export function ecaKernelSize(channels: number, gamma = 2, beta = 1): number {
  const fn = 'ecaKernelSize';
  if (typeof channels !== 'number') throw typeError(fn, 'channels', 'a positive integer', channels);
  if (!Number.isSafeInteger(channels) || channels < 1) throw rangeError(fn, 'channels', 'a positive integer (at most 2^53 - 1)', channels);
  if (typeof gamma !== 'number') throw typeError(fn, 'gamma', 'a positive finite number', gamma);
  if (!Number.isFinite(gamma) || gamma <= 0) throw rangeError(fn, 'gamma', 'a positive finite number', gamma);
  if (typeof beta !== 'number') throw typeError(fn, 'beta', 'a finite number', beta);
  if (!Number.isFinite(beta)) throw rangeError(fn, 'beta', 'a finite number', beta);
  const t = Math.floor(Math.abs(Math.log2(channels) + beta) / gamma);
  // Past 2^53 the parity test and t + 1 mean nothing (ecaKernelSize(256, 1e-300) gave 9e300).
  if (!Number.isSafeInteger(t + 1)) {
    // log2 of a safe integer is at most 53: past that, beta is what made the size too large.
    const [arg, value] = Math.abs(beta) > 64 ? (['beta', beta] as const) : (['gamma', gamma] as const);
    throw rangeErrorText(fn, arg, 'such that |log2(channels) + beta| / gamma stays below 2^53 - 1 (a kernel size)', `${value}, which gives ${t}`);
  }
  const k = t % 2 === 1 ? t : t + 1;
  return Math.max(k, 3);
}
