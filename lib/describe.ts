// Words for a received value in refusals ("a Float64Array of length 3"), never running more of the
// caller's code than a guarded probe, and other small wordings (article, shape, file kind).

import { isMapValue, isObjectPrototype, isProxyValue } from './is.js';
import { ArrayIsArray, JSONStringify, ObjectDefineProperty, ObjectIs, ReflectApply, ReflectGetOwnPropertyDescriptor, ReflectGetPrototypeOf, RegExpPrototypeExec, StringCtor, StringPrototypeSlice, joinList, listAppend } from './primordials.js';
import { arrayBufferByteLength, isDetached, isSharedView, isView, lengthOf, sharedArrayBufferByteLength, typedArrayName } from './typed-arrays.js';

const isArray = ArrayIsArray;
const BufferIsBuffer = typeof Buffer === 'function' ? Buffer.isBuffer : undefined;
const describedTypedArrayName = /^(?:(?:Big)?(?:Int|Uint|Float)(?:8|16|32|64)(?:Clamped)?Array|(?:Shared)?ArrayBuffer|DataView)$/;

/** @internal Classes (DeviceTensor) describe themselves in messages through this method key. */
export const describeHook: unique symbol = Symbol('squeeze-excite.describe');

const ownClasses: { name: string; prototype: object; isOwn: (value: unknown) => boolean }[] = [];
/**
 * Every copy's prototypes carry this registered symbol, so that "another copy of squeeze-excite"
 * is said of its objects only, not of another library's class of the same name (a review).
 */
const CLASS_BRAND: unique symbol = Symbol.for('squeeze-excite.class') as never;

/**
 * @internal The package's classes whose objects are recognised by brand (a private field, an
 * instanceof): each registers its name, prototype and brand check, so that an object of the same
 * name that fails the check is described for what it is. Two copies of the package in one process
 * (a nested node_modules, a library with its own copy) each have their own classes, and "must be
 * an SEBlock; received an SEBlock instance" read as a contradiction (attacks, 2026-12-04).
 */
export function registerOwnClass(name: string, prototype: object, isOwn: (value: unknown) => boolean): void {
  listAppend(ownClasses, { name, prototype, isOwn });
  ObjectDefineProperty(prototype, CLASS_BRAND, { __proto__: null, value: name } as PropertyDescriptor);
}

/** What an object named like one of the package's classes, but not one of this copy's, is. */
function foreignOwnClass(value: object, ctorName: string, proxy: boolean, proto: unknown): string | undefined {
  for (let i = 0; i < ownClasses.length; i++) {
    const c = ownClasses[i]!;
    if (c.name !== ctorName || probe(() => c.isOwn(value)) === true) continue;
    if (proxy || proto === c.prototype) return posing(ctorName);
    // An ordinary prototype's own data property: no caller code runs.
    const brand = probe(() => (isProxyValue(proto) ? undefined : ReflectGetOwnPropertyDescriptor(proto as object, CLASS_BRAND)?.value));
    if (brand !== ctorName) return undefined;
    return `${article(ctorName)} ${ctorName} of another copy of squeeze-excite loaded in this process (npm ls squeeze-excite lists the copies), which this copy cannot use: pass it to the copy that made it, or install one copy (npm dedupe)`;
  }
  return undefined;
}

function posing(ctorName: string): string {
  return `an object posing as ${article(ctorName)} ${ctorName} (a Proxy of one, or an object made from its prototype), not one itself`;
}

/** Words for a received value, short and unambiguous ("a Float64Array of length 3"). */
// Never throws: it builds the message of every refusal, and the refused value may be a revoked
// Proxy, a Proxy whose traps throw, or an object with throwing getters. Each probe that could run
// the caller's code (a trap, a getter, a describe hook) is guarded, with a plain fallback.
export function describe(value: unknown): string {
  try {
    return describeUnguarded(value);
  } catch (err) {
    noteFailure(err);
    return exotic();
  }
}

// A call made at the stack's end (deep recursion) runs out of stack inside these probes: V8's
// RangeError, where a revoked Proxy throws a TypeError. Such a value is not "a Proxy" (an attack,
// 2026-12-03, saw a plain Float32Array described as one), so the last failure's kind is kept.
const RangeErrorIntrinsic = RangeError;
let lastFailureOutOfStack = false;
function noteFailure(err: unknown): void {
  try {
    lastFailureOutOfStack = err instanceof RangeErrorIntrinsic;
  } catch {
    lastFailureOutOfStack = true; // even instanceof failed: out of stack
  }
}
function exotic(): string {
  return lastFailureOutOfStack ? 'a value not described here (JavaScript ran out of stack while describing it)' : EXOTIC;
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
    // A WebAssembly.Memory detaches its old buffer when it grows: no transfer happened there (an
    // attack, 2026-12-04, grew one from an options getter).
    if (isDetached(view)) return `a ${name} whose buffer is detached (transferred, or the WebAssembly.Memory it viewed grew)`;
    // A Node Buffer is a Uint8Array; "received a Uint8Array" did not name what was passed.
    if (name === 'Uint8Array' && probe(() => BufferIsBuffer !== undefined && BufferIsBuffer(value)) === true) return `a Buffer of ${lengthOf(view)} bytes`;
    return `${article(name)} ${name} of length ${lengthOf(view)}${isSharedView(view) ? ' (SharedArrayBuffer)' : ''}`;
  }
  if (isView(value)) return 'a DataView';
  const abBytes = probe(() => arrayBufferByteLength(value));
  if (abBytes !== undefined) return `an ArrayBuffer of ${abBytes} bytes`;
  const sabByteLength = sharedArrayBufferByteLength;
  if (sabByteLength !== undefined) {
    const sabBytes = probe(() => sabByteLength(value));
    if (sabBytes !== undefined) return `a SharedArrayBuffer of ${sabBytes} bytes`;
  }
  // IsArray throws on a revoked Proxy.
  const array = probe(() => isArray(value));
  if (array === undefined) return exotic();
  if (array) {
    const length = probe(() => (value as unknown[]).length);
    return typeof length === 'number' ? `an Array of length ${length}` : 'an Array';
  }
  // From here every probe may run a trap or a getter.
  const proxy = isProxyValue(value);
  // The prototype read once (a Proxy's trap runs once; one that throws is exotic), and a plain
  // object described without reading its `constructor` (a review, 2026-12-04).
  const proto = probe(() => ReflectGetPrototypeOf(value as object));
  if (proto === undefined) return exotic();
  if (proto === null || isObjectPrototype(proto)) return 'an object';
  // The package's own classes first, before the hook (a DeviceTensor made from the prototype would
  // describe itself): an object of another copy, or one posing as an object of this copy.
  const named = probe(() => {
    const ctor = (value as { constructor?: { name?: unknown } }).constructor;
    const n = ctor?.name;
    return typeof n === 'string' && n !== '' ? n : undefined;
  });
  if (named !== undefined) {
    const foreign = foreignOwnClass(value as object, named, proxy, proto);
    if (foreign !== undefined) return foreign;
  }
  // Not asked of a Proxy: its get trap would see the private key and could write the words (an
  // attack, 2026-12-04, had it answer "a Float32Array of length 240" where x was refused).
  const hook = proxy ? undefined : probe(() => (value as { [describeHook]?: unknown })[describeHook]);
  if (typeof hook === 'function') {
    const text = probe(() => StringCtor(ReflectApply(hook as () => unknown, value, [])));
    if (text !== undefined) return text;
  }
  const ctorName = named;
  if (ctorName === undefined) return 'an object';
  // Past the internal-slot checks above, an object that names a typed array or buffer class is not
  // one (a Proxy of one, Object.create(Float32Array.prototype)): say so, or "must be a
  // Float32Array; received a Float32Array instance" reads as a contradiction.
  // So for an Array and a Map (a Vue reactive() Map, Object.create(Array.prototype)): an array or a
  // Map got here only by not being one (an attack, 2026-12-04: "received a Map instance").
  if (
    RegExpPrototypeExec(describedTypedArrayName, ctorName) !== null ||
    ctorName === 'Array' ||
    (ctorName === 'Map' && !isMapValue(value))
  ) {
    return posing(ctorName);
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
  } catch (err) {
    noteFailure(err);
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
