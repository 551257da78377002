// The memory of result arrays, handed to the addon at load (setResultAllocator).

import { bufferOf } from '../typed-arrays.js';
import { nodeBuffer } from '../node-builtins.js';

// Captured at load, as Node core's primordials (the buffer getter through lib/typed-arrays.ts's bufferOf):
// later changes to Buffer or the prototypes do not reach the allocator the addon calls.
// Buffer is the global (no import: see lib/node-builtins.ts).
const NodeBuffer = Buffer;
const allocUnsafeSlow = NodeBuffer.allocUnsafeSlow;
const reflectApply = Reflect.apply;
const NodeArrayBuffer = ArrayBuffer;
// A Buffer holds at most buffer.constants.MAX_LENGTH bytes (4 GiB on Node 20), less than a V8
// ArrayBuffer and than the largest result (2^31 - 1 elements, 8 GiB); past it allocUnsafeSlow
// throws ERR_OUT_OF_RANGE, which the addon would report as out of memory.
const maxBufferBytes = nodeBuffer.constants.MAX_LENGTH;

/**
 * The memory of a result array (a call without `out`): not zero-filled, since the kernel writes
 * every element before the array is returned, which saves a full write pass over it; and a
 * failure is a catchable RangeError (the addon turns it into ERR_SQEX_OUT_OF_MEMORY) where
 * Node-API's own allocation would end the process.
 */
export function allocateResult(bytes: number): ArrayBuffer {
  // Larger than a Buffer can be: V8's own (zero-filled) allocation, whose failure is a RangeError too.
  if (bytes > maxBufferBytes) return new NodeArrayBuffer(bytes);
  return bufferOf(reflectApply(allocUnsafeSlow, NodeBuffer, [bytes]) as Buffer) as ArrayBuffer;
}
