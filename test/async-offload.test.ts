// Where an async CPU call over host arrays runs (options.offload; native/binding/host_staging.h):
// with 'auto', an op that costs less than copying its operands for the pool runs on the calling
// thread, as the sync call does, and its outputs are written before the promise is returned;
// with 'always' it is staged and its outputs are written when the promise settles. Either way the
// result equals the sync call's bit for bit.
import { describe, expect, test } from 'vitest';
import {
  CBAMBlock,
  SEBlock,
  cbamForward,
  cbamForwardAsync,
  ecaForward,
  ecaForwardAsync,
  seForward,
  seForwardAsync,
} from '../dist/index.js';
import type { Shape4 } from './reference.js';
import { bitsEqual, freshRng, numel, poisoned, randCBAMWeights, randECAWeight, randSEWeights, seedNote } from './helpers.js';

type Fn = (x: Float32Array, shape: Shape4, w: never, o?: Record<string, unknown>) => Float32Array;
type AsyncFn = (x: Float32Array, shape: Shape4, w: never, o?: Record<string, unknown>) => Promise<Float32Array>;

const rng = freshRng();
const note = seedNote(rng);

function cases(shape: Shape4): { op: string; sync: Fn; async: AsyncFn; w: never; opts: Record<string, unknown> }[] {
  const c = shape[1];
  const hidden = Math.max(1, c >> 2);
  return [
    { op: 'se', sync: seForward as Fn, async: seForwardAsync as AsyncFn, w: randSEWeights(rng, c, hidden, { twoFc: true, b1: true, b2: true }) as never, opts: { residual: rng.normals(numel(shape), 1) } },
    { op: 'eca', sync: ecaForward as Fn, async: ecaForwardAsync as AsyncFn, w: { weight: randECAWeight(rng, 3) } as never, opts: { layout: 'NHWC' } },
    { op: 'cbam', sync: cbamForward as Fn, async: cbamForwardAsync as AsyncFn, w: randCBAMWeights(rng, c, hidden, 7, { b1: true, b2: false, spatialBias: true }) as never, opts: {} },
  ];
}

describe('options.offload of async CPU calls over host arrays', () => {
  const small: Shape4 = [2, 16, 9, 7];

  for (const { op, sync, async, w, opts } of cases(small)) {
    test(`${op}: 'auto' runs a small call on the calling thread (out written before the promise is returned); 'always' writes it at settle; both equal the sync call`, async () => {
      const x = rng.normals(numel(small), 1);
      const expected = sync(x, small, w, { ...opts, device: 'cpu' });

      const outAuto = poisoned(x.length);
      const pAuto = async(x, small, w, { ...opts, device: 'cpu', out: outAuto });
      expect(bitsEqual(outAuto, expected), note).toBe(true); // written already
      expect(await pAuto).toBe(outAuto);

      const outStaged = poisoned(x.length);
      const pStaged = async(x, small, w, { ...opts, device: 'cpu', out: outStaged, offload: 'always' });
      expect(outStaged.every(Number.isNaN), note).toBe(true); // nothing written until it settles
      expect(await pStaged).toBe(outStaged);
      expect(bitsEqual(outStaged, expected), note).toBe(true);

      // Without out: a new array, the same bits, on both paths.
      expect(bitsEqual(await async(x, small, w, { ...opts, device: 'cpu' }), expected), note).toBe(true);
      expect(bitsEqual(await async(x, small, w, { ...opts, device: 'cpu', offload: 'always' }), expected), note).toBe(true);
    });
  }

  test('scaleOut and residual travel on the calling-thread path too', async () => {
    const [{ sync, async, w, opts }] = cases(small);
    const x = rng.normals(numel(small), 1);
    const s1 = poisoned(small[0] * small[1]);
    const y1 = sync(x, small, w, { ...opts, device: 'cpu', scaleOut: s1 });
    const s2 = poisoned(small[0] * small[1]);
    const p = async(x, small, w, { ...opts, device: 'cpu', scaleOut: s2 });
    expect(bitsEqual(s2, s1), note).toBe(true);
    expect(bitsEqual(await p, y1), note).toBe(true);
  });

  test("an op that costs more than its staging stays off the calling thread with 'auto' (SE 32×2048×1×1: two FCs over 4 MB of weights)", async () => {
    const shape: Shape4 = [32, 2048, 1, 1];
    const w = randSEWeights(rng, 2048, 256, { twoFc: true, b1: true, b2: true });
    const x = rng.normals(numel(shape), 1);
    const expected = seForward(x, shape, w, { device: 'cpu' });
    const out = poisoned(x.length);
    const p = seForwardAsync(x, shape, w, { device: 'cpu', out });
    expect(out.every(Number.isNaN), note).toBe(true);
    expect(bitsEqual(await p, expected), note).toBe(true);
  });

  // Cost-model cases from a hostile review: work that the kernels do per multiply-add far more
  // slowly than the FCs (ECA's scalar conv, CBAM's spatial conv with a kernel as wide as the map).
  test.each([
    { op: 'eca', shape: [1, 2048, 8, 8] as Shape4, k: 4095 },
    { op: 'cbam', shape: [64, 16, 1, 1] as Shape4, k: 63 },
    { op: 'cbam', shape: [4, 8, 7, 7] as Shape4, k: 31 },
  ])("long convolutions stay off the calling thread with 'auto' ($op $shape, k = $k)", async ({ op, shape, k }) => {
    const x = rng.normals(numel(shape), 1);
    const w = op === 'eca' ? { weight: randECAWeight(rng, k) } : randCBAMWeights(rng, shape[1], 4, k, { b1: true, b2: true, spatialBias: true });
    const [sync, async] = op === 'eca' ? [ecaForward as Fn, ecaForwardAsync as AsyncFn] : [cbamForward as Fn, cbamForwardAsync as AsyncFn];
    const expected = sync(x, shape, w as never, { device: 'cpu' });
    const out = poisoned(x.length);
    const p = async(x, shape, w as never, { device: 'cpu', out });
    expect(out.every(Number.isNaN), note).toBe(true);
    expect(bitsEqual(await p, expected), note).toBe(true);
  });

  test('operands on SharedArrayBuffers: a tiny call runs on the calling thread, in place', async () => {
    const shape: Shape4 = [1, 8, 4, 4];
    const w = randSEWeights(rng, 8, 2, { twoFc: true, b1: false, b2: false });
    const x = new Float32Array(new SharedArrayBuffer(numel(shape) * 4));
    x.set(rng.normals(x.length, 1));
    const out = new Float32Array(new SharedArrayBuffer(x.length * 4)).fill(Number.NaN);
    const expected = seForward(x, shape, w, { device: 'cpu' });
    const p = seForwardAsync(x, shape, w, { device: 'cpu', out });
    expect(bitsEqual(out, expected), note).toBe(true);
    expect(await p).toBe(out);
  });

  test("blocks take offload per call; 'always' stages", async () => {
    const shape: Shape4 = [1, 16, 5, 5];
    const se = new SEBlock(randSEWeights(rng, 16, 4, { twoFc: true, b1: true, b2: true }));
    const cbam = new CBAMBlock(randCBAMWeights(rng, 16, 4, 3, { b1: true, b2: false, spatialBias: false }));
    try {
      for (const block of [se, cbam]) {
        const x = rng.normals(numel(shape), 1);
        const expected = block.forward(x, shape);
        const out = poisoned(x.length);
        const p = block.forwardAsync(x, shape, { out, offload: 'always' });
        expect(out.every(Number.isNaN), note).toBe(true);
        expect(bitsEqual(await p, expected), note).toBe(true);
        const out2 = poisoned(x.length);
        const p2 = block.forwardAsync(x, shape, { out: out2 });
        expect(bitsEqual(out2, expected), note).toBe(true);
        await p2;
      }
    } finally {
      se.dispose();
      cbam.dispose();
    }
  });

  test('a bad offload is refused by name, sync and async, before any work', async () => {
    const [{ sync, async, w }] = cases(small);
    const x = rng.normals(numel(small), 1);
    const out = poisoned(x.length);
    expect(() => sync(x, small, w, { device: 'cpu', out, offload: 'never' })).toThrow(
      expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: expect.stringContaining("options.offload must be one of 'auto', 'always'") }),
    );
    await expect(async(x, small, w, { device: 'cpu', out, offload: true })).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    expect(out.every(Number.isNaN)).toBe(true);
    // Where it is not an option: a block's constructor (it is one of each forward call).
    expect(() => new SEBlock(randSEWeights(rng, 16, 4, { twoFc: true, b1: false, b2: false }), { offload: 'always' } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', argument: 'options.offload', message: expect.stringContaining('offload is an option of each call') }),
    );
  });
});
