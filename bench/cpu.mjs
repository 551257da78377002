// CPU half of `npm run bench`: each op against a same-size single-threaded memcpy
// (dst.set(src) on Float32Arrays of x's length) measured in the same run.
// Rows: { op, shape, layout, dtype, ms, gbps, ratio, copyMs }, gbps = 2 × bytes / time (one read of
// x, one write of y: the memcpy floor), ratio = op time / memcpy time.
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

import { randomArray } from './random.mjs';

const require = createRequire(import.meta.url);

// SE-ResNet-50 stage shapes (reduction 16) and two EfficientNet-B0 SE shapes.
const SHAPES = [
  { c: 256, h: 56, w: 56, hidden: 16 },
  { c: 512, h: 28, w: 28, hidden: 32 },
  { c: 1024, h: 14, w: 14, hidden: 64 },
  { c: 2048, h: 7, w: 7, hidden: 128 },
  { c: 96, h: 112, w: 112, hidden: 4 },
  { c: 240, h: 28, w: 28, hidden: 10 },
];

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
}

// Rounds of back-to-back runs of the op and the memcpy, first run of each stint dropped, so each
// is timed in its own steady state while drifts of the machine hit both alike.
function timePair(runOp, runCopy, bytes, quick) {
  const reps = quick ? 6 : bytes > 8 << 20 ? 20 : 60;
  const rounds = quick ? 2 : 4;
  const stint = Math.max(3, Math.ceil(reps / rounds) + 1);
  const opTimes = [];
  const copyTimes = [];
  for (let r = 0; r < rounds; r++) {
    for (const [fn, into] of [[runCopy, copyTimes], [runOp, opTimes]]) {
      for (let k = 0; k < stint; k++) {
        const t0 = performance.now();
        fn();
        const dt = performance.now() - t0;
        if (k > 0) into.push(dt);
      }
    }
  }
  return { ms: median(opTimes), copyMs: median(copyTimes) };
}

function makeWeights(op, c, hidden, seed) {
  const s1 = 2 / Math.sqrt(c);
  const s2 = 2 / Math.sqrt(hidden);
  if (op === 'eca') {
    // timm's ECA kernel size for C: k = |(log2(C) + 1) / 2| rounded to odd.
    const t = Math.floor(Math.abs((Math.log2(c) + 1) / 2));
    const k = Math.max(t % 2 ? t : t + 1, 3);
    return { weight: randomArray(k, seed, 0.5) };
  }
  const w = {
    w1: randomArray(hidden * c, seed + 1, s1),
    b1: randomArray(hidden, seed + 2, 0.1),
    w2: randomArray(c * hidden, seed + 3, s2),
    b2: randomArray(c, seed + 4, 0.1),
  };
  if (op === 'cbam') {
    w.spatialWeight = randomArray(2 * 7 * 7, seed + 5, 0.2);
    w.spatialBias = new Float32Array([0.05]);
  }
  return w;
}

/** The built-in cases: SE on every shape at batch 1 and 8, ECA and CBAM on 8×256×56×56. */
function defaultCases(quick) {
  const cases = [];
  for (const batch of quick ? [8] : [1, 8]) {
    for (const sh of quick ? SHAPES.slice(0, 1).concat(SHAPES.slice(3, 5)) : SHAPES) {
      for (const layout of ['NCHW', 'NHWC']) {
        cases.push({ op: 'se', batch, ...sh, layout });
        if (batch === 8 && sh.c === 256) {
          cases.push({ op: 'eca', batch, ...sh, layout });
          cases.push({ op: 'cbam', batch, ...sh, layout });
        }
      }
    }
  }
  return cases;
}

/**
 * Runs the CPU table. Returns the rows; progress goes through log(). The thread count is the
 * library default (hardware concurrency); the memcpy is single-threaded, as in the issue.
 * shapes ([N, C, H, W][]) replaces the built-in shapes (every op on each; SE/CBAM hidden =
 * max(8, C/16), as in the GPU table); ops and layouts filter (null: all).
 */
export async function runCpuBench({ quick = false, log = () => {}, shapes = null, ops = null, layouts = null } = {}) {
  const api = require('../dist/index.js');
  const forward = { se: api.seForward, eca: api.ecaForward, cbam: api.cbamForward };
  const cases = (
    shapes
      ? shapes.flatMap(([batch, c, h, w]) =>
          ['se', 'eca', 'cbam'].flatMap((op) => ['NCHW', 'NHWC'].map((layout) => ({ op, batch, c, h, w, hidden: Math.max(8, Math.floor(c / 16)), layout }))))
      : defaultCases(quick)
  ).filter((cs) => (!ops || ops.includes(cs.op)) && (!layouts || layouts.includes(cs.layout)));

  const rows = [];
  let seed = 1;
  for (const cs of cases) {
    const shape = [cs.batch, cs.c, cs.h, cs.w];
    const numel = shape.reduce((a, b) => a * b, 1);
    const bytes = numel * 4;
    const x = randomArray(numel, seed++);
    const out = new Float32Array(numel);
    const copyDst = new Float32Array(numel);
    const weights = makeWeights(cs.op, cs.c, cs.hidden, seed++);
    const options = { layout: cs.layout, device: 'cpu', out };
    const fn = forward[cs.op];
    const runOp = () => fn(x, shape, weights, options);
    const runCopy = () => copyDst.set(x);
    runOp(); // warm-up (and fail early on an API error)
    runCopy();
    const { ms, copyMs } = timePair(runOp, runCopy, bytes, quick);
    const row = {
      op: cs.op,
      shape: shape.join('x'),
      layout: cs.layout,
      dtype: 'float32',
      ms: +ms.toFixed(4),
      gbps: +((2 * bytes) / (ms * 1e6)).toFixed(2),
      ratio: +(ms / copyMs).toFixed(3),
      copyMs: +copyMs.toFixed(4),
    };
    rows.push(row);
    log(`cpu ${row.op.padEnd(4)} ${row.shape.padEnd(16)} ${row.layout} ${row.ms.toFixed(3).padStart(8)} ms ` +
      `${row.gbps.toFixed(1).padStart(6)} GB/s  memcpy ${row.copyMs.toFixed(3).padStart(8)} ms  ratio ${row.ratio.toFixed(2)}`);
  }
  return rows;
}
