/// <reference lib="esnext.disposable" preserve="true" />
// GPU-resident activations. A DeviceTensor either owns its memory (from, empty, op results),
// freed by dispose() or, if forgotten, by a FinalizationRegistry; or wraps memory it does not
// own (fromPointer), which dispose() only detaches from.

import type { NativeBinding } from './backend/contract.js';
import { numelOf, parseEnum, parseIndex, parseObject, parseShape, parseStreamHandle } from './args.js';
import { attemptLoad, binding, requireCuda } from './cuda.js';
import { float16BitsToFloat32, bfloat16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from './half.js';
import { allocateArray } from './alloc.js';
import { codedError, rangeError, typeError } from './arg-errors.js';
import { describeHook, formatShape, registerOwnClass } from './describe.js';
import { fixedLengthView, isFloat32Array, isUint16Array, isUnusableView, lengthOf, MAX_U64, USABLE_VIEW } from './typed-arrays.js';
import {
  BigIntCtor,
  FinalizationRegistryPrototypeRegister,
  FinalizationRegistryPrototypeUnregister,
  Float32ArrayCtor,
  NumberIsSafeInteger,
  ObjectFreeze,
  Uint16ArrayCtor,
  listAppend,
} from './primordials.js';
import type { DType, Layout, Shape4 } from './types.js';
import { awaitable } from './awaitable.js';

/**
 * Options of DeviceTensor.from and DeviceTensor.empty (an unknown key is a TypeError, code
 * 'ERR_INVALID_ARG_TYPE'; a bad value a TypeError or RangeError, code 'ERR_OUT_OF_RANGE').
 */
export interface DeviceTensorOptions {
  /** Default 'NCHW'. `data` is taken to be in this layout already (nothing is transposed). */
  layout?: Layout | undefined;
  /** Storage type; default 'float32' (for Uint16Array data, 'float16' or 'bfloat16' must be given). See {@link DType}. */
  dtype?: DType | undefined;
  /**
   * The CUDA device ordinal, an integer from 0 to `cuda.status().deviceCount` − 1; default 0. A
   * DeviceTensor is always on a GPU, so this is the number the op options call `deviceIndex`
   * (their `device` chooses 'auto' | 'cpu' | 'cuda'). A non-number is a TypeError (code
   * 'ERR_INVALID_ARG_TYPE'), an index past the device count a RangeError (code 'ERR_OUT_OF_RANGE').
   */
  device?: number | undefined;
}

/** Options of DeviceTensor.from with Uint16Array data (raw half bit patterns): the dtype they hold. */
export interface DeviceTensorHalfOptions extends DeviceTensorOptions {
  /** 'float16' (IEEE binary16) or 'bfloat16' bits: required (float32 is refused, RangeError, code 'ERR_OUT_OF_RANGE'). */
  dtype: 'float16' | 'bfloat16';
}

/** Options of DeviceTensor.fromPointer (layout, dtype and device describe the memory at `ptr`). */
export interface DevicePointerOptions extends DeviceTensorOptions {
  /**
   * Size of the memory at `ptr` in bytes, checked to hold the tensor: an integer from N·C·H·W ·
   * bytes per element to 2^53 − 1 (Number.isSafeInteger), else RangeError (code
   * 'ERR_OUT_OF_RANGE'); a non-number is a TypeError (code 'ERR_INVALID_ARG_TYPE'). Default:
   * exactly the tensor's bytes.
   */
  byteLength?: number | undefined;
}

/** Options of the copy methods: toHost, toHostSync, toFloat32 and copyFrom. */
export interface DownloadOptions {
  /**
   * cudaStream_t to copy on (a live stream of this process: CUDA cannot check a handle), a bigint in [0n, 2n ** 64n) (default 0n, the legacy default stream,
   * which waits for blocking streams). The copy is enqueued on the calling thread, so any handle
   * means what the caller means, cudaStreamPerThread (2n) included.
   */
  stream?: bigint | undefined;
}

/** The layouts, for option checks (not re-exported by the package). */
export const LAYOUTS: readonly Layout[] = ['NCHW', 'NHWC'];
/** The dtypes, for option checks (not re-exported by the package). */
export const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];
const FROM_KEYS = ['layout', 'dtype', 'device'] as const;
const POINTER_KEYS = ['layout', 'dtype', 'device', 'byteLength'] as const;
// The op options' name for the ordinal, refused with the name these options use.
const ORDINAL_NAMED_DEVICE = Object.freeze({ deviceIndex: "a DeviceTensor's options name the CUDA device ordinal `device`, e.g. { device: 0 }" });
const DOWNLOAD_KEYS = ['stream'] as const;

/** @internal */
export function dtypeBytes(dtype: DType): number {
  return dtype === 'float32' ? 4 : 2;
}

// Symbol.dispose is missing on early Node 20 releases; Node uses this registered symbol there.
const disposeSymbol: typeof Symbol.dispose = (Symbol.dispose ?? Symbol.for('nodejs.dispose')) as typeof Symbol.dispose;

/**
 * The device memory of one owned tensor, until it is freed: once its tensor is done with it
 * (disposed with nothing in flight, or collected) and no view of it (fromPointer over it) is live.
 * Plain records, not WeakRefs to the tensors: a WeakRef keeps its target alive until the job that
 * made or read it ends, so tensors dropped in a synchronous loop could not be collected in it.
 */
interface Allocation {
  readonly device: number;
  readonly ptr: bigint;
  /** ptr + its bytes. */
  readonly end: bigint;
  /** Live views over it. */
  views: number;
  /** Its tensor is disposed (nothing in flight) or collected. */
  ownerDone: boolean;
}

// This thread's allocations not yet freed, sorted by address (they never overlap, and a device
// address is unique within a process: CUDA's unified addressing), for fromPointer's lookup.
const byAddress: Allocation[] = [];

/** The first index whose allocation starts at or above `x` (byAddress.length if none). */
function firstAtOrAbove(x: bigint): number {
  let lo = 0;
  let hi = byAddress.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (byAddress[mid]!.ptr < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Element writes below go to indices the array already has (listAppend makes the one new index):
// an inherited setter a caller put on Array.prototype is never asked.
function insertAllocation(a: Allocation): void {
  const at = firstAtOrAbove(a.ptr);
  const n = byAddress.length;
  if (at === n) {
    listAppend(byAddress, a); // addresses mostly grow: the usual case
    return;
  }
  listAppend(byAddress, byAddress[n - 1]!);
  for (let j = n - 1; j > at; j--) byAddress[j] = byAddress[j - 1]!;
  byAddress[at] = a;
}

/** Removes `a`; false when it is not there (freed already). */
function removeAllocation(a: Allocation): boolean {
  const at = firstAtOrAbove(a.ptr);
  if (at === byAddress.length || byAddress[at] !== a) return false;
  for (let j = at; j < byAddress.length - 1; j++) byAddress[j] = byAddress[j + 1]!;
  byAddress.length -= 1;
  return true;
}

/** Frees `a` if its tensor is done and no view is live; cudaFree's error is thrown. */
function freeIfUnused(a: Allocation): void {
  if (!a.ownerDone || a.views > 0) return;
  // Forgotten before the free: until then no other allocation can have this address.
  if (!removeAllocation(a)) return;
  binding().cudaFree(a.device, a.ptr);
}

/** A view lets go of the allocations it held; the first cudaFree error is thrown after all. */
function releaseViews(held: readonly Allocation[]): void {
  let failure: unknown = null;
  for (let i = 0; i < held.length; i++) {
    const a = held[i]!;
    a.views -= 1;
    try {
      freeIfUnused(a);
    } catch (err) {
      if (failure === null) failure = err;
    }
  }
  if (failure !== null) throw failure;
}

// Frees the memory of tensors collected without dispose() (once no view of it is live), and lets
// go of what collected views held. Never throw (they run on their own): the context may be gone at
// exit, and nothing useful can be done with an error here.
const registry = new FinalizationRegistry<Allocation>((a) => {
  a.ownerDone = true;
  try {
    freeIfUnused(a);
  } catch {
    // see above
  }
});
const viewRegistry = new FinalizationRegistry<readonly Allocation[]>((held) => {
  try {
    releaseViews(held);
  } catch {
    // see above
  }
});

let holdAllocations: (view: DeviceTensor, held: readonly Allocation[]) => void;

/**
 * The allocations of this thread that [ptr, ptr + bytes) overlaps: the memory a view made by
 * fromPointer reads and writes (a binary search, then back while they overlap).
 */
function allocationsUnder(ptr: bigint, bytes: number): Allocation[] {
  const found: Allocation[] = [];
  if (bytes === 0) return found;
  const end = ptr + BigIntCtor(bytes);
  for (let i = firstAtOrAbove(end) - 1; i >= 0 && byAddress[i]!.end > ptr; i--) listAppend(found, byAddress[i]!);
  return found;
}

let createTensor: (
  ptr: bigint,
  shape: Shape4,
  layout: Layout,
  dtype: DType,
  device: number,
  owned: boolean,
) => DeviceTensor;
/** @internal Device address without the liveness check (for callers that checked it). */
export let rawPtr: (t: DeviceTensor) => bigint;
/**
 * @internal Whether dispose() was called, read from the private field: the public `disposed`
 * getter lives on the prototype, where a caller can replace it with code that runs in the middle
 * of a check (an attack disposed a block's weights from it, 2026-11-30).
 */
export let tensorDisposed: (t: DeviceTensor) => boolean;
/** @internal Marks memory as used by an async download or op in flight: dispose() defers the free. */
export let retainTensor: (t: DeviceTensor) => void;
/** @internal */
export let releaseTensor: (t: DeviceTensor) => void;
/**
 * @internal Retains every tensor of `held` (a dispose() meanwhile only marks it), runs `start` at
 * once, in the caller's turn, and releases them when what it returns settles, whichever way (at
 * once when it throws). Nothing here makes a promise before `start` has run: making one runs the
 * caller's promise hooks (async_hooks, v8.promiseHooks), which could dispose a tensor or re-enter
 * a block whose cfg and pointer arrays the call has filled, before the addon has read them (an
 * attack: kernels on freed memory, and a call run with another call's shape). `start` makes the
 * addon's call before it makes any promise of its own.
 */
export function whileHeld<T>(held: readonly DeviceTensor[], start: () => T | Promise<T>): Promise<T> {
  for (let i = 0; i < held.length; i++) retainTensor(held[i]!);
  let pending: T | Promise<T>;
  try {
    pending = start();
  } catch (err) {
    for (let i = 0; i < held.length; i++) releaseTensor(held[i]!);
    throw err;
  }
  return releasedWhenSettled(held, pending);
}

async function releasedWhenSettled<T>(held: readonly DeviceTensor[], pending: T | Promise<T>): Promise<T> {
  try {
    return await awaitable(pending);
  } finally {
    for (let i = 0; i < held.length; i++) releaseTensor(held[i]!);
  }
}
/**
 * @internal Whether `value` is a DeviceTensor this module made: a brand check on the private field, which
 * `Object.create(DeviceTensor.prototype)` or a Proxy cannot fake (unlike instanceof).
 */
export let isDeviceTensor: (value: unknown) => value is DeviceTensor;

// Only the module's factories may construct: `new DeviceTensor()` from outside is refused by name.
const constructToken = Symbol('DeviceTensor.construct');
const REAL = 'a DeviceTensor made by DeviceTensor.from, DeviceTensor.empty, DeviceTensor.fromPointer or an op';

/**
 * A tensor in CUDA device memory, with its logical shape [N, C, H, W], layout and dtype.
 * Create one with DeviceTensor.from, DeviceTensor.empty or DeviceTensor.fromPointer; the
 * ops return DeviceTensors when given one. Free it with dispose() (or `using`); a forgotten one
 * is freed by a FinalizationRegistry after V8 collects it, once the event loop turns (its device
 * bytes count as V8 external memory, which prompts collections), and once no view of it made on
 * this thread (fromPointer) is live. The instance is frozen.
 * `new DeviceTensor()` is an Error with code 'ERR_ILLEGAL_CONSTRUCTOR'; a method called on
 * anything but a real DeviceTensor a TypeError (code 'ERR_INVALID_ARG_TYPE'), but toString(),
 * which says what it was called on.
 */
export class DeviceTensor {
  /** Logical [N, C, H, W], whatever the layout (frozen). */
  readonly shape: Shape4;
  /** Storage type of the elements. See {@link DType}. */
  readonly dtype: DType;
  /** Memory layout of the elements. See {@link Layout}. */
  readonly layout: Layout;
  /** The CUDA device ordinal the memory is on (the op options' `deviceIndex`). */
  readonly device: number;
  /** Bytes of the tensor: N·C·H·W · (4 for float32, 2 for halves). */
  readonly byteLength: number;
  /**
   * Whether dispose() frees the memory (false for fromPointer); a view of it made on this thread
   * that is still live defers the free until the view is done too.
   */
  readonly owned: boolean;
  #ptr: bigint;
  #disposed = false;
  #pending = 0; // async downloads and ops in flight that read or write this memory
  // An owned tensor's memory (null when it has none, or once it is done with it).
  #allocation: Allocation | null = null;
  // A view's (fromPointer): the allocations of owned tensors it overlaps, kept from being freed
  // until the view is disposed (with nothing in flight) or collected. Empty otherwise.
  #held: readonly Allocation[] = [];

  private constructor(
    token: typeof constructToken,
    ptr: bigint,
    shape: Shape4,
    layout: Layout,
    dtype: DType,
    device: number,
    owned: boolean,
  ) {
    if (token !== constructToken) {
      throw codedError(
        'new DeviceTensor(): the constructor is not public; use DeviceTensor.from(data, shape), DeviceTensor.empty(shape) or DeviceTensor.fromPointer(ptr, shape)',
        'ERR_ILLEGAL_CONSTRUCTOR',
      );
    }
    this.#ptr = ptr;
    this.shape = shape;
    this.layout = layout;
    this.dtype = dtype;
    this.device = device;
    this.byteLength = numelOf(shape) * dtypeBytes(dtype);
    this.owned = owned;
    // An empty tensor (N = 0) owns no memory: ptr 0n, nothing to free.
    if (owned && ptr !== 0n) {
      const a: Allocation = { device, ptr, end: ptr + BigIntCtor(this.byteLength), views: 0, ownerDone: false };
      insertAllocation(a);
      this.#allocation = a;
      FinalizationRegistryPrototypeRegister(registry, this, a, this);
    }
    // readonly binds TypeScript only: frozen, a caller cannot enlarge shape/byteLength (the native
    // re-check trusts them: a kernel would run past the allocation), retag dtype/device, or set
    // owned to free memory it does not own. The private fields stay writable to this class.
    ObjectFreeze(this);
  }

  // Module-private access for the ops (results, pointers, in-flight counts) without widening
  // the public surface.
  static {
    createTensor = (ptr, shape, layout, dtype, device, owned) =>
      new DeviceTensor(constructToken, ptr, shape, layout, dtype, device, owned);
    holdAllocations = (view, held) => {
      if (held.length === 0) return;
      for (let i = 0; i < held.length; i++) held[i]!.views += 1;
      view.#held = held;
      FinalizationRegistryPrototypeRegister(viewRegistry, view, held, view);
    };
    isDeviceTensor = (value: unknown): value is DeviceTensor =>
      typeof value === 'object' && value !== null && #ptr in value;
    rawPtr = (t) => t.#ptr;
    tensorDisposed = (t) => t.#disposed;
    retainTensor = (t) => {
      t.#pending += 1;
    };
    releaseTensor = (t) => {
      t.#pending -= 1;
      if (t.#pending === 0 && t.#disposed) {
        try {
          t.#free();
        } catch {
          // Freed after an async op settled: there is no caller left to report to.
        }
      }
    };
  }

  /**
   * From raw half bits: a Uint16Array of N·C·H·W float16 or bfloat16 bit patterns, stored as
   * they are; `options.dtype` says which, and is required (dtype 'float32' with a Uint16Array is
   * a RangeError, code 'ERR_OUT_OF_RANGE'). Otherwise as the Float32Array form.
   */
  static from(data: Uint16Array, shape: Shape4, options: DeviceTensorHalfOptions): DeviceTensor;
  /**
   * For data typed `Float32Array | Uint16Array` (either, not known which until run time): the
   * rule that a Uint16Array needs dtype 'float16' or 'bfloat16' is then checked at run time
   * (RangeError, code 'ERR_OUT_OF_RANGE', argument 'options.dtype').
   */
  static from<D extends Float32Array | Uint16Array>(
    data: [D] extends [Float32Array] ? never : [D] extends [Uint16Array] ? never : D,
    shape: Shape4,
    options?: DeviceTensorOptions,
  ): DeviceTensor;
  /**
   * Copies host data to a new tensor on the device (a synchronous copy on the legacy default
   * stream). A Float32Array of N·C·H·W elements, in `options.layout`, is stored as
   * `options.dtype` (converted on the host, round to nearest even, for float16/bfloat16).
   *
   * @returns a new owned DeviceTensor (yours to dispose).
   * @throws TypeError (code 'ERR_INVALID_ARG_TYPE') for data of another kind or detached, or a bad
   *   option; RangeError (code 'ERR_OUT_OF_RANGE') for a wrong length, a bad shape, dtype
   *   'float32' with Uint16Array data, or a device index past the device count; Error with code
   *   'ERR_SQEX_CUDA_UNAVAILABLE' without a usable GPU; Error with code 'ERR_SQEX_CUDA' when the
   *   allocation or copy fails (`cudaErrorName` 'cudaErrorMemoryAllocation' when the GPU is full);
   *   Error with code 'ERR_SQEX_OUT_OF_MEMORY' when the host conversion cannot be allocated.
   */
  static from(data: Float32Array, shape: Shape4, options?: DeviceTensorOptions): DeviceTensor;
  static from(data: Float32Array | Uint16Array, shape: Shape4, options?: DeviceTensorOptions): DeviceTensor {
    const fn = 'DeviceTensor.from';
    attemptLoad(); // before any argument is read (lib/cuda.ts)
    const opts = parseObject(fn, 'options', options, FROM_KEYS, true, ORDINAL_NAMED_DEVICE);
    const isF32 = isFloat32Array(data);
    if (!isF32 && !isUint16Array(data)) {
      throw typeError(fn, 'data', 'a Float32Array, or a Uint16Array of raw float16/bfloat16 bits', data);
    }
    // After the shape: its getters may detach data, which should then read as detached, not as
    // a length of 0.
    const shp = parseShape(fn, 'shape', shape);
    if (isUnusableView(data)) {
      throw typeError(fn, 'data', `a ${isF32 ? 'Float32Array' : 'Uint16Array'} ${USABLE_VIEW}`, data);
    }
    const layout = parseEnum(fn, 'options.layout', opts.layout, LAYOUTS, 'NCHW');
    const dtype = parseEnum(fn, 'options.dtype', opts.dtype, DTYPES, 'float32');
    const device = parseDeviceOrdinal(fn, opts.device);
    if (!isF32 && dtype === 'float32') {
      throw rangeError(fn, 'options.dtype', "'float16' or 'bfloat16' when data is a Uint16Array of raw half bits", opts.dtype);
    }
    const numel = numelOf(shp);
    if (lengthOf(data) !== numel) {
      throw rangeError(fn, 'data', `a ${isF32 ? 'Float32Array' : 'Uint16Array'} of length ${numel} (N × C × H × W of ${formatShape(shp)})`, data);
    }
    // The checked length, whatever its buffer does from here (a growable SharedArrayBuffer grown
    // by another thread, or code run by the CUDA query below).
    const view = fixedLengthView(data, numel);
    const native = requireCuda(fn, 'a DeviceTensor');
    checkDeviceIndex(fn, native, device);
    const src = storageBits(view, dtype);
    const t = allocDeviceTensor(native, shp, layout, dtype, device);
    if (numel === 0) return t;
    try {
      native.cudaUpload(device, t.#ptr, src, 0n);
    } catch (err) {
      t.dispose();
      throw err;
    }
    return t;
  }

  /**
   * A new owned tensor of `shape` with uninitialised contents (N·C·H·W · 4 or 2 bytes), e.g. an
   * `out` for the ops.
   * @throws TypeError / RangeError (codes 'ERR_INVALID_ARG_TYPE' / 'ERR_OUT_OF_RANGE') for a bad
   *   shape or option, or a device index past the device count; Error with code
   *   'ERR_SQEX_CUDA_UNAVAILABLE' without a usable GPU; Error with code 'ERR_SQEX_CUDA' when the
   *   allocation fails.
   */
  static empty(shape: Shape4, options?: DeviceTensorOptions): DeviceTensor {
    const fn = 'DeviceTensor.empty';
    attemptLoad(); // before any argument is read (lib/cuda.ts)
    const opts = parseObject(fn, 'options', options, FROM_KEYS, true, ORDINAL_NAMED_DEVICE);
    const shp = parseShape(fn, 'shape', shape);
    const layout = parseEnum(fn, 'options.layout', opts.layout, LAYOUTS, 'NCHW');
    const dtype = parseEnum(fn, 'options.dtype', opts.dtype, DTYPES, 'float32');
    const device = parseDeviceOrdinal(fn, opts.device);
    const native = requireCuda(fn, 'a DeviceTensor');
    checkDeviceIndex(fn, native, device);
    return allocDeviceTensor(native, shp, layout, dtype, device);
  }

  /**
   * Wraps device memory this library does not own (e.g. from another CUDA library), or a view of
   * a DeviceTensor's (its `ptr`, or an address inside it: one sample of a batch). dispose() only
   * detaches; the memory stays its owner's to free, and must outlive every use. A view of this
   * thread's own DeviceTensors keeps their memory: it is freed once the tensor and every view of
   * it are done with it (disposed with nothing in flight, or collected). No CUDA call is made here, so the
   * pointer is not checked beyond being non-zero (or 0n for an empty shape). Checked in this
   * order: the option keys, ptr's type, the shape, ptr's range, then the option values.
   *
   * @param ptr - the device address, a bigint in (0n, 2n ** 64n); 0n is accepted for an empty
   *   tensor (N = 0), as an empty torch tensor's data_ptr().
   * @param shape - logical [N, C, H, W] of the memory, in `options.layout` and `options.dtype`.
   * @throws TypeError (code 'ERR_INVALID_ARG_TYPE') for a non-bigint ptr or a bad option kind;
   *   RangeError (code 'ERR_OUT_OF_RANGE') for ptr 0n (with N ≥ 1) or ≥ 2^64, a bad shape, a
   *   byteLength below the tensor's bytes, or a device index past the device count; Error with code
   *   'ERR_SQEX_CUDA_UNAVAILABLE' without a usable GPU.
   */
  static fromPointer(ptr: bigint, shape: Shape4, options?: DevicePointerOptions): DeviceTensor {
    const fn = 'DeviceTensor.fromPointer';
    attemptLoad(); // before any argument is read (lib/cuda.ts)
    const opts = parseObject(fn, 'options', options, POINTER_KEYS, true, ORDINAL_NAMED_DEVICE);
    if (typeof ptr !== 'bigint') throw typeError(fn, 'ptr', 'a bigint device address', ptr);
    const shp = parseShape(fn, 'shape', shape);
    // 0n only for an empty tensor (N = 0): an empty torch tensor's data_ptr() is 0.
    if (ptr < 0n || ptr > MAX_U64 || (ptr === 0n && shp[0] !== 0)) {
      throw rangeError(fn, 'ptr', 'a non-zero bigint device address below 2n ** 64n (0n only with N = 0)', ptr);
    }
    const layout = parseEnum(fn, 'options.layout', opts.layout, LAYOUTS, 'NCHW');
    const dtype = parseEnum(fn, 'options.dtype', opts.dtype, DTYPES, 'float32');
    const device = parseDeviceOrdinal(fn, opts.device);
    const needed = numelOf(shp) * dtypeBytes(dtype);
    if (opts.byteLength !== undefined) {
      const bl = opts.byteLength;
      if (typeof bl !== 'number') throw typeError(fn, 'options.byteLength', 'a number of bytes', bl);
      if (!NumberIsSafeInteger(bl) || bl < needed) {
        throw rangeError(fn, 'options.byteLength', `an integer from ${needed} (the bytes of ${formatShape(shp)} ${dtype}) to 2^53 − 1`, bl);
      }
    }
    // Nothing could use the tensor without CUDA: refuse now, with the reason, not at first use;
    // and a device index past the device count now, by name (an attack's { device: 70000 }
    // reached the addon's own range check at each later use).
    checkDeviceIndex(fn, requireCuda(fn, 'a DeviceTensor'), device);
    // The tensors of this thread whose memory the view reads and writes: the bytes of its shape
    // (what every use of it touches), not options.byteLength, which may claim more.
    const held = allocationsUnder(ptr, needed);
    for (let i = 0; i < held.length; i++) {
      if (held[i]!.device !== device) {
        throw rangeError(fn, 'options.device', `${held[i]!.device}: ptr is in the memory of a DeviceTensor on device ${held[i]!.device}`, device);
      }
    }
    const view = createTensor(ptr, shp, layout, dtype, device, false);
    holdAllocations(view, held);
    return view;
  }

  /**
   * Device address (a bigint); throws an Error with code 'ERR_SQEX_DISPOSED' once disposed. An
   * empty tensor (N = 0) made by from, empty or an op holds no memory and has ptr 0n; one from
   * fromPointer keeps the address it was given.
   */
  get ptr(): bigint {
    brand(this, 'DeviceTensor.ptr');
    this.#assertLive('DeviceTensor.ptr');
    return this.#ptr;
  }

  /** True once dispose() has been called. */
  get disposed(): boolean {
    brand(this, 'DeviceTensor.disposed');
    return this.#disposed;
  }

  /**
   * Copies to the host what the tensor holds at this point of `stream`: float32 → Float32Array,
   * halves → Uint16Array of raw bits. The copy is enqueued now (a device-side snapshot), so work
   * enqueued afterwards, such as an op writing this tensor, cannot change what it returns; the
   * wait and the host copy run off the event loop.
   *
   * @returns a new Float32Array (float32) or Uint16Array (float16/bfloat16 bits) of N·C·H·W
   *   elements, in the tensor's layout.
   * @throws (the Promise rejects; nothing throws synchronously) Error with code
   *   'ERR_SQEX_DISPOSED' for a disposed tensor; TypeError / RangeError (codes
   *   'ERR_INVALID_ARG_TYPE' / 'ERR_OUT_OF_RANGE') for bad options; Error with code
   *   'ERR_SQEX_CUDA' for a CUDA failure; Error with code 'ERR_SQEX_OUT_OF_MEMORY' (`bytes`) when
   *   the host copy cannot be allocated.
   */
  async toHost(options?: DownloadOptions): Promise<Float32Array | Uint16Array> {
    const fn = 'DeviceTensor.toHost';
    brand(this, fn);
    return await awaitable(this.#download(fn, options)); // lib/awaitable.ts says why
  }

  /** toHost's work, under the name of the method called (toHost or toFloat32). */
  async #download(fn: string, options: unknown): Promise<Float32Array | Uint16Array> {
    const stream = this.#liveStream(fn, options);
    const dst = this.#hostBuffer();
    if (this.byteLength === 0) return dst;
    const native = binding();
    retainTensor(this);
    try {
      await awaitable(native.cudaDownloadAsync(this.device, this.#ptr, dst, stream));
    } finally {
      releaseTensor(this);
    }
    return dst;
  }

  /**
   * Overwrites the tensor with host data, in place (no allocation: for inference loops that
   * refill one input tensor). `data` follows DeviceTensor.from's rules: a Float32Array of the
   * tensor's element count, stored as the tensor's dtype (converted on the host, round to nearest
   * even), or for float16/bfloat16 tensors a Uint16Array of raw bits. The copy is ordered on
   * `stream` after the work already queued there and has finished when this returns. Returns the
   * tensor. A refused argument writes nothing.
   *
   * @throws Error with code 'ERR_SQEX_DISPOSED' for a disposed tensor; TypeError (code
   *   'ERR_INVALID_ARG_TYPE') for data of another kind, detached, or a Uint16Array for a float32
   *   tensor, or for options that are not an object of only `stream`, or a stream that is not a
   *   bigint; RangeError (code 'ERR_OUT_OF_RANGE') for a wrong length or a stream handle out of
   *   range; Error with code 'ERR_SQEX_CUDA' for a CUDA failure; Error with code
   *   'ERR_SQEX_OUT_OF_MEMORY' (`bytes`) when the host copy that a Float32Array's conversion to
   *   float16 / bfloat16 needs cannot be allocated.
   */
  copyFrom(data: Float32Array | Uint16Array, options?: DownloadOptions): this {
    const fn = 'DeviceTensor.copyFrom';
    brand(this, fn);
    const stream = this.#liveStream(fn, options);
    const isF32 = isFloat32Array(data);
    const numel = numelOf(this.shape);
    const expected = this.dtype === 'float32'
      ? `a Float32Array of length ${numel}`
      : `a Float32Array, or a Uint16Array of raw ${this.dtype} bits, of length ${numel}`;
    if (!isF32 && !isUint16Array(data)) throw typeError(fn, 'data', expected, data);
    if (isUnusableView(data)) throw typeError(fn, 'data', `${expected} ${USABLE_VIEW}`, data);
    if (!isF32 && this.dtype === 'float32') throw typeError(fn, 'data', `${expected} (this tensor is float32)`, data);
    if (lengthOf(data) !== numel) throw rangeError(fn, 'data', `${expected} (N × C × H × W of ${formatShape(this.shape)})`, data);
    // The checked length, whatever its buffer does from here (see from).
    if (numel !== 0) binding().cudaUpload(this.device, this.#ptr, storageBits(fixedLengthView(data, numel), this.dtype), stream);
    return this;
  }

  /** As toHost, blocking the thread until the copy is done (same result; the errors are thrown). */
  toHostSync(options?: DownloadOptions): Float32Array | Uint16Array {
    const fn = 'DeviceTensor.toHostSync';
    brand(this, fn);
    const stream = this.#liveStream(fn, options);
    const dst = this.#hostBuffer();
    if (this.byteLength !== 0) binding().cudaDownload(this.device, this.#ptr, dst, stream);
    return dst;
  }

  /**
   * As toHost, with halves converted to float32 (exact): a Float32Array of N·C·H·W elements in
   * the tensor's layout. Same errors.
   */
  async toFloat32(options?: DownloadOptions): Promise<Float32Array> {
    const fn = 'DeviceTensor.toFloat32';
    brand(this, fn);
    // The class's own download, whatever a caller put on the prototype since.
    const host = await awaitable(this.#download(fn, options));
    if (isFloat32Array(host)) return host;
    return this.dtype === 'float16' ? float16BitsToFloat32(host) : bfloat16BitsToFloat32(host);
  }

  /**
   * Frees owned memory (or detaches from borrowed memory). Idempotent. Memory still used by an
   * async download or op in flight is freed when that settles, and memory a live view (fromPointer,
   * this thread) reads when the view is done. A failed cudaFree is an Error with code
   * 'ERR_SQEX_CUDA' (from a view's dispose() too, when it lets go of memory last).
   */
  dispose(): void {
    brand(this, 'DeviceTensor.dispose');
    if (this.#disposed) return;
    this.#disposed = true;
    FinalizationRegistryPrototypeUnregister(this.owned ? registry : viewRegistry, this);
    if (this.#pending === 0) this.#free();
  }

  /** dispose(), for `using t = DeviceTensor.from(...)`. */
  [disposeSymbol](): void {
    this.dispose();
  }

  /** e.g. "DeviceTensor float16 NHWC [8, 64, 56, 56] on cuda:0". */
  toString(): string {
    if (!isDeviceTensor(this)) return 'an object posing as a DeviceTensor';
    return `${this.#disposed ? 'disposed ' : ''}${this.#what()}`;
  }

  /** "DeviceTensor float32 NCHW [1, 8, 2, 2] on cuda:0", from the frozen fields (no overridable method runs). */
  #what(): string {
    return `DeviceTensor ${this.dtype} ${this.layout} ${formatShape(this.shape)} on cuda:${this.device}`;
  }

  /** @internal How refusal messages describe this tensor. */
  [describeHook](): string {
    if (!isDeviceTensor(this)) return `an object posing as a DeviceTensor (not ${REAL})`;
    return `a ${this.toString()}`;
  }

  /** Done with the memory: an owned tensor's is freed (unless a view of it is live), a view's let go. */
  #free(): void {
    const held = this.#held;
    this.#held = [];
    if (held.length > 0) releaseViews(held);
    const a = this.#allocation;
    this.#allocation = null;
    if (!this.owned) return;
    this.#ptr = 0n;
    if (a === null) return;
    a.ownerDone = true;
    freeIfUnused(a);
  }

  #hostBuffer(): Float32Array | Uint16Array {
    const numel = numelOf(this.shape);
    return this.dtype === 'float32'
      ? allocateArray(Float32ArrayCtor, numel, 'the host copy of the tensor')
      : allocateArray(Uint16ArrayCtor, numel, 'the host copy of the tensor');
  }

  /**
   * options.stream of a copy, with the tensor live before and after it is read (the options'
   * getters are the caller's code, and may dispose this tensor). A copy is enqueued on the calling
   * thread, so any handle means what the caller means (the per-thread default stream included),
   * unlike an async op's (parseStream).
   */
  #liveStream(fn: string, options: unknown): bigint {
    this.#assertLive(fn);
    const opts = parseObject(fn, 'options', options, DOWNLOAD_KEYS, true);
    const stream = parseStreamHandle(fn, 'options.stream', opts.stream);
    this.#assertLive(fn);
    return stream;
  }

  /** Refuses a disposed tensor, in the format of the other refusals: "fn: this ... has been disposed". */
  #assertLive(fn: string): void {
    if (this.#disposed) {
      throw codedError(`${fn}: this ${this.#what()} has been disposed (used after dispose()); keep the tensor until its last use`, 'ERR_SQEX_DISPOSED');
    }
  }
}

registerOwnClass('DeviceTensor', DeviceTensor.prototype, (v) => isDeviceTensor(v));

/** options.device of a DeviceTensor factory: the ordinal, with the op options' words pointed at it. */
function parseDeviceOrdinal(fn: string, value: unknown): number {
  if (value === 'cuda' || value === 'cpu' || value === 'auto') {
    throw typeError(fn, 'options.device', 'a CUDA device ordinal (a non-negative integer)', value,
      "A DeviceTensor is always on a GPU: its options.device is the ordinal (0 for the first GPU), what the op options call deviceIndex");
  }
  return parseIndex(fn, 'options.device', value) ?? 0;
}

/** Host data as the bytes to upload for `dtype`: a Float32Array is rounded to halves when needed; raw bits pass. */
function storageBits(data: Float32Array | Uint16Array, dtype: DType): Float32Array | Uint16Array {
  if (!isFloat32Array(data) || dtype === 'float32') return data;
  return dtype === 'float16' ? float32ToFloat16Bits(data) : float32ToBfloat16Bits(data);
}

function checkDeviceIndex(fn: string, native: NativeBinding, device: number): void {
  const count = native.cudaStatus().deviceCount;
  if (device >= count) throw rangeError(fn, 'options.device', `a CUDA device index below the device count (${count})`, device);
}

/**
 * @internal A new owned tensor (contents uninitialised). An empty one (N = 0) allocates nothing:
 * its ptr is 0n, as an empty torch tensor's data_ptr().
 */
export function allocDeviceTensor(
  native: NativeBinding,
  shape: Shape4,
  layout: Layout,
  dtype: DType,
  device: number,
): DeviceTensor {
  const bytes = numelOf(shape) * dtypeBytes(dtype);
  const ptr = bytes === 0 ? 0n : native.cudaAlloc(device, bytes);
  return createTensor(ptr, shape, layout, dtype, device, true);
}

/** Refuses a method call on something that is not a real DeviceTensor, by name. */
function brand(self: unknown, fn: string): void {
  if (!isDeviceTensor(self)) throw typeError(fn, 'this', REAL, self);
}
