// Argument checks' errors, shared by every public entry point. Every thrown message has the same
// shape:
//   `${fnName}: ${argName} must be ${expected}; received ${received}`
// TypeError for a value of the wrong kind, RangeError for the right kind with a wrong value, each
// with a `code` (Node's conventions) and the argument it is about in `argument`, and, where there
// is one, the usual fix for what was received.

import { describe } from './describe.js';
import { isPlainObject, isPromiseValue } from './is.js';
import { ArrayIsArray, ObjectHasOwn, ReflectGetOwnPropertyDescriptor, StringPrototypeIncludes, StringPrototypeSlice, defineOwn, withProps } from './primordials.js';
import { typedArrayName } from './typed-arrays.js';

const isArray = ArrayIsArray;
// As at load: a replaced globalThis.TypeError must not turn every refusal into another error.
const TypeErrorCtor = TypeError;
const RangeErrorCtor = RangeError;
const BufferIsBuffer = typeof Buffer === 'function' ? Buffer.isBuffer : undefined;

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
  // The result of an …Async call passed on without await (x, a weight, out, a shape).
  if (isPromiseValue(value)) return 'This is a Promise: await it first (as in const y = await seForwardAsync(…)) and pass what it resolves to';
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
    if (isArray(value) && StringPrototypeIncludes(expected, 'a Float32Array')) {
      // PyTorch's .tolist() nests: Float32Array.from of a nested Array is all NaN (a newcomer's
      // ECA weight of length 1, NaN, then ran).
      return nestedArray(value)
        ? "To convert a nested Array (PyTorch's .tolist()): Float32Array.from(value.flat(Infinity))"
        : 'To convert an Array of numbers: Float32Array.from(value)';
    }
    // A number for CBAM's spatialBias, the spatial conv's one-element bias (not for any other
    // array: a one-element w1 or out would only meet the next refusal).
    if (typeof value === 'number' && arg === 'weights.spatialBias') return `To pass the one bias value: Float32Array.of(${value})`;
  }
  // A readSafetensors file where a block's weights go.
  if (arg === 'weights' && describe(value) === 'a SafetensorsFile instance') {
    return 'A SafetensorsFile holds a whole state dict: build the block with SEBlock/ECABlock/CBAMBlock.fromStateDict(file, prefix, { kind }) (`npx squeeze-excite inspect FILE` prints each module\'s prefix and kind)';
  }
  // An array-like ({ 0: 2, 1: 8, ..., length: 4 }: JSON of an Int32Array, a tensor library's shape
  // object) is a shape, not options in its place (an attack, 2026-12-04). Own data properties only.
  if (arg === 'shape' && isPlainObject(value) && typeof ownData(value, 'length') === 'number' && ownData(value, '0') !== undefined) {
    return 'To pass an array-like shape: Array.from(shape)';
  }
  // forward(x, { out }) with a Float32Array x, as the GPU examples write forward(xd, { out: yd }).
  if (arg === 'shape' && isPlainObject(value)) {
    return 'An object came where the shape goes: a Float32Array x always needs its shape [N, C, H, W] after it; only a DeviceTensor x, which carries its shape, may leave it out';
  }
  if (StringPrototypeIncludes(expected, '[N, C, H, W]') && isArray(value)) {
    if (value.length === 3) return 'A single image [C, H, W] is the batch of one [1, C, H, W]';
    if (value.length === 2) return 'A [N, C] tensor is [N, C, 1, 1]';
  }
  // A shape kept in a typed array (tensor libraries' shape buffers, an Int32Array from a parser).
  if (StringPrototypeIncludes(expected, '[N, C, H, W]') && name !== undefined) return 'To pass a shape held in a typed array: Array.from(shape)';
  return undefined;
}

/** Whether one of the first 8 elements of an Array is an Array (a throwing getter or trap: no). */
function nestedArray(value: unknown[]): boolean {
  try {
    const n = value.length;
    for (let i = 0; i < n && i < 8; i++) if (isArray(value[i])) return true;
  } catch {
    // a Proxy's trap: no hint
  }
  return false;
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
  return coded(new TypeErrorCtor(withHint(`${fn}: ${arg} must be ${expected}; received ${describe(value)}`, arg, expected, value, fix)), 'ERR_INVALID_ARG_TYPE', arg);
}

/** As typeError, with what was received already in words. */
export function typeErrorText(fn: string, arg: string, expected: string, received: string): ArgumentError {
  return coded(new TypeErrorCtor(`${fn}: ${arg} must be ${expected}; received ${received}`), 'ERR_INVALID_ARG_TYPE', arg);
}

/** As typeError, for a value of the right kind out of range. */
export function rangeError(fn: string, arg: string, expected: string, value: unknown, fix?: string): ArgumentError {
  return coded(new RangeErrorCtor(withHint(`${fn}: ${arg} must be ${expected}; received ${describe(value)}`, arg, expected, value, fix)), 'ERR_OUT_OF_RANGE', arg);
}

/** As rangeError, with the received part already worded (e.g. a computed product). */
export function rangeErrorText(fn: string, arg: string, expected: string, received: string): ArgumentError {
  return coded(new RangeErrorCtor(`${fn}: ${arg} must be ${expected}; received ${received}`), 'ERR_OUT_OF_RANGE', arg);
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
    throw unreadableError(fn, arg, expected, value, cause);
  }
}

/**
 * The TypeError for an argument whose getter or Proxy trap threw `cause` (readGuarded's; also
 * for reads that run inline on hot paths, without a closure).
 */
export function unreadableError(fn: string, arg: string, expected: string | (() => string), value: unknown, cause: unknown): TypeError {
  // `expected` may be a function: its text is built only for a refusal, not on every call.
  const e = typeError(fn, arg, typeof expected === 'function' ? expected() : expected, value);
  let why = '';
  try {
    why = cause instanceof Error ? `: ${cause.message}` : '';
  } catch {
    why = '';
  }
  e.message += `, whose properties could not be read${why}. Pass plain data: an object or array whose values are there to read (no getter or Proxy trap that throws)`;
  defineOwn(e, 'cause', cause);
  return e;
}

/** An Error with a code (not about an argument's kind or value: state, availability). */
export function codedError(message: string, code: string): Error & { code: string } {
  return withProps(new Error(message), { code });
}

/** An own data property's value (no getter runs; a Proxy's trap may, guarded), else undefined. */
function ownData(value: object, key: string): unknown {
  try {
    const d = ReflectGetOwnPropertyDescriptor(value, key);
    // ObjectHasOwn, not `in`: a polluted Object.prototype.value would pass an accessor for data.
    return d !== undefined && ObjectHasOwn(d, 'value') ? d.value : undefined;
  } catch {
    return undefined;
  }
}
