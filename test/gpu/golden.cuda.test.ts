// The golden fixtures (real timm / torchvision modules, scripts/gen_golden.py) on CUDA, both
// layouts, as host arrays and as float32 device tensors.
import { describe, expect, test } from 'vitest';
import { cuda } from '../../dist/index.js';
import type { Layout } from '../reference.js';
import { LAYOUTS, TOL_F32, expectClose, goldenArgs, gpuGate, loadGoldenFixtures, poisoned, type GoldenFixture } from '../helpers.js';
import { SYNC, download, poisonTensor, upload } from './gpu-common.js';

const gate = gpuGate(cuda.status(), 'golden fixtures on CUDA');
const fixtures = loadGoldenFixtures();
const cases = fixtures.flatMap((f) => LAYOUTS.map((l) => [`${f.name} (${f.module}) ${l}`, f, l] as const));

describe.skipIf(!gate.ok)(gate.title, () => {
  test.each(cases)('host arrays: %s', (_n, fx: GoldenFixture, layout: Layout) => {
    const { weights, options } = goldenArgs(fx, layout);
    const out = poisoned(fx.x[layout].length);
    const y = SYNC[fx.op](fx.x[layout], fx.shape, weights, { ...options, device: 'cuda', out });
    expect(y).toBe(out);
    expectClose(out, fx.expected[layout], TOL_F32, `${fx.name} ${layout}`);
  });

  test.each(cases)('device tensors: %s', async (_n, fx: GoldenFixture, layout: Layout) => {
    const { weights, options } = goldenArgs(fx, layout);
    const xT = upload(fx.x[layout], fx.shape, layout, 'float32');
    const outT = poisonTensor(fx.shape, layout, 'float32');
    const rT = fx.residual ? upload(fx.residual[layout], fx.shape, layout, 'float32') : undefined;
    try {
      const opts: Record<string, unknown> = { ...options, device: 'cuda', out: outT };
      if (rT) opts.residual = rT;
      SYNC[fx.op](xT, fx.shape, weights, opts);
      expectClose(await download(outT), fx.expected[layout], TOL_F32, `${fx.name} ${layout}`);
    } finally {
      xT.dispose();
      outT.dispose();
      rT?.dispose();
    }
  });
});
