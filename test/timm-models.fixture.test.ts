// Whole models, not single modules: checkpoints of timm and torchvision models (reduced widths,
// random weights) written by the real safetensors (scripts/gen_timm_models_fixture.py). Discovery
// must find exactly the attention modules the model has among its stems, BatchNorms, downsample
// convs and heads, and each found module, loaded with fromStateDict, must reproduce the module's
// float64 output (on its real activation, scaled) in both layouts on the CPU.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { findAttentionModules, readSafetensors } from '../dist/index.js';
import { LAYOUTS } from './helpers.js';
import { loadTimmModelsFixture, runCaseOnCpu, type TimmModel, type TimmModelCase } from './state-dict-fixture.js';

const fx = loadTimmModelsFixture();
const errors: number[] = [];
afterAll(() => {
  if (errors.length > 0) console.log(`timm models: ${errors.length} module × layout runs, worst relative error ${Math.max(...errors).toExponential(2)}`);
});

describe('whole-model checkpoints (real timm / torchvision, real safetensors writer)', () => {
  test('provenance: the real packages, and the files are the ones the generator hashed', () => {
    const p = fx.provenance;
    expect(p.writer).toContain('safetensors.torch.save_file');
    for (const k of ['timm', 'torchvision', 'safetensors', 'torch']) expect(p.versions[k], k).toMatch(/^\d/);
    expect(fx.models.map((m) => m.source).sort()).toContain('torchvision');
    expect(fx.models.length).toBeGreaterThanOrEqual(6);
    expect(fx.models.map((m) => m.dtype)).toEqual(expect.arrayContaining(['float32', 'float16', 'bfloat16']));
    for (const m of fx.models) {
      expect(createHash('sha256').update(readFileSync(m.path)).digest('hex'), m.name).toBe(m.sha256);
      expect(m.cases.length, m.name).toBeGreaterThan(0);
      for (const c of m.cases) {
        expect(c.selfCheckRelErr, `${m.name} ${c.prefix}`).toBeLessThan(1e-12);
        // Not a degenerate case: most of the gate is off its rails (hardsigmoid saturates some).
        expect(c.gateSaturated, `${m.name} ${c.prefix}`).toBeLessThan(0.5);
        expect(c.gateRange[1] - c.gateRange[0], `${m.name} ${c.prefix}`).toBeGreaterThan(0.1);
      }
    }
    // Every kind that fromStateDict maps is in some whole model but EffectiveSEModule (covered by attention_model).
    const kinds = new Set(fx.models.flatMap((m) => m.cases.map((c) => c.kind)));
    for (const k of ['timm.SEModule', 'timm.SqueezeExcite', 'torchvision.SqueezeExcitation', 'timm.EcaModule', 'timm.CbamModule']) {
      expect(kinds.has(k), k).toBe(true);
    }
  });

  describe.each(fx.models.map((m) => [m.name, m] as const))('%s', (_name, m: TimmModel) => {
    const file = readSafetensors(m.path);

    test('the reader sees every tensor of the state dict, in the precision it was saved in', () => {
      expect(file.header.tensors.length).toBe(m.tensorCount);
      expect(file.metadata?.model).toBe(m.call);
      // Half-precision checkpoints (model.half() / bfloat16) load as they are: fromStateDict converts.
      const want = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' }[m.dtype];
      const floats = file.header.tensors.filter((t) => t.dtype !== 'I64'); // num_batches_tracked
      expect(floats.length).toBeGreaterThan(0);
      for (const t of floats) expect(t.dtype, t.name).toBe(want);
    });

    test('findAttentionModules finds exactly its attention modules, with C, hidden and k', () => {
      const found = findAttentionModules(file);
      expect(found.map((f) => f.prefix).sort()).toEqual(m.cases.map((c) => c.prefix).sort());
      for (const c of m.cases) {
        const f = found.find((x) => x.prefix === c.prefix)!;
        expect([f.kind, ...f.alternatives], c.prefix).toContain(c.kind);
        expect(f.block, c.prefix).toBe(c.block);
        // ECA stores no C (its conv works for any C).
        expect(f.channels, c.prefix).toBe(c.kind === 'timm.EcaModule' ? null : c.channels);
        expect(f.hidden, c.prefix).toBe(c.hidden);
        expect(f.kernelSize, c.prefix).toBe(c.kernelSize);
        // What the names say to pass beyond kind is what the module needed (e.g. MobileNetV3's hardsigmoid).
        expect(f.options, c.prefix).toEqual(c.overrides);
      }
    });

    test.each(m.cases.flatMap((c) => LAYOUTS.map((l) => [`${c.prefix} (${c.kind}${Object.keys(c.overrides).length ? `, ${JSON.stringify(c.overrides)}` : ''}) ${l}`, c, l] as const)))(
      'cpu: %s reproduces the module within 1e-5',
      (_n, c: TimmModelCase, layout) => {
        errors.push(runCaseOnCpu(file, c, layout, fx.bnEps, `${m.name} ${c.prefix}`));
      },
    );

    // readSafetensors' toFloat32 keeps the file's dtype beside the converted data; fromStateDict
    // refused that result ("has dtype F16, which does not fit its data"; an attack, 2026-12-02).
    if (m.dtype !== 'float32') {
      test('read with toFloat32, every module loads and reproduces the module within 1e-5', () => {
        const converted = readSafetensors(m.path, { toFloat32: true });
        expect(converted.header.tensors.find((t) => t.dtype !== 'I64')?.dtype).toBe(m.dtype === 'float16' ? 'F16' : 'BF16');
        for (const c of m.cases) errors.push(runCaseOnCpu(converted, c, 'NCHW', fx.bnEps, `${m.name} ${c.prefix} (toFloat32)`));
      });
    }
  });

  test('`squeeze-excite inspect` lists every attention module of a whole model', () => {
    const root = path.resolve(__dirname, '..');
    const m = fx.models.find((x) => x.name === 'mobilenet_v3_small')!;
    const r = spawnSync(process.execPath, [path.join(root, 'bin/squeeze-excite.js'), 'inspect', m.path], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const c of m.cases) expect(r.stdout).toMatch(new RegExp(`^${c.prefix.replace(/\./g, '\\.')}\\s`, 'm'));
    // The snippet carries the options the names call for.
    expect(r.stdout).toContain(`{ kind: "torchvision.SqueezeExcitation", gate: "hardsigmoid" }`);
  });
});
