// From validated arguments to a native call: the cfg array, device weight pointers, and the
// sync / async runs over host arrays (CPU or CUDA host path) or DeviceTensors. Nothing here
// runs until every argument has passed (spec.ts, weights.ts, operands.ts).

import {
  ACT_CODE,
  CFG,
  DEV,
  DTYPE_CODE,
  GATE_CODE,
  LAYOUT_CODE,
  OP_CODE,
  OUT_ACT_CODE,
  type HostOperands,
  type HostWeights,
  type NativeBinding,
  type NativeError,
} from '../backend/contract.js';
import { parseShape, parseStream } from '../args.js';
import { attemptLoad, binding } from '../cuda.js';
import {
  DeviceTensor,
  allocDeviceTensor,
  isDeviceTensor,
  tensorDisposed,
  rawPtr,
  whileHeld,
} from '../device-tensor.js';
import { allocateArray } from '../alloc.js';
import { awaitable } from '../awaitable.js';
import { heldThread, nowMs, turn, turnDue } from '../event-loop-turn.js';
import { codedError, rangeError, rangeErrorText, typeError } from '../arg-errors.js';
import { arrayBufferByteLength, bufferOf, isSharedView, lengthOf } from '../typed-arrays.js';
import {
  BigIntCtor,
  BigUint64ArrayCtor,
  Float32ArrayCtor,
  Float64ArrayCtor,
  RegExpPrototypeExec,
  StringPrototypeIndexOf,
  StringPrototypeSlice,
  StringPrototypeStartsWith,
  TypedArrayPrototypeSet,
  defineOwn,
  listAppend,
  listHas,
  ownValue,
} from '../primordials.js';
import type { DType, Layout, Shape4 } from '../types.js';
import type { OpSpec, Settings, WeightSet, WeightSlots } from './spec.js';
import { parseOffload, parseSettings } from './spec.js';
import {
  deviceOverlaps,
  liveTensor,
  memoryOrderHint,
  resolveOperands,
  type DeviceOperandSet,
  type HostOperandSet,
  type Operands,
} from './operands.js';
import { weightsFitC } from './weights.js';
import { cudaRan, fallsBackToCpu, mayFallBackLater, triesCuda, warnCpuFallback } from './fallback.js';

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

/**
 * A weight refused for its size where the weights would fit C = shape[3] (weightsFitC): the caller
 * most likely passed the memory order [N, H, W, C] as the shape (newcomers did, in NHWC calls and
 * in NCHW ones with square and with 7×9 maps), so the message says that shapes are [N, C, H, W] in
 * every layout (memoryOrderHint: as an assertion in NHWC or for a square map, as a condition
 * otherwise, since a real [N, C, H, W] whose W happens to be that C is possible). Weights that fit
 * no C the shape names get no such advice (following it only met another refusal; a review).
 */
function withLayoutHint(err: unknown, layout: string | undefined, shp: readonly number[]): unknown {
  const e = err as { argument?: unknown; message?: unknown; code?: unknown };
  // only the weights whose sizes depend on C (SE's and CBAM's MLP; not ECA's or CBAM's spatial
  // kernel), and the shape's C where both biases agree on another C (weights.ts checkMlp: a
  // newcomer's trial got the layout advice without biases and not with them)
  const sized = ['weights.w1', 'weights.b1', 'weights.w2', 'weights.b2', 'shape[1] (C)'];
  if (typeof e?.argument !== 'string' || !listHas(sized, e.argument) || e.code !== 'ERR_OUT_OF_RANGE') return err;
  if (shp[3] === shp[1] || !weightsFitC(err, shp[3]!)) return err;
  const m = e as { message: string };
  // The hint says it again, with the shape to pass.
  const again = ' (it is [N, C, H, W] in every layout)';
  const at = e.argument === 'shape[1] (C)' ? StringPrototypeIndexOf(m.message, again) : -1;
  if (at >= 0) m.message = StringPrototypeSlice(m.message, 0, at) + StringPrototypeSlice(m.message, at + again.length);
  m.message += memoryOrderHint(shp, layout === 'NHWC', " with options.layout 'NHWC'", true);
  return err;
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
  /** options.offload 'always': an async CPU call over host arrays runs on the pool whatever staging costs. */
  readonly offloadAlways: boolean;
}

/** The slots as host arrays, or null if any is a DeviceTensor. */
function hostSlots(slots: WeightSlots): HostWeights | null {
  for (let i = 0; i < slots.length; i++) {
    const w = slots[i]!;
    if (w !== null && isDeviceTensor(w)) return null;
  }
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
  for (let i = 0; i < slots.length; i++) {
    const w = slots[i]!;
    if (w !== null && isDeviceTensor(w)) devCount += 1;
    else if (w !== null) hostCount += 1;
  }
  if (devCount === 0) return null;
  if (hostCount > 0) {
    // Name the first weight of the minority kind (a tie counts the DeviceTensors as the odd ones).
    const oddIsDevice = devCount <= hostCount;
    let i = 0;
    while (i < slots.length - 1 && !(slots[i] !== null && isDeviceTensor(slots[i]) === oddIsDevice)) i++;
    const like = oddIsDevice ? 'a Float32Array' : 'a float32 DeviceTensor';
    const why = 'DeviceTensor and Float32Array weights cannot be mixed in one call';
    throw typeError(fn, `weights.${spec.weightFields[i]}`, `${like} like the other weights (${why})`, slots[i]);
  }
  const dev = new BigUint64ArrayCtor(DEV.length);
  for (let i = 0; i < slots.length; i++) {
    const w = slots[i];
    if (w === null || !isDeviceTensor(w)) continue;
    if (tensorDisposed(w) || w.dtype !== 'float32' || w.device !== o.x.device) {
      const expected = `a float32 DeviceTensor on cuda:${o.x.device} (x's device) that has not been disposed`;
      throw rangeError(fn, `weights.${spec.weightFields[i]}`, expected, w);
    }
    if (o.out !== null && deviceOverlaps(o.out, w)) {
      throw rangeError(fn, 'options.out', `memory disjoint from weights.${spec.weightFields[i]}`, o.out, 'Pass a tensor over other memory');
    }
    if (o.scaleOut !== null && deviceOverlaps(o.scaleOut, w)) {
      throw rangeError(fn, 'options.scaleOut', `memory disjoint from weights.${spec.weightFields[i]}`, o.scaleOut, 'Pass a tensor over other memory');
    }
    const slot = WEIGHT_DEV_SLOTS[i]!;
    dev[slot] = rawPtr(w);
    dev[slot + 1] = BigIntCtor(w.byteLength);
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
  attemptLoad(); // before any argument is checked (lib/cuda.ts says why)
  const settings = parseSettings(fn, spec, opts);
  const stream = parseStream(fn, 'options.stream', opts.stream);
  const offloadAlways = parseOffload(fn, opts);
  // The shape is parsed once; every later check uses this copy.
  const shp = parseShape(fn, 'shape', shape);
  const onDevice = isDeviceTensor(x);
  if (onDevice) liveTensor(fn, 'x', x);
  // C for the weight check: from x itself when x is a DeviceTensor (its shape is checked against shp later).
  const c = onDevice ? x.shape[1] : shp[1];
  let ws: WeightSet;
  try {
    ws = spec.validateWeights(fn, weights, c, undefined, onDevice);
  } catch (err) {
    // A DeviceTensor x carries its shape and layout: advice to pass another shape cannot be
    // followed (an attack: the advice for an NHWC DeviceTensor sent the caller round in a loop).
    throw onDevice ? err : withLayoutHint(err, settings.layout, shp);
  }
  const ops = resolveOperands(fn, spec, x, shp, settings, opts, ws.slots, 0, undefined);
  const cfg = new Float64ArrayCtor(CFG.length);
  const cpuFallback = settings.device === 'auto';
  if (ops.kind === 'host') {
    // acceptDevice was false: every slot is a host array or null.
    fillCfg(cfg, spec, ws, settings, ops.shape, ops.layout, 'float32', ops.deviceIndex);
    return { fn, cfg, ops, weights: ws, stream, dev: null, cpuFallback, offloadAlways };
  }
  fillCfg(cfg, spec, ws, settings, ops.shape, ops.layout, ops.x.dtype, ops.x.device);
  return { fn, cfg, ops, weights: ws, stream, dev: resolveDeviceWeights(fn, spec, ws, ops), cpuFallback, offloadAlways };
}

/** The operands with copies of the arrays the op reads (x, residual, weights); out and scaleOut as they are. */
function inputSnapshot(fn: string, ops: HostOperands): HostOperands {
  const copy = (a: Float32Array): Float32Array => {
    const c = allocateArray(Float32ArrayCtor, lengthOf(a), `${fn}'s copy of its inputs for a CPU rerun`);
    TypedArrayPrototypeSet(c, a);
    return c;
  };
  const maybe = (a: Float32Array | null): Float32Array | null => (a === null ? null : copy(a));
  return [copy(ops[0]), maybe(ops[1]), ops[2], ops[3], maybe(ops[4]), maybe(ops[5]), maybe(ops[6]), maybe(ops[7]), maybe(ops[8])];
}

function hostOperands(call: PreparedCall, o: HostOperandSet, out: Float32Array | null): HostOperands {
  const w = hostSlots(call.weights.slots);
  if (w === null) throw codedError(`${call.fn}: squeeze-excite (internal): host operands without host weights`, 'ERR_SQEX_INTERNAL');
  // The lengths checked, whatever a resizable or growable buffer does meanwhile (another thread
  // growing a SharedArrayBuffer): the addon re-reads every view's length, and a new one was
  // refused there without the argument's name.
  // The weights are already such views (weights.ts weightArray), taken when they were first read.
  const v = o.views;
  return [v[0], v[1], out === o.out ? v[2] : out, v[3], w[0], w[1], w[2], w[3], w[4]];
}

/** What a host call returns: the caller's own `out` where the addon wrote through a fixed-length view of it. */
function callersArray(result: Float32Array, operands: HostOperands, o: HostOperandSet): Float32Array {
  return o.out !== null && result === operands[2] ? o.out : result;
}

/** The configuration for the CPU: the same, with the device index the CPU ignores set to 0. */
function cpuCfg(call: PreparedCall, o: HostOperandSet): Float64Array {
  if (!o.cuda || call.cfg[CFG.device] === 0) return call.cfg;
  const cfg = new Float64ArrayCtor(call.cfg); // a copy (the typed-array constructor, not the patchable .from)
  cfg[CFG.device] = 0;
  return cfg;
}

/** Fills the activation slots of a DEV array (weight slots are left as they are). */
export function fillDevActivations(dev: BigUint64Array, o: DeviceOperandSet, result: DeviceTensor): void {
  dev[DEV.x] = rawPtr(o.x);
  dev[DEV.x + 1] = BigIntCtor(o.x.byteLength);
  dev[DEV.residual] = o.residual === null ? 0n : rawPtr(o.residual);
  dev[DEV.residual + 1] = o.residual === null ? 0n : BigIntCtor(o.residual.byteLength);
  dev[DEV.out] = rawPtr(result);
  dev[DEV.out + 1] = BigIntCtor(result.byteLength);
  dev[DEV.scaleOut] = o.scaleOut === null ? 0n : rawPtr(o.scaleOut);
  dev[DEV.scaleOut + 1] = o.scaleOut === null ? 0n : BigIntCtor(o.scaleOut.byteLength);
}

function deviceResult(native: NativeBinding, o: DeviceOperandSet): DeviceTensor {
  return o.out ?? allocDeviceTensor(native, o.x.shape, o.x.layout, o.x.dtype, o.x.device);
}

/**
 * An empty batch (N = 0, as PyTorch accepts): every argument has passed, and there is nothing to
 * compute or write, so no kernel runs (the addon refuses N = 0). The result is out, or a new
 * empty array.
 */
function emptyHostResult(call: PreparedCall, o: HostOperandSet): Float32Array {
  return o.out ?? allocateArray(Float32ArrayCtor, 0, `${call.fn}'s result`);
}

// The addon's aliasing check by address (native/binding/convert.cpp) catches what lib/ cannot
// see: two SharedArrayBuffer objects over the same memory (structuredClone or postMessage of a
// SharedArrayBuffer gives one), whose views lib/ compares by buffer identity. Its refusal is
// reworded here as lib/'s own: the function, the argument, what was expected and received.
const NATIVE_ALIAS = /^squeeze-excite \(native\): (out|scaleOut) must be (?:(x|residual) itself or disjoint from it|disjoint from (\w+))$/;

/** The argument name of the addon's operand slot (convert.cpp kSlotNames) for op `op` (OP_CODE). */
function slotArgument(slot: string, op: number): string {
  if (slot === 'x') return 'x';
  if (slot === 'residual' || slot === 'out' || slot === 'scaleOut') return `options.${slot}`;
  if (slot === 'aux') return op === OP_CODE.eca ? 'weights.weight' : 'weights.spatialWeight';
  return `weights.${slot}`;
}

function aliasRefusal(call: PreparedCall, err: unknown): unknown {
  if (!(err instanceof RangeError) || (err as NativeError).code !== 'ERR_OUT_OF_RANGE') return err;
  const m = RegExpPrototypeExec(NATIVE_ALIAS, err.message);
  if (m === null) return err;
  const arg = m[1] as 'out' | 'scaleOut', itself = m[2], other = m[3];
  const name = slotArgument(itself ?? other ?? '', call.cfg[CFG.op] ?? -1);
  const via = 'through another SharedArrayBuffer object (structuredClone or postMessage of a SharedArrayBuffer gives one over the same memory)';
  return itself
    ? rangeErrorText(
        call.fn,
        `options.${arg}`,
        `${name} itself or memory disjoint from ${name}`,
        `an array over memory that overlaps ${name}'s without being the same memory, ${via}. Pass out: ${name} for in place, or an array over other memory.`,
      )
    : rangeErrorText(call.fn, `options.${arg}`, `memory disjoint from ${name}`, `an array over memory that overlaps ${name}'s, ${via}. Pass an array over other memory.`);
}

export function runSync(call: PreparedCall): Float32Array | DeviceTensor {
  const native = binding();
  const o = call.ops;
  if (o.kind === 'host') {
    if (o.shape[0] === 0) return emptyHostResult(call, o);
    // Without out, the addon allocates the result and returns it (native/binding/result_array.h).
    const operands = hostOperands(call, o, o.out);
    let refusal: Error | null = null; // the CUDA kernel's, when the CPU runs the call instead
    let y: Float32Array;
    try {
      if (triesCuda(call, o)) {
        try {
          return callersArray(native.cudaForwardHost(call.cfg, operands, call.stream), operands, o);
        } catch (err) {
          if (!fallsBackToCpu(call, err)) throw cudaRefusal(call.fn, err, false);
          refusal = err as Error;
        }
      }
      y = callersArray(native.cpuForward(cpuCfg(call, o), operands), operands, o);
    } catch (err) {
      throw aliasRefusal(call, err);
    }
    if (refusal !== null) warnCpuFallback(call, refusal);
    return y;
  }
  const result = deviceResult(native, o);
  if (result.byteLength === 0) return result; // an empty batch: an empty tensor (no memory), or out
  const dev = call.dev ?? new BigUint64ArrayCtor(DEV.length);
  fillDevActivations(dev, o, result);
  try {
    native.cudaForwardDevice(call.cfg, dev, call.dev === null ? hostSlots(call.weights.slots) : null, call.stream);
  } catch (err) {
    if (result !== o.out) result.dispose();
    throw cudaRefusal(call.fn, err, true);
  }
  return result;
}

/** The DeviceTensors an async call reads or writes, kept alive until it settles (built by index). */
function heldTensors(o: DeviceOperandSet, result: DeviceTensor, slots: WeightSlots): DeviceTensor[] {
  const held: DeviceTensor[] = [];
  const add = (t: unknown): void => {
    if (t !== null && isDeviceTensor(t)) listAppend(held, t);
  };
  add(o.x);
  add(o.residual);
  add(o.scaleOut);
  add(result);
  for (let i = 0; i < slots.length; i++) add(slots[i]);
  return held;
}

/**
 * An async call: everything up to the addon's call runs here, in the caller's turn, and no promise
 * is made before that call (making one runs the caller's promise hooks, which could detach an
 * array, dispose a tensor, or re-enter a block whose cfg this call has filled: an attack got
 * kernels on freed device memory and a call run with another call's shape). Returns the result,
 * or a promise of it.
 */
export function runAsync(prepared: PreparedCall): Float32Array | DeviceTensor | Promise<Float32Array | DeviceTensor> {
  const native = binding();
  const o = prepared.ops;
  if (o.kind === 'host') {
    if (o.shape[0] === 0) return emptyHostResult(prepared, o);
    // A block's cfg array is shared by its calls: a CPU fallback after the await needs this call's own copy.
    const call = o.cuda && prepared.cpuFallback ? { ...prepared, cfg: new Float64ArrayCtor(prepared.cfg) } : prepared;
    // Without out, the addon allocates the result itself (it is then nobody else's until the
    // promise resolves with it); the addon stages every other array (host_staging.h).
    const operands = hostOperands(call, o, o.out);
    if (!triesCuda(call, o)) {
      let pending: Promise<Float32Array>;
      const t0 = nowMs();
      try {
        pending = native.cpuForwardAsync(cpuCfg(call, o), operands, call.offloadAlways);
      } catch (err) {
        throw hostCallError(call, err);
      }
      // Read once, before any promise of lib/ is made (the addon defined it as an own data property).
      const ranHere = ownValue(pending, 'ranOnCaller') === true;
      if (ranHere) heldThread(nowMs() - t0);
      return hostResult(call, o, operands, pending, ranHere);
    }
    // The kernel's refusal (device 'auto': then the CPU runs it) arrives after the await; the CPU
    // rerun must read the inputs as they were at this call, not the caller's arrays as they are by
    // then (changed, transferred: an attack got another x's result, and an uncoded native error).
    // Until a configuration is known to run on CUDA, its inputs are copied here; out and scaleOut
    // are checked and written at settle, as always.
    const snapshot = mayFallBackLater(call) ? inputSnapshot(call.fn, operands) : null;
    const outputs = call.cpuFallback ? outputsAtCall(operands) : null;
    let pending: Promise<Float32Array> | null = null;
    let refusal: unknown = null;
    try {
      pending = native.cudaForwardHostAsync(call.cfg, operands, call.stream);
    } catch (err) {
      if (!fallsBackToCpu(call, err)) throw hostCallError(call, cudaRefusal(call.fn, err, false));
      refusal = err;
    }
    return cudaHostResult(call, o, operands, pending, refusal, snapshot, outputs);
  }
  const result = deviceResult(native, o);
  if (result.byteLength === 0) return result;
  const dev = prepared.dev ?? new BigUint64ArrayCtor(DEV.length);
  fillDevActivations(dev, o, result);
  // DeviceTensor weights (functions) are read by the kernel too; blocks' slots are host arrays.
  return whileHeld(heldTensors(o, result, prepared.weights.slots), () => {
    let pending: Promise<void>;
    try {
      pending = native.cudaForwardDeviceAsync(prepared.cfg, dev, prepared.dev === null ? hostSlots(prepared.weights.slots) : null, prepared.stream);
    } catch (err) {
      if (result !== o.out) result.dispose(); // marked only: freed once whileHeld lets go of it
      throw cudaRefusal(prepared.fn, err, true);
    }
    return deviceResultWhenDone(prepared.fn, pending, result, o.out);
  });
}

/**
 * `result` once `pending` (the addon's device call) has finished; when it fails, the result is
 * disposed (unless it is the caller's out): the call holds it, so its memory goes when that ends.
 */
export async function deviceResultWhenDone(fn: string, pending: Promise<unknown>, result: DeviceTensor, out: DeviceTensor | null): Promise<DeviceTensor> {
  try {
    await awaitable(pending);
  } catch (err) {
    if (result !== out) result.dispose();
    throw cudaRefusal(fn, err, true);
  }
  return result;
}

/**
 * A CPU host call's result once the addon's promise settles; for a call that ran on this thread
 * (ranHere), after a turn of the event loop when one is due (lib/event-loop-turn.ts: such a call
 * settles at once, and a loop awaiting them let no timer or I/O run).
 */
async function hostResult(call: PreparedCall, o: HostOperandSet, operands: HostOperands, pending: Promise<Float32Array>, ranHere: boolean): Promise<Float32Array> {
  let y: Float32Array;
  try {
    y = callersArray(await awaitable(pending), operands, o);
  } catch (err) {
    if (ranHere && turnDue()) await awaitable(turn());
    throw hostCallError(call, err);
  }
  if (ranHere && turnDue()) await awaitable(turn());
  return y;
}

/** A CUDA host call's result once the addon's promise settles, or the CPU's after a refusal it may fall back from. */
async function cudaHostResult(
  call: PreparedCall,
  o: HostOperandSet,
  operands: HostOperands,
  pending: Promise<Float32Array> | null,
  syncRefusal: unknown,
  snapshot: HostOperands | null,
  outputs: OutputAtCall[] | null,
): Promise<Float32Array> {
  const native = binding();
  try {
    let refusal = syncRefusal;
    if (pending !== null) {
      try {
        const y = await awaitable(pending);
        cudaRan(call);
        return callersArray(y, operands, o);
      } catch (err) {
        if (!fallsBackToCpu(call, err)) throw cudaRefusal(call.fn, err, false);
        refusal = err;
      }
    }
    // out and scaleOut as at the call, or refused by name as a staged call's (not the addon's
    // re-check of the caller's arrays, which names neither the function nor the argument).
    const changed = outputs === null ? null : changedOutput(outputs);
    if (changed !== null) throw changed;
    const inputs = snapshot ?? operands;
    const y = callersArray(await awaitable(native.cpuForwardAsync(cpuCfg(call, o), inputs, call.offloadAlways)), inputs, o);
    warnCpuFallback(call, refusal as Error);
    return y;
  } catch (err) {
    throw hostCallError(call, err);
  }
}

/** An async host call's refusal as the caller sees it: the addon's ERR_SQEX_ARRAY_CHANGED says which call; its alias refusals reworded. */
function hostCallError(call: PreparedCall, err: unknown): unknown {
  if (err instanceof Error && (err as NativeError).code === 'ERR_SQEX_ARRAY_CHANGED' && !StringPrototypeStartsWith(err.message, `${call.fn}: `)) {
    // the addon's message names the argument only; the advice is written here, once
    const argument = ownValue(err, 'argument');
    err.message = `${call.fn}: ${typeof argument === 'string' ? arrayChangedMessage(argument) : err.message}`;
  }
  return aliasRefusal(call, err);
}

/** Why an output array of an async call was not written, and the fix (ERR_SQEX_ARRAY_CHANGED). */
function arrayChangedMessage(argument: string): string {
  return (
    `${argument} was detached, transferred or resized while the call ran, so the result was not written. ` +
    'Keep the array and its buffer as they are until the promise settles, or omit it to receive a new array.'
  );
}

/**
 * The CUDA kernel's refusal of a call it cannot take (ERR_SQEX_UNSUPPORTED: a shape past its shared
 * memory or index limits), as the caller sees it: the function, the kernel's reason, and the fix.
 * The addon's message is the reason alone, which with several calls in flight did not say whose it
 * was (an attack, 2026-12-05). onDevice: x is a DeviceTensor (the fix is then a host copy).
 */
export function cudaRefusal(fn: string, err: unknown, onDevice: boolean): unknown {
  if (!(err instanceof Error) || (err as NativeError).code !== 'ERR_SQEX_UNSUPPORTED' || StringPrototypeStartsWith(err.message, `${fn}: `)) return err;
  const block = StringPrototypeStartsWith(fn, 'SEBlock.') || StringPrototypeStartsWith(fn, 'ECABlock.') || StringPrototypeStartsWith(fn, 'CBAMBlock.');
  const fix = onDevice
    ? "The CPU takes any shape: copy x to the host (await x.toFloat32()) and pass that Float32Array" +
      (block ? " to a block made with { device: 'cpu' }." : " with device: 'cpu'.")
    : block
      ? "Make the block with { device: 'cpu' } (or 'auto', which runs host arrays on the CPU) to run it on the CPU, which takes any shape."
      : "Pass device: 'cpu' to run it on the CPU, which takes any shape, or device: 'auto' with your deviceIndex or stream to run only such calls there.";
  err.message = `${fn}: the CUDA kernel cannot take this call (${err.message}). ${fix}`;
  return err;
}

/** An output array of an async host call as the call found it (what the CPU fallback checks before writing it). */
interface OutputAtCall {
  readonly view: Float32Array;
  readonly argument: string;
  readonly length: number;
  /** Its ArrayBuffer's byte length then; -1 for a SharedArrayBuffer, which can only grow and never loses its memory. */
  readonly bufferBytes: number;
}

function outputsAtCall(operands: HostOperands): OutputAtCall[] {
  const outputs: OutputAtCall[] = [];
  const add = (view: Float32Array | null, argument: string): void => {
    if (view === null) return;
    const buffer = bufferOf(view);
    listAppend(outputs, { view, argument, length: lengthOf(view), bufferBytes: isSharedView(view) ? -1 : arrayBufferByteLength(buffer as ArrayBuffer) });
  };
  add(operands[2], 'options.out');
  add(operands[3], 'options.scaleOut');
  return outputs;
}

/** The refusal for the first output detached, transferred or resized since the call (the addon's ArrayChangedError), or null. */
function changedOutput(outputs: readonly OutputAtCall[]): Error | null {
  for (let i = 0; i < outputs.length; i++) {
    const a = outputs[i]!;
    if (lengthOf(a.view) === a.length && (a.bufferBytes < 0 || arrayBufferByteLength(bufferOf(a.view) as ArrayBuffer) === a.bufferBytes)) continue;
    const err = codedError(arrayChangedMessage(a.argument), 'ERR_SQEX_ARRAY_CHANGED');
    defineOwn(err, 'argument', a.argument);
    return err;
  }
  return null;
}
