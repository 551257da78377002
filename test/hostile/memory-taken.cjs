// Memory taken right after the addon read what the system has: its guards must not let a call
// through on that reading. The memory cgroup's limit is lowered here, which takes effect at once (a
// container's neighbour, or this process's own allocations, do the same, only slower). A first form
// of CPU CBAM's guard kept a reading for 100 ms for calls under a quarter of it, and the async
// staging did (and still does, within 4 MiB); a review lowered the limit 0.15 ms after a reading
// and the next call was OOM-killed (exit 137) where a fresh reading refuses it. Run by
// test/memory-safety.test.ts inside a 512 MiB memory cgroup, whose folder is SQEX_CGROUP_DIR.
'use strict';
const { sqex, check, done, outcome, report, memoryCgroupFiles } = require('./common.cjs');

const MiB = 1 << 20;
const cgroup = memoryCgroupFiles();
const lowerLimitTo = cgroup.leave;

const small = [1, 1, 8, 8];
const xs = new Float32Array(64).fill(0.3);
const wc = { w1: new Float32Array(1).fill(0.5), w2: new Float32Array(1).fill(0.5), spatialWeight: new Float32Array(2 * 7 * 7).fill(0.1) };
const ws = { w1: new Float32Array(1).fill(0.5), w2: new Float32Array(1).fill(0.5) };
// 1x1x1024x2048: CBAM needs 48 MiB of maps and output; a staged SE call stages 8 MiB of x and
// reserves 8 MiB for y.
const shape = [1, 1, 1024, 2048];
const x = new Float32Array(1024 * 2048).fill(0.3);
const out = new Float32Array(1024 * 2048).fill(1234.5);

(async () => {
  // CBAM (sync): a small call, the limit drops to 24 MiB over what is used, the 48 MiB call (which reads).
  sqex.cbamForward(xs, small, wc, { device: 'cpu' });
  lowerLimitTo(24 * MiB);
  let e = (await outcome((async () => sqex.cbamForward(x, shape, wc, { device: 'cpu', out }))())).error;
  check(e && e.code === 'ERR_SQEX_OUT_OF_MEMORY', `CBAM with 24 MiB left: refused (${e ? e.code : 'it ran'})`);
  check(out[0] === 1234.5, 'the refused CBAM call wrote nothing');
  cgroup.setLimit(512 * MiB);

  // The async staging (SE, offload 'always'): a small staged call (which reads), the limit drops to 64 MiB
  // over what is used (the staging keeps 128 MiB for the rest of the process), the 16 MiB call.
  await sqex.seForwardAsync(xs, small, ws, { device: 'cpu', offload: 'always' });
  lowerLimitTo(64 * MiB);
  e = (await outcome(sqex.seForwardAsync(x, shape, ws, { device: 'cpu', out, offload: 'always' }))).error;
  check(e && e.code === 'ERR_SQEX_OUT_OF_MEMORY', `staged SE with 64 MiB left: refused (${e ? e.code : 'it ran'})`);
  check(out[0] === 1234.5, 'the refused staged call wrote nothing');
  cgroup.setLimit(512 * MiB);
  // and once there is memory again, both run
  check(sqex.cbamForward(x, shape, wc, { device: 'cpu', out })[0] !== 1234.5, 'CBAM runs again');
  out.fill(1234.5);
  check((await sqex.seForwardAsync(x, shape, ws, { device: 'cpu', out, offload: 'always' }))[0] !== 1234.5, 'the staged call runs again');
  report.v2 = cgroup.v2;
  done();
})().catch((err) => {
  check(false, `unexpected: ${err && err.stack}`);
  done();
});
