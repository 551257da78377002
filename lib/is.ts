// Argument checks shared by every public entry point. Each check either returns the value
// narrowed or throws, and every thrown message has the same shape:
//   `${fnName}: ${argName} must be ${expected}; received ${received}`
// TypeError for a value of the wrong kind, RangeError for the right kind with a wrong value.

import { nodeUtil } from './node-builtins.js';
import {
  ArrayIsArray,
  JSONStringify,
  MapPrototypeHas,
  ObjectIs,
  ReflectApply,
  ReflectGetOwnPropertyDescriptor,
  ReflectGetPrototypeOf,
  RegExpPrototypeExec,
  StringCtor,
  StringPrototypeIncludes,
  StringPrototypeSlice,
  TypedArrayPrototype,
  joinList,
  uncurryGetter,
  withProps,
} from './primordials.js';

/** Largest element count accepted for one tensor (the native kernels index with int32 strides). */
export const MAX_ELEMENTS = 2 ** 31 - 1;

/** 2^64 − 1: the largest u64 (stream handles, device addresses, safetensors counts). */
export const MAX_U64 = (1n << 64n) - 1n;

// ---------------------------------------------------------------------------------------------
// Intrinsics, captured when the library loads (lib/primordials.ts): validation reads a typed
// array through %TypedArray%.prototype's own getters, so a subclass or a patched prototype cannot
// make a view look longer, shorter or elsewhere than it is, and a patched built-in cannot change
// what a check decides.

const typedArrayTag = uncurryGetter<string | undefined>(TypedArrayPrototype, Symbol.toStringTag);
const typedArrayLength = uncurryGetter<number>(TypedArrayPrototype, 'length');
const typedArrayBuffer = uncurryGetter<ArrayBufferLike>(TypedArrayPrototype, 'buffer');
const typedArrayByteOffset = uncurryGetter<number>(TypedArrayPrototype, 'byteOffset');
const typedArrayByteLength = uncurryGetter<number>(TypedArrayPrototype, 'byteLength');
const arrayBufferByteLength = uncurryGetter<number>(ArrayBuffer.prototype, 'byteLength');
const sharedArrayBufferByteLength =
  typeof SharedArrayBuffer === 'function' ? uncurryGetter<number>(SharedArrayBuffer.prototype, 'byteLength') : undefined;
const arrayBufferSlice = ArrayBuffer.prototype.slice;
const arrayBufferDetached = ReflectGetOwnPropertyDescriptor(ArrayBuffer.prototype, 'detached')?.get;
const isView = ArrayBuffer.isView;
const isArray = ArrayIsArray;
const getPrototypeOf = ReflectGetPrototypeOf;
const getOwnPropertyDescriptor = ReflectGetOwnPropertyDescriptor;
const ObjectPrototype = Object.prototype;
const BufferIsBuffer = typeof Buffer === 'function' ? Buffer.isBuffer : undefined;
const describedTypedArrayName = /^(?:(?:Big)?(?:Int|Uint|Float)(?:8|16|32|64)(?:Clamped)?Array|(?:Shared)?ArrayBuffer|DataView)$/;

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
const Float32ArrayCtor = Float32Array;
const Uint16ArrayCtor = Uint16Array;

// node:util's types.isSharedArrayBuffer: an internal-slot check of any realm that throws nothing.
// Telling the two kinds apart by calling SharedArrayBuffer's byteLength getter threw a TypeError
// for every ordinary buffer, microseconds each and several a call: SE 1x64x8x8 took 57 us a call
// through the API, against 24 before fixedLengthView asked it of every operand and weight.
const utilTypes = nodeUtil.types;

/**
 * `check` when it answers true for `yes` and false for `no` (a util.types replaced before this
 * library loaded is not trusted: an attack's () => true made every call throw an uncoded
 * TypeError), else `probe`, which throws and catches to find the answer.
 */
function trusted(check: unknown, yes: unknown, no: unknown, probe: (v: unknown) => boolean): (v: unknown) => boolean {
  try {
    if (typeof check === 'function') {
      const f = check as (v: unknown) => unknown; // called directly: no argument array a call
      if (f(yes) === true && f(no) === false) return (v) => f(v) === true;
    }
  } catch {
    // a replacement that throws: not trusted
  }
  return probe;
}

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
const isMapIntrinsic = trusted(utilTypes.isMap, new Map(), new Set(), (v) => {
  try {
    MapPrototypeHas(v, undefined);
    return true;
  } catch {
    return false;
  }
});

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

// ---------------------------------------------------------------------------------------------
// Errors. Every error has a `code` (Node's conventions) and names the argument in `argument`.

/** A TypeError or RangeError carrying `code` and the argument it is about. */
export type ArgumentError = (TypeError | RangeError) & { code: string; argument: string };

function coded<E extends Error>(err: E, code: string, argument: string): E & { code: string; argument: string } {
  return withProps(err, { code, argument });
}

/**
 * The standard fix for a refused value, when there is one: what a user converting from PyTorch
 * or numpy most often passes instead of a Float32Array or an [N, C, H, W] shape.
 */
function fixFor(arg: string, expected: string, value: unknown): string | undefined {
  const name = typedArrayName(value);
  if (StringPrototypeIncludes(expected, 'Float32Array')) {
    // An output receives the result: a converted copy would receive it instead and be thrown away.
    if ((arg === 'options.out' || arg === 'options.scaleOut') && ((name !== undefined && name !== 'Float32Array') || isArray(value))) {
      return `${arg} receives the float32 result: pass a Float32Array of that length (new Float32Array(length)) and convert afterwards if you need another type`;
    }
    if (name === 'Float64Array') {
      if (StringPrototypeSlice(arg, 0, 8) === 'weights.') {
        return 'Weights saved as float64 (e.g. numpy().tobytes() of a float64 state_dict) convert with Float32Array.from(value)';
      }
      return 'To convert: Float32Array.from(value) (rounds each element to float32)';
    }
    if (name === 'Uint8Array' && BufferIsBuffer !== undefined && BufferIsBuffer(value)) {
      return 'To read float32 bytes from a Node Buffer: new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4) when buf.byteOffset is a multiple of 4, else new Float32Array(Uint8Array.prototype.slice.call(buf).buffer)';
    }
    if (name === 'Float16Array') {
      // Node 24+: a Float16Array's bytes are float16 bits, which a Uint16Array view passes as they
      // are where float16 is wanted (never as bfloat16 bits: those are another format).
      const view = 'new Uint16Array(value.buffer, value.byteOffset, value.length)';
      if (StringPrototypeIncludes(expected, 'raw float16/bfloat16 bits')) {
        return `For dtype 'float16', a Float16Array's bytes are its raw bits: pass ${view} (no copy); for another dtype, Float32Array.from(value)`;
      }
      if (StringPrototypeIncludes(expected, 'raw float16 bits')) return `A Float16Array's bytes are its raw float16 bits: pass ${view} (no copy)`;
      return 'To convert: Float32Array.from(value)';
    }
    if (name === 'Uint16Array') {
      // Uint16Array is how this package passes raw half bits: converting the integers would give wrong numbers.
      return 'If these are raw float16 or bfloat16 bits, float16BitsToFloat32(value) or bfloat16BitsToFloat32(value) decodes them (Float32Array.from(value) would read the bits as integers)';
    }
    if (name !== undefined && name !== 'Float32Array') return `To convert: Float32Array.from(value)`;
    // readSafetensors' tensor record ({ dtype, shape, data, zeroCopy }) passed whole as a weight.
    if (name === undefined && StringPrototypeSlice(arg, 0, 8) === 'weights.' && isTensorRecord(value)) {
      return "This is a readSafetensors tensor record ({ dtype, shape, data }): pass its .data (read with { toFloat32: true } for a Float32Array), or build the block from the whole file with SEBlock/ECABlock/CBAMBlock.fromStateDict";
    }
    // Only where a Float32Array itself is wanted (not, e.g., a state dict whose entries hold one).
    if (isArray(value) && StringPrototypeIncludes(expected, 'a Float32Array')) return 'To convert an Array of numbers: Float32Array.from(value)';
  }
  if (StringPrototypeIncludes(expected, '[N, C, H, W]') && isArray(value)) {
    if (value.length === 3) return 'A single image [C, H, W] is the batch of one [1, C, H, W]';
    if (value.length === 2) return 'A [N, C] tensor is [N, C, 1, 1]';
  }
  // A shape kept in a typed array (tensor libraries' shape buffers, an Int32Array from a parser).
  if (StringPrototypeIncludes(expected, '[N, C, H, W]') && name !== undefined) return 'To pass a shape held in a typed array: Array.from(shape)';
  return undefined;
}

/** A plain object with a typed-array `data`, an Array `shape` and a string `dtype` (readSafetensors' record). */
function isTensorRecord(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  const r = value as { data?: unknown; shape?: unknown; dtype?: unknown };
  return typedArrayName(r.data) !== undefined && isArray(r.shape) && typeof r.dtype === 'string';
}

function withHint(text: string, arg: string, expected: string, value: unknown, fix: string | undefined): string {
  let hint: string | undefined = fix;
  try {
    if (hint === undefined) hint = fixFor(arg, expected, value); // IsArray and Buffer.isBuffer throw on a revoked Proxy
  } catch {
    hint = undefined;
  }
  return hint === undefined ? text : `${text}. ${hint}`;
}

/** `fn: arg must be expected; received <value>. <fix>`; `fix` replaces the usual hint for the value's kind. */
export function typeError(fn: string, arg: string, expected: string, value: unknown, fix?: string): ArgumentError {
  return coded(new TypeError(withHint(`${fn}: ${arg} must be ${expected}; received ${describe(value)}`, arg, expected, value, fix)), 'ERR_INVALID_ARG_TYPE', arg);
}

/** As typeError, with what was received already in words. */
export function typeErrorText(fn: string, arg: string, expected: string, received: string): ArgumentError {
  return coded(new TypeError(`${fn}: ${arg} must be ${expected}; received ${received}`), 'ERR_INVALID_ARG_TYPE', arg);
}

/** As typeError, for a value of the right kind out of range. */
export function rangeError(fn: string, arg: string, expected: string, value: unknown, fix?: string): ArgumentError {
  return coded(new RangeError(withHint(`${fn}: ${arg} must be ${expected}; received ${describe(value)}`, arg, expected, value, fix)), 'ERR_OUT_OF_RANGE', arg);
}

/** As rangeError, with the received part already worded (e.g. a computed product). */
export function rangeErrorText(fn: string, arg: string, expected: string, received: string): ArgumentError {
  return coded(new RangeError(`${fn}: ${arg} must be ${expected}; received ${received}`), 'ERR_OUT_OF_RANGE', arg);
}

/**
 * Runs `read` (a property read, Object.keys, Object.hasOwn on a caller's object) and turns what it
 * throws into a coded TypeError about `arg`: V8 throws uncoded TypeErrors from a revoked Proxy and
 * from a Proxy whose traps break the object invariants (ownKeys listing a key twice), and a trap
 * or getter may throw anything. The original is the error's `cause`.
 */
export function readGuarded<T>(fn: string, arg: string, expected: string | (() => string), value: unknown, read: () => T): T {
  try {
    return read();
  } catch (cause) {
    // `expected` may be a function: its text is built only for a refusal, not on every call.
    const e = typeError(fn, arg, typeof expected === 'function' ? expected() : expected, value);
    let why = '';
    try {
      why = cause instanceof Error ? `: ${cause.message}` : '';
    } catch {
      why = '';
    }
    e.message += `, whose properties could not be read${why}`;
    (e as { cause?: unknown }).cause = cause;
    throw e;
  }
}

/** An Error with a code (not about an argument's kind or value: state, availability). */
export function codedError(message: string, code: string): Error & { code: string } {
  return withProps(new Error(message), { code });
}

/**
 * A new typed array of `length` elements for `what` (a result the caller did not provide).
 * Allocation failure, a RangeError without a code from V8, becomes an Error with code
 * ERR_SQEX_OUT_OF_MEMORY and `bytes`, as the addon's own (native/binding/convert.h).
 */
export function allocateArray<T extends ArrayBufferView>(
  Ctor: { new (length: number): T; readonly BYTES_PER_ELEMENT: number },
  length: number,
  what: string,
): T {
  try {
    return new Ctor(length);
  } catch (err) {
    throw outOfMemory(what, length * Ctor.BYTES_PER_ELEMENT, err);
  }
}

/** A Float32Array over a new SharedArrayBuffer of `length` elements, as allocateArray. */
export function allocateSharedFloat32(length: number, what: string): Float32Array {
  let sab: SharedArrayBuffer;
  try {
    sab = new SharedArrayBuffer(length * 4);
  } catch (err) {
    throw outOfMemory(what, length * 4, err);
  }
  return new Float32Array(sab);
}

function outOfMemory(what: string, bytes: number, cause: unknown): Error & { code: string; bytes: number } {
  return withProps(
    new Error(`squeeze-excite: out of host memory: could not allocate ${what} (${(bytes / 1048576).toFixed(1)} MiB). Use a smaller tensor, or free memory.`, { cause }),
    { code: 'ERR_SQEX_OUT_OF_MEMORY', bytes },
  );
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

/** Array.isArray, captured. */
export function isArrayValue(value: unknown): value is unknown[] {
  try {
    return isArray(value);
  } catch {
    return false; // a revoked Proxy: Array.isArray throws; it is no array to read
  }
}

// Object.prototype of this realm or of another (a vm context, where a caller's `{}` is made): a
// prototype-less object whose own `constructor` is a function named 'Object' whose own
// `prototype` is it. Read through property descriptors, so no getter of the caller's runs.
function isObjectPrototype(proto: unknown): boolean {
  if (proto === ObjectPrototype) return true;
  if (typeof proto !== 'object' || proto === null || getPrototypeOf(proto) !== null) return false;
  const ctor = getOwnPropertyDescriptor(proto, 'constructor')?.value as unknown;
  if (typeof ctor !== 'function') return false;
  return getOwnPropertyDescriptor(ctor, 'prototype')?.value === proto && getOwnPropertyDescriptor(ctor, 'name')?.value === 'Object';
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  // A revoked Proxy throws from Array.isArray and getPrototypeOf, another Proxy's trap may throw:
  // either way it is not a plain object, and the caller's refusal must carry its code.
  try {
    if (typeof value !== 'object' || value === null || isArray(value)) return false;
    const proto = getPrototypeOf(value) as unknown;
    return proto === null || isObjectPrototype(proto);
  } catch {
    return false;
  }
}

/** A Map of any realm (util.types.isMap, an internal-slot check), never a Proxy of one. */
export function isMapValue(value: unknown): value is Map<unknown, unknown> {
  // util.types.isMap answers without an exception (the probe threw and caught one for every
  // plain-object state dict), and is false for a Proxy of a Map, as the probe was.
  return isMapIntrinsic(value);
}

/** @internal Classes (DeviceTensor) describe themselves in messages through this method key. */
export const describeHook: unique symbol = Symbol('squeeze-excite.describe');

/** Words for a received value, short and unambiguous ("a Float64Array of length 3"). */
// Never throws: it builds the message of every refusal, and the refused value may be a revoked
// Proxy, a Proxy whose traps throw, or an object with throwing getters. Each probe that could run
// the caller's code (a trap, a getter, a describe hook) is guarded, with a plain fallback.
export function describe(value: unknown): string {
  try {
    return describeUnguarded(value);
  } catch {
    return EXOTIC;
  }
}

const EXOTIC = 'a Proxy or exotic object';

function describeUnguarded(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  switch (typeof value) {
    case 'number':
      return `the number ${ObjectIs(value, -0) ? '-0' : StringCtor(value)}`;
    case 'string': {
      const text = value.length > 40 ? `${StringPrototypeSlice(value, 0, 40)}…` : value;
      return `the string ${JSONStringify(text)}`;
    }
    case 'boolean':
      return `the boolean ${StringCtor(value)}`;
    case 'bigint':
      return `the bigint ${StringCtor(value)}n`;
    case 'symbol':
      return `a symbol (${StringCtor(value.description)})`;
    case 'function':
      return 'a function';
    default:
      break;
  }
  // Internal slots first (intrinsic getters and brand checks run no user code).
  const name = typedArrayName(value);
  if (name !== undefined) {
    const view = value as ArrayBufferView;
    if (isDetached(view)) return `a ${name} whose buffer is detached (transferred)`;
    // A Node Buffer is a Uint8Array; "received a Uint8Array" did not name what was passed.
    if (name === 'Uint8Array' && probe(() => BufferIsBuffer !== undefined && BufferIsBuffer(value)) === true) return `a Buffer of ${lengthOf(view)} bytes`;
    return `${article(name)} ${name} of length ${lengthOf(view)}${isSharedView(view) ? ' (SharedArrayBuffer)' : ''}`;
  }
  if (isView(value)) return 'a DataView';
  const abBytes = probe(() => arrayBufferByteLength(value));
  if (abBytes !== undefined) return `an ArrayBuffer of ${abBytes} bytes`;
  if (sharedArrayBufferByteLength !== undefined) {
    const sabBytes = probe(() => sharedArrayBufferByteLength(value));
    if (sabBytes !== undefined) return `a SharedArrayBuffer of ${sabBytes} bytes`;
  }
  // IsArray throws on a revoked Proxy.
  const array = probe(() => isArray(value));
  if (array === undefined) return EXOTIC;
  if (array) {
    const length = probe(() => (value as unknown[]).length);
    return typeof length === 'number' ? `an Array of length ${length}` : 'an Array';
  }
  // From here every probe may run a trap or a getter.
  const hook = probe(() => (value as { [describeHook]?: unknown })[describeHook]);
  if (typeof hook === 'function') {
    const text = probe(() => StringCtor(ReflectApply(hook as () => unknown, value, [])));
    if (text !== undefined) return text;
  }
  const plain = probe(() => isPlainObject(value));
  if (plain === undefined) return EXOTIC;
  if (plain) return 'an object';
  const ctorName = probe(() => {
    const ctor = (value as { constructor?: { name?: unknown } }).constructor;
    const n = ctor?.name;
    return typeof n === 'string' && n !== '' ? n : undefined;
  });
  if (ctorName === undefined) return 'an object';
  // Past the internal-slot checks above, an object that names a typed array or buffer class is not
  // one (a Proxy of one, Object.create(Float32Array.prototype)): say so, or "must be a
  // Float32Array; received a Float32Array instance" reads as a contradiction.
  if (RegExpPrototypeExec(describedTypedArrayName, ctorName) !== null) {
    return `an object posing as ${article(ctorName)} ${ctorName} (a Proxy of one, or an object made from its prototype), not one itself`;
  }
  // Object.create(proto) with a plain object as proto inherits Object as its constructor: "an
  // Object instance" would read as the plain object it is refused for not being.
  if (ctorName === 'Object') return 'an object whose prototype is not Object.prototype (e.g. made by Object.create(proto))';
  return `${article(ctorName)} ${ctorName} instance`;
}

/** The probe's result, or undefined when it throws. */
function probe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

/** "a" or "an" by the word's first sound: a Uint16Array, an Int16Array, an undefined, a user. */
export function article(word: string): string {
  // An initialism is read letter by letter: "an SEBlock", "a URL".
  if (RegExpPrototypeExec(/^[A-Z]{2}/, word) !== null) return RegExpPrototypeExec(/^[AEFHILMNORSX]/, word) !== null ? 'an' : 'a';
  if (RegExpPrototypeExec(/^(uint|uni(?!nit)|usa|use|usu|uti|eu|one\b|once)/i, word) !== null) return 'a';
  return RegExpPrototypeExec(/^[aeiou]/i, word) !== null ? 'an' : 'a';
}

/** Formats a shape for messages: [1, 64, 56, 56]. */
export function formatShape(shape: readonly number[]): string {
  return `[${joinList(shape, ', ')}]`;
}

/**
 * Words for what a path is when it is not a regular file ("a FIFO (named pipe)"), for the refusals
 * of paths that must be one (the addon binary, a safetensors file).
 */
export function fileKind(st: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'another kind of file';
}
