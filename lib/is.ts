// Argument checks shared by every public entry point. Each check either returns the value
// narrowed or throws, and every thrown message has the same shape:
//   `${fnName}: ${argName} must be ${expected}; received ${received}`
// TypeError for a value of the wrong kind, RangeError for the right kind with a wrong value.

/** Largest element count accepted for one tensor (the native kernels index with int32 strides). */
export const MAX_ELEMENTS = 2 ** 31 - 1;

export function typeError(fn: string, arg: string, expected: string, value: unknown): TypeError {
  return new TypeError(`${fn}: ${arg} must be ${expected}; received ${describe(value)}`);
}

export function rangeError(fn: string, arg: string, expected: string, value: unknown): RangeError {
  return new RangeError(`${fn}: ${arg} must be ${expected}; received ${describe(value)}`);
}

/** As rangeError, with the received part already worded (e.g. a computed product). */
export function rangeErrorText(fn: string, arg: string, expected: string, received: string): RangeError {
  return new RangeError(`${fn}: ${arg} must be ${expected}; received ${received}`);
}

// %TypedArray%.prototype[Symbol.toStringTag] reads the internal slot, so it names the real
// element type even for arrays from another realm and cannot be spoofed by a plain object.
const typedArrayTag = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype) as object,
  Symbol.toStringTag,
)?.get as ((this: unknown) => string | undefined) | undefined;

export function typedArrayName(value: unknown): string | undefined {
  if (typedArrayTag === undefined || !ArrayBuffer.isView(value)) return undefined;
  return typedArrayTag.call(value);
}

export function isFloat32Array(value: unknown): value is Float32Array {
  return typedArrayName(value) === 'Float32Array';
}

export function isUint16Array(value: unknown): value is Uint16Array {
  return typedArrayName(value) === 'Uint16Array';
}

/**
 * A view whose buffer was transferred (postMessage, structuredClone with transfer,
 * ArrayBuffer.prototype.transfer). Node 22+ has ArrayBuffer.prototype.detached; on Node 20 a
 * detached buffer reads as byteLength 0 and, unlike a genuinely empty one, throws on slice().
 */
export function isDetached(view: ArrayBufferView): boolean {
  const buffer = view.buffer as ArrayBufferLike & { detached?: boolean };
  if (typeof buffer.detached === 'boolean') return buffer.detached;
  if (buffer.byteLength !== 0 || !(buffer instanceof ArrayBuffer)) return false;
  try {
    buffer.slice(0, 0);
    return false;
  } catch {
    return true;
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Classes (DeviceTensor) describe themselves in messages through this method key. */
export const describeHook: unique symbol = Symbol('squeeze-excite.describe');

/** Words for a received value, short and unambiguous ("a Float64Array of length 3"). */
export function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  switch (typeof value) {
    case 'number':
      return `the number ${Object.is(value, -0) ? '-0' : String(value)}`;
    case 'string': {
      const text = value.length > 40 ? `${value.slice(0, 40)}…` : value;
      return `the string ${JSON.stringify(text)}`;
    }
    case 'boolean':
      return `the boolean ${String(value)}`;
    case 'bigint':
      return `the bigint ${String(value)}n`;
    case 'symbol':
      return `a symbol (${String(value.description)})`;
    case 'function':
      return 'a function';
    default:
      break;
  }
  const name = typedArrayName(value);
  if (name !== undefined) {
    const view = value as ArrayBufferView & { length: number };
    if (isDetached(view)) return `a ${name} whose buffer is detached (transferred)`;
    return `${article(name)} ${name} of length ${view.length}`;
  }
  if (ArrayBuffer.isView(value)) return 'a DataView';
  if (value instanceof ArrayBuffer) return `an ArrayBuffer of ${value.byteLength} bytes`;
  if (Array.isArray(value)) return `an Array of length ${value.length}`;
  const hook = (value as { [describeHook]?: unknown })[describeHook];
  if (typeof hook === 'function') return String((hook as () => unknown).call(value));
  if (isPlainObject(value)) return 'an object';
  const ctor = (value as { constructor?: { name?: unknown } }).constructor;
  const ctorName = typeof ctor?.name === 'string' && ctor.name !== '' ? ctor.name : undefined;
  return ctorName === undefined ? 'an object' : `${article(ctorName)} ${ctorName} instance`;
}

function article(word: string): string {
  return /^[AEIOU]/i.test(word) ? 'an' : 'a';
}

/** Formats a shape for messages: [1, 64, 56, 56]. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
