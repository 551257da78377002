// Where host arrays are faster on the GPU than on the CPU (issue 10: device 'auto' must pick the
// CPU where the PCIe round trip makes the GPU slower). For each op and size, the median time of a
// synchronous call with `out` on device 'cpu' and on device 'cuda' (host arrays: the CUDA host
// path stages through pinned memory, uploads, runs, downloads), in alternating rounds, and the
// smallest size from which CUDA stays faster. Needs a GPU; prints JSON (and a table on stderr).
// Usage: node bench/crossover.mjs [--reps N] [--op se|eca|cbam]... [--budget-s S]
import { createRequire } from 'node:module';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

import { xorshiftFiller } from './random.mjs';
import { median, roundMs } from './stats.mjs';

const require = createRequire(import.meta.url);
const api = require(process.env.SQEX_DIST ?? '../dist/index.js');

// x from 16 KiB to 400 MiB: batch 1 and 32 of the SE-ResNet-50 stage shapes and smaller ones.
const SHAPES = [
  [1, 64, 8, 8],
  [1, 64, 16, 16],
  [1, 256, 14, 14],
  [1, 2048, 7, 7],
  [1, 256, 56, 56],
  [8, 256, 28, 28],
  [8, 256, 56, 56],
  [32, 256, 56, 56],
  [128, 256, 56, 56],
];

function args() {
  const a = process.argv.slice(2);
  const o = { reps: 11, ops: [], budgetS: 40 };
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--reps') o.reps = Number(a[++i]);
    else if (a[i] === '--op') o.ops.push(a[++i]);
    else if (a[i] === '--budget-s') o.budgetS = Number(a[++i]);
    else throw new Error(`unknown flag ${a[i]}`);
  }
  if (o.ops.length === 0) o.ops = ['se', 'eca', 'cbam'];
  return o;
}

function weights(op, c, rand) {
  const hidden = Math.max(8, c / 16);
  const f = (n, s) => rand(n, s);
  if (op === 'eca') return { weight: f(5, 0.5) };
  const w = { w1: f(hidden * c, 0.1), b1: f(hidden, 0.1), w2: f(c * hidden, 0.1), b2: f(c, 0.1) };
  if (op === 'cbam') w.spatialWeight = f(98, 0.2);
  return w;
}

const o = args();
const status = api.cuda.status();
if (!status.available) {
  process.stdout.write(`${JSON.stringify({ skipped: status.reason })}\n`);
  process.exit(0);
}
const forward = { se: api.seForward, eca: api.ecaForward, cbam: api.cbamForward };
const deadline = performance.now() + o.budgetS * 1000;
const rows = [];
outer: for (const op of o.ops) {
  for (const shape of SHAPES) {
    if (performance.now() > deadline) break outer;
    const numel = shape.reduce((p, d) => p * d, 1);
    const rand = xorshiftFiller(shape[1]);
    const x = rand(numel, 1);
    const w = weights(op, shape[1], rand);
    const out = new Float32Array(numel);
    const run = (device) => forward[op](x, shape, w, { device, out });
    run('cpu');
    run('cuda');
    const t = { cpu: [], cuda: [] };
    const reps = numel > 1 << 24 ? Math.max(3, o.reps >> 2) : o.reps;
    for (let r = 0; r < reps; r++) {
      for (const device of r % 2 ? ['cuda', 'cpu'] : ['cpu', 'cuda']) {
        const t0 = performance.now();
        run(device);
        t[device].push(performance.now() - t0);
      }
    }
    const row = { op, shape: shape.join('x'), bytes: numel * 4, cpuMs: roundMs(median(t.cpu)), cudaMs: roundMs(median(t.cuda)) };
    rows.push(row);
    process.stderr.write(`${op.padEnd(4)} ${row.shape.padEnd(14)} ${(row.bytes / 1048576).toFixed(2).padStart(8)} MiB  cpu ${row.cpuMs.toFixed(3).padStart(9)} ms  cuda ${row.cudaMs.toFixed(3).padStart(9)} ms\n`);
  }
}
// Per op: the smallest size from which every larger measured size is faster on CUDA (null: none).
const crossover = {};
for (const op of o.ops) {
  const r = rows.filter((x) => x.op === op);
  let from = null;
  for (let i = r.length - 1; i >= 0 && r[i].cudaMs < r[i].cpuMs; i--) from = r[i].bytes;
  crossover[op] = from;
}
const meta = { date: new Date().toISOString(), cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), gpu: status.devices[0]?.name, driver: status.driverVersion };
process.stdout.write(`${JSON.stringify({ meta, crossoverBytes: crossover, rows })}\n`);
