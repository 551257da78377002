// What memory safety costs async calls over host arrays (native/binding/host_staging.h): per
// size, the median time of the synchronous call, of the async call in its forms (with a caller's
// out, staged with offload 'always': inputs copied in and the result copied back; the same with
// the default offload 'auto', which runs the op on the calling thread when staging would cost more;
// without out; SharedArrayBuffer operands: nothing copied), how long each async form blocks the
// calling thread before it returns its promise, and a same-size memcpy. The last shape is all
// excitation (two FCs over 4 MB of weights): 'auto' keeps it on the pool.
// Usage: node bench/async.mjs [--reps N] [--device cpu|cuda] [--json]   (SQEX_DIST selects another
// dist/index.js). --device cuda times the CUDA host path (pinned staging; offload does not apply).
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

import { xorshiftFiller } from './random.mjs';
import { ensureMainThreadJit } from './main-thread-jit.mjs';
import { median } from './stats.mjs';

const require = createRequire(import.meta.url);

const SHAPES = [
  [1, 64, 16, 16],
  [1, 256, 56, 56],
  [8, 256, 56, 56],
  [32, 256, 56, 56],
  [8, 2048, 7, 7],
  [32, 2048, 1, 1],
];

function sab(a) {
  const v = new Float32Array(new SharedArrayBuffer(a.byteLength));
  v.set(a);
  return v;
}

export async function runAsyncBench({ reps = 15, log = () => {}, dist = '../dist/index.js', device = 'cpu' } = {}) {
  const api = require(dist);
  const rows = [];
  for (const shape of SHAPES) {
    const [n, c, h, w] = shape;
    const numel = n * c * h * w;
    const rand = xorshiftFiller(c);
    const hidden = h * w === 1 ? c / 8 : Math.max(8, c / 16);
    const weights = { w1: rand(hidden * c, 0.1), b1: rand(hidden, 0.1), w2: rand(c * hidden, 0.1), b2: rand(c, 0.1) };
    const x = rand(numel, 1);
    const out = new Float32Array(numel);
    const xs = sab(x);
    const outs = new Float32Array(new SharedArrayBuffer(numel * 4));
    const ws = Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, sab(v)]));
    const opts = { device };
    const time = async (fn) => {
      const total = [];
      const block = [];
      for (let i = 0; i < reps + 2; i++) {
        const t0 = performance.now();
        const p = fn();
        const t1 = performance.now();
        await p;
        const t2 = performance.now();
        if (i >= 2) {
          total.push((t2 - t0) * 1e3);
          block.push((t1 - t0) * 1e3);
        }
      }
      return { us: median(total), blockUs: median(block) };
    };
    const copy = await time(() => out.set(x));
    const sync = await time(() => api.seForward(x, shape, weights, { ...opts, out }));
    const asyncStaged = await time(() => api.seForwardAsync(x, shape, weights, { ...opts, out, offload: 'always' }));
    const asyncOut = await time(() => api.seForwardAsync(x, shape, weights, { ...opts, out }));
    const asyncNew = await time(() => api.seForwardAsync(x, shape, weights, opts));
    let asyncShared = { us: NaN, blockUs: NaN };
    try {
      asyncShared = await time(() => api.seForwardAsync(xs, shape, ws, { ...opts, out: outs }));
    } catch {
      // builds before SharedArrayBuffer support refuse these operands
    }
    const row = {
      shape: shape.join('x'),
      mb: +((numel * 4) / 2 ** 20).toFixed(2),
      memcpyUs: +copy.us.toFixed(1),
      syncUs: +sync.us.toFixed(1),
      asyncStagedUs: +asyncStaged.us.toFixed(1),
      asyncStagedBlockUs: +asyncStaged.blockUs.toFixed(1),
      asyncOutUs: +asyncOut.us.toFixed(1),
      asyncOutBlockUs: +asyncOut.blockUs.toFixed(1),
      asyncNewUs: +asyncNew.us.toFixed(1),
      asyncNewBlockUs: +asyncNew.blockUs.toFixed(1),
      asyncSharedUs: +asyncShared.us.toFixed(1),
      asyncSharedBlockUs: +asyncShared.blockUs.toFixed(1),
    };
    rows.push(row);
    log(row);
  }
  return rows;
}

export function asyncTable(rows, device = 'cpu') {
  const head = `| SE fp32 NCHW, ${device === 'cpu' ? 'CPU' : 'CUDA host path'} | MiB | memcpy µs | sync µs | async, out, offload 'always' µs (blocks µs) | async, out µs (blocks µs) | async, no out µs (blocks µs) | async, SharedArrayBuffer µs (blocks µs) |\n|---|---:|---:|---:|---:|---:|---:|---:|`;
  const staged = (r) => (r.asyncStagedUs === undefined ? 'n/a' : `${r.asyncStagedUs} (${r.asyncStagedBlockUs})`);
  const body = rows.map((r) => `| ${r.shape} | ${r.mb} | ${r.memcpyUs} | ${r.syncUs} | ${staged(r)} | ${r.asyncOutUs} (${r.asyncOutBlockUs}) | ${r.asyncNewUs} (${r.asyncNewBlockUs}) | ${r.asyncSharedUs} (${r.asyncSharedBlockUs}) |`);
  return [head, ...body].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureMainThreadJit(import.meta.url);
  const args = process.argv.slice(2);
  const reps = args.includes('--reps') ? Number(args[args.indexOf('--reps') + 1]) : 15;
  const device = args.includes('--device') ? args[args.indexOf('--device') + 1] : 'cpu';
  if (device !== 'cpu' && device !== 'cuda') {
    console.error(`bench/async.mjs: --device must be cpu or cuda; received ${device}`);
    process.exit(2);
  }
  const rows = await runAsyncBench({ reps, device, dist: process.env.SQEX_DIST ?? '../dist/index.js' });
  if (args.includes('--json')) console.log(JSON.stringify(rows, null, 2));
  else console.log(asyncTable(rows, device));
}
