// Resident weights for the functions: seForward / ecaForward / cbamForward with the weights
// given as float32 DeviceTensors must compute exactly what the same call with host weights
// computes (same kernel, same bits), on fresh random data with poisoned outputs, and an async
// call must keep its weight tensors alive until it settles.
// Skipped (with the reason in the suite name) where CUDA is not available.
import { describe, expect, test } from 'vitest';
import { DeviceTensor, cuda, seForwardAsync } from '../../dist/index.js';
import { type Shape4 } from '../reference.js';
import { LAYOUTS, bitsEqual, expectClose, freshRng, gpuGate, numel, poisoned, product, seedNote } from '../helpers.js';
import { TOL, absTolFor, cbamProblem, ecaProblem, runOnDevice, seProblem, type Problem } from './gpu-common.js';

const gate = gpuGate(cuda.status(), 'GPU resident weights');

/** The problem with its array weights uploaded as [n, 1, 1, 1] float32 tensors (spatialBias stays a host array). */
function withDeviceWeights(p: Problem): { problem: Problem; tensors: DeviceTensor[] } {
  const tensors: DeviceTensor[] = [];
  const weights: Record<string, unknown> = {};
  for (const [name, w] of Object.entries(p.weights)) {
    if (name === 'spatialBias') {
      weights[name] = w;
      continue;
    }
    const t = DeviceTensor.from(w, [w.length, 1, 1, 1]);
    tensors.push(t);
    weights[name] = t;
  }
  return { problem: { ...p, weights: weights as Record<string, Float32Array> }, tensors };
}

const SHAPES: readonly Shape4[] = [[2, 13, 7, 11], [3, 64, 14, 14], [1, 256, 7, 7]];

describe.skipIf(!gate.ok)(gate.title, () => {
  test.each(product({ dtype: ['float32', 'float16'] as const, layout: LAYOUTS }))(
    'DeviceTensor weights give the bits of host weights, every op (%o)',
    async ({ dtype, layout }) => {
      const rng = freshRng();
      for (const shape of SHAPES) {
        const problems = [
          seProblem(rng, shape, layout, { twoFc: true, b1: true, b2: true, act: 'silu', gate: 'sigmoid', residual: true, outAct: 'relu' }),
          seProblem(rng, shape, layout, { twoFc: false, b1: true, b2: false, act: 'relu', gate: 'hardsigmoid', residual: false, outAct: 'none' }),
          ecaProblem(rng, shape, layout, 'sigmoid', 5),
          cbamProblem(rng, shape, layout, { b1: true, b2: true, act: 'relu', gate: 'sigmoid', k: 7, spatialBias: true }),
        ];
        for (const p of problems) {
          const x = rng.normals(numel(shape), 1, 0.3);
          const residual = p.residual ? rng.normals(numel(shape), 1) : undefined;
          const host = await runOnDevice(p, dtype, rng, { x, residual });
          const { problem, tensors } = withDeviceWeights(p);
          try {
            const dev = await runOnDevice(problem, dtype, rng, { x, residual, async: p.op === 'eca' });
            const what = `${p.label} ${dtype} ${layout} ${shape.join('×')}, ${seedNote(rng)}`;
            expectClose(dev.y, dev.ref.y, TOL[dtype], what, absTolFor(dtype, dev.rValues));
            expect(bitsEqual(dev.yBits, host.yBits), `${what}: y differs from the host-weights run`).toBe(true);
            if (dev.scale && host.scale) expect(bitsEqual(dev.scale, host.scale), `${what}: scaleOut differs`).toBe(true);
          } finally {
            for (const t of tensors) t.dispose();
          }
        }
      }
    },
  );

  test('an async call keeps its DeviceTensor weights alive when they are disposed in flight', async () => {
    const rng = freshRng();
    const shape: Shape4 = [8, 128, 28, 28];
    const p = seProblem(rng, shape, 'NCHW', { twoFc: true, b1: true, b2: true, act: 'relu', gate: 'sigmoid', residual: false, outAct: 'none' });
    const x = rng.normals(numel(shape), 1, 0.3);
    const xT = DeviceTensor.from(x, shape);
    const outT = DeviceTensor.from(poisoned(numel(shape)), shape);
    const { problem, tensors } = withDeviceWeights(p);
    try {
      const pending = seForwardAsync(xT, shape, problem.weights as never, { out: outT, device: 'cuda' });
      for (const t of tensors) t.dispose(); // the free must wait for the kernel
      await pending;
      expectClose(outT.toHostSync() as Float32Array, p.ref(x, undefined).y, TOL.float32, `${p.label}, ${seedNote(rng)}`);
    } finally {
      xT.dispose();
      outT.dispose();
    }
  });
});
