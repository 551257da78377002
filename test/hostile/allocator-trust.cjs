// The result allocator (native/binding/result_array.h) runs inside every call without `out`. When
// it ran after the operands' pointers were taken and async calls wrote its array in place, a
// replacement could corrupt memory (below); the binding no longer relies on it (it runs first, and
// async results are staged: allocator-preload.cjs), and only lib/'s own allocator (Buffer.allocUnsafeSlow
// captured at load) is registered. User code that runs after the package loaded cannot replace it:
//   - through the binding itself: require(loadReport().binary) returns the very exports object lib
//     uses, so setResultAllocator(fn) was reachable; fn could detach scaleOut under the kernel
//     (heap-use-after-free write, seen under ASan) or keep the result and detach it while an async
//     call wrote it (SIGSEGV). Now the first registration stays and later ones return false;
//   - through Buffer.allocUnsafeSlow or %TypedArray%.prototype.buffer patched after load.
'use strict';
const { sqex, rng, fill, weightsFor, check, sameBits, done, gc } = require('./common.cjs');

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
// Transfers the buffer away and lets the GC free it: the old views now point at freed memory.
function drop(buf) {
  structuredClone(buf, { transfer: [buf] });
  gc();
  sleep(20);
  gc();
}

(async () => {
  const r = rng(Number(process.env.SQEX_SEED) || 9);
  const shape = [2, 64, 24, 24];
  const n = 2 * 64 * 24 * 24;
  const x = fill(new Float32Array(n), r, 3);
  const w = weightsFor('se', 64, r);
  const expected = sqex.seForward(x, shape, w, { device: 'cpu', out: new Float32Array(n).fill(NaN) });
  const expectedS = new Float32Array(2 * 64).fill(NaN);
  sqex.seForward(x, shape, w, { device: 'cpu', out: new Float32Array(n), scaleOut: expectedS });

  const raw = require(sqex.loadReport().binary);
  check(typeof raw.setResultAllocator === 'function', 'the binding exports setResultAllocator');

  // Refused shapes of the argument still carry a code.
  for (const bad of [undefined, 1, {}, 'f']) {
    try {
      raw.setResultAllocator(bad);
      check(false, `setResultAllocator(${String(bad)}): no error`);
    } catch (err) {
      check(err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE', `setResultAllocator(${String(bad)}): ${err.code}`);
    }
  }

  // A second registration changes nothing.
  let calls = 0;
  let kept = null;
  let victim = null;
  const hostile = (bytes) => {
    calls++;
    if (victim) drop(victim.buffer); // free scaleOut under the sync call
    kept = new ArrayBuffer(bytes);
    return kept;
  };
  const registered = raw.setResultAllocator(hostile);
  check(registered === false, `a second setResultAllocator returned ${registered}, expected false`);

  // Sync: scaleOut freed by the allocator would be written after free.
  victim = new Float32Array(2 * 64).fill(NaN);
  const s1 = victim;
  const y = sqex.seForward(x, shape, w, { device: 'cpu', scaleOut: s1 });
  victim = null;
  check(sameBits(y, expected), 'sync result');
  check(s1.length === 128 && sameBits(s1, expectedS), 'scaleOut written and still attached');

  // Async: a result the allocator kept and detached under the call.
  const pending = sqex.seForwardAsync(x, shape, w, { device: 'cpu' });
  if (kept) drop(kept);
  const ya = await pending;
  check(ya.length === n && sameBits(ya, expected), `async result (length ${ya.length})`);

  // Blocks too.
  const block = new sqex.SEBlock(w, { device: 'cpu' });
  check(sameBits(block.forward(x, shape), expected), 'SEBlock.forward');
  check(sameBits(await block.forwardAsync(x, shape), expected), 'SEBlock.forwardAsync');
  check(calls === 0, `the second allocator ran ${calls} times`);

  // Intrinsics patched after load do not reach the allocator lib registered.
  const TAP = Reflect.getPrototypeOf(Uint8Array.prototype);
  const bufferDesc = Reflect.getOwnPropertyDescriptor(TAP, 'buffer');
  const allocUnsafeSlow = Buffer.allocUnsafeSlow;
  let patched = 0;
  Buffer.allocUnsafeSlow = (size) => {
    patched++;
    return allocUnsafeSlow.call(Buffer, size);
  };
  Object.defineProperty(TAP, 'buffer', {
    configurable: true,
    get() {
      patched++;
      return bufferDesc.get.call(this);
    },
  });
  try {
    const yp = sqex.seForward(x, shape, w, { device: 'cpu' });
    const yq = await sqex.seForwardAsync(x, shape, w, { device: 'cpu' });
    check(patched === 0, `patched Buffer.allocUnsafeSlow / buffer getter ran ${patched} times`);
    check(sameBits(yp, expected) && sameBits(yq, expected), 'results with patched intrinsics');
  } finally {
    Buffer.allocUnsafeSlow = allocUnsafeSlow;
    Object.defineProperty(TAP, 'buffer', bufferDesc);
  }
  done();
})().catch((err) => {
  check(false, `unexpected: ${err && err.stack}`);
  done();
});
