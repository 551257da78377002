// Code that runs before squeeze-excite loads can hand the binding an allocator that keeps the
// result arrays it returns: by patching Buffer.allocUnsafeSlow or %TypedArray%.prototype.buffer
// before the package captures them, or by loading the .node itself and registering its own
// allocator first. The binding must not rely on that array being anyone's but its own:
//   - a sync call takes its pointers after the allocator ran, and no JS runs during the kernel;
//   - an async call stages the result like an out: if the kept buffer is detached while the call
//     runs, the call rejects with ERR_SQEX_ARRAY_CHANGED and writes nothing; the process lives.
// Before (2026-11-30, found by an attack run): SIGSEGV / heap-use-after-free under ASan.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const mode = process.env.SQEX_PRELOAD_MODE;
let kept = null;
if (mode === 'allocslow') {
  const orig = Buffer.allocUnsafeSlow;
  Buffer.allocUnsafeSlow = function (n) {
    const b = orig.call(Buffer, n);
    kept = b.buffer;
    return b;
  };
} else if (mode === 'buffer-getter') {
  const proto = Reflect.getPrototypeOf(Uint8Array.prototype);
  const get = Object.getOwnPropertyDescriptor(proto, 'buffer').get;
  Object.defineProperty(proto, 'buffer', {
    configurable: true,
    get() {
      const ab = get.call(this);
      if (this instanceof Buffer) kept = ab;
      return ab;
    },
  });
}
let directRegistered = null;
if (mode === 'direct') {
  const file = process.env.SQUEEZE_EXCITE_BINARY || path.resolve(path.dirname(process.env.SQEX_DIST), '..', 'build', 'Release', 'squeeze_excite.node');
  if (fs.existsSync(file)) {
    const raw = require(file);
    directRegistered = raw.setResultAllocator((bytes) => {
      kept = new ArrayBuffer(bytes);
      return kept;
    });
  }
}
const { rng, fill, weightsFor, fns, stagedAsyncFns, check, sameBits, done, transfer, gc } = require('./common.cjs');

(async () => {
  if (mode === 'direct') check(directRegistered === true, `direct: the first registration did not take (${directRegistered})`);
  const r = rng(Number(process.env.SQEX_SEED) || 5);
  const shape = [2, 32, 12, 12];
  const n = 2 * 32 * 144;
  const x = fill(new Float32Array(n), r, 3);
  for (const op of ['se', 'eca', 'cbam']) {
    const w = weightsFor(op, 32, r);
    const expected = fns[op](x, shape, w, { device: 'cpu', out: new Float32Array(n) });
    kept = null;
    const y = fns[op](x, shape, w, { device: 'cpu' });
    check(sameBits(y, expected), `${mode} ${op}: sync result`);
    check(kept !== null, `${mode} ${op}: the patch did not see the result's buffer (nothing tested)`);
    // Async, the kept buffer left alone: resolves with the right bits.
    kept = null;
    check(sameBits(await stagedAsyncFns[op](x, shape, w, { device: 'cpu' }), expected), `${mode} ${op}: async result`);
    // Async, the kept buffer transferred away while the call runs.
    kept = null;
    const p = stagedAsyncFns[op](x, shape, w, { device: 'cpu' });
    if (kept) {
      transfer(kept);
      gc();
    }
    try {
      await p;
      check(false, `${mode} ${op}: resolved although its result's buffer was transferred away`);
    } catch (err) {
      check(err && err.code === 'ERR_SQEX_ARRAY_CHANGED', `${mode} ${op}: ${err && err.code} ${err && err.message}`);
    }
    // And the process goes on.
    check(sameBits(fns[op](x, shape, w, { device: 'cpu' }), expected), `${mode} ${op}: sync result afterwards`);
  }
  done();
})().catch((err) => {
  check(false, `unexpected: ${err && err.stack}`);
  done();
});
