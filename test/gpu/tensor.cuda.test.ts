// DeviceTensor lifecycle and memory, fromPointer, and the Block classes on CUDA.
// Skipped (with the reason in the suite name) where CUDA is not available.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, test } from 'vitest';
import {
  CBAMBlock,
  DeviceTensor,
  ECABlock,
  SEBlock,
  cbamForward,
  cuda,
  ecaForward,
  seForward,
  seForwardAsync,
} from '../../dist/index.js';
import { refSE, type Shape4 } from '../reference.js';
import {
  HALF_NAN,
  TOL_F32,
  bitsEqual,
  expectClose,
  freshRng,
  gpuGate,
  halfBits,
  numel,
  poisoned,
  randCBAMWeights,
  randECAWeight,
  randSEWeights,
  seedNote,
} from '../helpers.js';
import { DTYPES, download, poisonTensor, upload } from './gpu-common.js';

const gate = gpuGate(cuda.status(), 'GPU DeviceTensor and blocks');
// The emulated binding of npm run test:gpu:fake (test/fake-cuda.ts) stands in for the addon.
const emulated = Symbol.for('squeeze-excite.test.fake-cuda') in globalThis;

/** sorted[floor(n / 2)] (bench/stats.mjs's median): the free-memory leak checks decide on it. */
function upperMedian(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
}

// No public API reports device memory or allocates raw device memory, so the addon's own
// binding is used (as bench/ does).
interface RawBinding {
  cudaMemInfo(device: number): { free: number; total: number };
  cudaAlloc(device: number, bytes: number): bigint;
  cudaFree(device: number, ptr: bigint): void;
}
function binding(): RawBinding {
  const require = createRequire(import.meta.url);
  return (require('../../dist/backend/load.js') as { loadBinding(): RawBinding }).loadBinding();
}
function memInfo(): { free: number; total: number } {
  return binding().cudaMemInfo(0);
}

describe.skipIf(!gate.ok)(gate.title, () => {
  describe('DeviceTensor', () => {
    test.each(DTYPES)('from / toHost / toHostSync / toFloat32 round-trip the bits (%s)', async (dtype) => {
      const rng = freshRng();
      const shape: Shape4 = [2, 3, 5, 7];
      const x = rng.normals(numel(shape), 3);
      const host = dtype === 'float32' ? x : halfBits(x, dtype);
      const t = DeviceTensor.from(host, shape, { layout: 'NHWC', dtype });
      try {
        expect(t.dtype).toBe(dtype);
        expect(t.layout).toBe('NHWC');
        expect([...t.shape]).toEqual(shape);
        expect(t.byteLength).toBe(numel(shape) * (dtype === 'float32' ? 4 : 2));
        expect(typeof t.ptr).toBe('bigint');
        expect(t.ptr).not.toBe(0n);
        expect(t.disposed).toBe(false);
        const a = await t.toHost();
        const b = t.toHostSync();
        expect(bitsEqual(a, host)).toBe(true);
        expect(bitsEqual(b, host)).toBe(true);
        const f = await t.toFloat32();
        expect(f).toBeInstanceOf(Float32Array);
        expectClose(f, await download(t), 0, 'toFloat32 against this suite\'s converter');
        if (dtype !== 'float32') {
          // a Float32Array uploaded as a half type is rounded the same way as our converter
          const t2 = DeviceTensor.from(x, shape, { dtype });
          try {
            expect(bitsEqual(await t2.toHost(), host)).toBe(true);
          } finally {
            t2.dispose();
          }
        }
      } finally {
        t.dispose();
      }
    });

    test('use after dispose throws; double dispose is harmless', async () => {
      const shape: Shape4 = [1, 4, 2, 2];
      const t = DeviceTensor.from(new Float32Array(16).fill(1.5), shape);
      const out = DeviceTensor.empty(shape);
      t.dispose();
      expect(t.disposed).toBe(true);
      expect(() => t.dispose()).not.toThrow();
      expect(() => t.ptr).toThrow(Error);
      expect(() => t.toHostSync()).toThrow(/dispose/);
      await expect(t.toHost()).rejects.toThrow(Error);
      const w = { w1: new Float32Array(16).fill(0.1) };
      expect(() => seForward(t, shape, w, { device: 'cuda', out })).toThrow(Error);
      // a disposed out is refused too
      const live = DeviceTensor.from(new Float32Array(16).fill(2), shape);
      out.dispose();
      expect(() => seForward(live, shape, w, { device: 'cuda', out })).toThrow(Error);
      live.dispose();
      expect(() => live.dispose()).not.toThrow();
    });

    test('a 2^40-byte tensor is refused (over 2^31 - 1 elements) before any allocation, and the process carries on', () => {
      let err: unknown;
      try {
        const t = DeviceTensor.empty([1, 1, 2 ** 19, 2 ** 19]); // 2^38 float32 = 2^40 bytes
        t.dispose();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RangeError);
      expect(err).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
      // still usable afterwards
      const t = DeviceTensor.from(new Float32Array([1, 2, 3, 4]), [1, 1, 2, 2]);
      expect(Array.from(t.toHostSync())).toEqual([1, 2, 3, 4]);
      t.dispose();
    });

    // A tensor is at most 8 GiB (2^31 - 1 elements), under a device's memory, so the device runs
    // out only after many: the binding's allocation (which every DeviceTensor, op output and
    // block weight goes through) is asked for 2^40 bytes directly.
    test.skipIf(emulated)('an allocation the device cannot hold: ERR_SQEX_CUDA that says what this thread\'s tensors hold, and the usual fix', () => {
      const held = DeviceTensor.empty([1, 1, 1024, 384]); // 1.5 MiB
      let err: unknown;
      try {
        const ptr = binding().cudaAlloc(0, 2 ** 40);
        binding().cudaFree(0, ptr);
      } catch (e) {
        err = e;
      } finally {
        held.dispose();
      }
      expect(err).toMatchObject({ code: 'ERR_SQEX_CUDA', cudaErrorName: 'cudaErrorMemoryAllocation' });
      const message = String((err as Error).message);
      expect(message).toContain('allocating 1099511627776 bytes on device 0');
      const heldMiB = Number(/hold ([0-9.]+) MiB of device 0/.exec(message)?.[1]);
      expect(heldMiB, message).toBeGreaterThanOrEqual(1.5);
      expect(message).toContain('dispose()');
      const t = DeviceTensor.from(new Float32Array([1, 2, 3, 4]), [1, 1, 2, 2]);
      expect(Array.from(t.toHostSync())).toEqual([1, 2, 3, 4]);
      t.dispose();
    });

    // compute-sanitizer runs of this suite set SQEX_ALLOC_CYCLES lower: each cycle is slow under it.
    const cycles = Number(process.env.SQEX_ALLOC_CYCLES ?? 100_000);
    test(`${cycles} alloc/dispose cycles return free device memory to its baseline`, () => {
      // 256 KiB tensors (128 KiB for the float16 third): ~21 GiB if every one leaked. Measured in
      // ten rounds and decided by the median round: other processes on the GPU (other suites, the
      // GPU session's other lanes) create contexts (~0.5 GiB each) and tensors meanwhile, which
      // moves free memory in some rounds; a leak moves it in every round (~1.7 GB a round at the
      // default count).
      const shape: Shape4 = [1, 64, 32, 32];
      DeviceTensor.empty(shape).dispose(); // warm the allocator
      const rounds = 10;
      const drops: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const before = memInfo().free;
        for (let i = r; i < cycles; i += rounds) {
          const t = DeviceTensor.empty(shape, { dtype: i % 3 === 0 ? 'float16' : 'float32' });
          t.dispose();
        }
        drops.push(before - memInfo().free);
      }
      const median = upperMedian(drops);
      const perRoundLeak = (cycles / rounds) * (2 / 3) * 2 ** 18; // bytes if every float32 tensor leaked
      // (not below 64 MiB: the driver's own bookkeeping moves free memory by a few MiB)
      const bound = Math.max(2 ** 26, Math.min(2 ** 30, perRoundLeak / 2));
      expect(median, `free-memory drop per round (bytes): ${drops.join(', ')}`).toBeLessThan(bound);
    }, 60_000);

    // Found by a leak soak (2026-12-05): V8 weighed a DeviceTensor as its few hundred bytes of
    // JavaScript, not its device memory, so tensors dropped undisposed waited for a collection
    // that nothing prompted (4,500 forgotten 1 MiB tensors held 4.4 GiB within 3 s on the emulated
    // build). The binding now reports the device bytes it owns to V8 (napi_adjust_external_memory),
    // whose external-memory heuristic then collects them; their finalizers run once the loop yields.
    // The emulated binding is JavaScript and reports nothing to V8.
    const dropCount = Number(process.env.SQEX_DROPPED_TENSORS ?? 2048);
    test.skipIf(emulated)(`${dropCount} DeviceTensors of 1 MiB dropped undisposed in a loop that yields are collected as it runs`, async () => {
      const shape: Shape4 = [1, 1, 512, 512]; // 1 MiB of float32
      DeviceTensor.empty(shape).dispose(); // this thread's context first
      const base = memInfo().free;
      const held: number[] = [];
      for (let i = 0; i < dropCount; i++) {
        DeviceTensor.empty(shape); // never disposed
        if (i % 16 === 15) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          held.push(Math.round((base - memInfo().free) / 2 ** 20));
        }
      }
      // Without the report every one was still held at the end (no collection had run: 2048 MiB
      // of 2048 on the emulated build); with it, at most 256 MiB at any sample. Decided by the
      // median of the last quarter of samples, against half the total: another process's context
      // (~0.5 GiB) on a real GPU moves free memory too.
      const lastQuarter = held.slice(Math.floor((held.length * 3) / 4));
      if (process.env.SQEX_MEMINFO_ASSERT !== '0') {
        expect(upperMedian(lastQuarter), `MiB held, every 16 tensors: ${held.join(' ')}`).toBeLessThan(dropCount / 2);
      }
    }, 120_000);

    // Finalizers never run when a worker ends, so until 2026-11-30 the device memory of every
    // tensor and block a worker had not disposed stayed allocated until the process exited. The
    // binding now frees what its cudaAlloc returned in an env when that env is torn down (after a
    // kernel still using it has finished: cudaFree waits for the device).
    // Workers load the real addon: under the emulated binding (npm run test:gpu:fake) they have no GPU.
    test.skipIf(emulated)('device memory a worker did not dispose is freed when it ends, exits or is terminated', async () => {
      const script = `
const { parentPort, workerData } = require('node:worker_threads');
const sqex = require(workerData.dist);
const big = sqex.DeviceTensor.empty([1, 1, 16384, 16384]);               // 1 GiB, never disposed
const shape = [8, 64, 32, 32];
const x = sqex.DeviceTensor.from(new Float32Array(8 * 64 * 32 * 32).fill(0.5), shape);
const w1 = new Float32Array(4 * 64).fill(0.01), w2 = new Float32Array(64 * 4).fill(0.01);
const block = new sqex.SEBlock({ w1, w2 }, { channels: 64, device: 'cuda' });
const y = block.forward(x);                                              // enqueued, not waited for
globalThis.keep = [big, x, block, y];
if (workerData.mode === 'exit') process.exit(0);
parentPort.postMessage('holding');
if (workerData.mode === 'terminate') setInterval(() => {}, 1000);
`;
      const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url)); // the CommonJS build
      DeviceTensor.empty([1, 1, 64, 64]).dispose(); // this thread's context first
      // Free memory before and after each worker: a leak takes ~1 GiB every round. Other work on
      // the GPU (other suites' processes, the GPU session's other lanes) moves free memory in some
      // rounds, so the median round decides. compute-sanitizer runs set fewer rounds and no bound
      // (SQEX_TEARDOWN_ROUNDS, SQEX_MEMINFO_ASSERT=0): the frees at teardown still run under it.
      const rounds = Number(process.env.SQEX_TEARDOWN_ROUNDS ?? 9);
      const drops: number[] = [];
      for (let i = 0; i < rounds; i++) {
        const mode = (['end', 'exit', 'terminate'] as const)[i % 3];
        const before = memInfo().free;
        const worker = new Worker(script, { eval: true, workerData: { dist, mode } });
        const errors: unknown[] = [];
        worker.on('error', (e) => errors.push(e));
        if (mode === 'terminate') {
          await new Promise<void>((resolve) => worker.once('message', () => resolve()));
          await worker.terminate();
        } else {
          await new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        }
        expect(errors, mode).toEqual([]);
        drops.push(before - memInfo().free);
      }
      const median = upperMedian(drops);
      if (process.env.SQEX_MEMINFO_ASSERT !== '0') {
        expect(median, `free-memory drop per worker (bytes): ${drops.join(', ')}`).toBeLessThan(2 ** 29);
      }
      // and this thread's CUDA path still works
      const t = DeviceTensor.from(new Float32Array([1, 2, 3, 4]), [1, 1, 2, 2]);
      expect(Array.from(t.toHostSync())).toEqual([1, 2, 3, 4]);
      t.dispose();
    }, 120_000);
  });

  // Found by an attack (2026-11-30): the public fields were writable, and the ops hand
  // byteLength and shape to the native re-check, so a caller could make a kernel run past the
  // allocation, or set owned and free memory the tensor does not own.
  // Found by an attack (2026-12-01): toFloat32 looked toHost up on the prototype, so a patched
  // DeviceTensor.prototype.toHost changed what it did (and the error it threw).
  test('toFloat32 uses the class\'s own toHost, whatever the prototype holds later', async () => {
    const t = DeviceTensor.from(new Float32Array([1, 2, 3, 4]), [1, 1, 2, 2], { dtype: 'float16' });
    const proto = DeviceTensor.prototype as unknown as { toHost: unknown };
    const original = proto.toHost;
    proto.toHost = () => { throw new Error('patched'); };
    try {
      expect(Array.from(await t.toFloat32())).toEqual([1, 2, 3, 4]);
    } finally {
      proto.toHost = original;
      t.dispose();
    }
  });

  // From an attack (2026-12-05): a DeviceTensor x refused for its weights got the host arrays'
  // advice to pass another shape, which a DeviceTensor's fixed shape refuses (and then the advice
  // named yet another shape). A DeviceTensor carries its shape and layout: no such advice.
  test('weights for another C with a DeviceTensor x: refused without advice to pass another shape', () => {
    for (const layout of ['NHWC', 'NCHW'] as const) {
      const t = DeviceTensor.from(new Float32Array(2 * 64 * 7 * 9), [2, 64, 7, 9], { layout });
      try {
        const w9 = { w1: new Float32Array(4 * 9), w2: new Float32Array(9 * 4) };
        let err: unknown;
        try {
          seForward(t, [2, 64, 7, 9], w9);
        } catch (e) {
          err = e;
        }
        expect(err, layout).toMatchObject({ code: 'ERR_OUT_OF_RANGE', argument: 'weights.w1' });
        expect((err as Error).message, layout).not.toContain('pass the shape');
        expect((err as Error).message, layout).not.toContain('memory order');
      } finally {
        t.dispose();
      }
    }
  });

  test('an empty batch (N = 0): an empty tensor with no memory, the ops return empty results, no CUDA error', async () => {
    const rng = freshRng();
    const shape: Shape4 = [0, 8, 3, 2];
    const x = DeviceTensor.from(new Float32Array(0), shape, { layout: 'NHWC', dtype: 'float16' });
    expect([x.byteLength, x.ptr]).toEqual([0, 0n]);
    expect((await x.toHost()).length).toBe(0);
    const w = randSEWeights(rng, 8, 2, { twoFc: true, b1: true, b2: true });
    const y = seForward(x, shape, w);
    const ya = await seForwardAsync(x, shape, w);
    const block = new SEBlock(w, { device: 'cuda' });
    const yb = block.forward(x);
    for (const t of [y, ya, yb]) {
      expect(t.shape).toEqual(shape);
      expect([t.byteLength, t.ptr, t.dtype, t.layout]).toEqual([0, 0n, 'float16', 'NHWC']);
      expect(t.toHostSync().length).toBe(0);
      t.dispose();
    }
    // A host x on CUDA too, and the device stays usable afterwards.
    expect(seForward(new Float32Array(0), shape, w, { device: 'cuda' }).length).toBe(0);
    const one = DeviceTensor.from(rng.normals(48), [1, 8, 3, 2]);
    const y1 = block.forward(one);
    expect(y1.toHostSync().length).toBe(48);
    for (const t of [one, y1, x]) t.dispose();
    block.dispose();
  });

  test('a shape whose getter detaches data: the TypeError says detached, naming data', () => {
    const data = new Float32Array(4);
    const shape = [1, 1, 2, 2];
    Object.defineProperty(shape, 3, { get: () => { structuredClone(data.buffer, { transfer: [data.buffer] }); return 2; } });
    let caught: unknown;
    try {
      DeviceTensor.from(data, shape as unknown as Shape4);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(TypeError);
    expect(caught).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', argument: 'data', message: expect.stringContaining('not detached') });
  });

  test('a tensor\'s shape, byteLength, dtype, device, layout and owned cannot be changed', () => {
    const x = DeviceTensor.from(new Float32Array(4).fill(1), [1, 1, 2, 2]);
    const view = DeviceTensor.fromPointer(x.ptr, [1, 1, 2, 2]);
    try {
      const fields: [string, unknown][] = [['shape', [1, 1, 64, 64]], ['byteLength', 16384], ['dtype', 'float16'], ['device', 1], ['layout', 'NHWC'], ['owned', false]];
      for (const [field, value] of fields) {
        const before = (x as unknown as Record<string, unknown>)[field];
        expect(() => {
          (x as unknown as Record<string, unknown>)[field] = value;
        }, field).toThrow(TypeError);
        expect(() => Object.defineProperty(x, field, { value }), field).toThrow(TypeError);
        expect((x as unknown as Record<string, unknown>)[field], field).toBe(before);
      }
      expect(() => {
        (view as unknown as { owned: boolean }).owned = true;
      }).toThrow(TypeError);
      expect(view.owned).toBe(false);
      // The op still sees the real size: an `out` of 64×64 over a 2×2 allocation is refused.
      expect(() => seForward(x, [1, 1, 64, 64], { w1: new Float32Array(1) }, { out: x })).toThrow(expect.objectContaining({ code: expect.any(String) }));
      expect(seForward(x, [1, 1, 2, 2], { w1: new Float32Array(1) }, { out: x })).toBe(x);
    } finally {
      view.dispose();
      x.dispose();
    }
  });

  describe('fromPointer', () => {
    test('wraps an existing tensor\'s memory; dispose only detaches', async () => {
      const rng = freshRng();
      const shape: Shape4 = [2, 24, 7, 9];
      const x = rng.normals(numel(shape), 1, 0.3);
      const w = randSEWeights(rng, 24, 6, { twoFc: true, b1: true, b2: true });
      const base = DeviceTensor.from(x, shape, { layout: 'NHWC' });
      const outBase = poisonTensor(shape, 'NHWC', 'float32');
      const outView = poisonTensor(shape, 'NHWC', 'float32');
      try {
        const view = DeviceTensor.fromPointer(base.ptr, shape, { layout: 'NHWC', dtype: 'float32' });
        expect(view.ptr).toBe(base.ptr);
        seForward(base, shape, w, { device: 'cuda', out: outBase });
        seForward(view, shape, w, { device: 'cuda', out: outView });
        const a = (await outBase.toHost()) as Float32Array;
        const b = (await outView.toHost()) as Float32Array;
        expect(bitsEqual(a, b)).toBe(true);
        expectClose(b, refSE(x, shape, w, { layout: 'NHWC' }).y, TOL_F32, seedNote(rng));
        view.dispose();
        expect(view.disposed).toBe(true);
        // the memory is still base's
        expect(bitsEqual(await base.toHost(), x)).toBe(true);
        // a view that claims less memory than the tensor needs is refused
        expect(() => DeviceTensor.fromPointer(base.ptr, shape, { byteLength: base.byteLength - 4 })).toThrow(RangeError);
        // a half view of the same bytes (reinterpreting: 2x the elements)
        const halfView = DeviceTensor.fromPointer(base.ptr, [2, 48, 7, 9], { dtype: 'float16' });
        expect(halfView.byteLength).toBe(base.byteLength);
        halfView.dispose();
      } finally {
        base.dispose();
        outBase.dispose();
        outView.dispose();
      }
    });
  });

  describe('blocks', () => {
    test.each(DTYPES)('SEBlock / ECABlock / CBAMBlock forward equals the functions (%s)', async (dtype) => {
      const rng = freshRng();
      const shape: Shape4 = [2, 40, 9, 11];
      const [N, C] = shape;
      const x = rng.normals(numel(shape), 1, 0.3);
      const r = rng.normals(numel(shape));
      const host = (a: Float32Array) => (dtype === 'float32' ? a : halfBits(a, dtype));
      const xT = upload(host(x), shape, 'NHWC', dtype);
      const rT = upload(host(r), shape, 'NHWC', dtype);
      const made = [xT, rT];
      const fresh = () => {
        const t = poisonTensor(shape, 'NHWC', dtype);
        made.push(t);
        return t;
      };
      const freshScale = () => {
        const t = DeviceTensor.from(poisoned(N * C), [N, C, 1, 1]);
        made.push(t);
        return t;
      };
      try {
        // SE
        const seW = randSEWeights(rng, C, 10, { twoFc: true, b1: true, b2: true });
        const seOpts = { layout: 'NHWC', activation: 'silu', gate: 'hardsigmoid', outputActivation: 'relu' } as const;
        const se = new SEBlock(seW, { ...seOpts, device: 'cuda', channels: C });
        try {
          expect(se.backend).toBe('cuda');
          const [o1, s1, o2, s2] = [fresh(), freshScale(), fresh(), freshScale()];
          expect(se.forward(xT, { residual: rT, out: o1, scaleOut: s1 })).toBe(o1);
          seForward(xT, shape, seW, { ...seOpts, device: 'cuda', residual: rT, out: o2, scaleOut: s2 });
          expect(bitsEqual(await o1.toHost(), await o2.toHost()), 'SEBlock vs seForward').toBe(true);
          expect(bitsEqual(await s1.toHost(), await s2.toHost()), 'SEBlock scaleOut').toBe(true);
          const o3 = fresh();
          await se.forwardAsync(xT, { residual: rT, out: o3 });
          expect(bitsEqual(await o3.toHost(), await o2.toHost()), 'SEBlock async').toBe(true);
          // host arrays through the same block
          if (dtype === 'float32') {
            const hostOut = poisoned(x.length);
            const xN = (await xT.toHost()) as Float32Array;
            const rN = (await rT.toHost()) as Float32Array;
            se.forward(xN, shape, { residual: rN, out: hostOut });
            expect(bitsEqual(hostOut, await o2.toHost()), 'SEBlock host arrays').toBe(true);
          }
        } finally {
          se.dispose();
        }
        expect(se.disposed).toBe(true);
        expect(() => se.forward(xT, { out: fresh() })).toThrow(Error);
        expect(() => se.dispose()).not.toThrow();

        // ECA
        const weight = randECAWeight(rng, 5);
        const eca = new ECABlock({ weight }, { layout: 'NHWC', gate: 'sigmoid', device: 'cuda' });
        try {
          const [o1, s1, o2, s2] = [fresh(), freshScale(), fresh(), freshScale()];
          eca.forward(xT, { out: o1, scaleOut: s1 });
          ecaForward(xT, shape, { weight }, { layout: 'NHWC', device: 'cuda', out: o2, scaleOut: s2 });
          expect(bitsEqual(await o1.toHost(), await o2.toHost()), 'ECABlock vs ecaForward').toBe(true);
          expect(bitsEqual(await s1.toHost(), await s2.toHost()), 'ECABlock scaleOut').toBe(true);
        } finally {
          eca.dispose();
        }

        // CBAM
        const cbW = randCBAMWeights(rng, C, 10, 7, { b1: true, b2: true, spatialBias: true });
        const cbam = new CBAMBlock(cbW, { layout: 'NHWC', activation: 'relu', gate: 'sigmoid', device: 'cuda', channels: C });
        try {
          const [o1, o2] = [fresh(), fresh()];
          cbam.forward(xT, { out: o1 });
          cbamForward(xT, shape, cbW, { layout: 'NHWC', device: 'cuda', out: o2 });
          expect(bitsEqual(await o1.toHost(), await o2.toHost()), 'CBAMBlock vs cbamForward').toBe(true);
          const o3 = fresh();
          cbam.forward(xT, shape, { out: o3, stream: 0n });
          expect(bitsEqual(await o3.toHost(), await o2.toHost()), 'CBAMBlock with shape and stream 0n').toBe(true);
        } finally {
          cbam.dispose();
        }
      } finally {
        for (const t of made) t.dispose();
      }
    });
  });

  test('toHost() takes its place in the stream when called: an op writing the tensor afterwards does not reach the copy', async () => {
    // Large enough that the download is still queued when the op is enqueued behind it.
    const rng = freshRng();
    const shape: Shape4 = [32, 256, 28, 28];
    const before = rng.normals(numel(shape), 1, 0.3);
    const y = DeviceTensor.from(before, shape);
    const x = DeviceTensor.from(rng.normals(numel(shape), 1, 0.3), shape);
    try {
      for (let round = 0; round < 3; round++) {
        const expected = (await y.toHost()) as Float32Array;
        const pending = y.toHost(); // on stream 0n
        seForward(x, shape, randSEWeights(rng, 256, 16, { twoFc: true, b1: true, b2: true }), { out: y, stream: 0n });
        const got = (await pending) as Float32Array;
        expect(bitsEqual(got, expected), `round ${round}: the download saw the later op's output, ${seedNote(rng)}`).toBe(true);
        const after = (await y.toHost()) as Float32Array;
        expect(bitsEqual(after, expected), `round ${round}: the op did not write y`).toBe(false);
      }
    } finally {
      x.dispose();
      y.dispose();
    }
  }, 60_000);

  test('copyFrom refills one input tensor in a loop; an op enqueued before it still reads the old data', async () => {
    const rng = freshRng();
    const shape: Shape4 = [16, 256, 28, 28];
    const n = numel(shape);
    const w = randSEWeights(rng, 256, 16, { twoFc: true, b1: true, b2: true });
    const x = DeviceTensor.empty(shape);
    const y = DeviceTensor.empty(shape);
    try {
      let prev: Float32Array | undefined;
      for (let round = 0; round < 3; round++) {
        const data = rng.normals(n, 1, 0.3);
        const pending = prev === undefined ? undefined : seForwardAsync(x, shape, w, { out: y, stream: 0n });
        x.copyFrom(data); // stream 0n: after the op above
        if (pending !== undefined && prev !== undefined) {
          await pending;
          const got = (await y.toHost()) as Float32Array;
          expectClose(got, refSE(prev, shape, w, {}).y, TOL_F32, `round ${round}: the op saw the refilled x, ${seedNote(rng)}`);
        }
        seForward(x, shape, w, { out: y });
        expectClose((await y.toHost()) as Float32Array, refSE(data, shape, w, {}).y, TOL_F32, `round ${round}, ${seedNote(rng)}`);
        prev = data;
      }
    } finally {
      x.dispose();
      y.dispose();
    }
  }, 60_000);

  test('poisoned half outputs: a NaN fill is fully overwritten', async () => {
    // (the op suites do this for every case; here it is checked directly on the raw bits)
    const rng = freshRng();
    const shape: Shape4 = [3, 13, 7, 11];
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const x = upload(halfBits(rng.normals(numel(shape)), dtype), shape, 'NCHW', dtype);
      const out = poisonTensor(shape, 'NCHW', dtype);
      try {
        const before = (await out.toHost()) as Uint16Array;
        expect(before.every((b) => b === HALF_NAN[dtype])).toBe(true);
        ecaForward(x, shape, { weight: randECAWeight(rng, 3) }, { device: 'cuda', out });
        const bits = (await out.toHost()) as Uint16Array;
        const nanMask = dtype === 'float16' ? 0x7c00 : 0x7f80;
        const firstNaN = bits.findIndex((b) => (b & nanMask) === nanMask);
        expect(firstNaN, `${dtype} ${seedNote(rng)}`).toBe(-1);
      } finally {
        x.dispose();
        out.dispose();
      }
    }
  });
});
