// The end-to-end proof: a checkpoint written by Python (scripts/gen_safetensors_fixture.py),
// read with readSafetensors, each module loaded with fromStateDict, run on the CPU in both layouts,
// against the module's own float64 output. The fixture's provenance names the timm, torchvision
// and safetensors that made it (printed, and checked below).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { findAttentionModules, readSafetensors } from '../dist/index.js';
import { LAYOUTS } from './helpers.js';
import { loadModelFixture, runCaseOnCpu, type ModelCase } from './state-dict-fixture.js';

const fx = loadModelFixture();
console.log(`attention_model fixture: mode=${fx.provenance.mode}; ${fx.provenance.note}`);

const errors: number[] = [];
afterAll(() => {
  if (errors.length > 0) console.log(`fixture: ${errors.length} module × layout runs, worst relative error ${Math.max(...errors).toExponential(2)}`);
});

describe(`checkpoint fixture (${fx.provenance.mode} mode)`, () => {
  const file = readSafetensors(fx.path);

  test('provenance is recorded and consistent with the file', () => {
    const p = fx.provenance;
    // Made by the real timm and safetensors (the fallback that re-implemented them is gone).
    expect(p.mode).toBe('timm');
    expect(p.real).toBe(true);
    expect(createHash('sha256').update(readFileSync(fx.path)).digest('hex')).toBe(p.safetensorsSha256);
    expect(file.metadata?.mode).toBe(p.mode);
    for (const kind of ['timm.SEModule', 'timm.EffectiveSEModule', 'timm.SqueezeExcite', 'torchvision.SqueezeExcitation', 'timm.EcaModule', 'timm.CbamModule']) {
      expect(p.modules[kind], kind).toMatch(kind.startsWith('timm.') ? /\(timm \d/ : /\(torchvision \d/);
    }
    expect(p.versions.timm).toMatch(/^\d/);
    expect(p.versions.safetensors).toMatch(/^\d/);
    expect(p.writer).toContain('safetensors.torch.save_file');
    expect(p.modules['timm.SEModule']).toMatch(/^timm\.layers\.squeeze_excite\.SEModule \(timm \d/);
    for (const c of fx.cases) expect(c.selfCheckRelErr, c.prefix).toBeLessThan(1e-12);
  });

  test('the file holds every module with the tensors the generator recorded', () => {
    expect(fx.cases.length).toBe(12);
    for (const c of fx.cases) {
      for (const [rel, shape] of Object.entries(c.tensors)) expect(file.get(`${c.prefix}.${rel}`)?.shape, `${c.prefix}.${rel}`).toEqual(shape);
    }
  });

  test.each(fx.cases.flatMap((c) => LAYOUTS.map((l) => [`${c.prefix} (${c.kind}) ${l}`, c, l] as const)))(
    'cpu: %s reproduces the module within 1e-5',
    (_n, c: ModelCase, layout) => {
      errors.push(runCaseOnCpu(file, c, layout, fx.bnEps, `${c.prefix} ${c.kind}`));
    },
  );

  test('the extra dtypes convert to the float32 values Python stored', () => {
    const conv = readSafetensors(fx.path, { toFloat32: true, names: Object.keys(fx.extras) });
    for (const [name, e] of Object.entries(fx.extras)) {
      const t = conv.get(name)!;
      expect(t.dtype, name).toBe(e.dtype);
      expect(t.shape, name).toEqual(e.shape);
      expect(Array.from(t.data as ArrayLike<number>), name).toEqual(e.values);
    }
  });

  test('discovery finds exactly the modules, and none of the distractors', () => {
    const found = findAttentionModules(file.header);
    expect(found.map((f) => f.prefix).sort()).toEqual(fx.cases.map((c) => c.prefix).sort());
    for (const c of fx.cases) {
      const f = found.find((m) => m.prefix === c.prefix)!;
      expect([f.kind, ...f.alternatives], c.prefix).toContain(c.kind);
      expect(f.block, c.prefix).toBe(c.block);
      // A hint the names give is never wrong here (layer1.2.se's silu is one the names cannot tell).
      for (const [k, v] of Object.entries(f.options)) expect(c.overrides[k], `${c.prefix} ${k}`).toBe(v);
    }
    expect(found.find((f) => f.prefix === 'features.4.block.2')?.options).toEqual({ gate: 'hardsigmoid' });
    const claimed = new Set(found.flatMap((f) => f.tensors));
    for (const d of fx.distractors) expect(claimed.has(d), d).toBe(false);
  });
});
