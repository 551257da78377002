// Two threads queueing work on one CUDA stream. The per-(device, stream) weight cache and kernel
// workspace (native/cuda/stream_cache.cpp) are stream-ordered, which holds only if each call's
// uploads and launches are queued together; before lock_stream (2026-12-01, found by an attack
// and reproduced on the CPU emulator: native/dev/cuemu/stream_race.cpp) a kernel could read
// another thread's weights, or a workspace another thread had just freed. Every result here must
// be bitwise the result of the same call made alone (the kernels are deterministic).
// Skipped (with the reason in the suite name) where CUDA is not available, and under the emulated
// binding (workers load the real addon).
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, test } from 'vitest';
import { DeviceTensor, SEBlock, cuda, seForward, seForwardAsync } from '../../dist/index.js';
import { type Shape4 } from '../reference.js';
import { bitsEqual, freshRng, gpuGate, numel, randSEWeights, seedNote, type SEWeights } from '../helpers.js';

const gate = gpuGate(cuda.status(), 'GPU calls from two threads on one stream');
const emulated = Symbol.for('squeeze-excite.test.fake-cuda') in globalThis;
const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url)); // the CommonJS build

const SHAPE: Shape4 = [4, 64, 7, 7];
const HIDDEN = 16;
// SQEX_STREAM_RACE_SCALE scales every count (the compute-sanitizer lane runs these at 0.02).
const SCALE = Number(process.env.SQEX_STREAM_RACE_SCALE ?? 1) || 1;
const count = (n: number): number => Math.max(4, Math.round(n * SCALE));

// A worker: `iters` calls of seForward(DeviceTensor x, host weights) on stream 0n, each compared
// bitwise with `expect`; posts the number that differ. mode 'grow': N = 1 … maxN on stream 0n
// with resident weights, so the stream's workspace grows (is freed and reallocated) again and
// again while the main thread runs.
const WORKER = `
const { parentPort, workerData: d } = require('node:worker_threads');
const sqex = require(d.dist);
if (d.mode === 'grow') {
  // Every sample holds 0.5, so every sample's result is the CPU's for one such sample (within
  // 1e-5): a kernel whose workspace the other thread's call overwrote shows here.
  const C = d.shape[1], H = d.shape[2], W = d.shape[3], per = C * H * W;
  const w = { w1: sqex.DeviceTensor.from(d.w.w1, [d.hidden * C, 1, 1, 1]), w2: sqex.DeviceTensor.from(d.w.w2, [C * d.hidden, 1, 1, 1]) };
  const ref = sqex.seForward(new Float32Array(per).fill(0.5), [1, C, H, W], { w1: d.w.w1, w2: d.w.w2 }, { device: 'cpu' });
  let maxRef = 0;
  for (let i = 0; i < per; i++) maxRef = Math.max(maxRef, Math.abs(ref[i]));
  let wrong = 0;
  for (let n = 1; n <= d.maxN; n++) {
    const s = [n, C, H, W];
    const x = sqex.DeviceTensor.from(new Float32Array(n * per).fill(0.5), s);
    const y = sqex.seForward(x, s, w);
    const h = y.toHostSync();
    for (let i = 0; i < n * per; i++) if (!(Math.abs(h[i] - ref[i % per]) <= 1e-5 * maxRef)) { wrong++; break; }
    y.dispose();
    x.dispose();
  }
  parentPort.postMessage(wrong);
} else {
  const x = sqex.DeviceTensor.from(d.x, d.shape);
  const out = sqex.DeviceTensor.empty(d.shape);
  let wrong = 0;
  const same = (a, b) => a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
  for (let i = 0; i < d.iters; i++) {
    sqex.seForward(x, d.shape, d.w, { out });
    if (!same(out.toHostSync(), d.expect)) wrong++;
  }
  parentPort.postMessage(wrong);
}
`;

function runWorker(workerData: Record<string, unknown>): Promise<number> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: { dist, ...workerData } });
    w.once('message', (m: number) => resolve(m));
    w.once('error', reject);
  });
}

/** seForward on the device, alone: the bits every racing call must give. */
function alone(x: Float32Array, shape: Shape4, w: SEWeights): Float32Array {
  const xd = DeviceTensor.from(x, shape);
  const y = seForward(xd, shape, w);
  const h = y.toHostSync() as Float32Array; // a float32 tensor downloads as a Float32Array
  y.dispose();
  xd.dispose();
  return h;
}

describe.skipIf(!gate.ok || emulated)(gate.title, () => {
  test('four workers, host weights each, stream 0n: each gets its own weights\' result', async () => {
    const rng = freshRng();
    const x = rng.normals(numel(SHAPE), 1);
    const ws = [0, 1, 2, 3].map(() => randSEWeights(rng, SHAPE[1], HIDDEN, { twoFc: true, b1: true, b2: true }));
    const expects = ws.map((w) => alone(x, SHAPE, w));
    const wrong = await Promise.all(ws.map((w, i) => runWorker({ x, shape: SHAPE, w: { w1: w.w1, b1: w.b1, w2: w.w2, b2: w.b2 }, expect: expects[i], iters: count(1500) })));
    expect(wrong, `wrong results per worker (of ${count(1500)}) ${seedNote(rng)}`).toEqual([0, 0, 0, 0]);
  }, 120_000);

  test('an async host-array call (libuv pool) beside sync DeviceTensor calls, same stream', async () => {
    const rng = freshRng();
    const x = rng.normals(numel(SHAPE), 1);
    const wA = randSEWeights(rng, SHAPE[1], HIDDEN, { twoFc: true, b1: true, b2: true });
    const wB = randSEWeights(rng, SHAPE[1], HIDDEN, { twoFc: true, b1: true, b2: true });
    const expectA = seForward(x, SHAPE, wA, { device: 'cuda' });
    const expectB = alone(x, SHAPE, wB);
    const xd = DeviceTensor.from(x, SHAPE);
    const out = DeviceTensor.empty(SHAPE);
    let wrongA = 0;
    let wrongB = 0;
    try {
      for (let i = 0; i < count(500); i++) {
        const pending = seForwardAsync(x, SHAPE, wA, { device: 'cuda' });
        for (let k = 0; k < 4; k++) {
          seForward(xd, SHAPE, wB, { out });
          if (!bitsEqual(out.toHostSync(), expectB)) wrongB++;
        }
        if (!bitsEqual(await pending, expectA)) wrongA++;
      }
    } finally {
      xd.dispose();
      out.dispose();
    }
    expect({ wrongA, wrongB }, seedNote(rng)).toEqual({ wrongA: 0, wrongB: 0 });
  }, 120_000);

  test('a resident block at N = 1 while a worker grows the stream\'s workspace; CUDA usable after', async () => {
    const rng = freshRng();
    const C = SHAPE[1];
    const per = C * SHAPE[2] * SHAPE[3];
    const x = rng.normals(per, 1);
    const shape1: Shape4 = [1, C, SHAPE[2], SHAPE[3]];
    const w = randSEWeights(rng, C, HIDDEN, { twoFc: true, b1: true, b2: true });
    const expect1 = alone(x, shape1, w);
    const block = new SEBlock(w, { channels: C, device: 'cuda' });
    const xd = DeviceTensor.from(x, shape1);
    let wrong = 0;
    let calls = 0;
    let done = false;
    let grownWrong = -1;
    const grower = runWorker({ mode: 'grow', shape: SHAPE, hidden: HIDDEN, w: { w1: w.w1, w2: w.w2 }, maxN: count(300) })
      .then((m) => {
        grownWrong = m;
      })
      .finally(() => {
        done = true;
      });
    try {
      while (!done) {
        const y = block.forward(xd);
        if (!bitsEqual(y.toHostSync(), expect1)) wrong++;
        y.dispose();
        calls++;
        await new Promise((r) => setImmediate(r));
      }
      await grower;
      expect({ wrong, grownWrong }, `main thread: wrong of ${calls}; grower: wrong of ${count(300)} sizes ${seedNote(rng)}`).toEqual({ wrong: 0, grownWrong: 0 });
      const t = DeviceTensor.from(new Float32Array([1, 2, 3, 4]), [1, 1, 2, 2]);
      expect(Array.from(t.toHostSync())).toEqual([1, 2, 3, 4]);
      t.dispose();
    } finally {
      xd.dispose();
      block.dispose();
    }
  }, 120_000);
});
