// Every op × option × dtype × layout on CUDA against the float64 reference, with poisoned
// outputs; odd sizes; CPU/GPU agreement; bitwise-repeatable runs; in place; async; streams.
// Skipped (with the reason in the suite name) where CUDA is not available.
import { describe, expect, test } from 'vitest';
import { DeviceTensor, cbamForward, cuda, ecaForward, seForward, seForwardAsync } from '../../dist/index.js';
import { runHostile } from '../hostile-run.js';
import { nchwToNhwc, refCBAM, refECA, refSE, type Gate, type Layout, type Shape4 } from '../reference.js';
import {
  ACTS,
  GATES,
  LAYOUTS,
  TOL_F32,
  bitsEqual,
  expectAgree,
  expectClose,
  freshRng,
  gpuGate,
  halfBits,
  numel,
  poisoned,
  product,
  randCBAMWeights,
  randECAWeight,
  randSEWeights,
  residualRoundingMismatch,
  saturated,
  seedNote,
  type HalfDtype,
} from '../helpers.js';
import {
  ABS_TOL,
  DTYPES,
  absTolFor,
  SYNC,
  TOL,
  cbamProblem,
  download,
  ecaProblem,
  poisonTensor,
  quantize,
  runOnDevice,
  seProblem,
  upload,
  type CBAMCase,
  type DType,
  type Problem,
  type SECase,
} from './gpu-common.js';

const gate = gpuGate(cuda.status(), 'GPU ops');
const emulated = Symbol.for('squeeze-excite.test.fake-cuda') in globalThis;

// Odd sizes: C=1, H=W=1, C=13, prime H·W (7×11), C not a multiple of 8, and some bigger ones.
const GPU_SHAPES: readonly Shape4[] = [
  [1, 1, 1, 1],
  [2, 1, 7, 11],
  [1, 13, 7, 11],
  [2, 13, 1, 1],
  [1, 3, 4, 4],
  [2, 64, 14, 14],
  [1, 37, 9, 9],
  [3, 8, 5, 3],
  [1, 256, 7, 7],
  [2, 160, 1, 1],
  [1, 24, 28, 28],
];

const SE_CASES: SECase[] = product({
  twoFc: [true, false],
  b1: [true, false],
  b2: [true, false],
  act: ACTS,
  gate: GATES,
  residual: [false, true],
  outAct: ['none', 'relu'] as const,
}).filter((c) => c.twoFc || (!c.b2 && c.act === 'relu'));

const CBAM_CASES: CBAMCase[] = product({
  b1: [true, false],
  b2: [true, false],
  act: ACTS,
  gate: GATES,
  k: [1, 3, 7],
}).map((c, i) => ({ ...c, spatialBias: i % 3 !== 0 }));

async function check(p: Problem, dtype: DType, rng: ReturnType<typeof freshRng>, async = false): Promise<void> {
  const run = await runOnDevice(p, dtype, rng, { async });
  const ctx = `${p.label} ${dtype} ${p.layout} shape=${p.shape} ${seedNote(rng)}`;
  expectClose(run.y, run.ref.y, TOL[dtype], ctx, absTolFor(dtype, run.rValues));
  if (run.scale) expectClose(run.scale, run.ref.scale, TOL_F32, `scaleOut ${ctx}`);
}

describe.skipIf(!gate.ok)(gate.title, () => {
  describe('SE: option × dtype × layout', () => {
    test.each(product({ dtype: DTYPES, layout: LAYOUTS }))('%o, all option combinations', async ({ dtype, layout }) => {
      const rng = freshRng();
      for (const [i, c] of SE_CASES.entries()) {
        const shape = GPU_SHAPES[(i + (dtype === 'float32' ? 0 : 3)) % GPU_SHAPES.length];
        await check(seProblem(rng, shape, layout, c), dtype, rng, i % 5 === 0);
      }
    });
  });

  describe('ECA: option × dtype × layout', () => {
    test.each(product({ dtype: DTYPES, layout: LAYOUTS }))('%o, gate × k × shapes', async ({ dtype, layout }) => {
      const rng = freshRng();
      let i = 0;
      for (const g of GATES)
        for (const k of [1, 3, 5, 7, 9])
          for (const d of [0, 4, 8]) {
            const shape = GPU_SHAPES[(i + d) % GPU_SHAPES.length];
            await check(ecaProblem(rng, shape, layout, g, k), dtype, rng, i++ % 4 === 0);
          }
    });
  });

  describe('CBAM: option × dtype × layout', () => {
    test.each(product({ dtype: DTYPES, layout: LAYOUTS }))('%o, all option combinations', async ({ dtype, layout }) => {
      const rng = freshRng();
      for (const [i, c] of CBAM_CASES.entries()) {
        const shape = GPU_SHAPES[(i * 3 + 1) % GPU_SHAPES.length];
        await check(cbamProblem(rng, shape, layout, c), dtype, rng, i % 5 === 0);
      }
    });
  });

  describe('large shapes and magnitudes', () => {
    test.each(product({ dtype: DTYPES, layout: LAYOUTS }))('112×112 and 2×256×56×56, every op (%o)', async ({ dtype, layout }) => {
      const rng = freshRng();
      for (const shape of [[1, 32, 112, 112], [2, 256, 56, 56]] as Shape4[]) {
        const se: SECase = { twoFc: true, b1: true, b2: true, act: 'silu', gate: 'sigmoid', residual: true, outAct: 'relu' };
        await check(seProblem(rng, shape, layout, se), dtype, rng);
        await check(ecaProblem(rng, shape, layout, 'sigmoid', 5), dtype, rng);
        const cb: CBAMCase = { b1: true, b2: true, act: 'relu', gate: 'sigmoid', k: 7, spatialBias: true };
        await check(cbamProblem(rng, shape, layout, cb), dtype, rng);
      }
    }, 60_000);

    // launch.cuh launch_op: a batch whose fp64 hidden layers would pass 64 MB of workspace runs as
    // launches over sample ranges (here SE 16 x 16384 x 8 B = 256 KB a sample: chunks of 256;
    // CBAM 2 x 8192 x 8 B: chunks of 512). Every chunk's x, residual, y and scaleOut offset must
    // be right, the last chunk short, in both layouts and each storage type.
    test.each(product({ dtype: DTYPES, layout: LAYOUTS }))('batches with very wide hidden layers run in sample chunks (%o)', async ({ dtype, layout }) => {
      const rng = freshRng();
      const seShape: Shape4 = [1100, 4, 1, 3];
      const seW = randSEWeights(rng, 4, 16384, { twoFc: true, b1: true, b2: true });
      const se: Problem = {
        op: 'se', shape: seShape, layout, weights: { ...seW }, options: { activation: 'relu', gate: 'sigmoid' }, residual: true, hasScale: true,
        ref: (x, r) => refSE(x, seShape, seW, { layout, activation: 'relu', gate: 'sigmoid', residual: r }),
        label: 'se hidden=16384 C=4',
      };
      await check(se, dtype, rng);
      const cbShape: Shape4 = [1100, 4, 3, 3];
      const cb = cbamProblem(rng, cbShape, layout, { b1: true, b2: true, act: 'relu', gate: 'sigmoid', k: 3, spatialBias: true });
      const cbW = randCBAMWeights(rng, 4, 8192, 3, { b1: true, b2: true, spatialBias: true });
      await check({ ...cb, weights: { ...cbW }, ref: (x) => refCBAM(x, cbShape, cbW, { layout, activation: 'relu', gate: 'sigmoid' }), label: 'cbam hidden=8192 C=4' }, dtype, rng, true);
    }, 120_000);

    test.each(product({ gate: GATES, layout: LAYOUTS }))('|x| ~ 1e4 in fp32: saturated gates stay finite (%o)', async ({ gate: g, layout }) => {
      const rng = freshRng();
      const shape: Shape4 = [2, 19, 9, 7];
      const makers: (() => Problem)[] = [
        () => seProblem(rng, shape, layout, { twoFc: true, b1: true, b2: true, act: 'silu', gate: g, residual: true, outAct: 'none' }),
        () => ecaProblem(rng, shape, layout, g, 5),
        () => cbamProblem(rng, shape, layout, { b1: true, b2: true, act: 'relu', gate: g, k: 3, spatialBias: true }),
      ];
      for (const make of makers) {
        // Redraw until every gate of the reference is saturated (see test/cpu.se.test.ts for why).
        for (let t = 0; ; t++) {
          const p = make();
          const x = rng.normals(numel(shape), 1e4, 3e3);
          const r = p.residual ? rng.normals(numel(shape), 1e4) : undefined;
          const ref = p.ref(x, r) as ReturnType<Problem['ref']> & { spatial?: Float64Array };
          if (!saturated(ref.scale, g) || (ref.spatial && !saturated(ref.spatial, g))) {
            expect(t, 'could not draw a saturated problem').toBeLessThan(500);
            continue;
          }
          const run = await runOnDevice(p, 'float32', rng, { x, residual: r });
          expectClose(run.y, ref.y, TOL_F32, `${p.label} ${layout} ${seedNote(rng)}`);
          break;
        }
      }
    });
  });

  describe('agreement, repeatability, aliasing', () => {
    test.each(LAYOUTS)('host arrays: CUDA and CPU agree, sync and async (%s)', async (layout: Layout) => {
      const rng = freshRng();
      const shape: Shape4 = [2, 40, 13, 11];
      const x = rng.normals(numel(shape), 1, 0.3);
      const r = rng.normals(numel(shape));
      const seW = randSEWeights(rng, 40, 10, { twoFc: true, b1: true, b2: true });
      const seOpts = { layout, activation: 'silu', gate: 'hardsigmoid', residual: r, outputActivation: 'relu' } as const;
      const cpu = seForward(x, shape, seW, { ...seOpts, device: 'cpu' });
      const gpuOut = poisoned(x.length);
      const gpuScale = poisoned(80);
      expect(seForward(x, shape, seW, { ...seOpts, device: 'cuda', out: gpuOut, scaleOut: gpuScale })).toBe(gpuOut);
      const ref = refSE(x, shape, seW, seOpts);
      expectClose(gpuOut, ref.y, TOL_F32, seedNote(rng));
      expectClose(gpuScale, ref.scale, TOL_F32, seedNote(rng));
      expectAgree(gpuOut, cpu, ref.y, TOL_F32, `CUDA against CPU: ${seedNote(rng)}`);
      const gpuAsync = await seForwardAsync(x, shape, seW, { ...seOpts, device: 'cuda', out: poisoned(x.length) });
      expect(bitsEqual(gpuAsync, gpuOut), 'CUDA async differs from CUDA sync').toBe(true);

      const weight = randECAWeight(rng, 5);
      const ecaCpu = ecaForward(x, shape, { weight }, { layout, device: 'cpu' });
      const ecaGpu = ecaForward(x, shape, { weight }, { layout, device: 'cuda', out: poisoned(x.length) });
      expectAgree(ecaGpu, ecaCpu, refECA(x, shape, { weight }, { layout }).y, TOL_F32, seedNote(rng));
      const cbW = randCBAMWeights(rng, 40, 10, 7, { b1: true, b2: true, spatialBias: true });
      const cbCpu = cbamForward(x, shape, cbW, { layout, device: 'cpu' });
      const cbGpu = cbamForward(x, shape, cbW, { layout, device: 'cuda', out: poisoned(x.length) });
      expectAgree(cbGpu, cbCpu, refCBAM(x, shape, cbW, { layout }).y, TOL_F32, seedNote(rng));
    });

    // The residual add rounds on its own, as PyTorch's eager x * s + r and the CPU kernels: nvcc
    // fused x * s and + r into one FMA in some kernels (their SASS changed when the add became
    // __fadd_rn, 2026-12-04), which rounds once. Checked exactly against the call's own gates.
    test.each(LAYOUTS)('x·s + residual rounds x·s to float32 first, as on the CPU (%s)', (layout: Layout) => {
      const rng = freshRng();
      for (const shape of [[2, 40, 13, 11], [3, 64, 7, 7], [2, 256, 56, 56], [1, 1024, 14, 14]] as Shape4[]) {
        const [N, C] = shape;
        for (const outAct of ['none', 'relu'] as const) {
          const weights = randSEWeights(rng, C, Math.max(4, C >> 4), { twoFc: true, b1: true, b2: true });
          const x = rng.normals(numel(shape), 3, 0.5);
          const residual = rng.normals(numel(shape), 3);
          const scaleOut = poisoned(N * C);
          const y = seForward(x, shape, weights, { layout, residual, outputActivation: outAct, scaleOut, device: 'cuda', out: poisoned(x.length) });
          const bad = residualRoundingMismatch(y, x, residual, scaleOut, shape, layout, outAct === 'relu');
          expect(bad, `${shape.join('x')} ${outAct}: first element off: ${bad} (${y[bad]}) ${seedNote(rng)}`).toBe(-1);
        }
      }
    });

    // Staged host calls wait for the one before them of the same device (the CPU or a CUDA
    // device), not for another device's: a small CPU call made after a large CUDA host call
    // settles first. Before the queue was per device it waited for the CUDA call. The emulated
    // binding (npm run test:gpu:fake) has no such queue: its CUDA host calls finish on a later turn.
    test.skipIf(emulated)('async host calls on CUDA and on the CPU do not wait for each other', async () => {
      const rng = freshRng();
      const big: Shape4 = [4, 128, 28, 28];
      const xBig = rng.normals(numel(big), 1, 0.3);
      const wBig = randSEWeights(rng, 128, 32, { twoFc: true, b1: true, b2: true });
      const small: Shape4 = [1, 8, 2, 2];
      const xSmall = rng.normals(numel(small), 1, 0.3);
      const wSmall = randSEWeights(rng, 8, 2, { twoFc: true, b1: true, b2: true });
      const settled: string[] = [];
      const gpu = seForwardAsync(xBig, big, wBig, { device: 'cuda', out: poisoned(xBig.length) }).then((y) => {
        settled.push('cuda');
        return y;
      });
      // 'always': staged on the pool, as the CUDA call is (not run inline on this thread)
      const cpu = seForwardAsync(xSmall, small, wSmall, { device: 'cpu', offload: 'always', out: poisoned(xSmall.length) }).then((y) => {
        settled.push('cpu');
        return y;
      });
      const [yGpu, yCpu] = await Promise.all([gpu, cpu]);
      expect(settled).toEqual(['cpu', 'cuda']);
      expectClose(yGpu, refSE(xBig, big, wBig).y, TOL_F32, seedNote(rng));
      expectClose(yCpu, refSE(xSmall, small, wSmall).y, TOL_F32, seedNote(rng));
    });

    // The kernels' index limits (C <= 2^24, ...) are shapes the CUDA path cannot take, as too
    // little shared memory is: ERR_SQEX_UNSUPPORTED, so that 'auto' with a deviceIndex runs the
    // CPU. Before, ERR_SQEX_INVALID_ARGUMENT, which 'auto' passed on. (The emulated binding has
    // no such limit.)
    test.skipIf(emulated)('a channel count past the kernels\' limit (2^24 + 1): ERR_SQEX_UNSUPPORTED on \'cuda\', the CPU under \'auto\' with a deviceIndex', () => {
      const rng = freshRng();
      const shape: Shape4 = [1, 2 ** 24 + 1, 1, 1];
      const x = rng.normals(numel(shape), 1, 0.3);
      const weight = randECAWeight(rng, 3);
      let err: unknown;
      try {
        ecaForward(x, shape, { weight }, { device: 'cuda' });
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'ERR_SQEX_UNSUPPORTED' });
      expect((err as Error).message).toContain('C <= 16777216');
      const warned: string[] = [];
      const emit = process.emitWarning;
      process.emitWarning = ((w: string | Error, o?: unknown) => {
        const code = typeof o === 'object' && o !== null ? (o as { code?: string }).code : undefined;
        if (code === 'SQEX_CPU_FALLBACK') warned.push(String(w));
        else (emit as (...a: unknown[]) => void).call(process, w, o);
      }) as typeof process.emitWarning;
      try {
        const cpu = ecaForward(x, shape, { weight }, { device: 'cpu' });
        const auto = ecaForward(x, shape, { weight }, { device: 'auto', deviceIndex: 0, out: poisoned(x.length) });
        expect(bitsEqual(auto, cpu), '\'auto\' ran something other than the CPU').toBe(true);
      } finally {
        process.emitWarning = emit;
      }
      expect(warned).toHaveLength(1);
      expect(warned[0]).toContain('shape too large for the CUDA kernel');
    }, 60_000);

    // From an attack (2026-12-04): lib/ made promises (whose hooks are the caller's code) between
    // filling the device pointers and the addon's call; a hook that disposed x, out, a weight or
    // the block, or re-entered the block, had kernels read and write freed device memory, or the
    // call run with the re-entrant call's shape. In a child process (the hooks would strike at the
    // runner's own promises). The emulated binding has no device memory to misuse.
    test.skipIf(emulated)('promise hooks that dispose a tensor or the block, or re-enter it, at each promise a call makes: a coded refusal or the same bits', () => {
      const report = runHostile('device-promise-hooks.cjs', { SQEX_SEED: String(freshRng().seed) }, 600_000);
      // hook kinds x 9 strikes x (each promise a call makes, and one past them)
      expect(report.mostPromises).toBeGreaterThan(0);
      expect(report.strikePoints).toBeGreaterThanOrEqual(2 * 9 * 2);
      expect(report.checks).toBeGreaterThanOrEqual((report.strikePoints as number) / 2);
    }, 600_000);

    test.each(DTYPES)('repeated runs are bitwise identical (%s)', async (dtype) => {
      const rng = freshRng();
      const shape: Shape4 = [2, 96, 17, 19];
      const x = rng.normals(numel(shape), 1, 0.3);
      const r = rng.normals(numel(shape));
      const problems = [
        seProblem(rng, shape, 'NHWC', { twoFc: true, b1: true, b2: true, act: 'silu', gate: 'sigmoid', residual: true, outAct: 'relu' }),
        ecaProblem(rng, shape, 'NCHW', 'sigmoid', 5),
        cbamProblem(rng, shape, 'NHWC', { b1: true, b2: true, act: 'relu', gate: 'sigmoid', k: 7, spatialBias: true }),
      ];
      for (const p of problems) {
        const first = await runOnDevice(p, dtype, rng, { x, residual: r });
        for (let i = 0; i < 4; i++) {
          const again = await runOnDevice(p, dtype, rng, { x, residual: r, async: i % 2 === 1 });
          expect(bitsEqual(again.yBits, first.yBits), `${p.label} ${dtype} run ${i + 1}`).toBe(true);
        }
      }
    });

    test.each(product({ dtype: DTYPES, layout: LAYOUTS }))('device tensors in place: out === x, and residual === out (%o)', async ({ dtype, layout }) => {
      const rng = freshRng();
      const shape: Shape4 = [2, 21, 6, 5];
      const p = seProblem(rng, shape, layout, { twoFc: true, b1: true, b2: true, act: 'relu', gate: 'sigmoid', residual: true, outAct: 'relu' });
      const ref = await runOnDevice(p, dtype, rng); // out-of-place result and reference
      const qx = quantize(ref.x, dtype);
      // out === x
      const xT = upload(qx.host, shape, layout, dtype);
      // residual from the same draw: rebuild from the values the first run used
      const rHost = dtype === 'float32' ? Float32Array.from(ref.rValues!) : halfBits(ref.rValues!, dtype as HalfDtype);
      const rT = upload(rHost, shape, layout, dtype);
      try {
        const y = SYNC.se(xT, shape, p.weights, { ...p.options, layout, device: 'cuda', residual: rT, out: xT });
        expect(y).toBe(xT);
        expectClose(await download(xT), ref.ref.y, TOL[dtype], `out === x ${seedNote(rng)}`, absTolFor(dtype, ref.rValues));
      } finally {
        xT.dispose();
        rT.dispose();
      }
      // residual === out
      const xT2 = upload(qx.host, shape, layout, dtype);
      const rT2 = upload(rHost, shape, layout, dtype);
      try {
        const y = SYNC.se(xT2, shape, p.weights, { ...p.options, layout, device: 'cuda', residual: rT2, out: rT2 });
        expect(y).toBe(rT2);
        expectClose(await download(rT2), ref.ref.y, TOL[dtype], `residual === out ${seedNote(rng)}`, absTolFor(dtype, ref.rValues));
      } finally {
        xT2.dispose();
        rT2.dispose();
      }
      // ECA and CBAM in place too
      for (const q of [ecaProblem(rng, shape, layout, 'hardsigmoid', 3), cbamProblem(rng, shape, layout, { b1: true, b2: false, act: 'silu', gate: 'sigmoid', k: 5, spatialBias: true })]) {
        const base = await runOnDevice(q, dtype, rng);
        const t = upload(quantize(base.x, dtype).host, shape, layout, dtype);
        try {
          expect(SYNC[q.op](t, shape, q.weights, { ...q.options, layout, device: 'cuda', out: t })).toBe(t);
          const y = await download(t);
          expectClose(y, base.ref.y, TOL[dtype], `${q.label} in place ${seedNote(rng)}`, ABS_TOL[dtype]);
        } finally {
          t.dispose();
        }
      }
    });

    test('without out, a new DeviceTensor of x\'s dtype and layout is returned', async () => {
      const rng = freshRng();
      const shape: Shape4 = [1, 16, 5, 5];
      for (const dtype of DTYPES) {
        const x = rng.normals(numel(shape));
        const q = quantize(x, dtype);
        const xT = upload(q.host, shape, 'NHWC', dtype);
        const w = randSEWeights(rng, 16, 4, { twoFc: true, b1: true, b2: true });
        const y = seForward(xT, shape, w, { device: 'cuda' }) as unknown as DeviceTensor;
        try {
          expect(y).toBeInstanceOf(DeviceTensor);
          expect(y).not.toBe(xT);
          expect(y.dtype).toBe(dtype);
          expect(y.layout).toBe('NHWC');
          expect([...y.shape]).toEqual(shape);
          expectClose(await download(y), refSE(q.values, shape, w, { layout: 'NHWC' }).y, TOL[dtype], `${dtype} ${seedNote(rng)}`, ABS_TOL[dtype]);
        } finally {
          xT.dispose();
          y.dispose();
        }
      }
    });

    test('NCHW and NHWC device tensors agree', async () => {
      const rng = freshRng();
      const shape: Shape4 = [2, 13, 7, 11];
      const x = rng.normals(numel(shape), 1, 0.3);
      const w = randCBAMWeights(rng, 13, 4, 7, { b1: true, b2: true, spatialBias: true });
      const a = upload(x, shape, 'NCHW', 'float32');
      const b = upload(nchwToNhwc(x, shape), shape, 'NHWC', 'float32');
      const outA = poisonTensor(shape, 'NCHW', 'float32');
      const outB = poisonTensor(shape, 'NHWC', 'float32');
      try {
        cbamForward(a, shape, w, { device: 'cuda', out: outA });
        cbamForward(b, shape, w, { device: 'cuda', out: outB, layout: 'NHWC' });
        const ya = (await outA.toHost()) as Float32Array;
        const yb = (await outB.toHost()) as Float32Array;
        expectAgree(yb, nchwToNhwc(ya, shape), refCBAM(x, shape, w).y, TOL_F32, seedNote(rng));
      } finally {
        for (const t of [a, b, outA, outB]) t.dispose();
      }
    });

    test('the default stream (stream: 0n) and the sync/async pairs work on device tensors', async () => {
      const rng = freshRng();
      const shape: Shape4 = [2, 32, 9, 9];
      const p = ecaProblem(rng, shape, 'NCHW', 'sigmoid' as Gate, 3);
      const run = await runOnDevice(p, 'float32', rng, { stream: 0n });
      expectClose(run.y, run.ref.y, TOL_F32, seedNote(rng));
      const runAsync = await runOnDevice(p, 'float32', rng, { stream: 0n, async: true, x: run.x });
      expect(bitsEqual(runAsync.yBits, run.yBits)).toBe(true);
      // host arrays with a stream too
      const w = randSEWeights(rng, 32, 8, { twoFc: true, b1: true, b2: true });
      const out = poisoned(numel(shape));
      seForward(run.x, shape, w, { device: 'cuda', stream: 0n, out });
      expectClose(out, refSE(run.x, shape, w).y, TOL_F32, seedNote(rng));
    });
  });
});
