// onnxruntime-node peers of the CPU table (issue 11): the same op on the same x and weights, run by
// ONNX Runtime's CPU execution provider from the graphs in bench/peers/ (scripts/gen_onnx_peers.py,
// torch.onnx.export). onnxruntime-node is a bench-only install in bench/peers/ (its own
// package.json and lock; `npm run bench:peers:install`), never a dependency of the package.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { median, roundMs } from './stats.mjs';

export const PEERS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'peers');
export const INSTALL_HINT = 'npm run bench:peers:install';
/** Our output and ONNX Runtime's must agree this closely (max |ours − ort| / max |ort|), else the graph is not the same op. */
export const MAX_REL_ERR = 1e-5;

/**
 * onnxruntime-node as installed in bench/peers/ (never the project's own node_modules).
 * Returns { ort, version } or { reason } (a one-line reason with the install command).
 */
export function loadOnnxRuntime() {
  const req = createRequire(path.join(PEERS_DIR, 'package.json'));
  let resolved;
  try {
    resolved = req.resolve('onnxruntime-node');
  } catch {
    return { reason: `onnxruntime-node not installed: ${INSTALL_HINT}` };
  }
  try {
    const ort = req(resolved);
    return { ort, version: ort.env?.versions?.node ?? req('onnxruntime-node/package.json').version };
  } catch (err) {
    return { reason: `onnxruntime-node does not load (${String(err.message).split('\n')[0]}); reinstall: ${INSTALL_HINT}` };
  }
}

/**
 * The graph file of op × layout (× kernel size k for ECA and CBAM: torch 1.13's exporter fixes a
 * Conv's kernel shape, so each k has its own file). Returns { file } or { reason }.
 */
export function graphFile(op, layout, k) {
  const name = `${op}${op === 'se' ? '' : `_k${k}`}_${layout.toLowerCase()}.onnx`;
  const file = path.join(PEERS_DIR, name);
  return existsSync(file) ? { file } : { reason: `no graph ${name} (add k to scripts/gen_onnx_peers.py and rerun it)` };
}

/**
 * The graph inputs for one call: the library's flat arrays (as given to seForward / ecaForward /
 * cbamForward) wrapped, without copying, in tensors of the shapes the graphs take. shape is the
 * logical [N, C, H, W]; NHWC graphs take x as [N, H, W, C]. An omitted bias is fed as zeros.
 * Returns { k, feeds } (k: ECA's or CBAM's kernel size, null for SE).
 */
export function makeFeeds(ort, op, layout, shape, x, weights) {
  const [n, c, h, w] = shape;
  const t = (data, dims) => new ort.Tensor('float32', data, dims);
  const feeds = { x: t(x, layout === 'NHWC' ? [n, h, w, c] : [n, c, h, w]) };
  if (op === 'eca') {
    const k = weights.weight.length;
    return { k, feeds: { ...feeds, weight: t(weights.weight, [1, 1, k]) } };
  }
  const hidden = weights.w1.length / c;
  Object.assign(feeds, {
    w1: t(weights.w1, [hidden, c]),
    b1: t(weights.b1 ?? new Float32Array(hidden), [hidden]),
    w2: t(weights.w2, [c, hidden]),
    b2: t(weights.b2 ?? new Float32Array(c), [c]),
  });
  if (op === 'se') return { k: null, feeds };
  const k = Math.round(Math.sqrt(weights.spatialWeight.length / 2));
  feeds.spatial_weight = t(weights.spatialWeight, [1, 2, k, k]);
  feeds.spatial_bias = t(weights.spatialBias ?? new Float32Array(1), [1]);
  return { k, feeds };
}

/** max |y − ref| / max |ref| (test/reference.ts relErr); Infinity if a non-finite value differs. */
export function maxRelErr(y, ref) {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) {
    if (!Number.isFinite(y[i]) && !Object.is(y[i], ref[i])) return Infinity;
    maxDiff = Math.max(maxDiff, Math.abs(y[i] - ref[i]));
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  return maxRef > 0 ? maxDiff / maxRef : maxDiff;
}

/**
 * ONNX Runtime sessions on the CPU execution provider with `threads` intra-op threads (one
 * inter-op thread, sequential execution, default graph optimisations), one per graph file, made
 * on first use. run() resolves to y in `out` (a Float32Array of x's length, handed to ORT as a
 * pre-allocated output, as the bench hands `out` to our op).
 */
export function createOrtRunner(ort, { threads }) {
  const sessions = new Map();
  const session = async (file) => {
    if (!sessions.has(file)) {
      sessions.set(file, await ort.InferenceSession.create(file, {
        executionProviders: ['cpu'],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      }));
    }
    return sessions.get(file);
  };
  return {
    /** Returns { run: () => Promise<void> } for one call, or { reason } when no graph fits. */
    async prepare(op, layout, shape, x, weights, out) {
      const { k, feeds } = makeFeeds(ort, op, layout, shape, x, weights);
      const g = graphFile(op, layout, k);
      if (g.reason) return { reason: g.reason };
      const s = await session(g.file);
      const fetches = { y: new ort.Tensor('float32', out, feeds.x.dims) };
      return { run: () => s.run(feeds, fetches) };
    },
    async close() {
      for (const s of sessions.values()) await s.release();
      sessions.clear();
    },
  };
}

/**
 * Times ONNX Runtime on each CPU-bench row. cases: [{ op, layout, shape, x, weights, ours, ms,
 * samples }] with ours = our op's output for x (checked against ORT's) and ms = our median time
 * over `samples` timed calls. Each ORT call is `await session.run(feeds, fetches)`: the Node
 * binding runs the graph synchronously inside a setImmediate callback, so the time includes one
 * event-loop turn. Runs are timed one at a time (after one warm-up run) and the median of
 * `samples` is kept. Returns per case { ortMs, ortRatio = ortMs / ms, ortMaxRelErr }, or
 * { ortSkipped } with a reason when no graph fits; throws (code ERR_SQEX_BENCH_PEER_MISMATCH) when
 * ORT's output is further than MAX_REL_ERR from ours.
 */
export async function runOrtPeers(ort, cases, { threads, log = () => {} }) {
  const runner = createOrtRunner(ort, { threads });
  const results = [];
  try {
    for (const cs of cases) {
      const y = new Float32Array(cs.x.length).fill(NaN); // poisoned: a run that writes nothing fails the check
      const p = await runner.prepare(cs.op, cs.layout, cs.shape, cs.x, cs.weights, y);
      if (p.reason) {
        log(`onnxruntime ${cs.op} ${cs.shape.join('x')} ${cs.layout}: skipped, ${p.reason}`);
        results.push({ ortSkipped: p.reason });
        continue;
      }
      await p.run();
      const err = maxRelErr(y, cs.ours);
      if (!(err <= MAX_REL_ERR)) {
        const e = new Error(`onnxruntime ${cs.op} ${cs.shape.join('x')} ${cs.layout}: max relative difference to ours ` +
          `${err.toExponential(2)} > ${MAX_REL_ERR}: bench/peers/ does not hold the same op (rerun scripts/gen_onnx_peers.py)`);
        e.code = 'ERR_SQEX_BENCH_PEER_MISMATCH';
        throw e;
      }
      const times = [];
      for (let i = 0; i < cs.samples; i++) {
        const t0 = performance.now();
        await p.run();
        times.push(performance.now() - t0);
      }
      const ortMs = median(times);
      const row = { ortMs: roundMs(ortMs), ortRatio: +(ortMs / cs.ms).toFixed(3), ortMaxRelErr: +err.toPrecision(3) };
      log(`onnxruntime ${cs.op.padEnd(4)} ${cs.shape.join('x').padEnd(16)} ${cs.layout} ${ortMs.toFixed(3).padStart(8)} ms  ` +
        `${row.ortRatio.toFixed(2)}x ours  max rel diff ${err.toExponential(1)}`);
      results.push(row);
    }
  } finally {
    await runner.close();
  }
  return results;
}

/**
 * The CPU table's onnxruntime columns: adds ortMs, ortRatio and ortMaxRelErr (or ortSkipped) to
 * each row in place; cases as runOrtPeers, one per row. Returns the table's onnxruntime metadata:
 * { version, threads, maxRelErr } when it ran, { reason } when onnxruntime-node is not installed
 * (the reason is also logged, as one line).
 */
export async function addOrtColumns(rows, cases, { threads, log = () => {} }) {
  const loaded = loadOnnxRuntime();
  if (loaded.reason) {
    log(loaded.reason);
    return { reason: loaded.reason };
  }
  log(`onnxruntime-node ${loaded.version} (CPU EP, ${threads} intra-op threads): the same rows`);
  const results = await runOrtPeers(loaded.ort, cases, { threads, log });
  results.forEach((r, i) => Object.assign(rows[i], r));
  const errs = results.filter((r) => r.ortMaxRelErr !== undefined).map((r) => r.ortMaxRelErr);
  return { version: loaded.version, threads, maxRelErr: errs.length ? Math.max(...errs) : null };
}
