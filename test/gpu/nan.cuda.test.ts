// NaN and ±Inf on CUDA travel as in the PyTorch modules (issue 8): the PyTorch fixtures
// (scripts/gen_nan_fixture.py) as host arrays, and random NaN/Inf injections (x, residual, each
// weight and bias, ±Inf channels) as float32 host arrays and float16 / bfloat16 device tensors,
// on shapes that reach the kernel's different paths (warp- and thread-per-channel pooling,
// NHWC position and channel tiles, multi-tile CBAM, SE sample groups, CBAM's wide-map spatial
// gate). NaN must meet NaN, ±Inf the same infinity, finite values within the dtype's tolerance.
// Skipped (with the reason in the suite name) where CUDA is not available.
import { describe, expect, test } from 'vitest';
import { cuda } from '../../dist/index.js';
import { ieeeMismatch, nchwToNhwc, refCBAM, refECA, refSE, type Layout, type Shape4 } from '../reference.js';
import { GATES, LAYOUTS, TOL_F32, freshRng, gpuGate, poisoned, randCBAMWeights, seedNote } from '../helpers.js';
import { argsFor, caseLabel, fixtureProblem, loadNanFixtures, makeNanProblem, refFor, targetsFor, type NanCase, type NanProblem } from '../nan-cases.js';
import { ABS_TOL, ASYNC, SYNC, TOL, download, poisonTensor, quantize, upload, type DType } from './gpu-common.js';

const gate = gpuGate(cuda.status(), 'NaN/Inf on CUDA');
const fixtures = loadNanFixtures();

const CASES: NanCase[] = [
  { op: 'se', twoFc: true, biases: true, activation: 'relu', gate: 'sigmoid', residual: true, outRelu: true },
  { op: 'se', twoFc: true, biases: true, activation: 'silu', gate: 'hardsigmoid' },
  { op: 'se', twoFc: false, biases: true, activation: 'relu', gate: 'sigmoid', residual: true },
  ...GATES.map((g, i) => ({ op: 'eca' as const, biases: false, gate: g, k: i ? 5 : 3 })),
  { op: 'cbam', biases: true, activation: 'relu', gate: 'sigmoid', k: 7 },
  { op: 'cbam', biases: true, activation: 'silu', gate: 'hardsigmoid', k: 3 },
];
// Wide kernels (k > 63: the kernels' WIDE instantiations, which run only the taps on the data
// and add a non-finite padding tap's NaN separately): a random non-finite tap mostly lands on
// the zero padding of many outputs here (C 6-256 against ECA's 32 padding channels a side; maps
// of 1x31 to 14x14 against CBAM's 65x65 taps). float32 host arrays only: the half-precision
// bounds (gpu-common.ts TOL) assume k <= 7.
const WIDE_CASES: NanCase[] = [
  { op: 'eca', biases: false, gate: 'sigmoid', k: 65 },
  { op: 'eca', biases: false, gate: 'hardsigmoid', k: 129 },
  { op: 'cbam', biases: true, activation: 'relu', gate: 'sigmoid', k: 65 },
];
// 7x7 (thread per channel), 14x14 (warp per channel), 1x31, a wide map (CBAM's L2 gate path),
// a batch of 64 with C = 1024 (SE sample groups)
const SHAPES: Shape4[] = [[2, 32, 7, 7], [1, 256, 14, 14], [2, 24, 1, 31], [1, 6, 3, 300]];
const GROUP_SHAPE: Shape4 = [64, 1024, 3, 3];

/** Reference for p in layout from the values the device holds (x and residual quantized). */
function refFromValues(p: NanProblem, layout: Layout, x: ArrayLike<number>, r: ArrayLike<number> | undefined) {
  const o = { ...(p.options as object), layout, residual: r } as never;
  if (p.c.op === 'se') return refSE(x, p.shape, p.weights as never, o);
  if (p.c.op === 'eca') return refECA(x, p.shape, { weight: p.weights.weight }, o);
  return refCBAM(x, p.shape, p.weights as never, o);
}

describe.skipIf(!gate.ok)(gate.title, () => {
  test.each(fixtures.flatMap((f) => LAYOUTS.map((l) => [`${f.name} (${f.module}) ${l}`, f, l] as const)))(
    'PyTorch fixture, host arrays: %s',
    (_n, fx, layout: Layout) => {
      const p = fixtureProblem(fx);
      const { x, options } = argsFor(p, layout);
      const out = poisoned(x.length);
      const scaleOut = fx.scale ? poisoned(fx.shape[0] * fx.shape[1]) : undefined;
      SYNC[fx.op](x, fx.shape, p.weights, { ...options, device: 'cuda', out, ...(scaleOut ? { scaleOut } : {}) });
      const want = layout === 'NCHW' ? fx.expected.float64 : nchwToNhwc(fx.expected.float64, fx.shape);
      const ctx = `${fx.name} ${layout} ${fx.note}`;
      expect(ieeeMismatch(out, want, TOL_F32), ctx).toBeNull();
      if (scaleOut) expect(ieeeMismatch(scaleOut, fx.scale!.float64, TOL_F32), `scaleOut ${ctx}`).toBeNull();
    },
  );

  function hostRun(p: NanProblem, rngSeed: string): void {
    for (const layout of LAYOUTS) {
      const { x, options } = argsFor(p, layout);
      const out = poisoned(x.length);
      const scaleOut = p.c.op === 'cbam' ? undefined : poisoned(p.shape[0] * p.shape[1]);
      SYNC[p.c.op](x, p.shape, p.weights, { ...options, device: 'cuda', out, ...(scaleOut ? { scaleOut } : {}) });
      const ref = refFor(p, layout);
      const ctx = `${p.label} ${layout} ${rngSeed}`;
      expect(ieeeMismatch(out, ref.y, TOL_F32), ctx).toBeNull();
      if (scaleOut) expect(ieeeMismatch(scaleOut, ref.scale, TOL_F32), `scaleOut ${ctx}`).toBeNull();
    }
  }

  test.each(CASES.map((c) => [caseLabel(c), c] as const))('float32 host arrays, random NaN/Inf: %s', (_n, c) => {
    const rng = freshRng();
    for (const shape of SHAPES) for (const target of targetsFor(c)) hostRun(makeNanProblem(rng, c, shape, target), seedNote(rng));
  });

  test.each(WIDE_CASES.map((c) => [caseLabel(c), c] as const))('float32 host arrays, random NaN/Inf, wide kernel: %s', (_n, c) => {
    const rng = freshRng();
    for (const shape of SHAPES) for (const target of targetsFor(c)) hostRun(makeNanProblem(rng, c, shape, target), seedNote(rng));
  }, 120_000);

  // Placed, not random: a random tap of CBAM's 2 x 65 x 65 rarely sits on a kernel row that meets
  // a 9 x 11 map while its column is off it. Each placement is on the map for some outputs (a
  // +-Inf tap there gives a gate of 0 or 1, a NaN tap NaN) and on the zero padding for the others
  // (NaN): above, below, left and right of them, diagonally, everywhere, and two at once (the
  // WIDE kernels' padding test uses the bounding box of the non-finite taps).
  const PLACEMENTS: [number, number, number, number][][] = [
    [[0, 0, 7, Infinity]],
    [[1, 0, -7, Number.NaN]],
    [[0, 5, 0, -Infinity]],
    [[1, -5, 0, Infinity]],
    [[0, 3, -8, -Infinity]],
    [[1, 20, 20, Infinity]],
    [[0, 0, 7, Infinity], [1, -4, -9, -Infinity]],
    [[1, 2, 3, Number.NaN], [0, -3, 10, Infinity]],
  ];
  test.each(PLACEMENTS.map((taps) => [taps.map((t) => `(${t.join(',')})`).join(' '), taps] as const))(
    'float32 host arrays, wide CBAM (k 65, 9x11 maps), non-finite taps (ch, dy, dx, value) placed: %s',
    (name, taps) => {
      const rng = freshRng();
      const c: NanCase = { op: 'cbam', biases: true, activation: 'relu', gate: 'sigmoid', k: 65 };
      const shape: Shape4 = [2, 3, 9, 11];
      const k = 65;
      const pad = (k - 1) / 2;
      const weights = { ...randCBAMWeights(rng, shape[1], 2, k, { b1: true, b2: true, spatialBias: true }) } as Record<string, Float32Array>;
      for (const [ch, dy, dx, v] of taps) weights.spatialWeight![(ch * k + pad + dy) * k + pad + dx] = v;
      const x = rng.normals(shape[0] * shape[1] * shape[2] * shape[3], 1, 0.3);
      const options = { gate: c.gate, activation: c.activation };
      hostRun({ c, target: 'spatialWeight', shape, x, weights, options, label: `${caseLabel(c)} taps ${name}` }, seedNote(rng));
    },
  );

  test('float32 host arrays, SE sample groups (64×1024×3×3), NaN/Inf in x and in w2', () => {
    const rng = freshRng();
    for (const target of ['x-inf', 'w2'] as const) hostRun(makeNanProblem(rng, CASES[0], GROUP_SHAPE, target), seedNote(rng));
  }, 120_000);

  // Found by an attack (2026-12-05): the output ReLU made -0 into +0 on CUDA (fmaxf / max.NaN)
  // where the CPU, like PyTorch's relu (clamp_min) on the CPU, keeps -0. Every zero of the CPU's
  // output must come back as the same zero, through every CUDA path and dtype.
  test.each(LAYOUTS)('SE output ReLU keeps -0 as the CPU does, with and without a residual (%s)', async (layout) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 8, 3, 5];
    const n = shape[0] * shape[1] * shape[2] * shape[3];
    const pick = [-0, -0, -0, 0, -1e-30, -1.5, 2.5]; // no NaN: one would make the sample's every gate NaN
    const x = Float32Array.from({ length: n }, () => rng.pick(pick));
    const residual = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : -0));
    const w = { w1: Float32Array.from({ length: 2 * 8 }, () => rng.next() - 0.5), w2: Float32Array.from({ length: 8 * 2 }, () => rng.next() - 0.5) };
    const zeros = (y: ArrayLike<number>, want: ArrayLike<number>, ctx: string) => {
      let checked = 0;
      for (let i = 0; i < n; i++) {
        if (want[i] !== 0) continue;
        checked++;
        expect(Object.is(y[i], want[i]), `${ctx} [${i}]: ${Object.is(y[i], -0) ? '-0' : y[i]} against ${Object.is(want[i], -0) ? '-0' : want[i]}`).toBe(true);
      }
      expect(checked, ctx).toBeGreaterThan(n / 4);
    };
    for (const r of [undefined, residual]) {
      const base = { layout, outputActivation: 'relu' as const, ...(r ? { residual: r } : {}) };
      const cpu = SYNC.se(x, shape, w, { ...base, device: 'cpu' }) as Float32Array;
      const ctx = `${layout}${r ? ' residual' : ''} ${seedNote(rng)}`;
      zeros(SYNC.se(x, shape, w, { ...base, device: 'cuda' }) as Float32Array, cpu, `${ctx} host arrays`);
      zeros((await ASYNC.se(x, shape, w, { ...base, device: 'cuda' })) as Float32Array, cpu, `${ctx} host arrays async`);
      for (const dtype of ['float32', 'float16', 'bfloat16'] as DType[]) {
        const qx = quantize(x, dtype);
        const qr = r ? quantize(r, dtype) : undefined;
        const want = SYNC.se(Float32Array.from(qx.values), shape, w, {
          ...base, device: 'cpu', ...(qr ? { residual: Float32Array.from(qr.values) } : {}),
        }) as Float32Array;
        const xd = upload(qx.host, shape, layout, dtype);
        const rd = qr ? upload(qr.host, shape, layout, dtype) : undefined;
        const yd = SYNC.se(xd, shape, w, { layout, outputActivation: 'relu', ...(rd ? { residual: rd } : {}) }) as never;
        try {
          zeros(await download(yd), want, `${ctx} DeviceTensor ${dtype}`);
        } finally {
          for (const t of [xd, rd, yd] as ({ dispose(): void } | undefined)[]) t?.dispose();
        }
      }
    }
  });

  test.each((['float16', 'bfloat16'] as DType[]).flatMap((dt) => CASES.map((c) => [`${dt} ${caseLabel(c)}`, dt, c] as const)))(
    'device tensors, random NaN/Inf: %s',
    async (_n, dtype, c) => {
      const rng = freshRng();
      for (const shape of SHAPES.slice(0, 3))
        for (const target of targetsFor(c)) {
          const p = makeNanProblem(rng, c, shape, target);
          for (const layout of LAYOUTS) {
            const { x, options } = argsFor(p, layout);
            const qx = quantize(x, dtype);
            const r = options.residual as Float32Array | undefined;
            const qr = r ? quantize(r, dtype) : undefined;
            const made = [upload(qx.host, shape, layout, dtype), poisonTensor(shape, layout, dtype)];
            try {
              const o: Record<string, unknown> = { ...options, device: 'cuda', out: made[1] };
              if (qr) {
                made.push(upload(qr.host, shape, layout, dtype));
                o.residual = made[2];
              }
              await ASYNC[c.op](made[0], shape, p.weights, o);
              const y = await download(made[1]);
              const ref = refFromValues(p, layout, qx.values, qr?.values);
              expect(ieeeMismatch(y, ref.y, TOL[dtype], ABS_TOL[dtype]), `${dtype} ${p.label} ${layout} ${seedNote(rng)}`).toBeNull();
            } finally {
              for (const t of made) t.dispose();
            }
          }
        }
    },
  );
});
