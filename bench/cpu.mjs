// CPU half of `npm run bench`: each op against a same-size single-threaded memcpy
// (dst.set(src) on Float32Arrays of x's length) measured in the same run, and against a floor
// built from machine rates measured in the same run (native/dev/cpu_rates.cpp).
// Rows: { op, shape, layout, dtype, ms, msP10, msP90, gbps, ratio, copyMs, floorMs, floorRatio }, gbps = 2 × bytes
// / time (one read of x, one write of y), ratio = op time / memcpy time, floorRatio = op time / floor.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { addOrtColumns } from './ort_peers.mjs';
import { randomArray } from './random.mjs';
import { median, quantile, roundMs } from './stats.mjs';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Machine rates for the floor column: compiles native/dev/cpu_rates.cpp into build/ (once; again
 * when the source is newer) and runs it. Returns { rates } (see cpu_rates.cpp for the fields) or
 * { reason } when no C++ compiler is there or the probe fails.
 */
export function measureRates(threads) {
  const src = path.join(ROOT, 'native', 'dev', 'cpu_rates.cpp');
  const exe = path.join(ROOT, 'build', process.platform === 'win32' ? 'cpu_rates.exe' : 'cpu_rates');
  try {
    if (!existsSync(exe) || statSync(exe).mtimeMs < statSync(src).mtimeMs) {
      mkdirSync(path.dirname(exe), { recursive: true });
      const cxx = process.env.CXX || 'c++';
      execFileSync(cxx, ['-O2', '-std=c++17', '-pthread', '-Wno-psabi', src, '-o', exe], { stdio: ['ignore', 'ignore', 'pipe'] });
    }
    // Best of three probes, entry by entry: the 16-64 MB copy rate of this VM varied 47-100 GB/s
    // from one probe to the next (NOTES-cpu.md), and a floor must not be set by a slow moment.
    const runs = [0, 1, 2].map(() => JSON.parse(execFileSync(exe, [String(threads)], { stdio: ['ignore', 'pipe', 'pipe'] }).toString()));
    return { rates: runs.reduce(bestRates) };
  } catch (err) {
    return { reason: `rate probe unavailable (${String(err.message).split('\n')[0]})` };
  }
}

/** Entry by entry, the better of two probes' rates. */
export function bestRates(a, b) {
  const best = (x, y) => (Array.isArray(x) ? x.map((v, i) => best(v, y[i])) : typeof x === 'number' ? Math.max(x, y) : x);
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, k === 'sizes' ? v : best(v, b[k])]));
}

// Best rate over the thread counts at the smallest probed size >= bytes (the largest size past it).
function rateAt(rates, table, bytes) {
  let i = rates.sizes.findIndex((s) => s >= bytes);
  if (i < 0) i = rates.sizes.length - 1;
  return Math.max(...rates[table].map((perThreads) => perThreads[i]));
}

/**
 * The floor of one row, in ms: x read once and y written once at the copy rate of x's size, the
 * weights read once (one pass shared by the whole batch) at the read rate of their size, and the
 * excitation's multiply-adds at the fp64 FMA rate (the FCs accumulate in double for the 1e-5
 * accuracy), each at the best thread count. The terms are added: a bound no kernel can beat
 * unless it overlaps the FCs with the streaming.
 */
export function floorMs(rates, cs) {
  const { op, batch: n, c, h, w, hidden } = cs;
  const xBytes = n * c * h * w * 4;
  let weightBytes = 0;
  let macs = 0;
  if (op === 'se' || op === 'cbam') {
    weightBytes = (2 * hidden * c + hidden + c) * 4;
    macs = 2 * hidden * c * n;
  }
  if (op === 'cbam') {
    weightBytes += (2 * 49 + 1) * 4;
    macs += 2 * 49 * h * w * n;
  }
  if (op === 'eca') macs = ecaK(c) * c * n;
  const sec = xBytes * 2 / rateAt(rates, 'copy', xBytes) +
    (weightBytes ? weightBytes / rateAt(rates, 'read', weightBytes) : 0) +
    macs / Math.max(...rates.fma64);
  return sec * 1e3;
}

// timm's ECA kernel size for C: k = |(log2(C) + 1) / 2| rounded to odd.
function ecaK(c) {
  const t = Math.floor(Math.abs((Math.log2(c) + 1) / 2));
  return Math.max(t % 2 ? t : t + 1, 3);
}

// SE-ResNet-50 stage shapes (reduction 16) and two EfficientNet-B0 SE shapes.
const SHAPES = [
  { c: 256, h: 56, w: 56, hidden: 16 },
  { c: 512, h: 28, w: 28, hidden: 32 },
  { c: 1024, h: 14, w: 14, hidden: 64 },
  { c: 2048, h: 7, w: 7, hidden: 128 },
  { c: 96, h: 112, w: 112, hidden: 4 },
  { c: 240, h: 28, w: 28, hidden: 10 },
];

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
  return { ms: median(opTimes), copyMs: median(copyTimes), samples: opTimes.length, p10: quantile(opTimes, 0.1), p90: quantile(opTimes, 0.9) };
}

function makeWeights(op, c, hidden, seed) {
  const s1 = 2 / Math.sqrt(c);
  const s2 = 2 / Math.sqrt(hidden);
  if (op === 'eca') {
    return { weight: randomArray(ecaK(c), seed, 0.5) };
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

// A busy-loop child process (another program holding one core), pinned to the last CPU with
// taskset when asked and available. Returns { child, how }.
function startBusyLoop(pin) {
  const args = ['-e', 'for (;;) {}'];
  let cmd = process.execPath;
  let how = 'unpinned';
  if (pin) {
    try {
      execFileSync('taskset', ['-V'], { stdio: 'ignore' });
      const cpu = os.cpus().length - 1;
      args.unshift('-c', String(cpu), process.execPath);
      cmd = 'taskset';
      how = `pinned to CPU ${cpu}`;
    } catch {
      how = 'unpinned (taskset not found)';
    }
  }
  const child = spawn(cmd, args, { stdio: 'ignore' });
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  return { child, how, stop: () => { kill(); process.removeListener('exit', kill); } };
}

/**
 * Runs the CPU table. Returns { rows, rates, contended }; progress goes through log(). The thread
 * count is the library default (hardware concurrency); the memcpy is single-threaded, as in the
 * issue. shapes ([N, C, H, W][]) replaces the built-in shapes (every op on each; SE/CBAM hidden =
 * max(8, C/16), as in the GPU table); ops and layouts filter (null: all). contended
 * ('pinned' | 'unpinned' | null): after the idle table, time every row again while a busy-loop
 * child process holds a core; each row gets contendedMs and contendedRatio (= contendedMs / ms).
 * Every row also times the default call form (no out: a new result array per call) in rounds
 * interleaved with the out form: newMs, and newRatio = newMs / the out form's time in those rounds.
 * onnxruntime: bench/ort_peers.mjs addOrtColumns' metadata; with onnxruntime-node installed each
 * row also gets ortMs, ortRatio (= ortMs / ms) and ortMaxRelErr.
 */
export async function runCpuBench({ quick = false, log = () => {}, shapes = null, ops = null, layouts = null, contended = null } = {}) {
  const api = require('../dist/index.js');
  const forward = { se: api.seForward, eca: api.ecaForward, cbam: api.cbamForward };
  const cases = (
    shapes
      ? shapes.flatMap(([batch, c, h, w]) =>
          ['se', 'eca', 'cbam'].flatMap((op) => ['NCHW', 'NHWC'].map((layout) => ({ op, batch, c, h, w, hidden: Math.max(8, Math.floor(c / 16)), layout }))))
      : defaultCases(quick)
  ).filter((cs) => (!ops || ops.includes(cs.op)) && (!layouts || layouts.includes(cs.layout)));

  const threads = require('../dist/backend/load.js').loadBinding().info().threads;
  const probe = measureRates(threads);
  if (probe.reason) log(`floor column skipped: ${probe.reason}`);
  let rates = probe.rates ?? null;

  let seed = 1;
  const prepared = cases.map((cs) => {
    const shape = [cs.batch, cs.c, cs.h, cs.w];
    const numel = shape.reduce((a, b) => a * b, 1);
    const x = randomArray(numel, seed++);
    const out = new Float32Array(numel);
    const copyDst = new Float32Array(numel);
    const weights = makeWeights(cs.op, cs.c, cs.hidden, seed++);
    const options = { layout: cs.layout, device: 'cpu', out };
    const fn = forward[cs.op];
    const defaultOptions = { layout: cs.layout, device: 'cpu' }; // no out: the call returns a new array
    return {
      cs, shape, bytes: numel * 4, x, weights, out,
      runOp: () => fn(x, shape, weights, options),
      runNew: () => fn(x, shape, weights, defaultOptions),
      runCopy: () => copyDst.set(x),
    };
  });
  const timeCase = ({ runOp, runCopy, bytes }) => {
    // Warm-up (and fail early on an API error): a row's first calls ran slower than its steady
    // state by where it sat in the run (JIT, GC, worker state; NOTES-cpu.md), so ~30 ms of calls.
    const until = performance.now() + (quick ? 5 : 30);
    for (let k = 0; k < 200 && (k < 2 || performance.now() < until); k++) runOp();
    runCopy();
    return timePair(runOp, runCopy, bytes, quick);
  };

  // ~300 ms of calls before the first row: without it the first row (and sometimes the next ones)
  // ran at its one-thread speed for its whole stint in about half the runs, a state the rows'
  // own warm-ups (at most 200 calls, ~4 ms on a batch-1 row) did not get past (NOTES-cpu.md
  // item 38).
  if (!quick && prepared.length > 0) {
    const until = performance.now() + 300;
    while (performance.now() < until) prepared[0].runOp();
  }

  const rows = [];
  const timings = []; // unrounded ms and sample counts, for the onnxruntime columns
  for (const pc of prepared) {
    const { cs, shape, bytes } = pc;
    const { ms, copyMs, samples, p10, p90 } = timeCase(pc);
    timings.push({ ms, samples });
    // The default call form (no out, a new array each call) against the out form, interleaved in
    // their own rounds so both see the same machine state.
    pc.runNew();
    const { ms: newMs, copyMs: outMs } = timePair(pc.runNew, pc.runOp, bytes, quick);
    const floor = rates ? floorMs(rates, cs) : null;
    const row = {
      op: cs.op,
      shape: shape.join('x'),
      layout: cs.layout,
      dtype: 'float32',
      ms: roundMs(ms),
      gbps: +((2 * bytes) / (ms * 1e6)).toFixed(2),
      ratio: +(ms / copyMs).toFixed(3),
      copyMs: roundMs(copyMs),
      floorMs: floor === null ? null : +floor.toPrecision(4), // sub-µs floors on tiny shapes
      floorRatio: floor === null ? null : +(ms / floor).toFixed(3),
      msP10: roundMs(p10), // the spread of the op's samples (JSON only): small rows vary run to run
      msP90: roundMs(p90),
      newMs: roundMs(newMs),
      newRatio: +(newMs / outMs).toFixed(3),
    };
    rows.push(row);
    // The floor printed here is from the first probe; the table's is the best of both (below).
    log(`cpu ${row.op.padEnd(4)} ${row.shape.padEnd(16)} ${row.layout} ${row.ms.toFixed(3).padStart(8)} ms ` +
      `${row.gbps.toFixed(1).padStart(6)} GB/s  memcpy ${row.copyMs.toFixed(3).padStart(8)} ms  ratio ${row.ratio.toFixed(2)}` +
      (floor === null ? '' : `  floor ${floor.toPrecision(3)} ms (${row.floorRatio.toFixed(2)}x)`) +
      `  no out ${row.newMs.toFixed(3)} ms (${row.newRatio.toFixed(2)}x out)`);
  }

  // The rates again after the rows, and the floors from the best of both: a probe that ran while
  // something else held a core measured the 2-thread rates at 1-thread speed (one run here had
  // fp64 FMA 68 | 66 G/s where every other had 68 | 130), which halved the floors of the cache-
  // sized rows (NOTES-cpu.md item 38). Not in a --quick smoke run.
  if (rates && !quick) {
    const again = measureRates(threads);
    if (again.rates) rates = bestRates(rates, again.rates);
    prepared.forEach((pc, i) => {
      const row = rows[i];
      const floor = floorMs(rates, pc.cs);
      row.floorMs = +floor.toPrecision(4);
      row.floorRatio = +(row.ms / floor).toFixed(3);
    });
  }

  // onnxruntime-node on the same rows, when installed in bench/peers/ (bench/ort_peers.mjs); pc.out
  // holds our output of the last timed call.
  const onnxruntime = await addOrtColumns(rows, prepared.map((pc, i) => ({
    op: pc.cs.op, layout: pc.cs.layout, shape: pc.shape, x: pc.x, weights: pc.weights, ours: pc.out, ...timings[i],
  })), { threads, log });

  let contendedInfo = null;
  if (contended) {
    const busy = startBusyLoop(contended === 'pinned');
    contendedInfo = { busyLoop: busy.how };
    log(`contended run: a busy-loop process (${busy.how}) holds a core`);
    try {
      await new Promise((resolve) => setTimeout(resolve, 200)); // let it start spinning
      prepared.forEach((pc, i) => {
        const { ms } = timeCase(pc);
        rows[i].contendedMs = roundMs(ms);
        rows[i].contendedRatio = +(ms / rows[i].ms).toFixed(3);
        log(`cpu ${rows[i].op.padEnd(4)} ${rows[i].shape.padEnd(16)} ${rows[i].layout} contended ${ms.toFixed(3).padStart(8)} ms  ` +
          `${rows[i].contendedRatio.toFixed(2)}x idle`);
      });
    } finally {
      busy.stop();
    }
  }
  return { rows, rates, contended: contendedInfo, onnxruntime };
}
