// The checkpoint fixture (scripts/gen_safetensors_fixture.py) on CUDA: each module loaded with
// fromStateDict onto the GPU (weights resident), run on host arrays and on float32 DeviceTensors
// in both layouts, against the module's float64 output.
import { describe, expect, test } from 'vitest';
import { CBAMBlock, ECABlock, SEBlock, cuda, readSafetensors } from '../../dist/index.js';
import type { DeviceTensor } from '../../dist/index.js';
import type { Layout } from '../reference.js';
import { LAYOUTS, TOL_F32, expectClose, gpuGate, poisoned } from '../helpers.js';
import { loadModelFixture, toNhwc, type ModelCase } from '../state-dict-fixture.js';
import { download, poisonTensor, upload } from './gpu-common.js';

const gate = gpuGate(cuda.status(), 'checkpoint fixture on CUDA');
const fx = loadModelFixture();
const cases = fx.cases.flatMap((c) => LAYOUTS.map((l) => [`${c.prefix} (${c.kind}) ${l}`, c, l] as const));
const BLOCKS = { SEBlock, ECABlock, CBAMBlock } as const;

interface AnyBlock {
  backend: 'cpu' | 'cuda';
  forward(x: Float32Array | DeviceTensor, a2?: unknown, a3?: unknown): Float32Array | DeviceTensor;
  dispose(): void;
}

function load(c: ModelCase, layout: Layout): AnyBlock {
  const Block = BLOCKS[c.block] as unknown as { fromStateDict(t: unknown, p: string, o: unknown): AnyBlock };
  return Block.fromStateDict(readSafetensors(fx.path), c.prefix, { kind: c.kind, ...c.overrides, layout, device: 'cuda', dtype: 'float32', bnEps: fx.bnEps });
}

describe.skipIf(!gate.ok)(gate.title, () => {
  test.each(cases)('host arrays: %s', (_n, c: ModelCase, layout: Layout) => {
    const block = load(c, layout);
    try {
      expect(block.backend).toBe('cuda');
      const x = layout === 'NCHW' ? c.x : toNhwc(c.x, c.shape);
      const out = poisoned(x.length);
      expect(block.forward(x, c.shape, { out })).toBe(out);
      expectClose(out, layout === 'NCHW' ? c.expected : toNhwc(c.expected, c.shape), TOL_F32, `${c.prefix} ${layout} (fixture mode ${fx.provenance.mode})`);
    } finally {
      block.dispose();
    }
  });

  test.each(cases)('device tensors: %s', async (_n, c: ModelCase, layout: Layout) => {
    const block = load(c, layout);
    const x = layout === 'NCHW' ? c.x : toNhwc(c.x, c.shape);
    const xT = upload(x, c.shape, layout, 'float32');
    const outT = poisonTensor(c.shape, layout, 'float32');
    try {
      block.forward(xT, { out: outT });
      expectClose(await download(outT), layout === 'NCHW' ? c.expected : toNhwc(c.expected, c.shape), TOL_F32, `${c.prefix} ${layout} (fixture mode ${fx.provenance.mode})`);
    } finally {
      xT.dispose();
      outT.dispose();
      block.dispose();
    }
  });
});
