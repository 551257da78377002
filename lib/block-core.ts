// What the three block classes share (lib/blocks.ts): the options and weights checked once, the
// weights uploaded once when the block uses CUDA, and per call only x and the optional tensors
// checked, into a preallocated configuration and pointer array.

import { CFG, DEV, type NativeBinding } from './backend/contract.js';
import { parseEnum, parseObject, parseShape, parseStream } from './args.js';
import { attemptLoad, binding, hostArraysUseCuda, useCuda } from './cuda.js';
import { DeviceTensor, allocDeviceTensor, isDeviceTensor, rawPtr, tensorDisposed, whileHeld } from './device-tensor.js';
import { codedError, rangeError, rangeErrorText } from './arg-errors.js';
import { formatShape } from './describe.js';
import { isArrayValue } from './is.js';
import { lengthOf } from './typed-arrays.js';
import { resolveOperands } from './ops/operands.js';
import { type PreparedCall, cudaRefusal, deviceResultWhenDone, fillCfg, runAsync, runSync } from './ops/run.js';
import { awaitable } from './awaitable.js';
import { DTYPES, type HostWeightSet, type OpSpec, type Settings, parseOffload, parseSettings } from './ops/spec.js';
import { copyWeights, positiveInt } from './ops/weights.js';
import { BigIntCtor, BigUint64ArrayCtor, Float64ArrayCtor, ObjectCreate, ObjectFreeze, joinList, listAppend } from './primordials.js';
import type { DType, Shape4 } from './types.js';

/** Shared machinery of the three block classes (lib/blocks.ts): options, weights, per-call checks and runs. */
export class BlockCore {
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
  readonly cfg: Float64Array = new Float64ArrayCtor(CFG.length);
  /** Weight slots hold the resident weights; activation slots are rewritten per call. */
  readonly dev: BigUint64Array = new BigUint64ArrayCtor(DEV.length);
  resident: DeviceTensor[] = [];
  disposed = false;

  constructor(
    name: string,
    spec: OpSpec,
    ctorKeys: readonly string[],
    callKeys: readonly string[],
    weights: unknown,
    options: unknown,
    /** The function the caller called, for messages: `new ${name}` unless fromStateDict made it. */
    fn: string = `new ${name}`,
  ) {
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
        this.dev[slots[i]! + 1] = BigIntCtor(t.byteLength);
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

  /**
   * Holds the resident weights (and `more`) until what `start` returns settles: dispose()
   * meanwhile only marks them. `start` runs at once and makes the addon's call before any promise
   * is made (whileHeld says why: this block's cfg and dev are filled for this call until then).
   */
  private holding<T>(more: readonly DeviceTensor[], start: () => T | Promise<T>): Promise<T> {
    const held: DeviceTensor[] = [];
    for (let i = 0; i < this.resident.length; i++) listAppend(held, this.resident[i]!);
    for (let i = 0; i < more.length; i++) listAppend(held, more[i]!);
    return whileHeld(held, start);
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
      throw cudaRefusal(fn, err, true);
    }
    return result;
  }

  async runAsync(fn: string, x: unknown, a2: unknown, a3: unknown): Promise<Float32Array | DeviceTensor> {
    const c = this.parseCall(fn, x, a2, a3);
    // The kernel reads the resident weights until the call settles: a dispose() of the block
    // meanwhile must not free them (an attack found it did).
    if (!c.resident) {
      const prepared = this.prepare(fn, x, c);
      return await awaitable(this.cuda ? this.holding([], () => runAsync(prepared)) : runAsync(prepared));
    }
    const xd = x as DeviceTensor;
    const { native, result } = this.startResident(fn, xd);
    if (result.byteLength === 0) return result;
    // dispose() of the result on failure only marks it: its memory is freed once nothing holds it.
    return await awaitable(this.holding([xd, result], () => {
      let pending: Promise<void>;
      try {
        pending = native.cudaForwardDeviceAsync(this.cfg, this.dev, null, c.stream);
      } catch (err) {
        result.dispose();
        throw cudaRefusal(fn, err, true);
      }
      return deviceResultWhenDone(fn, pending, result, null);
    }));
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
    dev[DEV.x + 1] = BigIntCtor(x.byteLength);
    dev[DEV.residual] = 0n;
    dev[DEV.residual + 1] = 0n;
    dev[DEV.out] = rawPtr(result);
    dev[DEV.out + 1] = BigIntCtor(result.byteLength);
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
export interface BlockCall {
  readonly shape: Shape4 | undefined;
  readonly opts: Readonly<Record<string, unknown>>;
  readonly stream: bigint;
  readonly offloadAlways: boolean;
  readonly resident: boolean;
}

/** What the block computes and where: e.g. "SEBlock (C 64, hidden 16, relu/sigmoid, cpu)". */
export function describeBlock(core: BlockCore): string {
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

