// Two Workers make the same call at the same moment, with the memory cgroup's limit set so that
// one call fits and two do not: CPU CBAM's guard (maps and output of the calls running) and the
// async staging (input blocks not yet copied) must count each other's calls, so one is refused
// with ERR_SQEX_OUT_OF_MEMORY and the other runs, where both passed and the OOM killer ended the
// process (a review, 2026-12-05: CBAM 192 MiB calls with 250 MiB left; staged in-place SE calls of
// 256 MiB with 400 left). Run by test/memory-safety.test.ts inside a memory cgroup
// (SQEX_CGROUP_DIR), once for each SQEX_GUARD ('cbam', 'staging').
'use strict';
const { Worker, isMainThread, workerData, parentPort } = require('node:worker_threads');

const MiB = 1 << 20;
const H = 1024, W = 2048, N = H * W; // 8 MiB a tensor
const kind = process.env.SQEX_GUARD;
if (isMainThread) {
  const { check, done, report, memoryCgroupFiles } = require('./common.cjs');
  const cgroup = memoryCgroupFiles();
  // CBAM: 1x1x1024x2048 needs 48 MiB of maps and output, and the guard keeps 32 MiB: with 88 MiB
  // left one fits, and two (96 MiB) would not. Staging: an in-place SE call over 1x24x1024x2048
  // (192 MiB) stages x and keeps 128 MiB for the rest of the process: with 340 MiB left one fits,
  // and two (384 MiB) would not.
  const left = kind === 'cbam' ? 88 : 340;
  const sab = new SharedArrayBuffer(4);
  const flag = new Int32Array(sab);
  const outcomes = [];
  let ready = 0;
  for (let i = 0; i < 2; i++) {
    const w = new Worker(__filename, { workerData: { sab, i, kind, dist: process.env.SQEX_DIST } });
    w.on('message', (m) => {
      if (m === 'ready') {
        if (++ready === 2) {
          cgroup.leave(left * MiB);
          Atomics.store(flag, 0, 1);
          Atomics.notify(flag, 0);
        }
        return;
      }
      outcomes.push(m);
      if (outcomes.length < 2) return;
      for (const o of outcomes) check(o.ok || o.code === 'ERR_SQEX_OUT_OF_MEMORY', `worker ${o.i}: ran, or was refused as out of memory (${o.code}: ${o.message})`);
      check(outcomes.some((o) => o.ok), `one of the two calls ran: ${JSON.stringify(outcomes)}`);
      report.refused = outcomes.filter((o) => !o.ok).length;
      done();
    });
    w.on('error', (e) => check(false, `worker error: ${e && e.stack}`));
  }
} else {
  const sqex = require(workerData.dist);
  const flag = new Int32Array(workerData.sab);
  const reply = (ok, e, y0) => parentPort.postMessage({ i: workerData.i, ok, code: e && e.code, message: e && e.message, y0 });
  if (workerData.kind === 'cbam') {
    const x = new Float32Array(N).fill(0.3);
    const w = { w1: new Float32Array(1).fill(0.5), w2: new Float32Array(1).fill(0.5), spatialWeight: new Float32Array(98).fill(0.1) };
    parentPort.postMessage('ready');
    Atomics.wait(flag, 0, 0);
    try {
      // no out: the result's 8 MiB are new memory too, as the maps' 40
      const y = sqex.cbamForward(x, [1, 1, H, W], w, { device: 'cpu' });
      reply(y.length === N && Number.isFinite(y[0]), null, y[0]);
    } catch (e) {
      reply(false, e);
    }
  } else {
    const x = new Float32Array(24 * N).fill(0.3);
    const w = { w1: new Float32Array(24).fill(0.02), w2: new Float32Array(24).fill(0.5) };
    sqex.seForwardAsync(new Float32Array(64).fill(1), [1, 1, 8, 8], { w1: w.w1.subarray(0, 1), w2: w.w2.subarray(0, 1) }, { device: 'cpu', offload: 'always' }).then(() => {
      parentPort.postMessage('ready');
      Atomics.wait(flag, 0, 0);
      sqex.seForwardAsync(x, [1, 24, H, W], w, { device: 'cpu', out: x, offload: 'always' }).then(
        (y) => reply(true, null, y[0]),
        (e) => reply(false, e),
      );
    });
  }
}
