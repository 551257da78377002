// The array a call returns without `out` comes from Buffer.allocUnsafeSlow (not zero-filled;
// native/binding/result_array.h), so the kernels must write every element of it. Here freed
// NaN-filled blocks of the result's size are left in the allocator right before each call (on
// the main thread with --expose-gc, glibc hands them to the next allocation of that size: the
// probe checks it), so an element a kernel skipped shows up as NaN or as stale data, and every
// result must equal the `out` form bit for bit.
'use strict';
const { rng, fill, weightsFor, fns, stagedAsyncFns, check, sameBits, done, gc } = require('./common.cjs');

// Returns whether a probe allocation of that size landed on the garbage (then more is left).
const alive = [];
let probes = 0;
let reused = 0;
// V8 frees dead backing stores from a background sweeper after the GC: give it a moment.
async function leaveNaNGarbage(bytes) {
  for (let i = 0; i < 6; i++) Buffer.allocUnsafeSlow(bytes).fill(0xff);
  gc();
  await new Promise((resolve) => setTimeout(resolve, 5));
  probes++;
  const probe = Buffer.allocUnsafeSlow(bytes);
  alive.push(probe);
  if (ffFraction(probe) > 0.5) reused++;
}
function ffFraction(buf) {
  let ff = 0;
  for (const b of buf) if (b === 0xff) ff++;
  return ff / buf.length;
}

(async () => {
  const r = rng(Number(process.env.SQEX_SEED) || 11);
  // Below glibc's initial mmap threshold (128 KiB), where freed blocks are reused at once.
  const shapes = [
    [1, 16, 8, 9],
    [3, 8, 9, 9],
    [2, 32, 11, 13],
  ];
  for (const shape of shapes) {
    const n = shape[0] * shape[1] * shape[2] * shape[3];
    const x = fill(new Float32Array(n), r, 4);
    for (const op of ['se', 'eca', 'cbam']) {
      const w = weightsFor(op, shape[1], r);
      for (const layout of ['NCHW', 'NHWC']) {
        // Every array of this size stays alive, so the only free blocks of it are the garbage.
        const expected = fns[op](x, shape, w, { device: 'cpu', layout, out: new Float32Array(n).fill(NaN) });
        alive.push(expected);
        check(!expected.some(Number.isNaN), `${op} ${shape} ${layout}: the out form left NaN`);
        await leaveNaNGarbage(n * 4);
        const y = fns[op](x, shape, w, { device: 'cpu', layout });
        alive.push(y);
        check(sameBits(y, expected), `${op} ${shape} ${layout} sync`);
        await leaveNaNGarbage(n * 4);
        const ya = await stagedAsyncFns[op](x, shape, w, { device: 'cpu', layout });
        alive.push(ya);
        check(sameBits(ya, expected), `${op} ${shape} ${layout} async`);
      }
    }
  }
  // The check has teeth only if the garbage is where results land: most probes must find it.
  if (!process.env.SQEX_NO_REUSE_PROBE) check(reused >= probes / 2, `NaN garbage reused by ${reused} of ${probes} probe allocations`);
  process.stderr.write(`garbage reused by ${reused} of ${probes} probes\n`);
  done();
})().catch((err) => {
  check(false, `unexpected: ${err && err.stack}`);
  done();
});
