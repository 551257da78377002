// Validation and dispatch shared by the three ops and the blocks. Everything a call needs is
// checked here before any work: no allocation of the result, no native call and no write to
// `out` happens until every argument has passed.

import {
  ACT_CODE,
  CFG,
  DEV,
  DTYPE_CODE,
  GATE_CODE,
  LAYOUT_CODE,
  OUT_ACT_CODE,
  type HostOperands,
  type HostWeights,
  type NativeBinding,
  type NativeError,
} from '../backend/contract.js';
import { numelOf, parseEnum, parseIndex, parseShape, parseStream } from '../args.js';
import { binding, requireCuda, useCuda } from '../cuda.js';
import {
  DTYPES,
  DeviceTensor,
  LAYOUTS,
  allocDeviceTensor,
  isDeviceTensor,
  rawPtr,
  releaseTensor,
  retainTensor,
} from '../device-tensor.js';
import {
  bufferOf,
  byteLengthOf,
  byteOffsetOf,
  codedError,
  formatShape,
  isDetached,
  isFloat32Array,
  lengthOf,
  rangeError,
  rangeErrorText,
  typeError,
} from '../is.js';
import type { Activation, DType, Device, Gate, Layout, OutputActivation, Shape4 } from '../types.js';

export const ACTIVATIONS: readonly Activation[] = ['relu', 'silu'];
export const GATES: readonly Gate[] = ['sigmoid', 'hardsigmoid'];
export const OUTPUT_ACTIVATIONS: readonly OutputActivation[] = ['none', 'relu'];
export const DEVICES: readonly Device[] = ['auto', 'cpu', 'cuda'];
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
  return {
    layout: opts.layout === undefined ? undefined : parseEnum(fn, 'options.layout', opts.layout, LAYOUTS, 'NCHW'),
    act: spec.hasActivation ? parseEnum(fn, 'options.activation', opts.activation, ACTIVATIONS, 'relu') : 'relu',
    gate: parseEnum(fn, 'options.gate', opts.gate, GATES, 'sigmoid'),
    outAct: spec.hasOutputActivation
      ? parseEnum(fn, 'options.outputActivation', opts.outputActivation, OUTPUT_ACTIVATIONS, 'none')
      : 'none',
    device: parseEnum(fn, 'options.device', opts.device, DEVICES, 'auto'),
    deviceIndex: parseIndex(fn, 'options.deviceIndex', opts.deviceIndex),
  };
}

// ---------------------------------------------------------------------------------------------
// Weight checks

/** Elements of a weight operand. */
export function weightLength(w: WeightValue): number {
  return isDeviceTensor(w) ? numelOf(w.shape) : lengthOf(w);
}

/** How a message names a weight of `length` elements, in the kind the caller passed. */
export function weightText(value: WeightValue | null, length: number): string {
  return isDeviceTensor(value) ? `a float32 DeviceTensor of ${length} elements` : `a Float32Array of length ${length}`;
}

/**
 * A required or optional weight (undefined → null when optional): a Float32Array, or with
 * acceptDevice also a DeviceTensor (checked further by resolveDeviceWeights).
 */
export function weightArray(fn: string, arg: string, value: unknown, optional: boolean, acceptDevice = false): WeightValue | null {
  if (value === undefined && optional) return null;
  if (isDeviceTensor(value)) {
    if (acceptDevice) return value;
    const why = 'DeviceTensor weights are taken only by the functions, with a DeviceTensor x';
    throw typeError(fn, arg, `a Float32Array${optional ? ' or undefined' : ''} (${why})`, value);
  }
  const kinds = acceptDevice ? 'a Float32Array or a float32 DeviceTensor' : 'a Float32Array';
  const expected = optional ? `${kinds} or undefined` : kinds;
  if (!isFloat32Array(value)) throw typeError(fn, arg, expected, value);
  if (isDetached(value)) throw typeError(fn, arg, 'a Float32Array that is not detached', value);
  return value;
}

/** A weight that is always a host array (CBAM's spatialBias: passed by value). */
export function hostWeightArray(fn: string, arg: string, value: unknown, optional: boolean, why: string): Float32Array | null {
  if (value === undefined && optional) return null;
  if (!isFloat32Array(value)) throw typeError(fn, arg, `a Float32Array${optional ? ' or undefined' : ''} (${why})`, value);
  if (isDetached(value)) throw typeError(fn, arg, 'a Float32Array that is not detached', value);
  return value;
}

/** why: where `length` comes from, built only for the message. */
export function expectLength(fn: string, arg: string, value: WeightValue | null, length: number, why: () => string): void {
  if (value !== null && weightLength(value) !== length) {
    throw rangeError(fn, arg, `${weightText(value, length)} (${why()})`, value);
  }
}

/** A positive integer option such as channels (blocks). */
export function positiveInt(fn: string, arg: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw typeError(fn, arg, 'a positive integer', value);
  if (!Number.isInteger(value) || value < 1 || value > 0x7fffffff) throw rangeError(fn, arg, 'a positive integer', value);
  return value;
}

/**
 * The [hidden, C] / [C, hidden] MLP of SE (two FC) and CBAM. c may be unknown (blocks): then b2,
 * b1 or `channels` fix it.
 */
export function validateMlp(
  fn: string,
  w: Readonly<Record<string, unknown>>,
  cKnown: number | undefined,
  channels: number | undefined,
  acceptDevice: boolean,
): { c: number; hidden: number; w1: WeightValue; b1: WeightValue | null; w2: WeightValue; b2: WeightValue | null } {
  const w1 = weightArray(fn, 'weights.w1', w.w1, false, acceptDevice)!;
  const b1 = weightArray(fn, 'weights.b1', w.b1, true, acceptDevice);
  const w2 = weightArray(fn, 'weights.w2', w.w2, false, acceptDevice)!;
  const b2 = weightArray(fn, 'weights.b2', w.b2, true, acceptDevice);
  const w1Len = weightLength(w1);
  const b1Len = b1 === null ? 0 : weightLength(b1);
  const w2Len = weightLength(w2);
  let c = cKnown ?? channels;
  if (c === undefined) {
    if (b2 !== null) c = weightLength(b2);
    else if (b1Len > 0 && w1Len % b1Len === 0) c = w1Len / b1Len;
    else {
      throw rangeError(
        fn,
        'options.channels',
        'given when weights.b1 and weights.b2 are both omitted (w1 [hidden, C] and w2 [C, hidden] alone do not fix C)',
        channels,
      );
    }
  }
  if (c < 1) throw rangeError(fn, 'weights.b2', `${b2 !== null && isDeviceTensor(b2) ? 'a float32 DeviceTensor' : 'a Float32Array'} of C ≥ 1 elements`, b2);
  // hidden from w1 when it divides; else from b1 or w2, so the w1 message can name the size.
  let hidden = w1Len % c === 0 ? w1Len / c : 0;
  if (hidden === 0) {
    if (b1Len > 0) hidden = b1Len;
    else if (w2Len % c === 0 && w2Len > 0) hidden = w2Len / c;
    if (hidden === 0) {
      const kind = isDeviceTensor(w1) ? 'a float32 DeviceTensor' : 'a Float32Array';
      throw rangeError(fn, 'weights.w1', `${kind} [hidden, C] whose length is a positive multiple of C = ${c}`, w1);
    }
    throw rangeError(fn, 'weights.w1', `${weightText(w1, hidden * c)} (hidden × C = ${hidden} × ${c})`, w1);
  }
  expectLength(fn, 'weights.b1', b1, hidden, () => `hidden = ${hidden}, from w1 [hidden, C] = ${w1Len} / ${c}`);
  expectLength(fn, 'weights.w2', w2, c * hidden, () => `C × hidden = ${c} × ${hidden}`);
  expectLength(fn, 'weights.b2', b2, c, () => `C = ${c}`);
  return { c, hidden, w1, b1, w2, b2 };
}

/**
 * Copies of host weights for blocks (so later writes by the caller do not change them). The
 * copies live in SharedArrayBuffers, which cannot be detached or shrunk, so async calls use them
 * in place instead of staging a copy per call (native/binding/host_staging.h). Blocks validate
 * with acceptDevice false, so a DeviceTensor here is a bug in lib/.
 */
export function copyWeights(ws: WeightSet): HostWeightSet {
  const copy = (a: WeightValue | null): Float32Array | null => {
    if (a === null) return null;
    if (isDeviceTensor(a)) throw codedError('squeeze-excite (internal): a block was given DeviceTensor weights', 'ERR_SQEX_INTERNAL');
    const n = lengthOf(a);
    const c = new Float32Array(new SharedArrayBuffer(n * 4));
    c.set(a);
    return c;
  };
  const [w1, b1, w2, b2, aux] = ws.slots;
  return { ...ws, slots: [copy(w1), copy(b1), copy(w2), copy(b2), copy(aux)] };
}

// ---------------------------------------------------------------------------------------------
// Activation operands

function dimsText(shape: Shape4): string {
  return `N × C × H × W = ${shape.join(' × ')}`;
}

/** why: words for where `length` comes from, built only for a message. */
function hostTensor(fn: string, arg: string, value: unknown, length: number, why: () => string): Float32Array {
  if (!isFloat32Array(value)) throw typeError(fn, arg, `a Float32Array of length ${length} (${why()})`, value);
  if (isDetached(value)) throw typeError(fn, arg, `a Float32Array of length ${length} (${why()}) that is not detached`, value);
  if (lengthOf(value) !== length) throw rangeError(fn, arg, `a Float32Array of length ${length} (${why()})`, value);
  return value;
}

// By the intrinsic accessors (a subclass's own `buffer` getter is never asked). Views of one
// SharedArrayBuffer received through different messages are distinct buffer objects: the native
// side re-checks aliasing by address.
function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (bufferOf(a) !== bufferOf(b)) return false;
  const ao = byteOffsetOf(a);
  const bo = byteOffsetOf(b);
  return ao < bo + byteLengthOf(b) && bo < ao + byteLengthOf(a);
}

function sameRegion(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return bufferOf(a) === bufferOf(b) && byteOffsetOf(a) === byteOffsetOf(b) && byteLengthOf(a) === byteLengthOf(b);
}

function deviceOverlaps(a: DeviceTensor, b: DeviceTensor): boolean {
  if (a.device !== b.device) return false;
  const pa = rawPtr(a);
  const pb = rawPtr(b);
  return pa < pb + BigInt(b.byteLength) && pb < pa + BigInt(a.byteLength);
}

function liveTensor(fn: string, arg: string, value: DeviceTensor): void {
  if (value.disposed) throw rangeError(fn, arg, 'a DeviceTensor that has not been disposed', value);
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
  if (shape === undefined) throw rangeError(fn, 'shape', 'an array of 4 positive integers [N, C, H, W]', shape);
  checkChannels(fn, shape, expectC);
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
      throw rangeError(fn, 'options.out', 'x itself or memory disjoint from x (partial overlap with x)', out);
    }
    if (residual !== null && overlaps(out, residual) && !sameRegion(out, residual)) {
      throw rangeError(fn, 'options.out', 'options.residual itself or memory disjoint from it (partial overlap)', out);
    }
    for (const wgt of weights) {
      if (isFloat32Array(wgt) && overlaps(out, wgt)) throw rangeError(fn, 'options.out', 'memory disjoint from the weights', out);
    }
  }
  if (scaleOut !== null) {
    const others: [string, Float32Array | null][] = [['x', xs], ['options.residual', residual], ['options.out', out]];
    for (const [name, other] of others) {
      if (other !== null && overlaps(scaleOut, other)) {
        throw rangeError(fn, 'options.scaleOut', `memory disjoint from ${name}`, scaleOut);
      }
    }
    for (const wgt of weights) {
      if (isFloat32Array(wgt) && overlaps(scaleOut, wgt)) {
        throw rangeError(fn, 'options.scaleOut', 'memory disjoint from the weights', scaleOut);
      }
    }
  }
  const layout = settings.layout ?? 'NCHW';
  const cuda = useCuda(fn, settings.device, settings.deviceIndex);
  return {
    kind: 'host',
    shape,
    layout,
    x: xs,
    residual,
    out,
    scaleOut,
    cuda,
    // The CPU has no device index; the native re-check bounds cfg.device, so send 0 there.
    deviceIndex: cuda ? (settings.deviceIndex ?? 0) : 0,
  };
}

function checkChannels(fn: string, shape: Shape4, expectC: number): void {
  if (expectC !== 0 && shape[1] !== expectC) {
    throw rangeErrorText(fn, 'shape[1] (C)', `${expectC}, the channels of the block's weights`, `${shape[1]} in ${formatShape(shape)}`);
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
  checkChannels(fn, x.shape, expectC);
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
      throw rangeError(fn, 'options.out', 'x itself or memory disjoint from x (partial overlap with x)', out);
    }
    if (residual !== null && deviceOverlaps(out, residual) && rawPtr(out) !== rawPtr(residual)) {
      throw rangeError(fn, 'options.out', 'options.residual itself or memory disjoint from it (partial overlap)', out);
    }
  }
  if (scaleOut !== null) {
    const others: [string, DeviceTensor | null][] = [['x', x], ['options.residual', residual], ['options.out', out]];
    for (const [name, other] of others) {
      if (other !== null && deviceOverlaps(scaleOut, other)) {
        throw rangeError(fn, 'options.scaleOut', `memory disjoint from ${name}`, scaleOut);
      }
    }
  }
  requireCuda(fn, 'a DeviceTensor x');
  return { kind: 'device', shape: x.shape, layout: x.layout, x, residual, out, scaleOut };
}

// ---------------------------------------------------------------------------------------------
// Configuration and dispatch

/** Writes every CFG entry for one call. */
export function fillCfg(
  cfg: Float64Array,
  spec: OpSpec,
  ws: WeightSet,
  s: Settings,
  shape: Shape4,
  layout: Layout,
  dtype: DType,
  deviceIndex: number,
): Float64Array {
  cfg[CFG.op] = spec.op;
  cfg[CFG.n] = shape[0];
  cfg[CFG.c] = shape[1];
  cfg[CFG.h] = shape[2];
  cfg[CFG.w] = shape[3];
  cfg[CFG.layout] = LAYOUT_CODE[layout];
  cfg[CFG.hidden] = ws.hidden;
  cfg[CFG.twoFc] = ws.twoFc;
  cfg[CFG.act] = ACT_CODE[s.act];
  cfg[CFG.gate] = GATE_CODE[s.gate];
  cfg[CFG.outAct] = OUT_ACT_CODE[s.outAct];
  cfg[CFG.ecaK] = ws.ecaK;
  cfg[CFG.spatialK] = ws.spatialK;
  cfg[CFG.spatialBias] = ws.spatialBias;
  cfg[CFG.dtype] = DTYPE_CODE[dtype];
  cfg[CFG.device] = deviceIndex;
  return cfg;
}

/** Everything validated, ready to run. */
export interface PreparedCall {
  readonly fn: string;
  readonly cfg: Float64Array;
  readonly ops: Operands;
  /** Host arrays (blocks: copies), or DeviceTensors whose pointers dev holds. */
  readonly weights: WeightSet;
  readonly stream: bigint;
  /** Device pointers of resident weights (blocks, DeviceTensor weights), or null to pass host weights. */
  readonly dev: BigUint64Array | null;
  /** device 'auto': a host call the CUDA kernel cannot take (ERR_SQEX_UNSUPPORTED) runs on the CPU. */
  readonly cpuFallback: boolean;
}

/** The slots as host arrays, or null if any is a DeviceTensor. */
function hostSlots(slots: WeightSlots): HostWeights | null {
  for (const w of slots) if (w !== null && isDeviceTensor(w)) return null;
  return slots as HostWeights;
}

/**
 * DeviceTensor weights of a function call with a DeviceTensor x: all array weights must be of
 * one kind, float32, live and on x's device, and disjoint from out and scaleOut. Returns the DEV
 * array with the weight slots filled, or null when the weights are host arrays.
 */
function resolveDeviceWeights(fn: string, spec: OpSpec, ws: WeightSet, o: DeviceOperandSet): BigUint64Array | null {
  const slots = ws.slots;
  let devCount = 0;
  let hostCount = 0;
  for (const w of slots) {
    if (w !== null && isDeviceTensor(w)) devCount += 1;
    else if (w !== null) hostCount += 1;
  }
  if (devCount === 0) return null;
  if (hostCount > 0) {
    // Name the first weight of the minority kind (a tie counts the DeviceTensors as the odd ones).
    const oddIsDevice = devCount <= hostCount;
    const i = slots.findIndex((w) => w !== null && isDeviceTensor(w) === oddIsDevice);
    const like = oddIsDevice ? 'a Float32Array' : 'a float32 DeviceTensor';
    const why = 'DeviceTensor and Float32Array weights cannot be mixed in one call';
    throw typeError(fn, `weights.${spec.weightFields[i]}`, `${like} like the other weights (${why})`, slots[i]);
  }
  const dev = new BigUint64Array(DEV.length);
  for (let i = 0; i < slots.length; i++) {
    const w = slots[i];
    if (w === null || !isDeviceTensor(w)) continue;
    if (w.disposed || w.dtype !== 'float32' || w.device !== o.x.device) {
      const expected = `a float32 DeviceTensor on cuda:${o.x.device} (x's device) that has not been disposed`;
      throw rangeError(fn, `weights.${spec.weightFields[i]}`, expected, w);
    }
    if (o.out !== null && deviceOverlaps(o.out, w)) {
      throw rangeError(fn, 'options.out', `memory disjoint from weights.${spec.weightFields[i]}`, o.out);
    }
    if (o.scaleOut !== null && deviceOverlaps(o.scaleOut, w)) {
      throw rangeError(fn, 'options.scaleOut', `memory disjoint from weights.${spec.weightFields[i]}`, o.scaleOut);
    }
    const slot = WEIGHT_DEV_SLOTS[i]!;
    dev[slot] = rawPtr(w);
    dev[slot + 1] = BigInt(w.byteLength);
  }
  return dev;
}

/** DEV index of each weight slot [w1, b1, w2, b2, aux]. */
const WEIGHT_DEV_SLOTS: readonly number[] = [DEV.w1, DEV.b1, DEV.w2, DEV.b2, DEV.aux];

export function prepare(
  fn: string,
  spec: OpSpec,
  x: unknown,
  shape: unknown,
  weights: unknown,
  opts: Readonly<Record<string, unknown>>,
): PreparedCall {
  const settings = parseSettings(fn, spec, opts);
  const stream = parseStream(fn, 'options.stream', opts.stream);
  // The shape is parsed once; every later check uses this copy.
  const shp = parseShape(fn, 'shape', shape);
  const onDevice = isDeviceTensor(x);
  if (onDevice) liveTensor(fn, 'x', x);
  // C for the weight check: from x itself when x is a DeviceTensor (its shape is checked against shp later).
  const c = onDevice ? x.shape[1] : shp[1];
  const ws = spec.validateWeights(fn, weights, c, undefined, onDevice);
  const ops = resolveOperands(fn, spec, x, shp, settings, opts, ws.slots, 0, undefined);
  const cfg = new Float64Array(CFG.length);
  const cpuFallback = settings.device === 'auto';
  if (ops.kind === 'host') {
    // acceptDevice was false: every slot is a host array or null.
    fillCfg(cfg, spec, ws, settings, ops.shape, ops.layout, 'float32', ops.deviceIndex);
    return { fn, cfg, ops, weights: ws, stream, dev: null, cpuFallback };
  }
  fillCfg(cfg, spec, ws, settings, ops.shape, ops.layout, ops.x.dtype, ops.x.device);
  return { fn, cfg, ops, weights: ws, stream, dev: resolveDeviceWeights(fn, spec, ws, ops), cpuFallback };
}

function hostOperands(call: PreparedCall, o: HostOperandSet, out: Float32Array | null): HostOperands {
  const w = hostSlots(call.weights.slots);
  if (w === null) throw codedError(`${call.fn}: squeeze-excite (internal): host operands without host weights`, 'ERR_SQEX_INTERNAL');
  return [o.x, o.residual, out, o.scaleOut, w[0], w[1], w[2], w[3], w[4]];
}

/** The configuration for the CPU: the same, with the device index the CPU ignores set to 0. */
function cpuCfg(call: PreparedCall, o: HostOperandSet): Float64Array {
  if (!o.cuda || call.cfg[CFG.device] === 0) return call.cfg;
  const cfg = Float64Array.from(call.cfg);
  cfg[CFG.device] = 0;
  return cfg;
}

// One warning per distinct reason, so a loop over an unsupported shape does not flood stderr.
const fallbackWarned = new Set<string>();
// Configurations the CUDA kernel refused: later 'auto' calls with the same one go straight to the
// CPU instead of staging x to the GPU again (the native planning runs after the upload).
const refusedConfigs = new Set<string>();

function configKey(call: PreparedCall): string {
  return call.cfg.join(',');
}

/** Whether a host call should try CUDA: device 'cuda' always; 'auto' unless this configuration was refused. */
function triesCuda(call: PreparedCall, o: HostOperandSet): boolean {
  return o.cuda && !(call.cpuFallback && refusedConfigs.size > 0 && refusedConfigs.has(configKey(call)));
}

/**
 * Whether a failed CUDA call on host arrays may run on the CPU instead: device 'auto' and a
 * shape the kernel refused before touching any output (ERR_SQEX_UNSUPPORTED). Warns once.
 */
function fallsBackToCpu(call: PreparedCall, err: unknown): boolean {
  if (!call.cpuFallback || !(err instanceof Error) || (err as NativeError).code !== 'ERR_SQEX_UNSUPPORTED') return false;
  refusedConfigs.add(configKey(call));
  const key = `${call.fn}\u0000${err.message}`;
  if (!fallbackWarned.has(key)) {
    fallbackWarned.add(key);
    process.emitWarning(
      `${call.fn}: the CUDA kernel cannot take this call (${err.message}); it ran on the CPU instead ` +
        "(device 'auto'). Pass device: 'cpu' to skip the CUDA attempt.",
      { code: 'SQEX_CPU_FALLBACK' },
    );
  }
  return true;
}

/** Fills the activation slots of a DEV array (weight slots are left as they are). */
export function fillDevActivations(dev: BigUint64Array, o: DeviceOperandSet, result: DeviceTensor): void {
  dev[DEV.x] = rawPtr(o.x);
  dev[DEV.x + 1] = BigInt(o.x.byteLength);
  dev[DEV.residual] = o.residual === null ? 0n : rawPtr(o.residual);
  dev[DEV.residual + 1] = o.residual === null ? 0n : BigInt(o.residual.byteLength);
  dev[DEV.out] = rawPtr(result);
  dev[DEV.out + 1] = BigInt(result.byteLength);
  dev[DEV.scaleOut] = o.scaleOut === null ? 0n : rawPtr(o.scaleOut);
  dev[DEV.scaleOut + 1] = o.scaleOut === null ? 0n : BigInt(o.scaleOut.byteLength);
}

function deviceResult(native: NativeBinding, o: DeviceOperandSet): DeviceTensor {
  return o.out ?? allocDeviceTensor(native, o.x.shape, o.x.layout, o.x.dtype, o.x.device);
}

export function runSync(call: PreparedCall): Float32Array | DeviceTensor {
  const native = binding();
  const o = call.ops;
  if (o.kind === 'host') {
    // Without out, the addon allocates the result and returns it (native/binding/result_array.h).
    const operands = hostOperands(call, o, o.out);
    if (triesCuda(call, o)) {
      try {
        return native.cudaForwardHost(call.cfg, operands, call.stream);
      } catch (err) {
        if (!fallsBackToCpu(call, err)) throw err;
      }
    }
    return native.cpuForward(cpuCfg(call, o), operands);
  }
  const result = deviceResult(native, o);
  const dev = call.dev ?? new BigUint64Array(DEV.length);
  fillDevActivations(dev, o, result);
  try {
    native.cudaForwardDevice(call.cfg, dev, call.dev === null ? hostSlots(call.weights.slots) : null, call.stream);
  } catch (err) {
    if (result !== o.out) result.dispose();
    throw err;
  }
  return result;
}

export async function runAsync(prepared: PreparedCall): Promise<Float32Array | DeviceTensor> {
  const native = binding();
  const o = prepared.ops;
  if (o.kind === 'host') {
    // A block's cfg array is shared by its calls: a CPU fallback after the await needs this call's own copy.
    const call = o.cuda && prepared.cpuFallback ? { ...prepared, cfg: Float64Array.from(prepared.cfg) } : prepared;
    // Without out, the addon allocates the result itself (it is then nobody else's until the
    // promise resolves with it); the addon stages every other array (host_staging.h).
    const operands = hostOperands(call, o, o.out);
    try {
      if (triesCuda(call, o)) {
        try {
          return await native.cudaForwardHostAsync(call.cfg, operands, call.stream);
        } catch (err) {
          if (!fallsBackToCpu(call, err)) throw err;
        }
      }
      return await native.cpuForwardAsync(cpuCfg(call, o), operands);
    } catch (err) {
      // The addon's message names the array; say which call it was.
      if (err instanceof Error && (err as NativeError).code === 'ERR_SQEX_ARRAY_CHANGED') err.message = `${call.fn}: ${err.message}`;
      throw err;
    }
  }
  const result = deviceResult(native, o);
  const dev = prepared.dev ?? new BigUint64Array(DEV.length);
  fillDevActivations(dev, o, result);
  // DeviceTensor weights (functions) are read by the kernel too; blocks' slots are host arrays.
  const held = [o.x, o.residual, o.scaleOut, result, ...prepared.weights.slots].filter((t): t is DeviceTensor => t !== null && isDeviceTensor(t));
  for (const t of held) retainTensor(t);
  try {
    await native.cudaForwardDeviceAsync(prepared.cfg, dev, prepared.dev === null ? hostSlots(prepared.weights.slots) : null, prepared.stream);
  } catch (err) {
    for (const t of held) releaseTensor(t);
    if (result !== o.out) result.dispose();
    throw err;
  }
  for (const t of held) releaseTensor(t);
  return result;
}


