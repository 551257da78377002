// Async calls queued faster than they run, in a memory cgroup whose limit they would pass: each
// call over host arrays stages its inputs when it is made and reserves its output, and under
// overcommit the allocations succeed, so before the staging checked what the system (and the
// cgroup) had available, the kernel's OOM killer ended the process (an attack: 1000 calls of a
// 16 MiB tensor on a 23 GiB machine; here 200 calls of 16 MiB under a 512 MiB limit). Now the
// calls past what fits reject with ERR_SQEX_OUT_OF_MEMORY, the others settle with the sync
// call's values, and the process goes on. Run by test/memory-safety.test.ts inside such a cgroup.
'use strict';
const { sqex, rng, fill, check, sameBits, done } = require('./common.cjs');

const r = rng(Number(process.env.SQEX_SEED) || 7);
const shape = [4, 64, 128, 128]; // 16 MiB
const n = shape.reduce((a, b) => a * b, 1);
const x = fill(new Float32Array(n), r);
const w = { w1: fill(new Float32Array(8 * 64), r, 0.1), w2: fill(new Float32Array(64 * 8), r, 0.1), b2: fill(new Float32Array(64), r, 0.1) };
const calls = Number(process.env.SQEX_OVERCOMMIT_CALLS) || 200;

(async () => {
  const ref = sqex.seForward(x, shape, w);
  const settled = await Promise.allSettled(Array.from({ length: calls }, () => sqex.seForwardAsync(x, shape, w, { offload: 'always' })));
  let fulfilled = 0;
  let refused = 0;
  for (const s of settled) {
    if (s.status === 'fulfilled') {
      fulfilled++;
      check(sameBits(s.value, ref), 'a call that was not refused: the sync call\'s bits');
    } else {
      refused++;
      const e = s.reason;
      check(e && e.code === 'ERR_SQEX_OUT_OF_MEMORY', `refused with code ${e && e.code}: ${e && e.message}`);
      check(typeof e.available === 'number' && typeof e.reserved === 'number' && e.bytes === n * 4, `the refusal's numbers: ${e && e.message}`);
      check(/Await some of the calls in flight before making more|Use a smaller batch/.test(e.message), `the refusal's fix: ${e && e.message}`);
    }
  }
  check(fulfilled > 0, `some calls ran (${fulfilled})`);
  check(refused > 0, `some calls were refused (${refused}): the limit was not reached`);
  // Once the queue has drained, calls run again.
  check(sameBits(await sqex.seForwardAsync(x, shape, w, { offload: 'always' }), ref), 'a call after the queue drained');
  require('./common.cjs').report.fulfilled = fulfilled;
  require('./common.cjs').report.refused = refused;
  done();
})();
