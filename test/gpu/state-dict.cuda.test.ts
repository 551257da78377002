// The checkpoint fixtures on CUDA: each module of attention_model (scripts/gen_safetensors_fixture.py)
// and of the whole timm / torchvision models (scripts/gen_timm_models_fixture.py) loaded with
// fromStateDict onto the GPU (weights resident), run on host arrays and on float32 DeviceTensors in
// both layouts, against the module's float64 output.
import { describe, expect, test } from 'vitest';
import { CBAMBlock, ECABlock, SEBlock, cuda, readSafetensors } from '../../dist/index.js';
import type { DeviceTensor } from '../../dist/index.js';
import type { Layout } from '../reference.js';
import { LAYOUTS, TOL_F32, expectClose, gpuGate, poisoned } from '../helpers.js';
import { loadModelFixture, loadTimmModelsFixture, toNhwc, type ModelCase } from '../state-dict-fixture.js';
import { download, poisonTensor, upload } from './gpu-common.js';

const gate = gpuGate(cuda.status(), 'checkpoint fixture on CUDA');
const fx = loadModelFixture();
const models = loadTimmModelsFixture();
/** A module case with the checkpoint that holds it and a label for messages. */
interface Case extends ModelCase {
  file: string;
  bnEps: number;
  label: string;
}
const all: Case[] = [
  ...fx.cases.map((c) => ({ ...c, file: fx.path, bnEps: fx.bnEps, label: `attention_model (${fx.provenance.mode}) ${c.prefix}` })),
  ...models.models.flatMap((m) => m.cases.map((c) => ({ ...c, file: m.path, bnEps: models.bnEps, label: `${m.name} ${c.prefix}` }))),
];
const cases = all.flatMap((c) => LAYOUTS.map((l) => [`${c.label} (${c.kind}) ${l}`, c, l] as const));
const BLOCKS = { SEBlock, ECABlock, CBAMBlock } as const;

interface AnyBlock {
  backend: 'cpu' | 'cuda';
  forward(x: Float32Array | DeviceTensor, a2?: unknown, a3?: unknown): Float32Array | DeviceTensor;
  dispose(): void;
}

/** Each checkpoint read once (fromStateDict copies what it uses; the file's views stay as read). */
const files = new Map<string, ReturnType<typeof readSafetensors>>();
function load(c: Case, layout: Layout): AnyBlock {
  const Block = BLOCKS[c.block] as unknown as { fromStateDict(t: unknown, p: string, o: unknown): AnyBlock };
  if (!files.has(c.file)) files.set(c.file, readSafetensors(c.file));
  return Block.fromStateDict(files.get(c.file)!, c.prefix, { kind: c.kind, ...c.overrides, layout, device: 'cuda', dtype: 'float32', bnEps: c.bnEps });
}

describe.skipIf(!gate.ok)(gate.title, () => {
  test.each(cases)('host arrays: %s', (_n, c: Case, layout: Layout) => {
    const block = load(c, layout);
    try {
      expect(block.backend).toBe('cuda');
      const x = layout === 'NCHW' ? c.x : toNhwc(c.x, c.shape);
      const out = poisoned(x.length);
      expect(block.forward(x, c.shape, { out })).toBe(out);
      expectClose(out, layout === 'NCHW' ? c.expected : toNhwc(c.expected, c.shape), TOL_F32, `${c.label} ${layout}`);
    } finally {
      block.dispose();
    }
  });

  test.each(cases)('device tensors: %s', async (_n, c: Case, layout: Layout) => {
    const block = load(c, layout);
    const x = layout === 'NCHW' ? c.x : toNhwc(c.x, c.shape);
    const xT = upload(x, c.shape, layout, 'float32');
    const outT = poisonTensor(c.shape, layout, 'float32');
    try {
      block.forward(xT, { out: outT });
      expectClose(await download(outT), layout === 'NCHW' ? c.expected : toNhwc(c.expected, c.shape), TOL_F32, `${c.label} ${layout}`);
    } finally {
      xT.dispose();
      outT.dispose();
      block.dispose();
    }
  });
});
