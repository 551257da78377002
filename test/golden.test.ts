// Golden vectors from the real timm / torchvision modules (scripts/gen_golden.py: eval mode,
// float64, randomised weights), run on the CPU in both layouts. test/gpu/golden.cuda.test.ts
// runs the same fixtures on CUDA.
import { describe, expect, test } from 'vitest';
import { cbamForward, ecaForward, seForward } from '../dist/index.js';
import { refCBAM, refECA, refSE, relErr, type Layout } from './reference.js';
import { LAYOUTS, TOL_F32, expectClose, goldenArgs, loadGoldenFixtures, poisoned, type GoldenFixture } from './helpers.js';

const fixtures = loadGoldenFixtures();

const forward = { se: seForward, eca: ecaForward, cbam: cbamForward } as const;

describe('golden fixtures', () => {
  test('the fixture set is complete', () => {
    const modules = fixtures.map((f) => f.module).join('\n');
    expect(fixtures.length).toBeGreaterThanOrEqual(14);
    for (const m of ['SEModule', 'EffectiveSEModule', '_efficientnet_blocks.SqueezeExcite', 'torchvision.ops.SqueezeExcitation', 'Hardsigmoid', 'EcaModule(channels=', 'EcaModule(kernel_size=5)', 'CbamModule(mlp_bias=True', 'CbamModule(mlp_bias=False', 'residual']) {
      expect(modules, m).toContain(m);
    }
    for (const f of fixtures) expect(f.selfCheckRelErr, f.name).toBeLessThan(1e-6);
  });

  // The float64 reference of this suite must agree with the real modules too.
  test.each(fixtures.map((f) => [f.name, f] as const))('reference.ts reproduces %s', (_n, fx: GoldenFixture) => {
    for (const layout of LAYOUTS) {
      const { weights, options } = goldenArgs(fx, layout);
      const x = fx.x[layout];
      const o = options as { layout: Layout };
      const ref =
        fx.op === 'se'
          ? refSE(x, fx.shape, weights as never, o)
          : fx.op === 'eca'
            ? refECA(x, fx.shape, weights as never, o)
            : refCBAM(x, fx.shape, weights as never, o);
      // expected is float64 rounded to float32: agreement to float32 rounding
      expect(relErr(ref.y, fx.expected[layout]), `${fx.name} ${layout}`).toBeLessThan(1e-6);
    }
  });

  test.each(fixtures.flatMap((f) => LAYOUTS.map((l) => [`${f.name} (${f.module}) ${l}`, f, l] as const)))(
    'cpu: %s',
    (_n, fx: GoldenFixture, layout: Layout) => {
      const { weights, options } = goldenArgs(fx, layout);
      const out = poisoned(fx.x[layout].length);
      const fn = forward[fx.op] as (x: Float32Array, s: unknown, w: unknown, o: unknown) => Float32Array;
      const y = fn(fx.x[layout], fx.shape, weights, { ...options, device: 'cpu', out });
      expect(y).toBe(out);
      expectClose(y, fx.expected[layout], TOL_F32, `${fx.name} ${layout} (${JSON.stringify(fx.versions)})`);
    },
  );
});
