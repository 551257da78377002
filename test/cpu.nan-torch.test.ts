// NaN/±Inf fixtures from real PyTorch (scripts/gen_nan_fixture.py: the timm / torchvision module
// forwards in float64 and float32, torch 1.13 CPU) on the CPU, both layouts, sync and async: NaN
// exactly where PyTorch has NaN, ±Inf with PyTorch's sign, finite values within 1e-5 of max|ref|.
// The library follows float64 torch; float32 torch is compared wherever it agrees with float64 on
// every NaN/Inf position (it does not where its oneDNN conv skips a NaN/Inf tap on the zero
// padding, see native/dev/NOTES-cpu.md). reference.ts is held to the same fixtures.
import { describe, expect, test } from 'vitest';
import { cbamForward, cbamForwardAsync, ecaForward, ecaForwardAsync, seForward, seForwardAsync } from '../dist/index.js';
import { ieeeMismatch, nchwToNhwc, type Layout, type Shape4 } from './reference.js';
import { LAYOUTS, TOL_F32, poisoned } from './helpers.js';
import { argsFor, fixtureProblem, loadNanFixtures, refFor, type NanFixture } from './nan-cases.js';

type Fn = (x: Float32Array, shape: Shape4, w: unknown, o: unknown) => Float32Array;
type AsyncFn = (x: Float32Array, shape: Shape4, w: unknown, o: unknown) => Promise<Float32Array>;
const SYNC = { se: seForward as Fn, eca: ecaForward as Fn, cbam: cbamForward as Fn };
const ASYNC = { se: seForwardAsync as AsyncFn, eca: ecaForwardAsync as AsyncFn, cbam: cbamForwardAsync as AsyncFn };

const fixtures = loadNanFixtures();
const inLayout = (fx: NanFixture, a: Float32Array, layout: Layout) => (layout === 'NCHW' ? a : nchwToNhwc(a, fx.shape));

describe('NaN/±Inf fixtures from PyTorch', () => {
  test('the fixture set is there and records torch', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(16);
    for (const fx of fixtures) expect(fx.versions.torch, fx.name).toMatch(/^\d+\.\d+/);
    const names = fixtures.map((f) => f.name);
    for (const n of ['se_issue8_example', 'eca_k5_inf_weight_padding', 'cbam_k3_inf_spatial_weight_n1', 'cbam_k7_nan_x'])
      expect(names).toContain(n);
    const modules = new Set(fixtures.map((f) => f.module));
    // The real classes (not re-implementations), and the timm that ran them.
    for (const m of ['timm.layers.squeeze_excite.SEModule', 'timm.layers.squeeze_excite.EffectiveSEModule', 'timm.models._efficientnet_blocks.SqueezeExcite',
      'torchvision.ops.misc.SqueezeExcitation', 'timm.layers.eca.EcaModule', 'timm.layers.cbam.CbamModule'])
      expect(modules.has(m), m).toBe(true);
    for (const fx of fixtures) expect(fx.versions.timm, fx.name).toMatch(/^\d+\.\d+/);
  });

  test('issue 8 example: PyTorch gives y all NaN', () => {
    const fx = fixtures.find((f) => f.name === 'se_issue8_example')!;
    expect(Array.from(fx.expected.float64).every(Number.isNaN)).toBe(true);
    expect(Array.from(fx.scale!.float64)).toEqual([Number.NaN]);
  });

  test.each(fixtures.map((f) => [f.name, f] as const))('reference.ts reproduces float64 torch: %s', (_n, fx) => {
    const p = fixtureProblem(fx);
    for (const layout of LAYOUTS) {
      const ref = refFor(p, layout);
      // the fixture holds float64 results rounded to float32
      expect(ieeeMismatch(ref.y, inLayout(fx, fx.expected.float64, layout), 1e-6), `${fx.name} ${layout}`).toBeNull();
      if (fx.scale) expect(ieeeMismatch(ref.scale, fx.scale.float64, 1e-6), `scale ${fx.name}`).toBeNull();
    }
  });

  test.each(fixtures.flatMap((f) => LAYOUTS.map((l) => [`${f.name} (${f.module}) ${l}`, f, l] as const)))(
    'cpu: %s',
    async (_n, fx: NanFixture, layout: Layout) => {
      const p = fixtureProblem(fx);
      const { x, options } = argsFor(p, layout);
      const ctx = `${fx.name} ${layout} ${fx.note} (torch ${fx.versions.torch})`;
      const want64 = inLayout(fx, fx.expected.float64, layout);
      const want32 = inLayout(fx, fx.expected.float32, layout);
      for (const mode of ['sync', 'async'] as const) {
        const out = poisoned(x.length);
        const scaleOut = fx.scale ? poisoned(fx.shape[0] * fx.shape[1]) : undefined;
        const o = { ...options, device: 'cpu', out, ...(scaleOut ? { scaleOut } : {}) };
        const y = mode === 'sync' ? SYNC[fx.op](x, fx.shape, p.weights, o) : await ASYNC[fx.op](x, fx.shape, p.weights, o);
        expect(y).toBe(out);
        expect(ieeeMismatch(y, want64, TOL_F32), `${mode} vs float64 torch: ${ctx}`).toBeNull();
        if (fx.f32MatchesF64) expect(ieeeMismatch(y, want32, TOL_F32), `${mode} vs float32 torch: ${ctx}`).toBeNull();
        if (scaleOut) {
          expect(ieeeMismatch(scaleOut, fx.scale!.float64, TOL_F32), `${mode} scaleOut vs float64 torch: ${ctx}`).toBeNull();
          if (fx.f32MatchesF64) expect(ieeeMismatch(scaleOut, fx.scale!.float32, TOL_F32), `${mode} scaleOut vs float32: ${ctx}`).toBeNull();
        }
      }
    },
  );
});
