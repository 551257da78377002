/// <reference lib="esnext.disposable" preserve="true" />
// Reusable blocks: weights validated once and, when the block uses CUDA, uploaded once as
// resident float32 DeviceTensors (at construction, or at the first DeviceTensor call under plain
// device 'auto'). Per call only x and the optional tensors are checked, into a
// preallocated configuration and pointer array.

import { CFG, DEV, type NativeBinding } from './backend/contract.js';
import { parseEnum, parseObject, parseShape, parseStream } from './args.js';
import { attemptLoad, binding, hostArraysUseCuda, useCuda } from './cuda.js';
import { DeviceTensor, allocDeviceTensor, isDeviceTensor, rawPtr, tensorDisposed, whileHeld } from './device-tensor.js';
import { article, codedError, formatShape, isArrayValue, lengthOf, rangeError, rangeErrorText, typeError, typeErrorText } from './is.js';
import { CBAM_SPEC, type CBAMWeights } from './ops/cbam.js';
import { ECA_SPEC, type ECAWeights } from './ops/eca.js';
import { SE_SPEC, type SEWeights } from './ops/se.js';
import {
  type CBAMFromStateDictOptions,
  type ECAFromStateDictOptions,
  type SEFromStateDictOptions,
  type StateDict,
  cbamFromStateDict,
  ecaFromStateDict,
  seFromStateDict,
} from './state-dict.js';
import { resolveOperands } from './ops/operands.js';
import { type PreparedCall, fillCfg, runAsync, runSync } from './ops/run.js';
import { DTYPES, type HostWeightSet, type OpSpec, type Settings, parseOffload, parseSettings } from './ops/spec.js';
import { copyWeights, positiveInt } from './ops/weights.js';
import { ObjectCreate, ObjectFreeze, joinList, listAppend } from './primordials.js';
import type { Activation, DType, DeviceSelection, Gate, HostOrDevice, Layout, Offload, OutputActivation, Shape4 } from './types.js';
// For the doc comments' links.
import type { cbamForward, cbamForwardAsync } from './ops/cbam.js';
import type { ecaForward, ecaForwardAsync } from './ops/eca.js';
import type { seForward, seForwardAsync } from './ops/se.js';
import type { ATTENTION_KINDS, attentionWeightsFromStateDict } from './state-dict.js';

/**
 * Constructor options of SEBlock. An unknown key is a TypeError (code 'ERR_INVALID_ARG_TYPE')
 * naming it; a bad value a TypeError or RangeError (code 'ERR_OUT_OF_RANGE') naming the option.
 * `device` and `deviceIndex` (see {@link DeviceSelection}) are resolved once, at construction:
 * a CUDA block uploads its weights there (under plain 'auto': at its first DeviceTensor call) and
 * keeps them resident until dispose().
 */
export type SEBlockOptions = DeviceSelection & {
  /** Layout of host inputs (default 'NCHW'); DeviceTensor inputs must have it when given. See {@link Layout}. */
  layout?: Layout | undefined;
  /** Between the two FCs; default 'relu'. Unused by the single-FC form. See {@link Activation}. */
  activation?: Activation | undefined;
  /** Default 'sigmoid'. See {@link Gate}. */
  gate?: Gate | undefined;
  /** Applied after the residual add; default 'none'. See {@link OutputActivation}. */
  outputActivation?: OutputActivation | undefined;
  /** The dtype DeviceTensor inputs must have, when given (host arrays are always float32). See {@link DType}. */
  dtype?: DType | undefined;
  /**
   * C, a positive integer: needed only when w2 is present and b1 and b2 are both omitted (w1
   * [hidden, C] and w2 [C, hidden] alone do not fix C); must agree with the weights otherwise.
   */
  channels?: number | undefined;
};

/** Constructor options of ECABlock (see {@link SEBlockOptions} for the common rules). */
export type ECABlockOptions = DeviceSelection & {
  /** Layout of host inputs (default 'NCHW'); DeviceTensor inputs must have it when given. */
  layout?: Layout | undefined;
  /** Default 'sigmoid'. See {@link Gate}. */
  gate?: Gate | undefined;
  /** The dtype DeviceTensor inputs must have, when given. */
  dtype?: DType | undefined;
};

/** Constructor options of CBAMBlock (see {@link SEBlockOptions} for the common rules). */
export type CBAMBlockOptions = DeviceSelection & {
  /** Layout of host inputs (default 'NCHW'); DeviceTensor inputs must have it when given. */
  layout?: Layout | undefined;
  /** Between the channel MLP's FCs; default 'relu'. See {@link Activation}. */
  activation?: Activation | undefined;
  /** Of the channel and spatial gates; default 'sigmoid'. See {@link Gate}. */
  gate?: Gate | undefined;
  /** The dtype DeviceTensor inputs must have, when given. */
  dtype?: DType | undefined;
  /** C, a positive integer: needed only when b1 and b2 are both omitted. */
  channels?: number | undefined;
};

/**
 * Per-call options of SEBlock.forward / forwardAsync with host arrays (Float32Arrays); each field's
 * doc gives its shape. An unknown key is a TypeError (code 'ERR_INVALID_ARG_TYPE'); an option the
 * block fixes at construction (layout, gate, ...) a RangeError (code 'ERR_OUT_OF_RANGE').
 */
export interface SEBlockForwardOptions {
  /** y = x·s + residual: N·C·H·W elements in the block's layout; out may be it (in place) or disjoint from it. */
  residual?: Float32Array | undefined;
  /** Receives y (N·C·H·W elements) and is returned; may be x or residual itself, else disjoint from them. Default: a new array. */
  out?: Float32Array | undefined;
  /** Receives s, [N, C] row-major (N·C elements); disjoint from x, residual and out. */
  scaleOut?: Float32Array | undefined;
  /**
   * cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle) of a CUDA block; default 0n; not cudaStreamPerThread (2n). Given with a
   * host x to a block built with plain 'auto' (any value, 0n included), it sends that call to
   * CUDA; omit it to run there on the CPU. Ignored on the CPU.
   */
  stream?: bigint | undefined;
  /** Async calls on the CPU: 'always' runs the op off the calling thread even when copying its operands costs more; default 'auto' (see {@link Offload}). */
  offload?: Offload | undefined;
}
/**
 * Per-call options of SEBlock.forward / forwardAsync with a DeviceTensor x (a CUDA block); refused
 * keys as for the host form.
 */
export interface SEBlockDeviceForwardOptions {
  /** y = x·s + residual: a DeviceTensor like x, live. */
  residual?: DeviceTensor | undefined;
  /** Receives y and is returned: a DeviceTensor like x; may be x or residual itself. Default: a new DeviceTensor. */
  out?: DeviceTensor | undefined;
  /** Receives s: a float32 DeviceTensor of N·C elements on x's device. */
  scaleOut?: DeviceTensor | undefined;
  /** cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle) the kernel is enqueued on; default 0n; not cudaStreamPerThread (2n). */
  stream?: bigint | undefined;
}
/**
 * Per-call options of ECABlock.forward / forwardAsync with host arrays (Float32Arrays); each field's
 * doc gives its shape. An unknown key is a TypeError (code 'ERR_INVALID_ARG_TYPE'); an option the
 * block fixes at construction (layout, gate, ...) a RangeError (code 'ERR_OUT_OF_RANGE').
 */
export interface ECABlockForwardOptions {
  /** Receives y (N·C·H·W elements) and is returned; may be x itself, else disjoint from it. Default: a new array. */
  out?: Float32Array | undefined;
  /** Receives s, [N, C] row-major (N·C elements); disjoint from x and out. */
  scaleOut?: Float32Array | undefined;
  /**
   * cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle) of a CUDA block; default 0n; not cudaStreamPerThread (2n). Given with a
   * host x to a block built with plain 'auto' (any value, 0n included), it sends that call to
   * CUDA; omit it to run there on the CPU. Ignored on the CPU.
   */
  stream?: bigint | undefined;
  /** Async calls on the CPU: 'always' runs the op off the calling thread even when copying its operands costs more; default 'auto' (see {@link Offload}). */
  offload?: Offload | undefined;
}
/**
 * Per-call options of ECABlock.forward / forwardAsync with a DeviceTensor x (a CUDA block); refused
 * keys as for the host form.
 */
export interface ECABlockDeviceForwardOptions {
  /** Receives y and is returned: a DeviceTensor like x; may be x itself. Default: a new DeviceTensor. */
  out?: DeviceTensor | undefined;
  /** Receives s: a float32 DeviceTensor of N·C elements on x's device. */
  scaleOut?: DeviceTensor | undefined;
  /** cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle) the kernel is enqueued on; default 0n; not cudaStreamPerThread (2n). */
  stream?: bigint | undefined;
}
/**
 * Per-call options of CBAMBlock.forward / forwardAsync with host arrays (Float32Arrays); each field's
 * doc gives its shape. An unknown key is a TypeError (code 'ERR_INVALID_ARG_TYPE'); an option the
 * block fixes at construction (layout, gate, ...) a RangeError (code 'ERR_OUT_OF_RANGE').
 */
export interface CBAMBlockForwardOptions {
  /** Receives y (N·C·H·W elements) and is returned; may be x itself, else disjoint from it. Default: a new array. */
  out?: Float32Array | undefined;
  /**
   * cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle) of a CUDA block; default 0n; not cudaStreamPerThread (2n). Given with a
   * host x to a block built with plain 'auto' (any value, 0n included), it sends that call to
   * CUDA; omit it to run there on the CPU. Ignored on the CPU.
   */
  stream?: bigint | undefined;
  /** Async calls on the CPU: 'always' runs the op off the calling thread even when copying its operands costs more; default 'auto' (see {@link Offload}). */
  offload?: Offload | undefined;
}
/**
 * Per-call options of CBAMBlock.forward / forwardAsync with a DeviceTensor x (a CUDA block); refused
 * keys as for the host form.
 */
export interface CBAMBlockDeviceForwardOptions {
  /** Receives y and is returned: a DeviceTensor like x; may be x itself. Default: a new DeviceTensor. */
  out?: DeviceTensor | undefined;
  /** cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle) the kernel is enqueued on; default 0n; not cudaStreamPerThread (2n). */
  stream?: bigint | undefined;
}
/**
 * Per-call options of a block's forward for an x typed `Float32Array | DeviceTensor` (see
 * {@link HostOrDevice}): those both forms take. residual, out and scaleOut are not among them
 * (their kind must be x's: narrow x to pass them).
 */
export interface BlockEitherForwardOptions {
  /**
   * cudaStream_t (bigint; a live stream of this process: CUDA cannot check a handle) of a CUDA block; default 0n; not cudaStreamPerThread (2n). Given with a
   * host x to a block built with plain 'auto' (any value, 0n included), it sends that call to
   * CUDA; omit it to run there on the CPU. Ignored on the CPU.
   */
  stream?: bigint | undefined;
  /** Async CPU calls over a host x; ignored for a DeviceTensor x. See {@link Offload}. */
  offload?: Offload | undefined;
}

const SE_BLOCK_KEYS = ['layout', 'activation', 'gate', 'outputActivation', 'device', 'deviceIndex', 'dtype', 'channels'] as const;
const ECA_BLOCK_KEYS = ['layout', 'gate', 'device', 'deviceIndex', 'dtype'] as const;
const CBAM_BLOCK_KEYS = ['layout', 'activation', 'gate', 'device', 'deviceIndex', 'dtype', 'channels'] as const;
const SE_CALL_KEYS = ['residual', 'out', 'scaleOut', 'stream', 'offload'] as const;
const ECA_CALL_KEYS = ['out', 'scaleOut', 'stream', 'offload'] as const;
const CBAM_CALL_KEYS = ['out', 'stream', 'offload'] as const;

/** Shared machinery of the three block classes. */
class BlockCore {
  readonly name: string;
  readonly spec: OpSpec;
  readonly callKeys: readonly string[];
  /** The constructor's options a call refuses, each with where it goes instead (a newcomer passed layout to forward). */
  readonly fixedKeys: Readonly<Record<string, string>>;
  readonly weights: HostWeightSet;
  readonly settings: Settings;
  readonly dtype: DType | undefined;
  readonly cuda: boolean;
  /** The weights are on the GPU (at construction, or at the first DeviceTensor call under plain 'auto'). */
  private uploaded = false;
  readonly deviceIndex: number;
  // Annotated: an inferred Float64Array<ArrayBuffer> in the declarations needs TypeScript 5.7.
  readonly cfg: Float64Array = new Float64Array(CFG.length);
  /** Weight slots hold the resident weights; activation slots are rewritten per call. */
  readonly dev: BigUint64Array = new BigUint64Array(DEV.length);
  resident: DeviceTensor[] = [];
  disposed = false;

  constructor(
    name: string,
    spec: OpSpec,
    ctorKeys: readonly string[],
    callKeys: readonly string[],
    weights: unknown,
    options: unknown,
  ) {
    const fn = `new ${name}`;
    this.name = name;
    this.spec = spec;
    this.callKeys = callKeys;
    const fixed = ObjectCreate(null) as Record<string, string>;
    for (let i = 0; i < ctorKeys.length; i++) {
      const key = ctorKeys[i]!;
      if (key !== 'channels') fixed[key] = `${key} is fixed when the block is made: new ${name}(weights, { ${key} }), or ${name}.fromStateDict(tensors, prefix, { kind, ${key} })`;
    }
    this.fixedKeys = ObjectFreeze(fixed);
    // The reverse mistake: an option of each call given to the constructor.
    const perCall = ObjectCreate(null) as Record<string, string>;
    for (let i = 0; i < callKeys.length; i++) {
      const key = callKeys[i]!;
      perCall[key] = `${key} is an option of each call: block.forward(x, shape, { ${key} })`;
    }
    const opts = parseObject(fn, 'options', options, ctorKeys, true, perCall);
    this.settings = parseSettings(fn, spec, opts);
    this.dtype = opts.dtype === undefined ? undefined : parseEnum(fn, 'options.dtype', opts.dtype, DTYPES, 'float32');
    const channels = positiveInt(fn, 'options.channels', opts.channels);
    this.weights = copyWeights(spec.validateWeights(fn, weights, undefined, channels, false));
    this.cuda = useCuda(fn, this.settings.device, this.settings.deviceIndex);
    this.deviceIndex = this.settings.deviceIndex ?? 0;
    // A block that sends host arrays to CUDA (by the functions' rule, without a per-call stream)
    // uploads its weights now: an allocation failure is the constructor's. Under plain 'auto' host
    // arrays run on the CPU, so the weights go to the GPU at the first DeviceTensor call: a block
    // used only with host arrays never needs the GPU.
    if (this.cuda && hostArraysUseCuda(fn, this.settings.device, this.settings.deviceIndex, false)) this.upload(true);
  }

  /**
   * Uploads the weights once. At construction (`fatal`) a failure disposes the block; later it
   * frees what was uploaded and leaves the block usable with host arrays.
   */
  private upload(fatal: boolean): void {
    if (this.uploaded) return;
    if (this.disposed) throw codedError(`${this.name}: this block has been disposed`, 'ERR_SQEX_DISPOSED');
    const slots = [DEV.w1, DEV.b1, DEV.w2, DEV.b2, DEV.aux];
    try {
      const ws = this.weights.slots;
      for (let i = 0; i < ws.length; i++) {
        const w = ws[i]!;
        if (w === null) continue;
        const t = DeviceTensor.from(w, [lengthOf(w), 1, 1, 1], { device: this.deviceIndex });
        listAppend(this.resident, t);
        this.dev[slots[i]!] = rawPtr(t);
        this.dev[slots[i]! + 1] = BigInt(t.byteLength);
      }
      this.uploaded = true;
    } catch (err) {
      if (fatal) {
        this.dispose();
        throw err;
      }
      this.freeResident(); // the upload's own error is the one to report
      for (let i = 0; i < this.dev.length; i++) this.dev[i] = 0n;
      throw err;
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const failure = this.freeResident();
    if (failure !== null) throw failure;
  }

  /**
   * Disposes the resident weights, each on its own: one failed free (cudaFree can report an
   * earlier kernel's error) must not leave the others allocated with no way to free them. A
   * tensor that an async call still holds (retainTensor) is freed when that call settles.
   * Returns the first failure, or null.
   */
  private freeResident(): unknown {
    let failure: unknown = null;
    const resident = this.resident;
    for (let i = 0; i < resident.length; i++) {
      try {
        resident[i]!.dispose();
      } catch (err) {
        failure ??= err;
      }
    }
    this.resident = [];
    return failure;
  }

  /** Holds the resident weights (and `more`) until `settle` is done: dispose() meanwhile only marks them. */
  private async holding<T>(more: readonly DeviceTensor[], settle: () => Promise<T>): Promise<T> {
    const held: DeviceTensor[] = [];
    for (let i = 0; i < this.resident.length; i++) listAppend(held, this.resident[i]!);
    for (let i = 0; i < more.length; i++) listAppend(held, more[i]!);
    return whileHeld(held, settle);
  }

  /**
   * Runs one call. A DeviceTensor x without residual/out/scaleOut takes the resident path: it
   * checks x, rewrites the preallocated cfg and pointer array, and calls the addon directly, so
   * the result tensor is the only allocation. cfg and dev are reused by every call, async ones
   * included: the addon reads both before it returns (it queues copies of the values).
   */
  run(fn: string, x: unknown, a2: unknown, a3: unknown): Float32Array | DeviceTensor {
    const c = this.parseCall(fn, x, a2, a3);
    if (!c.resident) return runSync(this.prepare(fn, x, c));
    const { native, result } = this.startResident(fn, x as DeviceTensor);
    if (result.byteLength === 0) return result; // an empty batch: nothing to run
    try {
      native.cudaForwardDevice(this.cfg, this.dev, null, c.stream);
    } catch (err) {
      result.dispose();
      throw err;
    }
    return result;
  }

  async runAsync(fn: string, x: unknown, a2: unknown, a3: unknown): Promise<Float32Array | DeviceTensor> {
    const c = this.parseCall(fn, x, a2, a3);
    // The kernel reads the resident weights until the call settles: a dispose() of the block
    // meanwhile must not free them (an attack found it did).
    if (!c.resident) {
      const prepared = this.prepare(fn, x, c);
      return this.cuda ? this.holding([], () => runAsync(prepared)) : runAsync(prepared);
    }
    const xd = x as DeviceTensor;
    const { native, result } = this.startResident(fn, xd);
    if (result.byteLength === 0) return result;
    // dispose() of the result on failure only marks it: its memory is freed once nothing holds it.
    return this.holding([xd, result], async () => {
      try {
        await native.cudaForwardDeviceAsync(this.cfg, this.dev, null, c.stream);
      } catch (err) {
        result.dispose();
        throw err;
      }
      return result;
    });
  }

  /** The resident path up to the native call: x checked, the result allocated, cfg and dev filled. */
  private startResident(fn: string, x: DeviceTensor): { native: NativeBinding; result: DeviceTensor } {
    const native = this.checkResident(fn, x);
    const result = allocDeviceTensor(native, x.shape, x.layout, x.dtype, x.device);
    this.fillResident(x, result);
    return { native, result };
  }

  /**
   * Reads the call's arguments once: the shape (an Array second argument, or always for a host
   * x) and a snapshot of the options. `resident`: a DeviceTensor x with nothing but a stream.
   */
  private parseCall(fn: string, x: unknown, a2: unknown, a3: unknown): BlockCall {
    if (this.disposed) throw codedError(`${fn}: this ${this.name} has been disposed`, 'ERR_SQEX_DISPOSED');
    // Before any argument is read, and before this block's shared cfg is filled (lib/cuda.ts).
    attemptLoad();
    const onDevice = isDeviceTensor(x);
    const shapeGiven = isArrayValue(a2) || !onDevice;
    const opts = parseObject(fn, 'options', shapeGiven ? a3 : a2, this.callKeys, true, this.fixedKeys);
    const shape = shapeGiven ? parseShape(fn, 'shape', a2) : undefined;
    const stream = parseStream(fn, 'options.stream', opts.stream);
    const offloadAlways = parseOffload(fn, opts);
    const resident = onDevice && !shapeGiven && opts.residual === undefined && opts.out === undefined && opts.scaleOut === undefined;
    // Again: the shape's and the options' getters are the caller's code, and may have disposed this
    // block (an attack launched the kernel on its freed weights that way).
    if (this.disposed) throw codedError(`${fn}: this ${this.name} has been disposed`, 'ERR_SQEX_DISPOSED');
    return { shape, opts, stream, offloadAlways, resident };
  }

  /** Checks a DeviceTensor x against the block; returns the addon. */
  private checkResident(fn: string, x: DeviceTensor): NativeBinding {
    if (tensorDisposed(x)) throw rangeError(fn, 'x', 'a DeviceTensor that has not been disposed', x);
    if (!this.cuda) throw rangeError(fn, 'x', `a Float32Array: this ${this.name} runs on the CPU`, x);
    const s = x.shape;
    if (this.weights.c !== 0 && s[1] !== this.weights.c) {
      throw rangeErrorText(fn, 'x.shape[1] (C)', `${this.weights.c}, the channels of the block's weights`, `the number ${s[1]} (x.shape ${formatShape(s)})`);
    }
    if (this.settings.layout !== undefined && x.layout !== this.settings.layout) {
      throw rangeError(fn, 'x', `a DeviceTensor in the block's layout '${this.settings.layout}'`, x);
    }
    if (this.dtype !== undefined && x.dtype !== this.dtype) {
      throw rangeError(fn, 'x', `a DeviceTensor of the block's dtype '${this.dtype}'`, x);
    }
    if (x.device !== this.deviceIndex) {
      throw rangeError(fn, 'x', `a DeviceTensor on the block's device cuda:${this.deviceIndex}`, x);
    }
    this.upload(false);
    return binding();
  }

  private fillResident(x: DeviceTensor, result: DeviceTensor): void {
    fillCfg(this.cfg, this.spec, this.weights, this.settings, x.shape, x.layout, x.dtype, x.device);
    const dev = this.dev;
    dev[DEV.x] = rawPtr(x);
    dev[DEV.x + 1] = BigInt(x.byteLength);
    dev[DEV.residual] = 0n;
    dev[DEV.residual + 1] = 0n;
    dev[DEV.out] = rawPtr(result);
    dev[DEV.out + 1] = BigInt(result.byteLength);
    dev[DEV.scaleOut] = 0n;
    dev[DEV.scaleOut + 1] = 0n;
  }

  /** The general path: host x, or a DeviceTensor with a shape argument or optional tensors. */
  private prepare(fn: string, x: unknown, c: BlockCall): PreparedCall {
    if (isDeviceTensor(x) && !this.cuda) {
      throw rangeError(fn, 'x', `a Float32Array: this ${this.name} runs on the CPU`, x);
    }
    // As the resident path: the weights live on the block's device (without this, a DeviceTensor
    // x on another device reached the kernel with this device's weight pointers).
    if (isDeviceTensor(x) && !tensorDisposed(x) && x.device !== this.deviceIndex) {
      throw rangeError(fn, 'x', `a DeviceTensor on the block's device cuda:${this.deviceIndex}`, x);
    }
    const ops = resolveOperands(
      fn,
      this.spec,
      x,
      c.shape,
      // A CUDA block keeps its device setting, so a host x follows the functions' rule
      // (hostArraysUseCuda: plain 'auto' runs it on the CPU unless the call gives a stream) and a
      // DeviceTensor x runs on CUDA; a CPU block refused a DeviceTensor x above.
      { ...this.settings, device: this.cuda ? this.settings.device : 'cpu' },
      c.opts,
      this.weights.slots,
      this.weights.c,
      this.dtype,
    );
    if (ops.kind === 'host') {
      fillCfg(this.cfg, this.spec, this.weights, this.settings, ops.shape, ops.layout, 'float32', this.deviceIndex);
      return this.call(fn, ops, c, null);
    }
    this.upload(false);
    fillCfg(this.cfg, this.spec, this.weights, this.settings, ops.shape, ops.layout, ops.x.dtype, ops.x.device);
    return this.call(fn, ops, c, this.dev);
  }

  private call(fn: string, ops: PreparedCall['ops'], c: BlockCall, dev: BigUint64Array | null): PreparedCall {
    // Device 'auto' at construction: a host call the CUDA kernel refuses runs on the CPU.
    return { fn, cfg: this.cfg, ops, weights: this.weights, stream: c.stream, dev, cpuFallback: this.settings.device === 'auto', offloadAlways: c.offloadAlways };
  }
}

/** One block call's arguments, each read once. */
interface BlockCall {
  readonly shape: Shape4 | undefined;
  readonly opts: Readonly<Record<string, unknown>>;
  readonly stream: bigint;
  readonly offloadAlways: boolean;
  readonly resident: boolean;
}

/** What the block computes and where: e.g. "SEBlock (C 64, hidden 16, relu/sigmoid, cpu)". */
function describeBlock(core: BlockCore): string {
  const w = core.weights;
  const s = core.settings;
  const parts: string[] = [];
  if (core.name === 'ECABlock') {
    listAppend(parts, `k ${w.ecaK}`);
    listAppend(parts, s.gate);
  } else {
    listAppend(parts, `C ${w.c}`);
    if (w.twoFc === 1) {
      listAppend(parts, `hidden ${w.hidden}`);
      listAppend(parts, `${s.act}/${s.gate}`);
    } else {
      listAppend(parts, 'one FC');
      listAppend(parts, s.gate);
    }
    if (core.name === 'CBAMBlock') listAppend(parts, `spatial k ${w.spatialK}`);
    if (s.outAct !== 'none') listAppend(parts, `output ${s.outAct}`);
  }
  if (s.layout !== undefined) listAppend(parts, s.layout);
  if (core.dtype !== undefined) listAppend(parts, core.dtype);
  listAppend(parts, core.cuda ? `cuda:${core.deviceIndex}` : 'cpu');
  if (core.disposed) listAppend(parts, 'disposed');
  return `${core.name} (${joinList(parts, ', ')})`;
}

// Symbol.dispose is missing on early Node 20 releases; Node uses this registered symbol there.
const disposeSymbol: typeof Symbol.dispose = (Symbol.dispose ?? Symbol.for('nodejs.dispose')) as typeof Symbol.dispose;

/**
 * `self`'s core, when `self` is a block (of class `name` when given); else a coded TypeError.
 * Module-private, set in Block's static block (the one place that can read #core): a protected
 * static method gave any subclass the core, whose weights, pointers and disposed flag it could
 * then change (an attack on the published types, 2026-11-30).
 */
let coreOf: (self: unknown, fn: string, name?: string) => BlockCore;

/**
 * What every block shares: where it runs, disposal, and its description. Not constructible
 * outside this module (its constructor takes a core only the block classes make).
 */
abstract class Block {
  // Private: a method called on anything but a block of its class (`SEBlock.prototype.forward
  // .call(other)`, a Proxy of a block) is refused by coreOf instead of running on it.
  readonly #core: BlockCore;

  static {
    coreOf = (self, fn, name) => {
      const expected = name === undefined ? 'an SEBlock, ECABlock or CBAMBlock' : `${article(name)} ${name}`;
      if (typeof self !== 'object' || self === null || !(#core in self)) {
        // A Proxy of a block (Vue's reactive(), MobX) or Object.create(SEBlock.prototype) was
        // described as "an SEBlock instance": a contradiction with no fix (an attack, 2026-12-02).
        let poses = false;
        try {
          poses = typeof self === 'object' && self !== null && self instanceof Block;
        } catch {
          // a revoked Proxy: described as such below
        }
        if (poses) {
          throw typeErrorText(
            fn,
            'this',
            expected,
            'an object posing as a block (a Proxy of one, or an object made from its prototype), not one itself. Call the method on the block itself (with Vue, keep it out of reactive state: markRaw(block), or toRaw(proxy))',
          );
        }
        throw typeError(fn, 'this', expected, self);
      }
      const core = (self as Block).#core;
      if (name !== undefined && core.name !== name) throw typeError(fn, 'this', expected, self);
      return core;
    };
  }

  // `object`, not BlockCore, so that the declarations do not publish the core's shape; only this
  // module can make one (BlockCore is not exported), and nothing else is taken.
  protected constructor(core: object) {
    if (!(core instanceof BlockCore)) throw typeError('Block', 'core', 'a block core (blocks are made with new SEBlock / ECABlock / CBAMBlock)', core);
    this.#core = core;
  }
  /**
   * Where the block's weights live, fixed at construction: 'cuda' (on the GPU: DeviceTensor x runs
   * there, and so does a host x when the block was built with device 'cuda' or a deviceIndex, or
   * the call gives a stream; under plain 'auto' a host x runs on the CPU, and the weights are
   * uploaded at the first DeviceTensor call) or 'cpu'.
   */
  get backend(): 'cpu' | 'cuda' {
    return coreOf(this, 'backend').cuda ? 'cuda' : 'cpu';
  }
  /**
   * The layout given at construction, or undefined when none was: host x is then read as 'NCHW'
   * and a DeviceTensor x brings its own.
   */
  get layout(): Layout | undefined {
    return coreOf(this, 'layout').settings.layout;
  }
  /** The gate (the module's default for a block from fromStateDict, unless overridden). */
  get gate(): Gate {
    return coreOf(this, 'gate').settings.gate;
  }
  /** The DeviceTensor dtype given at construction, or undefined when any is taken. */
  get dtype(): DType | undefined {
    return coreOf(this, 'dtype').dtype;
  }
  /** True once dispose() has been called. */
  get disposed(): boolean {
    return coreOf(this, 'disposed').disposed;
  }
  /**
   * Frees the resident device weights (a CPU block has none). Idempotent; afterwards forward
   * throws and forwardAsync rejects with an Error with code 'ERR_SQEX_DISPOSED'. An async call still
   * in flight keeps the weights until it settles. A failed cudaFree is thrown (code
   * 'ERR_SQEX_CUDA') after every weight has been freed or tried.
   */
  dispose(): void {
    coreOf(this, 'dispose').dispose();
  }
  /** dispose(), for `using block = new SEBlock(...)`. */
  [disposeSymbol](): void {
    coreOf(this, 'Symbol.dispose').dispose();
  }
  /**
   * What the block computes and where, e.g. "SEBlock (C 64, hidden 16, relu/sigmoid, cpu)",
   * "ECABlock (k 3, sigmoid, NHWC, cuda:0)", "CBAMBlock (C 256, hidden 16, relu/sigmoid, spatial
   * k 7, cpu, disposed)".
   */
  toString(): string {
    return describeBlock(coreOf(this, 'toString'));
  }
}

/**
 * A squeeze-and-excitation block with fixed weights (see {@link seForward} for the math and its
 * sources). The weights are validated and copied once, at construction (later writes to your
 * arrays do not change the block); on CUDA they are uploaded once and stay resident on the device
 * until dispose(): at construction, or under plain device 'auto' at the first DeviceTensor call
 * (which then allocates and copies the weights, synchronously, before its kernel is enqueued:
 * run one call before capturing a CUDA graph). Later DeviceTensor calls upload nothing.
 */
export class SEBlock extends Block {
  /**
   * @param weights - see {@link SEWeights} (host Float32Arrays; copied).
   * @param options - see {@link SEBlockOptions}.
   * @throws TypeError (code 'ERR_INVALID_ARG_TYPE') or RangeError (code 'ERR_OUT_OF_RANGE') naming
   *   a bad weight or option; Error with code 'ERR_SQEX_CUDA_UNAVAILABLE' for device 'cuda'
   *   without a usable GPU; Error with code 'ERR_SQEX_CUDA' when the upload fails (at
   *   construction with device 'cuda' or a deviceIndex; under plain 'auto' the first DeviceTensor
   *   call reports it, and the block stays usable); Error with code
   *   'ERR_SQEX_OUT_OF_MEMORY' when the weight copies cannot be allocated. A native addon that
   *   cannot be loaded is not an error here: device 'cuda' is then ERR_SQEX_CUDA_UNAVAILABLE (its
   *   message gives the load failure), and a CPU block throws LoadError (code 'ERR_SQEX_LOAD')
   *   from its first forward (forwardAsync rejects with it).
   */
  constructor(weights: SEWeights, options?: SEBlockOptions) {
    super(new BlockCore('SEBlock', SE_SPEC, SE_BLOCK_KEYS, SE_CALL_KEYS, weights, options));
  }

  /** Channels C the weights fix: x must have C channels. */
  get channels(): number {
    return coreOf(this, 'SEBlock.channels', 'SEBlock').weights.c;
  }
  /** The hidden width rd (w1 is [rd, C]); C for the single FC of EffectiveSEModule (w2 omitted). */
  get hidden(): number {
    return coreOf(this, 'SEBlock.hidden', 'SEBlock').weights.hidden;
  }
  /** The activation between the two FCs, or null for the single FC (w2 omitted). */
  get activation(): Activation | null {
    const core = coreOf(this, 'SEBlock.activation', 'SEBlock');
    return core.weights.twoFc === 1 ? core.settings.act : null;
  }
  /** The activation applied to y (after the residual): 'none' or 'relu'. */
  get outputActivation(): OutputActivation {
    return coreOf(this, 'SEBlock.outputActivation', 'SEBlock').settings.outAct;
  }
  /**
   * A CUDA block over a DeviceTensor x of C channels (its shape read from x), in the block's
   * layout and dtype when those were given and on its device. Without residual, out or scaleOut
   * this is the resident path: x is checked, and the result, a new DeviceTensor like x (yours to
   * dispose), is the only allocation. Enqueued on `options.stream`.
   * @throws Error with code 'ERR_SQEX_DISPOSED' after dispose(); RangeError (code
   *   'ERR_OUT_OF_RANGE') for a CPU block, a disposed x, or an x of another C, layout, dtype or
   *   device; the errors of {@link seForward}.
   */
  forward(x: DeviceTensor, options?: SEBlockDeviceForwardOptions): DeviceTensor;
  /** As forward(x, options), with `shape` checked against x.shape. */
  forward(x: DeviceTensor, shape: Shape4, options?: SEBlockDeviceForwardOptions): DeviceTensor;
  /**
   * For an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}): the shape is needed,
   * the options are {@link BlockEitherForwardOptions}, and the result is the kind of x.
   */
  forward<X extends Float32Array | DeviceTensor>(x: HostOrDevice<X>, shape: Shape4, options?: BlockEitherForwardOptions): Float32Array | DeviceTensor;
  /**
   * Runs the block on host activations: x is [N, C, H, W] in the block's layout, N·C·H·W float32
   * elements, C = {@link SEBlock.channels}. It is staged to the GPU and back when
   * host arrays run on CUDA (a block built with device 'cuda' or a deviceIndex, or a call with a
   * stream); under plain 'auto' it runs on the CPU.
   * @returns y: `options.out` when given, else a new Float32Array of N·C·H·W elements.
   * @throws Error with code 'ERR_SQEX_DISPOSED' after dispose(); RangeError (code
   *   'ERR_OUT_OF_RANGE', argument 'shape[1] (C)') for another C; the errors of {@link seForward}.
   */
  forward(x: Float32Array, shape: Shape4, options?: SEBlockForwardOptions): Float32Array;
  forward(x: unknown, a2?: unknown, a3?: unknown): Float32Array | DeviceTensor {
    return coreOf(this, 'SEBlock.forward', 'SEBlock').run('SEBlock.forward', x, a2, a3);
  }

  /** As forward with a DeviceTensor x, resolving once the kernel has finished on the stream. */
  forwardAsync(x: DeviceTensor, options?: SEBlockDeviceForwardOptions): Promise<DeviceTensor>;
  /** As forwardAsync(x, options), with `shape` checked against x.shape. */
  forwardAsync(x: DeviceTensor, shape: Shape4, options?: SEBlockDeviceForwardOptions): Promise<DeviceTensor>;
  /** For an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}); resolves to the kind of x. */
  forwardAsync<X extends Float32Array | DeviceTensor>(x: HostOrDevice<X>, shape: Shape4, options?: BlockEitherForwardOptions): Promise<Float32Array | DeviceTensor>;
  /**
   * As forward, off the event loop (see {@link seForwardAsync}); results bitwise identical.
   * Errors reject the Promise, never throw synchronously; dispose() of the block meanwhile is
   * safe (the weights are freed when the call settles).
   */
  forwardAsync(x: Float32Array, shape: Shape4, options?: SEBlockForwardOptions): Promise<Float32Array>;
  async forwardAsync(x: unknown, a2?: unknown, a3?: unknown): Promise<Float32Array | DeviceTensor> {
    return coreOf(this, 'SEBlock.forwardAsync', 'SEBlock').runAsync('SEBlock.forwardAsync', x, a2, a3);
  }

  /**
   * An SEBlock from one module of a PyTorch state dict (e.g. readSafetensors' result).
   * C and the hidden width come from the tensor shapes; activation and gate default to the
   * module's (options.kind: see {@link ATTENTION_KINDS}) and can be overridden, as can every
   * SEBlockOptions field but channels (refused: RangeError, code 'ERR_OUT_OF_RANGE'). A timm
   * SEModule `bn` is folded into fc1 (eval mode, eps options.bnEps, default 1e-5; the formula is
   * at {@link attentionWeightsFromStateDict}, which lists the tensors each kind needs).
   * A state dict holds no activations: with kind 'torchvision.SqueezeExcitation' and a prefix
   * named as in torchvision's MobileNetV3 (features.N.block.M: gate 'hardsigmoid') or
   * EfficientNet (features.N.M.block.K: activation 'silu'), leaving those options out emits a
   * process warning (code 'SQEX_STATE_DICT_OPTIONS', once per family) naming them; passing them,
   * even with the default value, silences it.
   * @param tensors - readSafetensors' result, or a record or Map of { shape, data } by name.
   * @param prefix - the module's name in the state dict, e.g. 'layer1.0.se' ('' for a module saved alone).
   * @param options - `kind` (required), `bnEps`, `strict` and the block's options.
   * @throws StateDictError (code 'ERR_SQEX_STATE_DICT') naming a missing or mis-shaped tensor and
   *   the shape it must have; TypeError / RangeError (codes 'ERR_INVALID_ARG_TYPE' /
   *   'ERR_OUT_OF_RANGE') for bad arguments; then the constructor's errors.
   */
  static fromStateDict(tensors: StateDict, prefix: string, options: SEFromStateDictOptions): SEBlock {
    const m = seFromStateDict('SEBlock.fromStateDict', tensors, prefix, options, SE_BLOCK_KEYS);
    return new SEBlock(m.weights, m.options);
  }
}

/**
 * An ECA block with a fixed conv kernel (see {@link ecaForward} for the math and its sources).
 * The kernel is validated and copied once; on CUDA it is uploaded once and stays resident until
 * dispose(). Any C works (the kernel does not fix it).
 */
export class ECABlock extends Block {
  /**
   * @param weights - see {@link ECAWeights} (a host Float32Array; copied).
   * @param options - see {@link ECABlockOptions}.
   * @throws as the SEBlock constructor.
   */
  constructor(weights: ECAWeights, options?: ECABlockOptions) {
    super(new BlockCore('ECABlock', ECA_SPEC, ECA_BLOCK_KEYS, ECA_CALL_KEYS, weights, options));
  }

  /** The conv kernel length k (odd). */
  get kernelSize(): number {
    return coreOf(this, 'ECABlock.kernelSize', 'ECABlock').weights.ecaK;
  }
  /**
   * A CUDA block over a DeviceTensor x (its shape read from x), in the block's layout and dtype
   * when those were given and on its device. Without out or scaleOut this is the resident path:
   * the result, a new DeviceTensor like x (yours to dispose), is the only allocation.
   * @throws Error with code 'ERR_SQEX_DISPOSED' after dispose(); RangeError (code
   *   'ERR_OUT_OF_RANGE') for a CPU block, a disposed x, or an x of another layout, dtype or
   *   device; the errors of {@link ecaForward}.
   */
  forward(x: DeviceTensor, options?: ECABlockDeviceForwardOptions): DeviceTensor;
  /** As forward(x, options), with `shape` checked against x.shape. */
  forward(x: DeviceTensor, shape: Shape4, options?: ECABlockDeviceForwardOptions): DeviceTensor;
  /**
   * For an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}): the shape is needed,
   * the options are {@link BlockEitherForwardOptions}, and the result is the kind of x.
   */
  forward<X extends Float32Array | DeviceTensor>(x: HostOrDevice<X>, shape: Shape4, options?: BlockEitherForwardOptions): Float32Array | DeviceTensor;
  /**
   * Runs the block on host activations: x is [N, C, H, W] in the block's layout, N·C·H·W float32
   * elements. It is staged to the GPU and back when
   * host arrays run on CUDA (a block built with device 'cuda' or a deviceIndex, or a call with a
   * stream); under plain 'auto' it runs on the CPU.
   * @returns y: `options.out` when given, else a new Float32Array of N·C·H·W elements.
   * @throws Error with code 'ERR_SQEX_DISPOSED' after dispose(); the errors of {@link ecaForward}.
   */
  forward(x: Float32Array, shape: Shape4, options?: ECABlockForwardOptions): Float32Array;
  forward(x: unknown, a2?: unknown, a3?: unknown): Float32Array | DeviceTensor {
    return coreOf(this, 'ECABlock.forward', 'ECABlock').run('ECABlock.forward', x, a2, a3);
  }

  /** As forward with a DeviceTensor x, resolving once the kernel has finished on the stream. */
  forwardAsync(x: DeviceTensor, options?: ECABlockDeviceForwardOptions): Promise<DeviceTensor>;
  /** As forwardAsync(x, options), with `shape` checked against x.shape. */
  forwardAsync(x: DeviceTensor, shape: Shape4, options?: ECABlockDeviceForwardOptions): Promise<DeviceTensor>;
  /** For an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}); resolves to the kind of x. */
  forwardAsync<X extends Float32Array | DeviceTensor>(x: HostOrDevice<X>, shape: Shape4, options?: BlockEitherForwardOptions): Promise<Float32Array | DeviceTensor>;
  /**
   * As forward, off the event loop (see {@link ecaForwardAsync}); results bitwise identical.
   * Errors reject the Promise; dispose() of the block meanwhile is safe.
   */
  forwardAsync(x: Float32Array, shape: Shape4, options?: ECABlockForwardOptions): Promise<Float32Array>;
  async forwardAsync(x: unknown, a2?: unknown, a3?: unknown): Promise<Float32Array | DeviceTensor> {
    return coreOf(this, 'ECABlock.forwardAsync', 'ECABlock').runAsync('ECABlock.forwardAsync', x, a2, a3);
  }

  /**
   * An ECABlock from a timm EcaModule in a PyTorch state dict: `prefix.conv.weight` [1, 1, k]
   * gives k; gate defaults to 'sigmoid' (overridable, as every ECABlockOptions field). EcaModule
   * has no BatchNorm: `bnEps` is accepted (checked: a finite number ≥ 0) and unused.
   * @param tensors - readSafetensors' result, or a record or Map of { shape, data } by name.
   * @param prefix - the module's name in the state dict, e.g. 'layer1.0.eca'.
   * @param options - `kind: 'timm.EcaModule'`, `strict` and the block's options.
   * @throws StateDictError (code 'ERR_SQEX_STATE_DICT') naming a missing or mis-shaped tensor
   *   (`check` 'unsupported' for EcaModule(use_mlp=True)); TypeError / RangeError (codes
   *   'ERR_INVALID_ARG_TYPE' / 'ERR_OUT_OF_RANGE') for bad arguments; then the constructor's errors.
   */
  static fromStateDict(tensors: StateDict, prefix: string, options: ECAFromStateDictOptions): ECABlock {
    const m = ecaFromStateDict('ECABlock.fromStateDict', tensors, prefix, options, ECA_BLOCK_KEYS);
    return new ECABlock(m.weights, m.options);
  }
}

/**
 * A CBAM block with fixed weights (see {@link cbamForward} for the math and its sources). The
 * weights are validated and copied once; on CUDA they are uploaded once and stay resident until
 * dispose().
 */
export class CBAMBlock extends Block {
  /**
   * @param weights - see {@link CBAMWeights} (host Float32Arrays; copied).
   * @param options - see {@link CBAMBlockOptions}.
   * @throws as the SEBlock constructor.
   */
  constructor(weights: CBAMWeights, options?: CBAMBlockOptions) {
    super(new BlockCore('CBAMBlock', CBAM_SPEC, CBAM_BLOCK_KEYS, CBAM_CALL_KEYS, weights, options));
  }

  /** Channels C the weights fix: x must have C channels. */
  get channels(): number {
    return coreOf(this, 'CBAMBlock.channels', 'CBAMBlock').weights.c;
  }
  /** The channel MLP's hidden width rd (w1 is [rd, C]). */
  get hidden(): number {
    return coreOf(this, 'CBAMBlock.hidden', 'CBAMBlock').weights.hidden;
  }
  /** The channel MLP's activation. */
  get activation(): Activation {
    return coreOf(this, 'CBAMBlock.activation', 'CBAMBlock').settings.act;
  }
  /** The spatial conv's kernel size k (odd; spatialWeight is [1, 2, k, k]). */
  get kernelSize(): number {
    return coreOf(this, 'CBAMBlock.kernelSize', 'CBAMBlock').weights.spatialK;
  }
  /**
   * A CUDA block over a DeviceTensor x of C channels (its shape read from x), in the block's
   * layout and dtype when those were given and on its device. Without out this is the resident
   * path: the result, a new DeviceTensor like x (yours to dispose), is the only allocation.
   * @throws Error with code 'ERR_SQEX_DISPOSED' after dispose(); RangeError (code
   *   'ERR_OUT_OF_RANGE') for a CPU block, a disposed x, or an x of another C, layout, dtype or
   *   device; the errors of {@link cbamForward}.
   */
  forward(x: DeviceTensor, options?: CBAMBlockDeviceForwardOptions): DeviceTensor;
  /** As forward(x, options), with `shape` checked against x.shape. */
  forward(x: DeviceTensor, shape: Shape4, options?: CBAMBlockDeviceForwardOptions): DeviceTensor;
  /**
   * For an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}): the shape is needed,
   * the options are {@link BlockEitherForwardOptions}, and the result is the kind of x.
   */
  forward<X extends Float32Array | DeviceTensor>(x: HostOrDevice<X>, shape: Shape4, options?: BlockEitherForwardOptions): Float32Array | DeviceTensor;
  /**
   * Runs the block on host activations: x is [N, C, H, W] in the block's layout, N·C·H·W float32
   * elements, C = {@link CBAMBlock.channels}. It is staged to the GPU and back when
   * host arrays run on CUDA (a block built with device 'cuda' or a deviceIndex, or a call with a
   * stream); under plain 'auto' it runs on the CPU.
   * @returns y: `options.out` when given, else a new Float32Array of N·C·H·W elements.
   * @throws Error with code 'ERR_SQEX_DISPOSED' after dispose(); RangeError (code
   *   'ERR_OUT_OF_RANGE', argument 'shape[1] (C)') for another C; the errors of {@link cbamForward}.
   */
  forward(x: Float32Array, shape: Shape4, options?: CBAMBlockForwardOptions): Float32Array;
  forward(x: unknown, a2?: unknown, a3?: unknown): Float32Array | DeviceTensor {
    return coreOf(this, 'CBAMBlock.forward', 'CBAMBlock').run('CBAMBlock.forward', x, a2, a3);
  }

  /** As forward with a DeviceTensor x, resolving once the kernel has finished on the stream. */
  forwardAsync(x: DeviceTensor, options?: CBAMBlockDeviceForwardOptions): Promise<DeviceTensor>;
  /** As forwardAsync(x, options), with `shape` checked against x.shape. */
  forwardAsync(x: DeviceTensor, shape: Shape4, options?: CBAMBlockDeviceForwardOptions): Promise<DeviceTensor>;
  /** For an x typed `Float32Array | DeviceTensor` (see {@link HostOrDevice}); resolves to the kind of x. */
  forwardAsync<X extends Float32Array | DeviceTensor>(x: HostOrDevice<X>, shape: Shape4, options?: BlockEitherForwardOptions): Promise<Float32Array | DeviceTensor>;
  /**
   * As forward, off the event loop (see {@link cbamForwardAsync}); results bitwise identical.
   * Errors reject the Promise; dispose() of the block meanwhile is safe.
   */
  forwardAsync(x: Float32Array, shape: Shape4, options?: CBAMBlockForwardOptions): Promise<Float32Array>;
  async forwardAsync(x: unknown, a2?: unknown, a3?: unknown): Promise<Float32Array | DeviceTensor> {
    return coreOf(this, 'CBAMBlock.forwardAsync', 'CBAMBlock').runAsync('CBAMBlock.forwardAsync', x, a2, a3);
  }

  /**
   * A CBAMBlock from a timm CbamModule in a PyTorch state dict: C, the hidden width and the
   * spatial k come from the shapes; the spatial ConvNormAct's BatchNorm is folded into the conv
   * (eval mode, eps options.bnEps, default 1e-5; formula at {@link CBAMWeights}); activation
   * 'relu' and gate 'sigmoid' by default, overridable as every CBAMBlockOptions field but
   * channels (refused: RangeError, code 'ERR_OUT_OF_RANGE').
   * @param tensors - readSafetensors' result, or a record or Map of { shape, data } by name.
   * @param prefix - the module's name in the state dict, e.g. 'layer1.0.cbam'.
   * @param options - `kind: 'timm.CbamModule'`, `bnEps`, `strict` and the block's options.
   * @throws StateDictError (code 'ERR_SQEX_STATE_DICT') naming a missing or mis-shaped tensor
   *   (`check` 'unsupported' for LightCbamModule); TypeError / RangeError (codes
   *   'ERR_INVALID_ARG_TYPE' / 'ERR_OUT_OF_RANGE') for bad arguments; then the constructor's errors.
   */
  static fromStateDict(tensors: StateDict, prefix: string, options: CBAMFromStateDictOptions): CBAMBlock {
    const m = cbamFromStateDict('CBAMBlock.fromStateDict', tensors, prefix, options, CBAM_BLOCK_KEYS);
    return new CBAMBlock(m.weights, m.options);
  }
}
