// CUDA availability, on every machine. With no usable GPU: the build still has CUDA compiled in
// (when SQEX_EXPECT_CUDA_COMPILED=1 says the build was meant to), device 'auto' falls back to the
// CPU with a correct result, and device 'cuda' throws an Error that says why.
import { describe, expect, test } from 'vitest';
import { DeviceTensor, cbamForward, cuda, ecaForward, seForward, seForwardAsync } from '../../dist/index.js';
import { refCBAM, refECA, refSE, type Shape4 } from '../reference.js';
import { TOL_F32, expectClose, freshRng, noteSkip, numel, poisoned, randCBAMWeights, randECAWeight, randSEWeights, seedNote } from '../helpers.js';

const status = cuda.status();

describe('cuda.status()', () => {
  test('is well-formed and consistent', () => {
    expect(typeof status.compiled).toBe('boolean');
    expect(typeof status.available).toBe('boolean');
    expect(Number.isInteger(status.deviceCount)).toBe(true);
    expect(status.devices.length).toBe(status.deviceCount);
    if (status.available) {
      expect(status.compiled).toBe(true);
      expect(status.deviceCount).toBeGreaterThan(0);
      expect(status.reason).toBeNull();
      expect(status.runtimeVersion).toMatch(/^\d+\.\d+/);
      for (const d of status.devices) {
        expect(d.name.length).toBeGreaterThan(0);
        expect(d.computeCapability).toMatch(/^\d+\.\d+$/);
        expect(d.totalMemory).toBeGreaterThan(0);
      }
    } else {
      expect(typeof status.reason).toBe('string');
      expect((status.reason ?? '').length).toBeGreaterThan(0);
    }
    if (!status.compiled) expect(status.runtimeVersion).toBeNull();
    // the addon itself loaded (else every other suite fails too, with less to go on)
    expect(status.binary, status.reason ?? '').not.toBeNull();
  });

  test.skipIf(noteSkip(process.env.SQEX_EXPECT_CUDA_COMPILED !== '1', 'availability: the check that CUDA is compiled into the addon', 'it runs where SQEX_EXPECT_CUDA_COMPILED=1 (CI with nvcc)'))('CUDA is compiled into the addon (SQEX_EXPECT_CUDA_COMPILED=1)', () => {
    expect(status.compiled, `reason: ${status.reason}`).toBe(true);
  });
});

describe.skipIf(status.available)(`without a usable GPU (${status.reason ?? 'GPU present'})`, () => {
  test("device 'auto' falls back to the CPU with correct results", async () => {
    const rng = freshRng();
    const shape: Shape4 = [2, 12, 5, 7];
    const x = rng.normals(numel(shape), 1, 0.3);
    const seW = randSEWeights(rng, 12, 3, { twoFc: true, b1: true, b2: true });
    const out = poisoned(x.length);
    expect(seForward(x, shape, seW, { device: 'auto', out })).toBe(out);
    expectClose(out, refSE(x, shape, seW).y, TOL_F32, seedNote(rng));
    // 'auto' is also the default
    expectClose(seForward(x, shape, seW), refSE(x, shape, seW).y, TOL_F32, seedNote(rng));
    expectClose(await seForwardAsync(x, shape, seW, { device: 'auto' }), refSE(x, shape, seW).y, TOL_F32, seedNote(rng));
    const weight = randECAWeight(rng, 3);
    expectClose(ecaForward(x, shape, { weight }, { device: 'auto' }), refECA(x, shape, { weight }).y, TOL_F32, seedNote(rng));
    const cbW = randCBAMWeights(rng, 12, 3, 5, { b1: true, b2: true, spatialBias: true });
    expectClose(cbamForward(x, shape, cbW, { device: 'auto' }), refCBAM(x, shape, cbW).y, TOL_F32, seedNote(rng));
  });

  test("device 'cuda' throws an Error carrying the reason", async () => {
    const reason = status.reason!;
    const shape: Shape4 = [1, 4, 2, 2];
    const x = new Float32Array(16).fill(1);
    const w = { w1: new Float32Array(16).fill(0.1) };
    const call = () => seForward(x, shape, w, { device: 'cuda' });
    expect(call).toThrow(Error);
    expect(call).toThrow(reason);
    await expect(seForwardAsync(x, shape, w, { device: 'cuda' })).rejects.toThrow(reason);
    expect(() => ecaForward(x, shape, { weight: new Float32Array([1, 2, 1]) }, { device: 'cuda' })).toThrow(reason);
    expect(() => DeviceTensor.from(x, shape)).toThrow(reason);
    expect(() => DeviceTensor.empty(shape)).toThrow(Error);
  });
});
