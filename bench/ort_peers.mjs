// onnxruntime-node peers of the CPU table (issue 11): the same op on the same x and weights, run by
// ONNX Runtime's CPU execution provider from the graphs in bench/peers/ (scripts/gen_onnx_peers.py,
// torch.onnx.export). onnxruntime-node is a bench-only install in bench/peers/ (its own
// package.json and lock; `npm run bench:peers:install`), never a dependency of the package.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PEERS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'peers');
export const INSTALL_HINT = 'npm run bench:peers:install';
/** Our output and ONNX Runtime's must agree this closely (max |ours − ort| / max |ort|), else the graph is not the same op. */
export const MAX_REL_ERR = 1e-5;

/**
 * onnxruntime-node as installed in bench/peers/ (never the project's own node_modules).
 * Returns { ort, version, SyncSession, syncReason } or { reason } (a one-line reason with the
 * install command). SyncSession is the native binding's session class (dist/binding.js), whose
 * run() computes on the calling thread: the public `session.run` wraps that call in a Promise and a
 * setImmediate (16-70 µs a call on this repository's VMs, ~10% of the small rows), so the bench
 * times both and gives onnxruntime the faster. It is not public API: where it is missing or
 * differs, SyncSession is null and syncReason says why.
 */
export function loadOnnxRuntime() {
  const req = createRequire(path.join(PEERS_DIR, 'package.json'));
  let resolved;
  try {
    resolved = req.resolve('onnxruntime-node');
  } catch {
    return { reason: `onnxruntime-node not installed: ${INSTALL_HINT}` };
  }
  let ort;
  let version;
  try {
    ort = req(resolved);
    version = ort.env?.versions?.node ?? req('onnxruntime-node/package.json').version;
  } catch (err) {
    return { reason: `onnxruntime-node does not load (${String(err.message).split('\n')[0]}); reinstall: ${INSTALL_HINT}` };
  }
  let SyncSession = null;
  let syncReason = null;
  try {
    const ctor = req(path.join(path.dirname(resolved), 'binding.js')).binding?.InferenceSession;
    if (typeof ctor === 'function' && typeof ctor.prototype.run === 'function' && typeof ctor.prototype.loadModel === 'function') SyncSession = ctor;
    else syncReason = 'dist/binding.js has no InferenceSession with loadModel and run';
  } catch (err) {
    syncReason = `dist/binding.js does not load (${String(err.message).split('\n')[0]})`;
  }
  return { ort, version, SyncSession, syncReason };
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
 * on first use; with SyncSession (loadOnnxRuntime), a binding session of the same file and options
 * beside each. prepare() returns { run, runSync } for one call: run() resolves once y is in `out`
 * (a Float32Array of x's length, handed to ORT as a pre-allocated output, as the bench hands `out`
 * to our op) through `await session.run(feeds, fetches)`; runSync() (null without SyncSession)
 * computes the same through the binding, synchronously.
 */
export function createOrtRunner(ort, { threads, SyncSession = null }) {
  const options = {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  const sessions = new Map();
  const session = async (file) => {
    if (!sessions.has(file)) {
      const pub = await ort.InferenceSession.create(file, options);
      let sync = null;
      if (SyncSession) {
        sync = new SyncSession();
        sync.loadModel(file, options);
      }
      sessions.set(file, { pub, sync });
    }
    return sessions.get(file);
  };
  return {
    /** Returns { run: () => Promise<void>, runSync: (() => void) | null } for one call, or { reason } when no graph fits. */
    async prepare(op, layout, shape, x, weights, out) {
      const { k, feeds } = makeFeeds(ort, op, layout, shape, x, weights);
      const g = graphFile(op, layout, k);
      if (g.reason) return { reason: g.reason };
      const s = await session(g.file);
      const fetches = { y: new ort.Tensor('float32', out, feeds.x.dims) };
      return { run: () => s.pub.run(feeds, fetches), runSync: s.sync ? () => { s.sync.run(feeds, fetches, {}); } : null };
    },
    async close() {
      for (const s of sessions.values()) {
        await s.pub.release();
        s.sync?.dispose?.();
      }
      sessions.clear();
    },
  };
}

/**
 * One bench row's onnxruntime call, checked before it is timed: runs the graph once through each
 * path (output poisoned with NaN first, so a run that writes nothing fails) and compares y with
 * cs.ours, our op's output for the same x and weights. cs: { op, layout, shape, x, weights, ours }.
 * Returns { run, runSync, maxRelErr, y } (y: the Float32Array the calls write), or { reason } when
 * no graph fits; throws (code ERR_SQEX_BENCH_PEER_MISMATCH) when ORT's output is further than
 * MAX_REL_ERR from ours.
 */
export async function prepareOrtCase(runner, cs) {
  const y = new Float32Array(cs.x.length).fill(NaN);
  const p = await runner.prepare(cs.op, cs.layout, cs.shape, cs.x, cs.weights, y);
  if (p.reason) return { reason: p.reason };
  await p.run();
  let err = maxRelErr(y, cs.ours);
  if (p.runSync) {
    y.fill(NaN);
    p.runSync();
    err = Math.max(err, maxRelErr(y, cs.ours));
  }
  if (!(err <= MAX_REL_ERR)) {
    const e = new Error(`onnxruntime ${cs.op} ${cs.shape.join('x')} ${cs.layout}: max relative difference to ours ` +
      `${err.toExponential(2)} > ${MAX_REL_ERR}: bench/peers/ does not hold the same op (rerun scripts/gen_onnx_peers.py)`);
    e.code = 'ERR_SQEX_BENCH_PEER_MISMATCH';
    throw e;
  }
  return { run: p.run, runSync: p.runSync, maxRelErr: err, y };
}
