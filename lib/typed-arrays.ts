// Typed arrays and their buffers, read through the intrinsics captured when the library loads
// (lib/primordials.ts): validation reads a typed array through %TypedArray%.prototype's own
// getters, so a subclass or a patched prototype cannot make a view look longer, shorter or
// elsewhere than it is, and a patched built-in cannot change what a check decides.

import { trusted } from './is.js';
import { nodeUtil } from './node-builtins.js';
import {
  Float32ArrayCtor,
  ReflectApply,
  ReflectGetOwnPropertyDescriptor,
  TypedArrayPrototype,
  Uint16ArrayCtor,
  uncurryGetter,
} from './primordials.js';

/** Largest element count accepted for one tensor (the native kernels index with int32 strides). */
export const MAX_ELEMENTS = 2 ** 31 - 1;

/** 2^64 − 1: the largest u64 (stream handles, device addresses, safetensors counts). */
export const MAX_U64 = (1n << 64n) - 1n;

const typedArrayTag = uncurryGetter<string | undefined>(TypedArrayPrototype, Symbol.toStringTag);
const typedArrayLength = uncurryGetter<number>(TypedArrayPrototype, 'length');
const typedArrayBuffer = uncurryGetter<ArrayBufferLike>(TypedArrayPrototype, 'buffer');
const typedArrayByteOffset = uncurryGetter<number>(TypedArrayPrototype, 'byteOffset');
const typedArrayByteLength = uncurryGetter<number>(TypedArrayPrototype, 'byteLength');
export const arrayBufferByteLength = uncurryGetter<number>(ArrayBuffer.prototype, 'byteLength');
export const sharedArrayBufferByteLength =
  typeof SharedArrayBuffer === 'function' ? uncurryGetter<number>(SharedArrayBuffer.prototype, 'byteLength') : undefined;
const arrayBufferSlice = ArrayBuffer.prototype.slice;
const arrayBufferDetached = ReflectGetOwnPropertyDescriptor(ArrayBuffer.prototype, 'detached')?.get;
export const isView = ArrayBuffer.isView;

/** Elements of a typed array, by the intrinsic getter (0 once its buffer is detached). */
export function lengthOf(view: ArrayBufferView): number {
  return typedArrayLength(view);
}

/** The intrinsic buffer, byteOffset and byteLength of a typed array. */
export function bufferOf(view: ArrayBufferView): ArrayBufferLike {
  return typedArrayBuffer(view);
}
export function byteOffsetOf(view: ArrayBufferView): number {
  return typedArrayByteOffset(view);
}
export function byteLengthOf(view: ArrayBufferView): number {
  return typedArrayByteLength(view);
}

const arrayBufferResizable = ReflectGetOwnPropertyDescriptor(ArrayBuffer.prototype, 'resizable')?.get;
const sharedArrayBufferGrowable =
  typeof SharedArrayBuffer === 'function' ? ReflectGetOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'growable')?.get : undefined;

// node:util's types.isSharedArrayBuffer: an internal-slot check of any realm that throws nothing.
// Telling the two kinds apart by calling SharedArrayBuffer's byteLength getter threw a TypeError
// for every ordinary buffer, microseconds each and several a call: SE 1x64x8x8 took 57 us a call
// through the API, against 24 before fixedLengthView asked it of every operand and weight.
const utilTypes = nodeUtil.types;

const isSharedArrayBuffer = trusted(
  utilTypes.isSharedArrayBuffer,
  typeof SharedArrayBuffer === 'function' ? new SharedArrayBuffer(1) : undefined,
  new ArrayBuffer(1),
  (v) => {
    if (sharedArrayBufferByteLength === undefined) return false;
    try {
      sharedArrayBufferByteLength(v as SharedArrayBuffer);
      return true;
    } catch {
      return false;
    }
  },
);
/** Whether a buffer can change size: a resizable ArrayBuffer or a growable SharedArrayBuffer. */
function canResize(buffer: ArrayBufferLike): boolean {
  if (isSharedArrayBuffer(buffer)) return sharedArrayBufferGrowable !== undefined && ReflectApply(sharedArrayBufferGrowable, buffer, []) === true;
  return arrayBufferResizable !== undefined && ReflectApply(arrayBufferResizable, buffer, []) === true;
}

/**
 * The view itself, or, when its buffer can change size, a fixed-length view of the same elements
 * (made now, by the constructors captured at load). A length-tracking view (`new
 * Float32Array(resizable)`) reads a new length once its buffer grows, and a SharedArrayBuffer can
 * be grown by another thread at any moment: what the native side copies or writes must be the
 * length that was checked (an attack uploaded 5 KB into a 1 KB device tensor that way). Pass the
 * length the caller checked; a buffer only grows between (a shrink needs this thread).
 */
export function fixedLengthView<T extends Float32Array | Uint16Array>(view: T, checkedLength: number = typedArrayLength(view)): T {
  // Without checkedLength: the length now, for a view taken before any check reads its length
  // (weights.ts), so that every check sees the view's fixed length.
  const buffer = typedArrayBuffer(view);
  if (!canResize(buffer)) return view;
  const Ctor = isFloat32Array(view) ? Float32ArrayCtor : Uint16ArrayCtor;
  // The length checked, not the view's length now: another thread may have grown it since.
  return new Ctor(buffer as ArrayBuffer, typedArrayByteOffset(view), checkedLength) as T;
}

/** Whether the view's memory is a SharedArrayBuffer's (which can never be detached or shrunk). */
export function isSharedView(view: ArrayBufferView): boolean {
  return isSharedArrayBuffer(typedArrayBuffer(view));
}

export function typedArrayName(value: unknown): string | undefined {
  if (!isView(value)) return undefined;
  return typedArrayTag(value);
}

export function isFloat32Array(value: unknown): value is Float32Array {
  return typedArrayName(value) === 'Float32Array';
}

export function isUint16Array(value: unknown): value is Uint16Array {
  return typedArrayName(value) === 'Uint16Array';
}

/**
 * A typed array whose buffer was transferred (postMessage, structuredClone with transfer,
 * ArrayBuffer.prototype.transfer). Node 22+ has ArrayBuffer.prototype.detached; on Node 20 a
 * detached buffer reads as byteLength 0 and, unlike a genuinely empty one, throws on slice().
 */
export function isDetached(view: ArrayBufferView): boolean {
  // A detached view has length 0; checking that first keeps the common case free of the
  // exceptions the buffer probes below may throw (an exception costs microseconds).
  if (typedArrayLength(view) !== 0) return false;
  const buffer = typedArrayBuffer(view);
  if (isSharedArrayBuffer(buffer)) return false;
  if (arrayBufferDetached !== undefined) return ReflectApply(arrayBufferDetached, buffer, []) as boolean;
  if (arrayBufferByteLength(buffer) !== 0) return false;
  try {
    ReflectApply(arrayBufferSlice, buffer, [0, 0]);
    return false;
  } catch {
    return true;
  }
}

const typedArrayAt = (TypedArrayPrototype as { at: (i: number) => unknown }).at;

/**
 * Whether a typed array's buffer was detached (transferred) or the view is out of bounds of its
 * resizable buffer after a shrink: both read as length 0, so only an empty view needs the probe
 * (the intrinsic %TypedArray%.prototype.at, captured, throws a TypeError for either).
 */
/** What a refused isUnusableView view was expected not to be (appended to the expected text). */
export const USABLE_VIEW = 'that is not detached (transferred) or out of bounds (a shrunk resizable buffer)';

export function isUnusableView(view: ArrayBufferView): boolean {
  if (lengthOf(view) !== 0) return false;
  if (isDetached(view)) return true;
  try {
    ReflectApply(typedArrayAt, view, [0]);
    return false;
  } catch {
    return true;
  }
}

