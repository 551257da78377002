// Tests written after a mutation-testing pass: each closes a gap through which a plausible defect
// passed every other CPU suite (the defect is named above each test). Fresh random data per run
// (freshRng), float64 references, seedNote in every comparison. No child processes: this file
// runs under qemu too (scripts/ci-arm64.sh), where the emulated node cannot exec itself; the
// scratch-bound test from the same pass is in result-allocation.test.ts.
import { describe, expect, test } from 'vitest';
import { SEBlock, ecaForward, seForward } from '../dist/index.js';
import { refECA, refSE, type Shape4 } from './reference.js';
import { TOL_F32, expectClose, freshRng, numel, poisoned, randECAWeight, randSEWeights, seedNote } from './helpers.js';

function caught(fn: () => unknown): Record<string, unknown> & Error {
  try {
    fn();
  } catch (err) {
    return err as Record<string, unknown> & Error;
  }
  throw new Error('the call did not throw');
}

describe('SE NHWC over several weight-bound blocks (the split pooling path)', () => {
  // Defect: a pooling task zeroed its partial sums only up to the last sample it *started*, not
  // the last it touched (se.cpp, `((r1 - 1) / hw + 1) * cc` -> `((r1 - 1) / hw) * cc`): the second
  // and later blocks then added the previous block's partials. Only NHWC batches that are
  // weight-bound (FC weights larger than a sample) and span several blocks take that path: here
  // C = 2048 bounds a block to 2^16 / C = 32 samples, so N = 40 is at least two blocks whatever
  // the thread count, each split over at least 4 tasks whose ranges end mid-sample (H·W = 49).
  test('40×2048×7×7, hidden 128 (blocks of at most 32 samples): every output and gate right', () => {
    const rng = freshRng();
    const shape: Shape4 = [40, 2048, 7, 7];
    const w = randSEWeights(rng, 2048, 128, { twoFc: true, b1: true, b2: true });
    const x = rng.normals(numel(shape), 1, 0.3);
    const out = poisoned(x.length);
    const scaleOut = poisoned(shape[0] * shape[1]);
    seForward(x, shape, w, { layout: 'NHWC', device: 'cpu', out, scaleOut });
    const ref = refSE(x, shape, w, { layout: 'NHWC' });
    expectClose(scaleOut, ref.scale, TOL_F32, `scaleOut ${seedNote(rng)}`);
    expectClose(out, ref.y, TOL_F32, seedNote(rng));
  }, 60_000);
});

describe('bounds at their exact limits', () => {
  // Defect: `numel > MAX_ELEMENTS` -> `>=` (args.ts): a shape of exactly 2^31 - 1 elements,
  // which the API documents as allowed, refused as a bad shape. With a short x, the refusal must
  // be about x (the shape passed), and 2^31 elements must be about the shape.
  test('a shape of exactly 2^31 - 1 elements is accepted (x is what is refused); 2^31 is not', () => {
    const weight = new Float32Array([0.25, 0.5, 0.25]);
    const ok = caught(() => ecaForward(new Float32Array(1), [1, 1, 1, 2 ** 31 - 1], { weight }, { device: 'cpu' }));
    expect(ok).toBeInstanceOf(RangeError);
    expect(ok).toMatchObject({ code: 'ERR_OUT_OF_RANGE', argument: 'x' });
    expect(ok.message).toContain('2147483647');
    const over = caught(() => ecaForward(new Float32Array(1), [1, 2, 1, 2 ** 30], { weight }, { device: 'cpu' }));
    expect(over).toBeInstanceOf(RangeError);
    expect(over).toMatchObject({ code: 'ERR_OUT_OF_RANGE', argument: 'shape' });
  });

  // Defect: `k > MAX_ECA_K` -> `>=` (eca.ts): the largest documented kernel, k = 2^20 - 1, refused.
  test('ECA takes k = 2^20 - 1 (the documented maximum) and computes it; 2^20 + 1 is refused', () => {
    const rng = freshRng();
    const shape: Shape4 = [2, 5, 3, 3];
    const k = 2 ** 20 - 1;
    const weight = randECAWeight(rng, k);
    const x = rng.normals(numel(shape), 1, 0.3);
    const out = poisoned(x.length);
    ecaForward(x, shape, { weight }, { device: 'cpu', out });
    expectClose(out, refECA(x, shape, { weight }).y, TOL_F32, `k=${k} ${seedNote(rng)}`);
    const err = caught(() => ecaForward(x, shape, { weight: new Float32Array(2 ** 20 + 1) }, { device: 'cpu' }));
    expect(err).toBeInstanceOf(RangeError);
    expect(err).toMatchObject({ code: 'ERR_OUT_OF_RANGE', argument: 'weights.weight' });
  });

  // Defect: positiveInt accepting 0 (`value < 1` -> `value < 0`, weights.ts): the refusal then
  // came from the weight arithmetic ("a divisor of weights.w1's length", or "8 (the length of
  // weights.b2)"), not from the check of the value itself.
  test("a block's channels of 0 is refused as not a positive integer", () => {
    const err = caught(() => new SEBlock({ w1: new Float32Array(16), w2: new Float32Array(16) }, { channels: 0, device: 'cpu' }));
    expect(err).toBeInstanceOf(RangeError);
    expect(err).toMatchObject({ code: 'ERR_OUT_OF_RANGE', argument: 'options.channels' });
    expect(err.message).toMatch(/^new SEBlock: options\.channels must be a positive integer; received the number 0/);
  });
});

describe('out overlapping x by exactly one element', () => {
  // Defect: the overlap test missing a one-element overlap at the end of x (operands.ts,
  // `ao < bo + len(b)` -> `ao < bo + len(b) - 4`). The addon's re-check by address still refused
  // the call, and run.ts rewords that refusal with the right code and argument, but as the case it
  // exists for ("... through another SharedArrayBuffer object (structuredClone ...)"), which is
  // wrong advice for one plain ArrayBuffer: the JS check's own wording must be the one given.
  test.each([
    ['out starts at the last element of x', 'out-after'],
    ['x starts at the last element of out', 'x-after'],
  ] as const)('%s: a RangeError naming options.out, nothing written', (_label, which) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 3, 2, 2];
    const n = numel(shape);
    const buf = new Float32Array(2 * n - 1);
    buf.set(rng.normals(buf.length, 1, 0.3));
    const copy = buf.slice();
    const first = buf.subarray(0, n);
    const second = buf.subarray(n - 1, 2 * n - 1);
    const [x, out] = which === 'out-after' ? [first, second] : [second, first];
    const weight = randECAWeight(rng, 3);
    const err = caught(() => ecaForward(x, shape, { weight }, { device: 'cpu', out }));
    expect(err, seedNote(rng)).toBeInstanceOf(RangeError);
    expect(err).toMatchObject({ code: 'ERR_OUT_OF_RANGE', argument: 'options.out' });
    expect(err.message.startsWith('ecaForward: options.out must be x itself or memory disjoint from x (partial overlap with x); received '), err.message).toBe(true);
    let changed = -1;
    for (let i = 0; i < buf.length && changed < 0; i++) if (!Object.is(buf[i], copy[i])) changed = i;
    expect(changed, 'a refused call wrote to a buffer it was given').toBe(-1);
  });
});

describe('scaleOut over the weights through another SharedArrayBuffer object', () => {
  // Defect: the addon's by-address check of scaleOut against the weights dropped (convert.cpp,
  // `slot < kW1` added to the scaleOut loop). The JS check compares buffer objects, so views of one
  // SharedArrayBuffer through a structuredClone of it are only caught by the addon: without its
  // check, scaleOut was written over w1 while the FCs read it. (memory-safety.test.ts covers out
  // and scaleOut against x and out against a weight this way, not scaleOut against a weight.)
  test.each(['w1', 'w2'] as const)('scaleOut over %s: a RangeError naming options.scaleOut and the weight, nothing written', (slot) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 6, 3, 3];
    const [N, C] = shape;
    const hidden = 3;
    const mem = new SharedArrayBuffer(64 * 4);
    const w = randSEWeights(rng, C, hidden, { twoFc: true, b1: true, b2: true });
    const shared = new Float32Array(mem, 0, w[slot].length);
    shared.set(w[slot]);
    const weights = { ...w, [slot]: shared };
    const before = new Float32Array(mem).slice();
    const scaleOut = new Float32Array(structuredClone(mem), 0, N * C);
    const x = rng.normals(numel(shape), 1, 0.3);
    const err = caught(() => seForward(x, shape, weights, { device: 'cpu', scaleOut }));
    expect(err, seedNote(rng)).toBeInstanceOf(RangeError);
    expect(err).toMatchObject({ code: 'ERR_OUT_OF_RANGE', argument: 'options.scaleOut' });
    expect(err.message.startsWith(`seForward: options.scaleOut must be memory disjoint from weights.${slot}; received `), err.message).toBe(true);
    let changed = -1;
    const now = new Float32Array(mem);
    for (let i = 0; i < now.length && changed < 0; i++) if (!Object.is(now[i], before[i])) changed = i;
    expect(changed, 'a refused call wrote over the weights').toBe(-1);
  });
});
