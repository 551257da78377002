// Allocation of the arrays this package makes for a caller, with failure as a coded Error instead
// of V8's uncoded RangeError.

import { Float32ArrayCtor, withProps } from './primordials.js';

/**
 * A new typed array of `length` elements for `what` (a result the caller did not provide).
 * Allocation failure, a RangeError without a code from V8, becomes an Error with code
 * ERR_SQEX_OUT_OF_MEMORY and `bytes`, as the addon's own (native/binding/errors.h).
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

// Captured at load: a global deleted or replaced later must not turn a block's construction into
// an "out of memory" error (an attack, 2026-12-03: ReferenceError as the cause). Absent under
// node --no-harmony-sharedarraybuffer.
const SharedArrayBufferCtor: SharedArrayBufferConstructor | undefined = typeof SharedArrayBuffer === 'function' ? SharedArrayBuffer : undefined;

/**
 * A Float32Array over a new SharedArrayBuffer of `length` elements, as allocateArray; over an
 * ordinary ArrayBuffer where this Node has no SharedArrayBuffer (async calls then stage a copy of
 * it, as of any caller's array).
 */
export function allocateSharedFloat32(length: number, what: string): Float32Array {
  if (SharedArrayBufferCtor === undefined) return allocateArray(Float32ArrayCtor, length, what);
  let sab: SharedArrayBuffer;
  try {
    sab = new SharedArrayBufferCtor(length * 4);
  } catch (err) {
    throw outOfMemory(what, length * 4, err);
  }
  return new Float32ArrayCtor(sab);
}

function outOfMemory(what: string, bytes: number, cause: unknown): Error & { code: string; bytes: number } {
  return withProps(
    new Error(`squeeze-excite: out of host memory: could not allocate ${what} (${(bytes / 1048576).toFixed(1)} MiB). Use a smaller tensor, or free memory.`, { cause }),
    { code: 'ERR_SQEX_OUT_OF_MEMORY', bytes },
  );
}

