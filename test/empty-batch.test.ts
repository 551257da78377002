// An empty batch (N = 0) over host arrays. PyTorch returns an empty tensor for x of shape
// [0, C, H, W] through torchvision's SqueezeExcitation and the ops timm's SE and CBAM modules are
// built from (checked with torch 1.13: mean/amax over (2, 3), 1x1 and 7x7 convs, cat). timm's
// EcaModule raises instead, only because its `view(N, 1, -1)` cannot infer -1 from 0 elements;
// the ECA-Net authors' form (squeeze/transpose) returns an empty tensor, as this library does.
// So the functions and the blocks return an empty array (or the given out) after checking every
// argument as for any batch, and run no kernel. C, H and W stay positive: PyTorch's pooling
// refuses an empty channel or spatial axis in these blocks.
import { describe, expect, test } from 'vitest';
import {
  CBAMBlock,
  ECABlock,
  SEBlock,
  cbamForward,
  cbamForwardAsync,
  cuda,
  ecaForward,
  ecaForwardAsync,
  seForward,
  seForwardAsync,
} from '../dist/index.js';
import type { Shape4 } from './reference.js';
import { freshRng, randCBAMWeights, randECAWeight, randSEWeights } from './helpers.js';

const C = 6, H = 3, W = 2, HIDDEN = 2;
const EMPTY: Shape4 = [0, C, H, W];
type AnyFn = (x: unknown, shape: unknown, w: unknown, o?: unknown) => unknown;
const OPS = {
  se: { sync: seForward as AnyFn, async: seForwardAsync as AnyFn, Block: SEBlock, scaleOut: true, residual: true },
  eca: { sync: ecaForward as AnyFn, async: ecaForwardAsync as AnyFn, Block: ECABlock, scaleOut: true, residual: false },
  cbam: { sync: cbamForward as AnyFn, async: cbamForwardAsync as AnyFn, Block: CBAMBlock, scaleOut: false, residual: false },
} as const;
type OpName = keyof typeof OPS;

function weightsFor(op: OpName, c = C): Record<string, Float32Array> {
  const rng = freshRng();
  if (op === 'se') return randSEWeights(rng, c, HIDDEN, { twoFc: true, b1: true, b2: true }) as unknown as Record<string, Float32Array>;
  if (op === 'eca') return { weight: randECAWeight(rng, c === C ? 3 : 4) };
  return randCBAMWeights(rng, c, HIDDEN, 7, { b1: true, b2: true, spatialBias: true }) as unknown as Record<string, Float32Array>;
}

async function run(op: OpName, mode: 'sync' | 'async', ...args: unknown[]): Promise<unknown> {
  const f = OPS[op][mode];
  const r = f(...(args as [unknown, unknown, unknown, unknown]));
  if (mode === 'async') expect(r).toBeInstanceOf(Promise);
  return await r;
}

async function refusal(f: () => unknown): Promise<Error & { code?: string }> {
  try {
    await f();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a refusal');
}

const CASES = (['se', 'eca', 'cbam'] as const).flatMap((op) => (['sync', 'async'] as const).flatMap((mode) => (['NCHW', 'NHWC'] as const).map((layout) => ({ op, mode, layout }))));

describe('an empty batch (N = 0) over host arrays', () => {
  test.each(CASES)('$op $mode $layout: a new empty array, or out itself', async ({ op, mode, layout }) => {
    const w = weightsFor(op);
    const y = await run(op, mode, new Float32Array(0), EMPTY, w, { layout, device: 'cpu' });
    expect(y).toBeInstanceOf(Float32Array);
    expect((y as Float32Array).length).toBe(0);
    const out = new Float32Array(0);
    const extra: Record<string, unknown> = {};
    if (OPS[op].scaleOut) extra.scaleOut = new Float32Array(0);
    if (OPS[op].residual) extra.residual = new Float32Array(0);
    expect(await run(op, mode, new Float32Array(0), EMPTY, w, { layout, out, ...extra })).toBe(out);
    // device 'auto' (the default) too, and in place.
    const x = new Float32Array(0);
    expect(await run(op, mode, x, EMPTY, w, { out: x })).toBe(x);
    // A block of the same weights, on the CPU.
    const block = new OPS[op].Block(w as never, { layout, device: 'cpu' } as never);
    type BlockFn = (x: unknown, shape: unknown, o?: unknown) => unknown;
    const f = mode === 'sync' ? (block.forward as BlockFn) : (block.forwardAsync as BlockFn);
    const yb = await f.call(block, new Float32Array(0), EMPTY);
    expect((yb as Float32Array).length).toBe(0);
    expect(await f.call(block, new Float32Array(0), EMPTY, { out })).toBe(out);
    block.dispose();
  });

  test.each(CASES.filter((c) => c.layout === 'NCHW'))('$op $mode: every argument is still checked first', async ({ op, mode }) => {
    const w = weightsFor(op);
    const cases: [string, () => unknown, RegExp][] = [
      ['x longer than N·C·H·W', () => run(op, mode, new Float32Array(3), EMPTY, w), /x must be a Float32Array of length 0 \(N × C × H × W = 0 × 6 × 3 × 2\)/],
      ['weights for another C', () => run(op, mode, new Float32Array(0), EMPTY, weightsFor(op, C + 1)), /weights\./],
      ['out of the wrong length', () => run(op, mode, new Float32Array(0), EMPTY, w, { out: new Float32Array(1) }), /options\.out must be a Float32Array of length 0/],
      ['a negative N', () => run(op, mode, new Float32Array(0), [-1, C, H, W], w), /shape\[0\] \(N\) must be a non-negative integer \(0 for an empty batch\); received the number -1/],
      ['a fractional N', () => run(op, mode, new Float32Array(0), [0.5, C, H, W], w), /shape\[0\] \(N\) must be a non-negative integer/],
      ['C = 0', () => run(op, mode, new Float32Array(0), [0, 0, H, W], w), /shape\[1\] \(C\) must be a positive integer; received the number 0/],
      ['H = 0', () => run(op, mode, new Float32Array(0), [1, C, 0, W], w), /shape\[2\] \(H\) must be a positive integer/],
      ['an unknown option', () => run(op, mode, new Float32Array(0), EMPTY, w, { outt: 1 }), /unknown key "outt"/],
    ];
    if (OPS[op].scaleOut) {
      cases.push(['scaleOut of the wrong length', () => run(op, mode, new Float32Array(0), EMPTY, w, { scaleOut: new Float32Array(C) }), /options\.scaleOut must be a Float32Array of length 0/]);
    }
    for (const [what, f, message] of cases) {
      const err = await refusal(f);
      expect(err instanceof RangeError || err instanceof TypeError, `${what}: ${String(err)}`).toBe(true);
      expect(err.message, what).toMatch(message);
      expect(typeof err.code, what).toBe('string');
    }
  });

  // Found by an attack on the change (2026-12-01): each of these was wrong at N = 0 only.
  test('zero bytes overlap nothing; a view past a shrunk resizable buffer is refused', async () => {
    const w = weightsFor('eca');
    // An empty out (or scaleOut) whose offset falls inside a weight's bytes was "overlapping the weights".
    const buf = new Float32Array(16);
    buf.set(w.weight!);
    const weight = buf.subarray(0, 3);
    const out = new Float32Array(buf.buffer, 4, 0);
    expect(ecaForward(new Float32Array(0), EMPTY, { weight }, { out, scaleOut: new Float32Array(buf.buffer, 8, 0) })).toBe(out);
    // A view past the end of a shrunk resizable buffer reads as length 0: refused as x and as out.
    const rab = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(64, { maxByteLength: 64 });
    const gone = new Float32Array(rab, 32);
    rab.resize(16);
    for (const [what, f] of [
      ['x', () => (ecaForward as AnyFn)(gone, EMPTY, w)],
      ['options.out', () => (ecaForward as AnyFn)(new Float32Array(0), EMPTY, w, { out: gone })],
    ] as const) {
      const err = await refusal(f);
      expect(err, what).toBeInstanceOf(TypeError);
      expect(err.message, what).toMatch(new RegExp(`^ecaForward: ${what.replace('.', '\\.')} must be a Float32Array of length 0 .*out of bounds \\(a shrunk resizable buffer\\)`));
      expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
    }
    // The same view with N = 1 names the real problem too (it used to be a length RangeError).
    const err1 = await refusal(() => (ecaForward as AnyFn)(gone, [1, C, H, W], w));
    expect(err1).toBeInstanceOf(TypeError);
    expect(err1.message).toMatch(/out of bounds/);
  });

  test.runIf(!cuda.status().available)("device 'cuda' without CUDA is refused as for any batch", async () => {
    const err = await refusal(() => (seForward as AnyFn)(new Float32Array(0), EMPTY, weightsFor('se'), { device: 'cuda' }));
    expect(err.code).toBe('ERR_SQEX_CUDA_UNAVAILABLE');
  });
});
