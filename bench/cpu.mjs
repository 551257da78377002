// CPU half of `npm run bench`: each op against a same-size single-threaded memcpy
// (dst.set(src) on Float32Arrays of x's length) measured in the same run, and against a floor
// built from machine rates measured in the same run (native/dev/cpu_rates.cpp).
// Rows: { op, shape, layout, dtype, hidden, k, ms, msP10, msP90, gbps, ratio, copyMs, floorMs,
// floorRatio, newMs, newMedianMs, outMeanMs, newRatio, [contended…], [ort…] } (runCpuBench says
// what each is), gbps = 2 × bytes / time (one read of x, one write of y), ratio = op time /
// memcpy time, floorRatio = op time / floor.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { createOrtRunner, loadOnnxRuntime, prepareOrtCase } from './ort_peers.mjs';
import { randomArray } from './random.mjs';
import { mean, median, quantile, roundMs } from './stats.mjs';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Machine rates for the floor column: compiles native/dev/cpu_rates.cpp into build/ (once; again
 * when the source is newer) and runs it, probing its fixed sizes (64 KiB .. 64 MiB) and `sizes`
 * (bytes: each row's x and weights, so that a floor uses the rate of the row's own size). Returns
 * { rates } (see cpu_rates.cpp for the fields) or { reason } when no C++ compiler is there or the
 * probe fails.
 */
export function measureRates(threads, sizes = []) {
  const src = path.join(ROOT, 'native', 'dev', 'cpu_rates.cpp');
  const exe = path.join(ROOT, 'build', process.platform === 'win32' ? 'cpu_rates.exe' : 'cpu_rates');
  try {
    if (!existsSync(exe) || statSync(exe).mtimeMs < statSync(src).mtimeMs) {
      mkdirSync(path.dirname(exe), { recursive: true });
      const cxx = process.env.CXX || 'c++';
      execFileSync(cxx, ['-O2', '-std=c++17', '-pthread', '-Wno-psabi', src, '-o', exe], { stdio: ['ignore', 'ignore', 'pipe'] });
    }
    const args = [String(threads)];
    const extra = [...new Set(sizes.filter((b) => b >= 4096 && b <= 2 ** 30).map((b) => b - (b % 4)))];
    if (extra.length) args.push(extra.join(','));
    // Best of three probes, entry by entry: the 16-64 MB copy rate of this VM varied 47-100 GB/s
    // from one probe to the next (NOTES-cpu.md), and a floor must not be set by a slow moment.
    const runs = [0, 1, 2].map(() => JSON.parse(execFileSync(exe, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString()));
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

// Best rate over the thread counts at `bytes` when it was probed, else at the smallest probed size
// above it (the largest size past them all). Sizes under 4 KiB are not probed: they take the
// smallest probed size's (64 KiB, or a row's smaller extra size).
export function rateAt(rates, table, bytes) {
  const b = bytes - (bytes % 4);
  let i = rates.sizes.findIndex((s) => s >= b);
  if (i < 0) i = rates.sizes.length - 1;
  return Math.max(...rates[table].map((perThreads) => perThreads[i]));
}

/** The bytes the floor reads at their own rates: x (copied: read once, y written once) and the weights (read once). */
export function floorSizes(cs) {
  const { op, batch: n, c, h, w, hidden } = cs;
  const xBytes = n * c * h * w * 4;
  let weightBytes = 0;
  if (op === 'se' || op === 'cbam') weightBytes = (2 * hidden * c + hidden + c) * 4;
  if (op === 'cbam') weightBytes += (2 * cs.k * cs.k + 1) * 4;
  return { xBytes, weightBytes };
}

/**
 * The floor of one row, in ms: x read once and y written once at the copy rate of x's size, the
 * weights read once (one pass shared by the whole batch) at the read rate of their size, and the
 * multiply-adds at the machine's fastest FMA rate (fp32; our FCs accumulate in double for the 1e-5
 * accuracy, at half that rate, a cost of the implementation the floor does not excuse), each at
 * the best thread count. Multiply-adds: SE's two FCs (2 · hidden · C a sample), CBAM's shared MLP
 * on both descriptors (twice that) and its k×k conv over the two maps (2 · k² a pixel), ECA's
 * k-tap conv (k · C). The terms are added: a bound no kernel can beat unless it overlaps the
 * FCs with the streaming.
 */
export function floorMs(rates, cs) {
  const { op, batch: n, c, h, w, hidden } = cs;
  const { xBytes, weightBytes } = floorSizes(cs);
  let macs = 0;
  if (op === 'se') macs = 2 * hidden * c * n;
  if (op === 'cbam') macs = 2 * (2 * hidden * c * n) + 2 * cs.k * cs.k * h * w * n;
  if (op === 'eca') macs = cs.k * c * n;
  const sec = xBytes * 2 / rateAt(rates, 'copy', xBytes) +
    (weightBytes ? weightBytes / rateAt(rates, 'read', weightBytes) : 0) +
    macs / Math.max(...rates.fma32);
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

// How long the round waits after onnxruntime's stints for its workers to stop spinning (below).
const ORT_SPIN_MS = 100;
// The busy work before each call of the after-other-work stint: longer than the pool's workers spin
// after a job (50 us), as the layers between two SE blocks of a network are.
const GAP_MS = 0.5;

/**
 * Times stints in rounds: each round runs every stint once, `stint` calls back to back, the first
 * call of each stint dropped, so that each is timed in its own steady state while drifts of the
 * machine hit all of them alike. stints: [{ name, run, async?, before?, after? }] (before/after
 * run around each stint, untimed; either may return a promise, which is awaited). Returns { [name]: ms per call[] }.
 */
async function timeRounds(stints, { reps, rounds }) {
  // st.gapMs: each call of the stint follows that long of busy work on this thread (untimed).
  const stint = Math.max(3, Math.ceil(reps / rounds) + 1);
  const samples = Object.fromEntries(stints.map((st) => [st.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const st of stints) {
      const into = samples[st.name];
      await st.before?.();
      try {
        for (let k = 0; k < stint; k++) {
          if (st.gapMs) {
            const g0 = performance.now();
            while (performance.now() - g0 < st.gapMs);
          }
          const t0 = performance.now();
          if (st.async) await st.run();
          else st.run();
          const dt = performance.now() - t0;
          if (k > 0) into.push(dt);
        }
      } finally {
        await st.after?.();
      }
    }
  }
  return samples;
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
    w.spatialWeight = randomArray(2 * 7 * 7, seed + 5, 0.2); // CBAM's k = 7 (cases' k)
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

// The CPU time (s) a process has used: /proc/<pid>/schedstat (ns), else /proc/<pid>/stat's utime +
// stime (clock ticks, 10 ms on most kernels: coarse beside stints of a few ms, exact in the sum);
// null off Linux.
function cpuSeconds(pid, ticksPerSecond) {
  try {
    const ns = Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
    if (Number.isFinite(ns)) return ns / 1e9;
  } catch {
    // no schedstat (CONFIG_SCHED_INFO off): the tick counts
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return null;
  }
}

function clockTicks() {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()) || 100;
  } catch {
    return 100;
  }
}

/**
 * A busy-loop child process (another program holding one core), pinned to the last CPU with
 * taskset when asked and available, stopped (SIGSTOP) between the rows' contended stints and
 * continued (SIGCONT) for them, so that each row's contended calls are timed in the same rounds as
 * its idle ones. Returns { how, resume, pause, share, stop }: share() = the child's CPU time over
 * the wall time it was let run (1 when it held a whole core; null off Linux).
 */
async function startBusyLoop(pin) {
  if (process.platform === 'win32') throw new Error('--contended needs SIGSTOP and SIGCONT (Linux or macOS)');
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
  let failed = null;
  child.on('error', (err) => { failed = err; });
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  // Ctrl-C or a kill would otherwise leave the child spinning, or stopped, after the bench.
  const onSignal = (sig) => {
    kill();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const gone = () => failed !== null || child.exitCode !== null || child.signalCode !== null;
  await new Promise((resolve) => setTimeout(resolve, 200)); // node starts and spins
  if (failed || child.exitCode !== null) throw new Error(`the busy-loop process did not start (${failed?.message ?? `exit ${child.exitCode}`})`);
  child.kill('SIGSTOP');
  const ticks = clockTicks();
  let wall = 0;
  let cpu = 0;
  let t0 = 0;
  let c0 = null;
  const spinUntil = (t) => { while (performance.now() < t) { /* the child is scheduled meanwhile */ } };
  return {
    how,
    resume() {
      // A loop that died would leave the contended stints timing an idle machine.
      if (gone()) throw new Error(`the busy-loop process ended during the run (${failed?.message ?? `exit ${child.exitCode}, signal ${child.signalCode}`}): the contended column would be an idle one`);
      c0 = cpuSeconds(child.pid, ticks);
      t0 = performance.now();
      child.kill('SIGCONT');
      spinUntil(performance.now() + 5); // it runs before the stint's first call
    },
    pause() {
      child.kill('SIGSTOP');
      wall += (performance.now() - t0) / 1e3;
      const c1 = cpuSeconds(child.pid, ticks);
      if (c0 !== null && c1 !== null) cpu += c1 - c0;
    },
    share: () => (c0 === null || wall === 0 ? null : cpu / wall),
    stop() {
      kill();
      process.removeListener('exit', kill);
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    },
  };
}

/**
 * Runs the CPU table. Returns { rows, rates, contended, onnxruntime, gapMs }; progress goes through
 * log(). The thread count is the library default (hardware concurrency); the memcpy is
 * single-threaded, as in the issue. shapes ([N, C, H, W][]) replaces the built-in shapes (every op
 * on each; SE/CBAM hidden = the built-in shape's where C, H, W are one of them, else max(8, C/16),
 * as in the GPU table); ops and layouts filter (null: all).
 * Each row is timed in rounds (timeRounds), every round running a stint of each of: the memcpy,
 * the op with `out` (ms, its median; msP10, msP90), the default call form (no out: a new array per
 * call; newMs = its mean, newMedianMs; newRatio = newMs / outMeanMs, the out form's mean in the
 * same rounds: means, so that the garbage collections the new arrays cause count), the op with
 * `out` after GAP_MS of busy work on this thread before each call (gapMs, its median; gapRatio =
 * gapMs / ms: an app's other layers between calls, long enough for the pool's workers to go to
 * sleep; NOTES-cpu.md item 73), and, where
 * asked, the op beside a busy-loop process (contended 'pinned' | 'unpinned': contendedMs, its
 * median, contendedRatio = contendedMs / ms; contendedP90Ms, contendedP90Ratio = over msP90) and
 * onnxruntime-node on the same x and weights (when bench/peers/ has it: ortMs = median of `await
 * session.run`, ortSyncMs = median of the binding's synchronous run, ortBestMs = the faster of the
 * two, ortRatio = ortBestMs / ms, ortMaxRelErr).
 */
export async function runCpuBench({ quick = false, log = () => {}, shapes = null, ops = null, layouts = null, contended = null } = {}) {
  const api = require('../dist/index.js');
  const forward = { se: api.seForward, eca: api.ecaForward, cbam: api.cbamForward };
  const hiddenFor = (c, h, w) => SHAPES.find((sh) => sh.c === c && sh.h === h && sh.w === w)?.hidden ?? Math.max(8, Math.floor(c / 16));
  const cases = (
    shapes
      ? shapes.flatMap(([batch, c, h, w]) =>
          ['se', 'eca', 'cbam'].flatMap((op) => ['NCHW', 'NHWC'].map((layout) => ({ op, batch, c, h, w, hidden: hiddenFor(c, h, w), layout }))))
      : defaultCases(quick)
  )
    .filter((cs) => (!ops || ops.includes(cs.op)) && (!layouts || layouts.includes(cs.layout)))
    .map((cs) => ({ ...cs, hidden: cs.op === 'eca' ? null : cs.hidden, k: cs.op === 'eca' ? ecaK(cs.c) : cs.op === 'cbam' ? 7 : null }));

  const threads = require('../dist/backend/load.js').loadBinding().info().threads;
  const probeSizes = cases.flatMap((cs) => Object.values(floorSizes(cs)));
  const probe = measureRates(threads, probeSizes);
  if (probe.reason) log(`floor column skipped: ${probe.reason}`);
  let rates = probe.rates ?? null;

  const ortLoaded = loadOnnxRuntime();
  if (ortLoaded.reason) log(ortLoaded.reason);
  else {
    log(`onnxruntime-node ${ortLoaded.version} (CPU EP, ${threads} intra-op threads): the same rows, in the same rounds`);
    if (ortLoaded.syncReason) log(`onnxruntime's synchronous binding run not timed: ${ortLoaded.syncReason}`);
  }
  const ortRunner = ortLoaded.ort ? createOrtRunner(ortLoaded.ort, { threads, SyncSession: ortLoaded.SyncSession }) : null;
  const ortErrs = [];

  let busy = null;
  if (contended) {
    busy = await startBusyLoop(contended === 'pinned');
    log(`contended stints: a busy-loop process (${busy.how}) holds a core during them`);
  }

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
  // Warm-up (and fail early on an API error): a row's first calls ran slower than its steady
  // state by where it sat in the run (JIT, GC, worker state; NOTES-cpu.md), so ~30 ms of calls.
  const warmUp = async (run, isAsync = false) => {
    const until = performance.now() + (quick ? 5 : 30);
    for (let k = 0; k < 200 && (k < 2 || performance.now() < until); k++) {
      if (isAsync) await run();
      else run();
    }
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
  try {
    for (const pc of prepared) {
      const { cs, shape, bytes } = pc;
      await warmUp(pc.runOp);
      pc.runNew();
      pc.runCopy();
      const stints = [
        { name: 'copy', run: pc.runCopy },
        { name: 'op', run: pc.runOp },
        { name: 'new', run: pc.runNew },
        { name: 'gap', run: pc.runOp, gapMs: GAP_MS },
      ];
      if (busy) stints.push({ name: 'contended', run: pc.runOp, before: busy.resume, after: busy.pause });
      let ort = null;
      if (ortRunner) {
        // pc.out holds our output of the warm-up's last call: the peer must match it.
        ort = await prepareOrtCase(ortRunner, { op: cs.op, layout: cs.layout, shape, x: pc.x, weights: pc.weights, ours: pc.out.slice() });
        if (ort.reason) log(`onnxruntime ${cs.op} ${shape.join('x')} ${cs.layout}: skipped, ${ort.reason}`);
        else {
          ortErrs.push(+ort.maxRelErr.toPrecision(3)); // as the row keeps it
          await warmUp(ort.run, true);
          stints.push({ name: 'ort', run: ort.run, async: true });
          if (ort.runSync) {
            await new Promise((resolve) => setTimeout(resolve, ORT_SPIN_MS));
            await warmUp(ort.runSync);
            stints.push({ name: 'ortSync', run: ort.runSync });
          }
          // onnxruntime's intra-op workers spin ~50 ms after its last run (measured here: 43-52 ms
          // of CPU in the 100 ms after a run), which held a core through the next stints and made
          // ours up to 25% slower: its stints come last in a round, and each waits its spin out
          // (the two paths are two sessions with a pool each: the synchronous one timed right after
          // the public one ran 12-33% slower, a review).
          const rest = () => new Promise((resolve) => setTimeout(resolve, ORT_SPIN_MS));
          for (const st of stints) if (st.name === 'ort' || st.name === 'ortSync') st.after = rest;
          await rest(); // and after the warm-ups
        }
      }
      const t = await timeRounds(stints, { reps: quick ? 6 : bytes > 8 << 20 ? 20 : 60, rounds: quick ? 2 : 4 });

      const ms = median(t.op);
      const copyMs = median(t.copy);
      const p90 = quantile(t.op, 0.9);
      const newMs = mean(t.new);
      const outMeanMs = mean(t.op);
      const floor = rates ? floorMs(rates, cs) : null;
      // Ratios keep four significant digits: a fixed three decimals rounded a quick run's 0.0035
      // (one op sample of ~1 ms against contended ones of µs) to 0.004, 14% off the ms columns.
      const row = {
        op: cs.op,
        shape: shape.join('x'),
        layout: cs.layout,
        dtype: 'float32',
        hidden: cs.hidden, // SE/CBAM: the excitation's width; null for ECA
        k: cs.k, // ECA's conv taps, CBAM's spatial kernel (k×k); null for SE
        ms: roundMs(ms),
        gbps: +((2 * bytes) / (ms * 1e6)).toFixed(2),
        ratio: +(ms / copyMs).toPrecision(4),
        copyMs: roundMs(copyMs),
        floorMs: floor === null ? null : +floor.toPrecision(4), // sub-µs floors on tiny shapes
        floorRatio: floor === null ? null : +(ms / floor).toPrecision(4),
        msP10: roundMs(quantile(t.op, 0.1)), // the spread of the op's samples (JSON only): small rows vary run to run
        msP90: roundMs(p90),
        samples: t.op.length,
        newMs: roundMs(newMs),
        newMedianMs: roundMs(median(t.new)),
        outMeanMs: roundMs(outMeanMs),
        newRatio: +(newMs / outMeanMs).toPrecision(4),
        gapMs: roundMs(median(t.gap)),
        gapRatio: +(median(t.gap) / ms).toPrecision(4),
      };
      if (t.contended) {
        const cMs = median(t.contended);
        const cP90 = quantile(t.contended, 0.9);
        Object.assign(row, {
          contendedMs: roundMs(cMs),
          contendedRatio: +(cMs / ms).toPrecision(4),
          contendedP90Ms: roundMs(cP90),
          contendedP90Ratio: +(cP90 / p90).toPrecision(4),
        });
      }
      if (t.ort) {
        const ortMs = median(t.ort);
        const ortSyncMs = t.ortSync ? median(t.ortSync) : null;
        const ortBestMs = Math.min(ortMs, ortSyncMs ?? Infinity);
        Object.assign(row, {
          ortMs: roundMs(ortMs),
          ortSyncMs: ortSyncMs === null ? null : roundMs(ortSyncMs),
          ortBestMs: roundMs(ortBestMs),
          ortRatio: +(ortBestMs / ms).toPrecision(4),
          ortMaxRelErr: +ort.maxRelErr.toPrecision(3),
        });
      } else if (ort?.reason) row.ortSkipped = ort.reason;
      rows.push(row);
      // The floor printed here is from the first probe; the table's is the best of both (below).
      log(`cpu ${row.op.padEnd(4)} ${row.shape.padEnd(16)} ${row.layout} ${row.ms.toFixed(3).padStart(8)} ms ` +
        `${row.gbps.toFixed(1).padStart(6)} GB/s  memcpy ${row.copyMs.toFixed(3).padStart(8)} ms  ratio ${row.ratio.toFixed(2)}` +
        (floor === null ? '' : `  floor ${floor.toPrecision(3)} ms (${row.floorRatio.toFixed(2)}x)`) +
        `  no out ${row.newMs.toFixed(3)} ms (${row.newRatio.toFixed(2)}x out)` +
        `  after other work ${row.gapMs.toFixed(3)} ms (${row.gapRatio.toFixed(2)}x)` +
        (row.contendedMs === undefined ? '' : `  contended ${row.contendedMs.toFixed(3)} ms (${row.contendedRatio.toFixed(2)}x idle)`) +
        (row.ortMs === undefined ? '' : `  onnxruntime ${row.ortMs.toFixed(3)}${row.ortSyncMs === null ? '' : ` | sync ${row.ortSyncMs.toFixed(3)}`} ms (${row.ortRatio.toFixed(2)}x ours)`));
    }
  } finally {
    busy?.stop();
    await ortRunner?.close();
  }

  // The rates again after the rows, and the floors from the best of both: a probe that ran while
  // something else held a core measured the 2-thread rates at 1-thread speed (one run here had
  // fp64 FMA 68 | 66 G/s where every other had 68 | 130), which halved the floors of the cache-
  // sized rows (NOTES-cpu.md item 38). Not in a --quick smoke run.
  if (rates && !quick) {
    const again = measureRates(threads, probeSizes);
    if (again.rates) rates = bestRates(rates, again.rates);
    prepared.forEach((pc, i) => {
      const row = rows[i];
      const floor = floorMs(rates, pc.cs);
      row.floorMs = +floor.toPrecision(4);
      row.floorRatio = +(row.ms / floor).toPrecision(4);
    });
  }
  const share = busy?.share() ?? null;
  const contendedInfo = busy ? { busyLoop: busy.how, busyShare: share === null ? null : +share.toFixed(3) } : null;
  if (share !== null) log(`the busy loop ran ${(100 * share).toFixed(0)}% of the contended stints' wall time`);
  const onnxruntime = ortLoaded.reason
    ? { reason: ortLoaded.reason }
    : { version: ortLoaded.version, threads, maxRelErr: ortErrs.length ? Math.max(...ortErrs) : null, sync: ortLoaded.SyncSession !== null, syncReason: ortLoaded.syncReason };
  return { rows, rates, contended: contendedInfo, onnxruntime, gapMs: GAP_MS };
}
