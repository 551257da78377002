/// <reference lib="esnext.disposable" preserve="true" />
// GPU-resident activations. A DeviceTensor either owns its memory (from, empty, op results),
// freed by dispose() or, if forgotten, by a FinalizationRegistry; or wraps memory it does not
// own (fromPointer), which dispose() only detaches from.

import type { NativeBinding } from './backend/contract.js';
import { numelOf, parseEnum, parseIndex, parseObject, parseShape, parseStreamHandle } from './args.js';
import { binding, requireCuda } from './cuda.js';
import { float16BitsToFloat32, bfloat16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from './half.js';
import {
  allocateArray,
  ObjectFreeze,
  codedError,
  describeHook,
  formatShape,
  isFloat32Array,
  isUint16Array,
  isUnusableView,
  lengthOf,
  rangeError,
  rangeErrorText,
  typeError,
} from './is.js';
import type { DType, Layout, Shape4 } from './types.js';

/** Options of DeviceTensor.from and DeviceTensor.empty. */
export interface DeviceTensorOptions {
  /** Default 'NCHW'. `data` is taken to be in this layout already. */
  layout?: Layout;
  /** Default 'float32' (for a Uint16Array, 'float16' or 'bfloat16' must be given). */
  dtype?: DType;
  /** CUDA device index, default 0. */
  device?: number;
}

/** Options of DeviceTensor.fromPointer. */
export interface DevicePointerOptions extends DeviceTensorOptions {
  /** Size of the memory at `ptr`, checked to hold the tensor; default: exactly the tensor's bytes. */
  byteLength?: number;
}

/** Options of the copy methods: toHost, toHostSync, toFloat32 and copyFrom. */
export interface DownloadOptions {
  /** cudaStream_t to copy on (default 0n, the legacy default stream, which waits for blocking streams). */
  stream?: bigint;
}

export const LAYOUTS: readonly Layout[] = ['NCHW', 'NHWC'];
export const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];
const FROM_KEYS = ['layout', 'dtype', 'device'] as const;
const POINTER_KEYS = ['layout', 'dtype', 'device', 'byteLength'] as const;
const DOWNLOAD_KEYS = ['stream'] as const;

export function dtypeBytes(dtype: DType): number {
  return dtype === 'float32' ? 4 : 2;
}

// Symbol.dispose is missing on early Node 20 releases; Node uses this registered symbol there.
const disposeSymbol: typeof Symbol.dispose = (Symbol.dispose ?? Symbol.for('nodejs.dispose')) as typeof Symbol.dispose;

interface Held {
  readonly device: number;
  readonly ptr: bigint;
}

// Frees owned memory of tensors collected without dispose(). Never throws (it runs on its own).
const registry = new FinalizationRegistry<Held>((held) => {
  try {
    binding().cudaFree(held.device, held.ptr);
  } catch {
    // The context may be gone at exit; nothing useful can be done with the error here.
  }
});

const MAX_U64 = (1n << 64n) - 1n;

let createTensor: (
  ptr: bigint,
  shape: Shape4,
  layout: Layout,
  dtype: DType,
  device: number,
  owned: boolean,
) => DeviceTensor;
/** Device address without the liveness check (for callers that checked it). */
export let rawPtr: (t: DeviceTensor) => bigint;
/** Marks memory as used by an async download or op in flight: dispose() defers the free. */
export let retainTensor: (t: DeviceTensor) => void;
export let releaseTensor: (t: DeviceTensor) => void;
/**
 * Whether `value` is a DeviceTensor this module made: a brand check on the private field, which
 * `Object.create(DeviceTensor.prototype)` or a Proxy cannot fake (unlike instanceof).
 */
export let isDeviceTensor: (value: unknown) => value is DeviceTensor;

// Only the module's factories may construct: `new DeviceTensor()` from outside is refused by name.
const constructToken = Symbol('DeviceTensor.construct');
const REAL = 'a DeviceTensor made by DeviceTensor.from, DeviceTensor.empty, DeviceTensor.fromPointer or an op';

/**
 * A tensor in CUDA device memory, with its logical shape [N, C, H, W], layout and dtype.
 * Create one with DeviceTensor.from, DeviceTensor.empty or DeviceTensor.fromPointer; the
 * ops return DeviceTensors when given one. Free it with dispose() (or `using`).
 */
export class DeviceTensor {
  /** Logical [N, C, H, W]. */
  readonly shape: Shape4;
  readonly dtype: DType;
  readonly layout: Layout;
  /** CUDA device index. */
  readonly device: number;
  /** Bytes of the tensor: N·C·H·W · (4 for float32, 2 for halves). */
  readonly byteLength: number;
  /** Whether dispose() frees the memory (false for fromPointer). */
  readonly owned: boolean;
  #ptr: bigint;
  #disposed = false;
  #pending = 0; // async downloads and ops in flight that read or write this memory

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
    if (owned) registry.register(this, { device, ptr }, this);
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
    isDeviceTensor = (value: unknown): value is DeviceTensor =>
      typeof value === 'object' && value !== null && #ptr in value;
    rawPtr = (t) => t.#ptr;
    retainTensor = (t) => {
      t.#pending += 1;
    };
    releaseTensor = (t) => {
      t.#pending -= 1;
      if (t.#pending === 0 && t.#disposed && t.owned && t.#ptr !== 0n) {
        try {
          t.#free();
        } catch {
          // Freed after an async op settled: there is no caller left to report to.
        }
      }
    };
  }

  /**
   * Copies host data to a new tensor on the device. A Float32Array is stored as `dtype`
   * (converted on the host, round to nearest even, for float16/bfloat16); a Uint16Array holds
   * raw half bit patterns and needs dtype 'float16' or 'bfloat16'. Needs CUDA.
   */
  static from(data: Float32Array | Uint16Array, shape: Shape4, options?: DeviceTensorOptions): DeviceTensor {
    const fn = 'DeviceTensor.from';
    const opts = parseObject(fn, 'options', options, FROM_KEYS, true);
    const isF32 = isFloat32Array(data);
    if (!isF32 && !isUint16Array(data)) {
      throw typeError(fn, 'data', 'a Float32Array, or a Uint16Array of raw float16/bfloat16 bits', data);
    }
    if (isUnusableView(data)) {
      throw typeError(fn, 'data', `a ${isF32 ? 'Float32Array' : 'Uint16Array'} that is not detached (transferred) or out of bounds (a shrunk resizable buffer)`, data);
    }
    const shp = parseShape(fn, 'shape', shape);
    const layout = parseEnum(fn, 'options.layout', opts.layout, LAYOUTS, 'NCHW');
    const dtype = parseEnum(fn, 'options.dtype', opts.dtype, DTYPES, 'float32');
    const device = parseIndex(fn, 'options.device', opts.device) ?? 0;
    if (!isF32 && dtype === 'float32') {
      throw rangeError(fn, 'options.dtype', "'float16' or 'bfloat16' when data is a Uint16Array of raw half bits", opts.dtype);
    }
    const numel = numelOf(shp);
    if (lengthOf(data) !== numel) {
      throw rangeErrorText(
        fn,
        'data',
        `of length ${numel} (N × C × H × W of ${formatShape(shp)})`,
        `length ${lengthOf(data)}`,
      );
    }
    const native = requireCuda(fn, 'a DeviceTensor');
    checkDeviceIndex(fn, native, device);
    const src = storageBits(data, dtype);
    const t = allocDeviceTensor(native, shp, layout, dtype, device);
    try {
      native.cudaUpload(device, t.#ptr, src, 0n);
    } catch (err) {
      t.dispose();
      throw err;
    }
    return t;
  }

  /** A new tensor with uninitialised contents. Needs CUDA. */
  static empty(shape: Shape4, options?: DeviceTensorOptions): DeviceTensor {
    const fn = 'DeviceTensor.empty';
    const opts = parseObject(fn, 'options', options, FROM_KEYS, true);
    const shp = parseShape(fn, 'shape', shape);
    const layout = parseEnum(fn, 'options.layout', opts.layout, LAYOUTS, 'NCHW');
    const dtype = parseEnum(fn, 'options.dtype', opts.dtype, DTYPES, 'float32');
    const device = parseIndex(fn, 'options.device', opts.device) ?? 0;
    const native = requireCuda(fn, 'a DeviceTensor');
    checkDeviceIndex(fn, native, device);
    return allocDeviceTensor(native, shp, layout, dtype, device);
  }

  /**
   * Wraps device memory this library does not own (e.g. from another CUDA library). dispose()
   * only detaches; the memory stays the caller's to free, and must outlive every use. No CUDA
   * call is made here, so the pointer is not checked beyond being non-zero.
   */
  static fromPointer(ptr: bigint, shape: Shape4, options?: DevicePointerOptions): DeviceTensor {
    const fn = 'DeviceTensor.fromPointer';
    const opts = parseObject(fn, 'options', options, POINTER_KEYS, true);
    if (typeof ptr !== 'bigint') throw typeError(fn, 'ptr', 'a bigint device address', ptr);
    if (ptr <= 0n || ptr > MAX_U64) throw rangeError(fn, 'ptr', 'a non-zero bigint device address below 2n ** 64n', ptr);
    const shp = parseShape(fn, 'shape', shape);
    const layout = parseEnum(fn, 'options.layout', opts.layout, LAYOUTS, 'NCHW');
    const dtype = parseEnum(fn, 'options.dtype', opts.dtype, DTYPES, 'float32');
    const device = parseIndex(fn, 'options.device', opts.device) ?? 0;
    const needed = numelOf(shp) * dtypeBytes(dtype);
    if (opts.byteLength !== undefined) {
      const bl = opts.byteLength;
      if (typeof bl !== 'number') throw typeError(fn, 'options.byteLength', 'a number of bytes', bl);
      if (!Number.isSafeInteger(bl) || bl < needed) {
        throw rangeError(fn, 'options.byteLength', `an integer of at least ${needed} (the bytes of ${formatShape(shp)} ${dtype})`, bl);
      }
    }
    // Nothing could use the tensor without CUDA: refuse now, with the reason, not at first use;
    // and a device index past the device count now, by name (an attack's { device: 70000 }
    // reached the addon's own range check at each later use).
    checkDeviceIndex(fn, requireCuda(fn, 'a DeviceTensor'), device);
    return createTensor(ptr, shp, layout, dtype, device, false);
  }

  /** Device address; throws once disposed. */
  get ptr(): bigint {
    brand(this, 'DeviceTensor.ptr');
    this.#assertLive('ptr');
    return this.#ptr;
  }

  get disposed(): boolean {
    brand(this, 'DeviceTensor.disposed');
    return this.#disposed;
  }

  /**
   * Copies to the host what the tensor holds at this point of `stream`: float32 → Float32Array,
   * halves → Uint16Array of raw bits. The copy is enqueued now (a device-side snapshot), so work
   * enqueued afterwards, such as an op writing this tensor, cannot change what it returns; the
   * wait and the host copy run off the event loop.
   */
  async toHost(options?: DownloadOptions): Promise<Float32Array | Uint16Array> {
    const fn = 'DeviceTensor.toHost';
    brand(this, fn);
    const stream = this.#liveStream(fn, 'toHost', options);
    const dst = this.#hostBuffer();
    const native = binding();
    retainTensor(this);
    try {
      await native.cudaDownloadAsync(this.device, this.#ptr, dst, stream);
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
   */
  copyFrom(data: Float32Array | Uint16Array, options?: DownloadOptions): this {
    const fn = 'DeviceTensor.copyFrom';
    brand(this, fn);
    const stream = this.#liveStream(fn, 'copyFrom', options);
    const isF32 = isFloat32Array(data);
    const numel = numelOf(this.shape);
    const expected = this.dtype === 'float32'
      ? `a Float32Array of length ${numel}`
      : `a Float32Array, or a Uint16Array of raw ${this.dtype} bits, of length ${numel}`;
    if (!isF32 && !isUint16Array(data)) throw typeError(fn, 'data', expected, data);
    if (isUnusableView(data)) throw typeError(fn, 'data', `${expected} that is not detached (transferred) or out of bounds (a shrunk resizable buffer)`, data);
    if (!isF32 && this.dtype === 'float32') throw typeError(fn, 'data', `${expected} (this tensor is float32)`, data);
    if (lengthOf(data) !== numel) throw rangeError(fn, 'data', `${expected} (N × C × H × W of ${formatShape(this.shape)})`, data);
    binding().cudaUpload(this.device, this.#ptr, storageBits(data, this.dtype), stream);
    return this;
  }

  /** As toHost, blocking the thread until the copy is done. */
  toHostSync(options?: DownloadOptions): Float32Array | Uint16Array {
    const fn = 'DeviceTensor.toHostSync';
    brand(this, fn);
    const stream = this.#liveStream(fn, 'toHostSync', options);
    const dst = this.#hostBuffer();
    binding().cudaDownload(this.device, this.#ptr, dst, stream);
    return dst;
  }

  /** As toHost, with halves converted to float32 (exact). */
  async toFloat32(options?: DownloadOptions): Promise<Float32Array> {
    brand(this, 'DeviceTensor.toFloat32');
    const host = await this.toHost(options);
    if (isFloat32Array(host)) return host;
    return this.dtype === 'float16' ? float16BitsToFloat32(host) : bfloat16BitsToFloat32(host);
  }

  /**
   * Frees owned memory (or detaches from borrowed memory). Idempotent. Memory still used by an
   * async download or op in flight is freed when that settles.
   */
  dispose(): void {
    brand(this, 'DeviceTensor.dispose');
    if (this.#disposed) return;
    this.#disposed = true;
    if (!this.owned) return;
    registry.unregister(this);
    if (this.#pending === 0) this.#free();
  }

  [disposeSymbol](): void {
    this.dispose();
  }

  /** e.g. "DeviceTensor float16 NHWC [8, 64, 56, 56] on cuda:0". */
  toString(): string {
    if (!isDeviceTensor(this)) return 'an object posing as a DeviceTensor';
    return `${this.#disposed ? 'disposed ' : ''}DeviceTensor ${this.dtype} ${this.layout} ${formatShape(this.shape)} on cuda:${this.device}`;
  }

  [describeHook](): string {
    if (!isDeviceTensor(this)) return `an object posing as a DeviceTensor (not ${REAL})`;
    return `a ${this.toString()}`;
  }

  #free(): void {
    const ptr = this.#ptr;
    this.#ptr = 0n;
    binding().cudaFree(this.device, ptr);
  }

  #hostBuffer(): Float32Array | Uint16Array {
    const numel = numelOf(this.shape);
    return this.dtype === 'float32'
      ? allocateArray(Float32Array, numel, 'the host copy of the tensor')
      : allocateArray(Uint16Array, numel, 'the host copy of the tensor');
  }

  /**
   * options.stream of a copy, with the tensor live before and after it is read (the options'
   * getters are the caller's code, and may dispose this tensor). A copy is enqueued on the calling
   * thread, so any handle means what the caller means (the per-thread default stream included),
   * unlike an async op's (parseStream).
   */
  #liveStream(fn: string, method: string, options: unknown): bigint {
    this.#assertLive(method);
    const opts = parseObject(fn, 'options', options, DOWNLOAD_KEYS, true);
    const stream = parseStreamHandle(fn, 'options.stream', opts.stream);
    this.#assertLive(method);
    return stream;
  }

  #assertLive(what: string): void {
    if (this.#disposed) {
      throw codedError(`${this.toString()}: ${what} used after dispose(); keep the tensor until its last use`, 'ERR_SQEX_DISPOSED');
    }
  }
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

/** A new owned tensor (contents uninitialised). */
export function allocDeviceTensor(
  native: NativeBinding,
  shape: Shape4,
  layout: Layout,
  dtype: DType,
  device: number,
): DeviceTensor {
  const bytes = numelOf(shape) * dtypeBytes(dtype);
  const ptr = native.cudaAlloc(device, bytes);
  return createTensor(ptr, shape, layout, dtype, device, true);
}

/** Refuses a method call on something that is not a real DeviceTensor, by name. */
function brand(self: unknown, fn: string): void {
  if (!isDeviceTensor(self)) throw typeError(fn, 'this', REAL, self);
}
