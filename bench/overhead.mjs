// Host overhead of one forward call on resident DeviceTensors, two ways:
//  - host µs: bursts of 100 calls, each burst after a synchronize (so the GPU's launch queue starts
//    empty and never fills: the calls return as soon as they have enqueued), median over bursts of
//    the burst's time / 100. This is the time the calling thread spends per call.
//  - steady µs: 10k back-to-back calls (then one synchronize). Once the launch queue is full, a
//    call waits for the GPU to retire one, so this is max(host, GPU time per op): for these tiny
//    tensors the GPU's per-launch time (~7-12 µs on the H200 at batch 1) is the larger, and the
//    2026-11-30 table's "10.0-11.0 µs per call" was this number, not the host's.
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

import { xorshiftFiller } from './random.mjs';

const require = createRequire(import.meta.url);

export async function runOverheadBench({ calls = 10_000, log = () => {} } = {}) {
  const api = require('../dist/index.js');
  const native = require('../dist/backend/load.js').loadBinding();
  const rows = [];
  for (const [n, c, h, w] of [[1, 64, 4, 4], [1, 2048, 7, 7]]) {
    const rand = xorshiftFiller(c);
    const hidden = Math.max(8, c / 16);
    const weights = { w1: rand(hidden * c, 0.1), b1: rand(hidden, 0.1), w2: rand(c * hidden, 0.1), b2: rand(c, 0.1) };
    const shape = [n, c, h, w];
    const x = api.DeviceTensor.from(rand(n * c * h * w, 1), shape, { dtype: 'float16' });
    const out = api.DeviceTensor.empty(shape, { dtype: 'float16' });
    const block = new api.SEBlock(weights, { device: 'cuda', dtype: 'float16' });
    // The weights as float32 DeviceTensors in PyTorch's 1×1-conv shapes: nothing uploaded per call.
    const deviceWeights = {
      w1: api.DeviceTensor.from(weights.w1, [hidden, c, 1, 1]),
      b1: api.DeviceTensor.from(weights.b1, [hidden, 1, 1, 1]),
      w2: api.DeviceTensor.from(weights.w2, [c, hidden, 1, 1]),
      b2: api.DeviceTensor.from(weights.b2, [c, 1, 1, 1]),
    };
    for (const [what, call] of [
      ['SEBlock.forward (resident weights)', () => block.forward(x, { out })],
      ['SEBlock.forward (resident, new result)', () => block.forward(x).dispose()],
      ['seForward (DeviceTensor x and weights)', () => api.seForward(x, shape, deviceWeights, { out })],
      ['seForward (DeviceTensor x, host weights)', () => api.seForward(x, shape, weights, { out })],
    ]) {
      for (let i = 0; i < 200; i++) call();
      native.cudaSynchronize(0, 0n);
      const bursts = [];
      for (let b = 0; b < 40; b++) {
        const t0 = performance.now();
        for (let i = 0; i < 100; i++) call();
        bursts.push(((performance.now() - t0) * 1e3) / 100);
        native.cudaSynchronize(0, 0n);
      }
      bursts.sort((a, b) => a - b);
      const hostUs = bursts[bursts.length >> 1];
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) call();
      const enqueueUs = ((performance.now() - t0) * 1e3) / calls;
      native.cudaSynchronize(0, 0n);
      const totalUs = ((performance.now() - t0) * 1e3) / calls;
      const row = {
        what, shape: shape.join('x'), dtype: 'float16', calls,
        hostUs: +hostUs.toFixed(2), hostP10Us: +bursts[4].toFixed(2), hostP90Us: +bursts[35].toFixed(2),
        enqueueUs: +enqueueUs.toFixed(2), withSyncUs: +totalUs.toFixed(2),
      };
      rows.push(row);
      log(`overhead ${what.padEnd(44)} ${row.shape.padEnd(10)} host ${row.hostUs.toFixed(2)} µs/call (bursts of 100), steady ${row.enqueueUs.toFixed(2)} (incl. final sync ${row.withSyncUs.toFixed(2)})`);
    }
    block.dispose();
    for (const t of Object.values(deviceWeights)) t.dispose();
    x.dispose();
    out.dispose();
  }
  return rows;
}
