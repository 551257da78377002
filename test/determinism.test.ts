// Results do not depend on the thread count, nor on the batch a sample comes in (README, "The CPU
// kernels run on one thread pool..."). A double sum of float32 values is exact unless a channel's
// values span more than ~2^29 in magnitude, so ordinary data cannot show the order of addition:
// these inputs can (+1e30 and -1e30 among ones, and values spread over 2^-40..2^40). A parity
// audit (2026-12-01) found NHWC pooling split by the thread count: SE [1, 16, 64, 64] gave the gate
// 0.56644 on 1, 3, 4 or 8 threads and 0.56218 on 2 (NOTES-cpu.md item 49).
import { afterAll, describe, expect, test } from 'vitest';
import { cbamForward, ecaForward, seForward, loadReport } from '../dist/index.js';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const requireCjs = createRequire(import.meta.url);
const native = requireCjs(loadReport().binary as string) as { setThreads(n: number): void; info(): { threads: number } };
const defaultThreads = native.info().threads;
afterAll(() => native.setThreads(defaultThreads));

type Shape = [number, number, number, number];

/** One sample of NHWC or NCHW data whose channel sums depend on their order of addition. */
function hardSample(c: number, hw: number, layout: 'NHWC' | 'NCHW', seed: number, base = 1): Float32Array {
  const x = new Float32Array(c * hw);
  let s = seed >>> 0;
  const rand = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const at = (p: number, ch: number): number => (layout === 'NHWC' ? p * c + ch : ch * hw + p);
  for (let ch = 0; ch < c; ch++) {
    for (let p = 0; p < hw; p++) x[at(p, ch)] = ch % 2 === 0 ? base : (rand() < 0.5 ? -1 : 1) * 2 ** (80 * rand() - 40);
    if (ch % 4 === 0) {
      // +big early, -big at a pixel that falls in another task or chunk for most splits
      x[at(Math.floor(rand() * hw / 4), ch)] = 1e30;
      x[at(hw - 1 - Math.floor(rand() * hw / 4), ch)] = -1e30;
    }
  }
  return x;
}

const OPS = {
  se: (x: Float32Array, shape: Shape, layout: 'NHWC' | 'NCHW', scaleOut: Float32Array) => {
    const c = shape[1];
    const h = Math.max(1, c >> 2);
    // Only the channels holding ±1e30 feed the hidden units, at a scale that keeps the logits off
    // the gate's flat ends: there a different order of addition changes the mean by ~1e-2.
    const w1 = new Float32Array(h * c).map((_, i) => (i % c) % 4 === 0 ? 0.5 + ((i * 7) % 13) / 26 : 0);
    const w2 = new Float32Array(c * h).map((_, i) => ((i * 5) % 11) / 11 - 0.45);
    return seForward(x, shape, { w1, w2 }, { layout, device: 'cpu', scaleOut });
  },
  eca: (x: Float32Array, shape: Shape, layout: 'NHWC' | 'NCHW', scaleOut: Float32Array) =>
    ecaForward(x, shape, { weight: Float32Array.of(0.3, 1e-20, -0.2) }, { layout, device: 'cpu', scaleOut }),
  cbam: (x: Float32Array, shape: Shape, layout: 'NHWC' | 'NCHW') => {
    const c = shape[1];
    const h = Math.max(1, c >> 2);
    // Negative w1 on the channels holding ±1e30: their +1e30 maxes give hidden units ReLU turns
    // to 0, so the gate follows the means, whose last bits depend on the order of addition (from
    // a review: with positive weights the maxes saturated the gate and no order could show).
    const w1 = new Float32Array(h * c).map((_, i) => (i % c) % 4 === 0 ? -(0.5 + ((i * 7) % 13) / 26) : 0);
    const w2 = new Float32Array(c * h).map((_, i) => ((i * 5) % 11) / 11 - 0.45);
    return cbamForward(x, shape, { w1, w2, spatialWeight: new Float32Array(2 * 9).fill(1e-30) }, { layout, device: 'cpu' });
  },
} as const;

const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
/** The first index where the bit patterns differ, or -1 (a plain loop: toEqual on 600K elements is slow). */
function firstDiff(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length) return -2;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

describe.each(['NHWC', 'NCHW'] as const)('%s: every output bit the same on 1, 2, 3, 4 and 8 threads, and inside a batch of 3', (layout) => {
  // Shapes that take every path: a whole-sample task, the split path's row chunks and channel
  // blocks, small and large H·W.
  // [2048, 4, 4]: SE's lone 128 KB sample under 8 MB of weights (hidden C/4 here; the rule is >= 1 MB)
  // runs as a block, its FC rows in the scale tasks.
  const shapes: [number, number, number][] = [[16, 64, 64], [256, 28, 28], [96, 56, 56], [2048, 7, 7], [2048, 4, 4], [1024, 14, 14], [40, 128, 128]];
  for (const [c, h, w] of shapes) {
    test.each(Object.keys(OPS) as (keyof typeof OPS)[])(`%s C=${c}, ${h}×${w}`, (op) => {
      const hw = h * w;
      // CBAM: the ±1e30 channels otherwise -1, so that with its negative w1 the mean's hidden
      // units stay above ReLU's 0 while the +1e30 maxes' fall below it.
      const base = op === 'cbam' ? -1 : 1;
      const x = hardSample(c, hw, layout, c * 31 + hw, base);
      const shape: Shape = [1, c, h, w];
      let first: { y: Uint32Array; s: Uint32Array } | null = null;
      for (const t of [1, 2, 3, 4, 8]) {
        native.setThreads(t);
        const s = new Float32Array(c).fill(Number.NaN);
        const y = OPS[op](x, shape, layout, s);
        const got = { y: bits(y), s: bits(s) };
        if (first === null) first = got;
        else {
          expect(firstDiff(got.y, first.y), `y on ${t} threads`).toBe(-1);
          // CBAM takes no scaleOut: only SE's and ECA's gates are compared.
          if (op !== 'cbam') expect(firstDiff(got.s, first.s), `scaleOut on ${t} threads`).toBe(-1);
        }
      }
      native.setThreads(defaultThreads);
      // The same sample as the middle of a batch of 3 (whole-sample tasks or a block, by the thread count).
      const x3 = new Float32Array(3 * x.length);
      x3.set(hardSample(c, hw, layout, 1, base), 0);
      x3.set(x, x.length);
      x3.set(hardSample(c, hw, layout, 2, base), 2 * x.length);
      for (const t of [1, 2, 3]) {
        native.setThreads(t);
        const s3 = new Float32Array(3 * c);
        const y3 = OPS[op](x3, [3, c, h, w], layout, s3);
        expect(firstDiff(bits(y3.subarray(x.length, 2 * x.length)), first!.y), `sample 1 of 3 on ${t} threads`).toBe(-1);
        if (op !== 'cbam') expect(firstDiff(bits(s3.subarray(c, 2 * c)), first!.s), `its gates on ${t} threads`).toBe(-1);
      }
      native.setThreads(defaultThreads);
    }, 60_000);
  }
});

// A small op that finds the pool's workers asleep runs on the calling thread alone (forward_cpu's
// solo path, NOTES-cpu.md item 73): the same tasks inline, so the same bits as calls back to back,
// which wake the workers. The pause lets the workers reach their sleep (they spin ~50 us).
describe.each(['NHWC', 'NCHW'] as const)('%s: a call after the pool has gone idle gives the bits of calls back to back', (layout) => {
  test.each(Object.keys(OPS) as (keyof typeof OPS)[])('%s', async (op) => {
    native.setThreads(2);
    for (const [c, h, w] of [[16, 64, 64], [256, 28, 28], [40, 30, 30]] as [number, number, number][]) {
      const hw = h * w;
      const base = op === 'cbam' ? -1 : 1;
      const x = hardSample(c, hw, layout, c * 7 + hw, base);
      const shape: Shape = [1, c, h, w];
      const run = (): { y: Uint32Array; s: Uint32Array } => {
        const s = new Float32Array(c).fill(Number.NaN);
        return { y: bits(OPS[op](x, shape, layout, s)), s: bits(s) };
      };
      run();
      const backToBack = run();
      for (let k = 0; k < 3; k++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        const rested = run();
        expect(firstDiff(rested.y, backToBack.y), `y, C=${c} ${h}×${w}, after a pause`).toBe(-1);
        if (op !== 'cbam') expect(firstDiff(rested.s, backToBack.s), `scaleOut, C=${c} ${h}×${w}, after a pause`).toBe(-1);
      }
    }
    native.setThreads(defaultThreads);
  }, 60_000);
});

// The split path's channel blocks (threads > 1, batch 1, C >= 128) must cover every channel once:
// on ordinary data the sums are exact, so NHWC gates equal NCHW gates of the same data bit for
// bit. From a review: a last block that stopped at the last whole 16-float group left the tail
// channels unpooled, and no other test saw it (C not a multiple of 16).
test.each([[200, 28, 28], [1000, 14, 14], [2050, 7, 7], [136, 56, 56], [129, 16, 16]])('NHWC gates equal NCHW gates, C=%i %i×%i, on 1 to 8 threads', (c, h, w) => {
  const hw = h * w;
  const hid = Math.max(1, c >> 2);
  const nhwc = new Float32Array(c * hw);
  const nchw = new Float32Array(c * hw);
  let seed = c;
  const r = (): number => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5);
  for (let p = 0; p < hw; p++) for (let ch = 0; ch < c; ch++) nchw[ch * hw + p] = nhwc[p * c + ch] = r();
  const w1 = new Float32Array(hid * c).map(r);
  const w2 = new Float32Array(c * hid).map(r);
  for (const t of [1, 2, 3, 8]) {
    native.setThreads(t);
    const s1 = new Float32Array(c);
    const s2 = new Float32Array(c);
    seForward(nhwc, [1, c, h, w], { w1, w2 }, { layout: 'NHWC', device: 'cpu', scaleOut: s1 });
    seForward(nchw, [1, c, h, w], { w1, w2 }, { layout: 'NCHW', device: 'cpu', scaleOut: s2 });
    expect(firstDiff(bits(s1), bits(s2)), `${t} threads`).toBe(-1);
  }
  native.setThreads(defaultThreads);
});

// SE's sigmoid gates run four lanes at a time over the FC's rows; the rows left over at the end of
// a task's range went through the scalar gate, which can round to the other float, and where a
// task's range ends depends on the thread count and the batch (a parity audit: one sample's gate
// 1 ulp apart between N = 1 and N = 16). Every channel here has the same pre-gate value v, one of
// the values where the two paths differ (found by the audit), so all gates must have the same bits.
test.each([5, 129, 1027])('every SE gate of the same pre-gate value has the same bits, C=%i, batch 1, 3, 16, on 1 to 3 threads', (c) => {
  const hidden = 16;
  const [a, b, c3] = [1.037979245185852, 1.549206096740363e-8, 6.661338147750939e-16]; // v = a + b + c3 exactly
  const w1 = new Float32Array(hidden * c); // zeros: every hidden unit is relu(b1) = 1
  const b1 = new Float32Array(hidden).fill(1);
  const w2 = new Float32Array(c * hidden);
  const b2 = new Float32Array(c).fill(c3);
  for (let ch = 0; ch < c; ch++) {
    w2[ch * hidden] = a;
    w2[ch * hidden + 1] = b;
  }
  let want: number | null = null;
  try {
    for (const t of [1, 2, 3]) {
      native.setThreads(t);
      for (const n of [1, 3, 16]) {
        const x = new Float32Array(n * c * 4).fill(1);
        const s = new Float32Array(n * c).fill(Number.NaN);
        seForward(x, [n, c, 2, 2], { w1, b1, w2, b2 }, { device: 'cpu', scaleOut: s });
        const sb = bits(s);
        want ??= sb[0]!;
        const odd = sb.findIndex((v) => v !== want);
        expect(odd, `gate ${odd} (0x${sb[odd]?.toString(16)}) against 0x${want.toString(16)}, N=${n}, ${t} threads`).toBe(-1);
      }
    }
  } finally {
    native.setThreads(defaultThreads);
  }
});

// A dot product that meets two different NaNs (one from x, one from Inf - Inf) keeps whichever
// the multiply-add's operand order picks, and that order was the register blocking's (4, 2 or 1
// samples at a time), so a gate's NaN sign followed the sample's position in the batch (an attack:
// 0x7fc00000 at batch 1, 0xffc00000 at positions 4-5 of a batch of 6). The case is the attack's,
// from its generator (a fixed LCG stream run up to SE C = 515, 3x3, NCHW).
test('NaN gates have the same bits wherever the sample sits in the batch (SE, NaN and Inf in x and b2)', () => {
  let s = 7;
  const rnd = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  let x = new Float32Array(0), w1 = x, w2 = x, b2 = x;
  let C = 0;
  const special = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
  gen: for (const c of [1, 3, 5, 9, 17, 33, 129, 515]) {
    for (const hw of [1, 9]) {
      for (const op of ['se', 'eca', 'cbam']) {
        for (const layout of ['NCHW', 'NHWC']) {
          C = c;
          const hid = Math.max(1, c >> 2);
          w1 = new Float32Array(hid * c).map(() => rnd() - 0.5);
          w2 = new Float32Array(c * hid).map(() => (rnd() - 0.5) * 8);
          b2 = new Float32Array(c).map(() => (rnd() < 0.05 ? special[Math.floor(rnd() * 3)]! : rnd() - 0.5));
          x = new Float32Array(11 * c * hw).map(() => (rnd() < 0.002 ? special[Math.floor(rnd() * 3)]! : (rnd() - 0.5) * 2 ** (Math.floor(rnd() * 20) - 10)));
          if (c === 515 && hw === 9 && op === 'se' && layout === 'NCHW') break gen;
        }
      }
    }
  }
  const sample = x.slice(9 * C * 9, 10 * C * 9);
  const gates = (n: number): Uint32Array => {
    const xs = new Float32Array(n * C * 9);
    for (let i = 0; i < n; i++) xs.set(sample, i * C * 9);
    const sc = new Float32Array(n * C);
    seForward(xs, [n, C, 3, 3], { w1, w2, b2 }, { device: 'cpu', scaleOut: sc });
    return bits(sc);
  };
  try {
    for (const t of [1, 2]) {
      native.setThreads(t);
      const one = gates(1);
      expect(one.some((g) => (g & 0x7fffffff) > 0x7f800000), 'the case has NaN gates').toBe(true);
      for (const n of [6, 11, 19]) {
        const many = gates(n);
        for (let i = 0; i < n; i++) expect(firstDiff(many.subarray(i * C, (i + 1) * C), one), `sample ${i} of ${n}, ${t} threads`).toBe(-1);
      }
    }
  } finally {
    native.setThreads(defaultThreads);
  }
});

// Where two NaNs meet in an output pass (x's and a NaN gate, or x * s's and the residual's or the
// spatial gate's), x86 keeps one operand's, and the compiler orders the operands per loop (the
// scalar head, the vector pairs, a single vector, the tail). Since the passes align their stores
// to y's address (NOTES-cpu.md items 57-58), which loop an element takes followed where the
// output sits: a review found SE NHWC 1x40x3x3 alone and as sample 1 of 3 differing in 27 of 360
// NaN signs. Every NaN output is now the one quiet NaN 0x7fc00000.
describe('NaN outputs have the same bits wherever the sample and its output sit', () => {
  const f32 = (u: number): number => new Float32Array(new Uint32Array([u]).buffer)[0]!;
  const NANS = [f32(0xffc00000), f32(0x7fc0beef), f32(0x7fc00000), f32(0xffa00001)];
  const sample = (len: number, seed: number): Float32Array => {
    let s = seed >>> 0;
    const rnd = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    return new Float32Array(len).map((_, i) => (i % 5 === 0 ? NANS[Math.floor(rnd() * 4)]! : i % 7 === 3 ? -0 : rnd() - 0.4));
  };
  /** SE's and CBAM's channel MLP for C channels, hidden 4. */
  const mlp = (c: number): { w1: Float32Array; w2: Float32Array } => ({
    w1: new Float32Array(4 * c).map((_, i) => ((i * 7) % 13) / 13 - 0.5),
    w2: new Float32Array(c * 4).map((_, i) => ((i * 5) % 11) / 11 - 0.5),
  });
  const cases: { name: string; run: (x: Float32Array, shape: Shape, out?: Float32Array) => Float32Array }[] = [];
  for (const layout of ['NHWC', 'NCHW'] as const) {
    cases.push({
      name: `se ${layout}`,
      run: (x, shape, out) => seForward(x, shape, mlp(shape[1]), { layout, device: 'cpu', ...(out ? { out } : {}) }),
    });
    cases.push({
      name: `se ${layout}, residual with NaNs, relu`,
      run: (x, shape, out) => {
        const residual = sample(x.length, 99 + x.length).reverse();
        return seForward(x, shape, mlp(shape[1]), { layout, device: 'cpu', residual, outputActivation: 'relu', ...(out ? { out } : {}) });
      },
    });
    cases.push({ name: `eca ${layout}`, run: (x, shape, out) => ecaForward(x, shape, { weight: Float32Array.of(0.3, 0.5, -0.2) }, { layout, device: 'cpu', ...(out ? { out } : {}) }) });
    cases.push({
      name: `cbam ${layout}`,
      run: (x, shape, out) =>
        cbamForward(x, shape, { ...mlp(shape[1]), spatialWeight: new Float32Array(2 * 49).fill(0.01) }, { layout, device: 'cpu', ...(out ? { out } : {}) }),
    });
  }
  const shapes: Shape[] = [[1, 40, 3, 3], [1, 24, 5, 5], [1, 64, 8, 8], [1, 33, 9, 7], [1, 256, 4, 4]];
  for (const { name, run } of cases) {
    test.each(shapes)(`${name} %i×%i×%i×%i: alone, as sample 1 of 3, and into out at float offsets 0-15, on 1 and 2 threads`, (...shape) => {
      const len = shape[1] * shape[2] * shape[3];
      const x = sample(len, len + shape[1]);
      try {
        let want: Uint32Array | null = null;
        for (const t of [1, 2]) {
          native.setThreads(t);
          const alone = bits(run(x, shape));
          want ??= alone;
          expect(alone.some((u) => (u & 0x7fffffff) > 0x7f800000), 'the case has NaN outputs').toBe(true);
          expect(firstDiff(alone, want), `alone on ${t} threads`).toBe(-1);
          const x3 = new Float32Array(3 * len);
          x3.set(sample(len, 5), 0);
          x3.set(x, len);
          x3.set(sample(len, 6), 2 * len);
          const y3 = run(x3, [3, shape[1], shape[2], shape[3]]);
          expect(firstDiff(bits(y3.subarray(len, 2 * len)), want), `sample 1 of 3 on ${t} threads`).toBe(-1);
          const big = new Float32Array(len + 16);
          for (let k = 0; k < 16; k++) {
            const out = big.subarray(k, k + len);
            run(x, shape, out);
            expect(firstDiff(bits(out), want), `out at float offset ${k}, ${t} threads`).toBe(-1);
          }
        }
      } finally {
        native.setThreads(defaultThreads);
      }
    });
  }
});

// ECA's gate carried the NaN bits of the channel's pooled mean, and which of two NaNs in one NHWC
// channel the pooling kept follows its split (thread count, the sample's batch position): a
// review's fuzz, scaleOut 0x7fc0beef alone and 0xffe00001 as sample 2 of 3 on 2 threads.
test('ECA NHWC: a NaN gate has the same bits alone, in a batch and on 1 or 2 threads', () => {
  const gate = (c: number, h: number, w: number, n: number, pos: number, threads: number): number => {
    const len = c * h * w;
    const x = new Float32Array(n * len).fill(1);
    const u = new Uint32Array(x.buffer);
    u[pos * len] = 0xffc0beef; // pixel 0, channel 0
    u[pos * len + (h * w - 1) * c] = 0x7fe00001; // the last pixel, channel 0
    const s = new Float32Array(n * c);
    native.setThreads(threads);
    ecaForward(x, [n, c, h, w], { weight: Float32Array.of(1) }, { layout: 'NHWC', device: 'cpu', scaleOut: s });
    return new Uint32Array(s.buffer)[pos * c]!;
  };
  try {
    for (const [c, h, w] of [[16, 32, 32], [130, 20, 19]] as const) {
      const want = gate(c, h, w, 1, 0, 1);
      expect((want & 0x7fffffff) > 0x7f800000, 'a NaN gate').toBe(true);
      for (const t of [1, 2]) {
        expect(gate(c, h, w, 1, 0, t), `alone, ${t} threads`).toBe(want);
        for (const pos of [0, 1, 2]) expect(gate(c, h, w, 3, pos, t), `sample ${pos} of 3, ${t} threads`).toBe(want);
      }
    }
  } finally {
    native.setThreads(defaultThreads);
  }
});

// A library built with -Ofast sets flush-to-zero and denormals-are-zero on the thread that loads it
// (crtfastmath.o's constructor), and code can change the rounding mode: the calling thread's
// share of a job followed that state and the pool workers' did not, so identical calls gave
// different bits (an attack, 2026-12-04: 6 different gate vectors in 20 calls, 0.5 or 0.50307196
// by which thread pooled the sample). The kernels now compute under the default state on every
// thread (native/cpu/fp_env.h). Each case loads a library whose constructor changes the state in
// a child, after a first call has started the pool, then compares 20 sync and 20 async calls
// with the first, bit for bit.
describe('results do not follow the calling thread\'s floating-point state (FTZ/DAZ, rounding)', () => {
  const cc = ['cc', 'gcc'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
  const x86 = process.arch === 'x64' || process.arch === 'ia32';
  const can = process.platform === 'linux' && (x86 || process.arch === 'arm64') && cc !== undefined;
  const why = can ? '' : ' (skipped: needs Linux on x86-64 or arm64 and a C compiler, cc or gcc, to build the library that changes the state)';
  let dir = '';
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const build = (name: string, source: string, flags: string[]): string => {
    if (!dir) dir = mkdtempSync(path.join(tmpdir(), 'sqex-fpenv-'));
    const src = path.join(dir, `${name}.c`);
    const lib = path.join(dir, `${name}.so`);
    writeFileSync(src, source);
    const r = spawnSync(cc as string, ['-shared', '-fPIC', ...flags, src, '-o', lib, '-lm'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return lib;
  };
  const run = (lib: string, data: 'subnormal' | 'random'): { distinct: number; sameAsBefore: boolean; gate0: number } => {
    const script = `
      const sq = require(${JSON.stringify(path.resolve(__dirname, '../dist/index.js'))});
      const shape = [8, 256, 28, 28], c = 256, hidden = 16, n = 8 * 256 * 28 * 28;
      let s = 12345; const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
      const subnormal = ${JSON.stringify(data)} === 'subnormal';
      // subnormal: the gate is 0.50307 when x's 3e-39 are kept, 0.5 when they are read as 0
      const x = subnormal ? new Float32Array(n).fill(3e-39) : Float32Array.from({ length: n }, rand);
      const w = subnormal
        ? { w1: new Float32Array(hidden * c).fill(1e36), b1: new Float32Array(hidden), w2: new Float32Array(c * hidden).fill(1e-3), b2: new Float32Array(c) }
        : { w1: Float32Array.from({ length: hidden * c }, rand), b1: Float32Array.from({ length: hidden }, rand), w2: Float32Array.from({ length: c * hidden }, rand), b2: Float32Array.from({ length: c }, rand) };
      // y and the gates, as one string
      const bits = (y, g) => Buffer.concat([Buffer.from(y.buffer), Buffer.from(g.buffer)]).toString('base64');
      const call = () => { const g = new Float32Array(8 * c); return bits(sq.seForward(x, shape, w, { scaleOut: g }), g); };
      const callAsync = async () => { const g = new Float32Array(8 * c); return bits(await sq.seForwardAsync(x, shape, w, { scaleOut: g, offload: 'always' }), g); };
      (async () => {
        const before = call();
        const gate0 = new Float32Array(Buffer.from(before, 'base64').buffer.slice(n * 4, n * 4 + 4))[0];
        try { process.dlopen({ exports: {} }, ${JSON.stringify(lib)}); } catch {} // not an addon: its constructor has run
        const seen = new Set();
        for (let i = 0; i < 20; i++) { seen.add(call()); seen.add(await callAsync()); }
        process.stdout.write(JSON.stringify({ distinct: seen.size, sameAsBefore: seen.size === 1 && seen.has(before), gate0 }) + '\\n');
      })();`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as { distinct: number; sameAsBefore: boolean; gate0: number };
  };

  test.runIf(can)(`after a library built with -Ofast is loaded (flush-to-zero, denormals-are-zero): every call's bits as before, subnormal x kept${why}`, () => {
    const lib = build('fastmath', 'float sqex_twice(float a) { return a * 2; }\n', ['-Ofast']);
    const r = run(lib, 'subnormal');
    expect(r.gate0).toBeCloseTo(0.50307196, 7);
    expect(r).toMatchObject({ distinct: 1, sameAsBefore: true });
  }, 150_000);

  test.runIf(can)(`after a library sets rounding toward zero on the calling thread: every call's bits as before${why}`, () => {
    const lib = build('towardzero', '#include <fenv.h>\n__attribute__((constructor)) static void sqex_round(void) { fesetround(FE_TOWARDZERO); }\n', []);
    expect(run(lib, 'random')).toMatchObject({ distinct: 1, sameAsBefore: true });
  }, 150_000);
});

// scaleOut's NaN gates were written with the sign bit set on some paths (ECA on every ISA, SE on
// SSE2: exp(-v) keeps -v's flipped sign) and not on others, where y and the kernels' rule (one NaN,
// 0x7fc00000, native/cpu/common.h) say one NaN (a helper's attack, 2026-12-04).
test.each(['NCHW', 'NHWC'] as const)('NaN gates in scaleOut are the one NaN 0x7fc00000, SE and ECA, sigmoid and hardsigmoid (%s)', (layout) => {
  const shape: Shape = [4, 8, 2, 2];
  const x = Float32Array.from({ length: 4 * 8 * 4 }, (_, i) => ((i * 37) % 11) - 5);
  for (let i = 0; i < 4; i++) x[i * 7] = i % 2 === 0 ? NaN : -NaN; // NaN in some channels' pools
  const bits = (a: Float32Array): Set<number> => {
    const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
    const out = new Set<number>();
    for (let i = 0; i < u.length; i++) if (Number.isNaN(a[i])) out.add(u[i]!);
    return out;
  };
  const w1 = new Float32Array(8 * 8).fill(0.1);
  const w2 = new Float32Array(8 * 8).fill(0.1);
  for (const gate of ['sigmoid', 'hardsigmoid'] as const) {
    const s1 = new Float32Array(32);
    seForward(x, shape, { w1, w2 }, { layout, gate, scaleOut: s1 });
    const s2 = new Float32Array(32);
    ecaForward(x, shape, { weight: new Float32Array([0.2, 0.5, 0.3]) }, { layout, gate, scaleOut: s2 });
    for (const [op, s] of [['se', s1], ['eca', s2]] as const) {
      expect(bits(s).size, `${op} ${gate}: some gates are NaN`).toBeGreaterThan(0);
      expect([...bits(s)].map((b) => b.toString(16)), `${op} ${gate}`).toEqual(['7fc00000']);
    }
  }
});
