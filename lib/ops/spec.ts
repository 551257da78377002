// What the three ops share as a contract: the weight slots, the per-op spec (OpSpec) and the
// scalar options every call parses (Settings).

import type { HostWeights } from '../backend/contract.js';
import { parseEnum, parseIndex } from '../args.js';
import { rangeError } from '../arg-errors.js';
import { DTYPES, type DeviceTensor, LAYOUTS } from '../device-tensor.js';
import type { Activation, Device, Gate, Layout, Offload, OutputActivation } from '../types.js';

export const ACTIVATIONS: readonly Activation[] = ['relu', 'silu'];
export const GATES: readonly Gate[] = ['sigmoid', 'hardsigmoid'];
export const OUTPUT_ACTIVATIONS: readonly OutputActivation[] = ['none', 'relu'];
export const DEVICES: readonly Device[] = ['auto', 'cpu', 'cuda'];
export const OFFLOADS: readonly Offload[] = ['auto', 'always'];
export { DTYPES, LAYOUTS };

/** One weight operand: a host array, or (functions with a DeviceTensor x) a float32 DeviceTensor. */
export type WeightValue = Float32Array | DeviceTensor;

/** [w1, b1, w2, b2, aux] as given: host arrays, or DeviceTensors when x is one. */
export type WeightSlots = readonly [
  w1: WeightValue | null,
  b1: WeightValue | null,
  w2: WeightValue | null,
  b2: WeightValue | null,
  aux: WeightValue | null,
];

/** Validated weights of one op, with the sizes they fix. Host copies or the caller's values. */
export interface WeightSet<S extends WeightSlots = WeightSlots> {
  /** Channels fixed by the weights; 0 when any C works (ECA). */
  readonly c: number;
  readonly hidden: number;
  readonly twoFc: number;
  readonly ecaK: number;
  readonly spatialK: number;
  readonly spatialBias: number;
  /** [w1, b1, w2, b2, aux] */
  readonly slots: S;
}

/** Weights that are all host arrays (blocks keep these; the CPU needs these). */
export type HostWeightSet = WeightSet<HostWeights>;

/** What differs between SE, ECA and CBAM. */
export interface OpSpec {
  readonly op: number;
  readonly name: string;
  readonly optionKeys: readonly string[];
  readonly hasResidual: boolean;
  readonly hasScaleOut: boolean;
  readonly hasActivation: boolean;
  readonly hasOutputActivation: boolean;
  /** The weights fields behind the slots [w1, b1, w2, b2, aux], for messages (null: unused). */
  readonly weightFields: readonly [string | null, string | null, string | null, string | null, string | null];
  /**
   * c: the channel count from the shape, or undefined for a block (infer from the weights).
   * acceptDevice: DeviceTensor weights are allowed (a function called with a DeviceTensor x);
   * their dtype, device and liveness are checked later, by resolveDeviceWeights.
   */
  validateWeights(
    fn: string,
    weights: unknown,
    c: number | undefined,
    channels: number | undefined,
    acceptDevice: boolean,
  ): WeightSet;
}

/** Scalar settings after parsing. */
export interface Settings {
  /** undefined when not given (a DeviceTensor x then supplies it). */
  readonly layout: Layout | undefined;
  readonly act: Activation;
  readonly gate: Gate;
  readonly outAct: OutputActivation;
  readonly device: Device;
  readonly deviceIndex: number | undefined;
}

export function parseSettings(fn: string, spec: OpSpec, opts: Readonly<Record<string, unknown>>): Settings {
  const device = parseEnum(fn, 'options.device', opts.device, DEVICES, 'auto');
  const deviceIndex = parseIndex(fn, 'options.deviceIndex', opts.deviceIndex);
  // A GPU index with device 'cpu' says two things at once (an attack's { device: 'cpu',
  // deviceIndex: 99 } was taken silently).
  if (device === 'cpu' && deviceIndex !== undefined) {
    throw rangeError(fn, 'options.deviceIndex', "omitted with device 'cpu' (it picks a CUDA device)", deviceIndex);
  }
  return {
    layout: opts.layout === undefined ? undefined : parseEnum(fn, 'options.layout', opts.layout, LAYOUTS, 'NCHW'),
    act: spec.hasActivation ? parseEnum(fn, 'options.activation', opts.activation, ACTIVATIONS, 'relu') : 'relu',
    gate: parseEnum(fn, 'options.gate', opts.gate, GATES, 'sigmoid'),
    outAct: spec.hasOutputActivation
      ? parseEnum(fn, 'options.outputActivation', opts.outputActivation, OUTPUT_ACTIVATIONS, 'none')
      : 'none',
    device,
    deviceIndex,
  };
}

/** options.offload of a call (functions and block calls): true for 'always'. */
export function parseOffload(fn: string, opts: Readonly<Record<string, unknown>>): boolean {
  return parseEnum(fn, 'options.offload', opts.offload, OFFLOADS, 'auto') === 'always';
}
