// findAttentionModules on the state-dict names of 43 real timm / torchvision architectures
// (test/fixtures/model_names.json.gz, scripts/gen_model_names_fixture.py: names and shapes from
// model.state_dict(), and each attention module found by its class with its instance's activation
// and gate). Discovery sees only names and shapes; this checks it against what the models hold.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { ATTENTION_KINDS, findAttentionModules } from '../dist/index.js';
import type { AttentionKind } from '../dist/index.js';
import { FIXTURE_DIR } from './helpers.js';

interface TrueModule {
  prefix: string;
  class: string;
  activation: string | null;
  gate: string;
}
interface ModelNames {
  source: 'timm' | 'torchvision';
  model: string;
  tensors: [string, number[]][];
  attention: TrueModule[];
}
const fx = JSON.parse(gunzipSync(readFileSync(`${FIXTURE_DIR}model_names.json.gz`)).toString('utf8')) as {
  provenance: { versions: Record<string, string> };
  models: ModelNames[];
};

const KIND_OF_CLASS: Record<string, AttentionKind> = {
  'timm.layers.squeeze_excite.SEModule': 'timm.SEModule',
  'timm.layers.squeeze_excite.EffectiveSEModule': 'timm.EffectiveSEModule',
  'timm.models._efficientnet_blocks.SqueezeExcite': 'timm.SqueezeExcite',
  'torchvision.ops.misc.SqueezeExcitation': 'torchvision.SqueezeExcitation',
  'timm.layers.eca.EcaModule': 'timm.EcaModule',
  'timm.layers.cbam.CbamModule': 'timm.CbamModule',
};

// Where names cannot tell the activation: semnasnet's SE uses relu inside an EfficientNet-style
// model (its neighbours use silu); FBNetV3's uses hardswish, which the library does not compute.
// Both are said in the module's note.
const NAMES_CANNOT_TELL: Record<string, RegExp> = { 'timm:semnasnet_100': /semnasnet/, 'timm:fbnetv3_b': /FBNetV3/ };

const key = (m: ModelNames): string => `${m.source}:${m.model}`;
const found = (m: ModelNames) => findAttentionModules(m.tensors.map(([name, shape]) => ({ name, shape })));

describe('discovery on 43 real architectures (names and shapes only)', () => {
  test('the census covers both libraries, every attention class and models without attention', () => {
    expect(fx.models.length).toBe(43);
    const classes = new Set(fx.models.flatMap((m) => m.attention.map((a) => a.class)));
    for (const c of Object.keys(KIND_OF_CLASS).filter((c) => !c.endsWith('CbamModule'))) expect(classes.has(c), c).toBe(true);
    expect(fx.models.filter((m) => m.attention.length === 0).length).toBeGreaterThanOrEqual(8);
    expect(fx.models.reduce((n, m) => n + m.attention.length, 0)).toBe(352);
  });

  test.each(fx.models.map((m) => [key(m), m] as const))('%s: exactly its attention modules, with the kind of their class', (_k, m) => {
    const f = found(m);
    // No conv MLP taken for an SE (ConvNeXt, FastViT, MobileViTv2 have fc1/fc2 1×1 convs), none missed.
    expect(f.map((x) => x.prefix).sort()).toEqual(m.attention.map((a) => a.prefix).sort());
    for (const a of m.attention) {
      const x = f.find((y) => y.prefix === a.prefix)!;
      expect([x.kind, ...x.alternatives], a.prefix).toContain(KIND_OF_CLASS[a.class]);
    }
  });

  test.each(fx.models.filter((m) => m.attention.length > 0).map((m) => [key(m), m] as const))(
    '%s: the kind plus `options` give the activation and gate the model uses',
    (k, m) => {
      const wrong: string[] = [];
      const modules = found(m);
      for (const x of modules) {
        const a = m.attention.find((y) => y.prefix === x.prefix)!;
        const d = ATTENTION_KINDS[x.kind!];
        const activation = x.options.activation ?? d.activation;
        const gate = x.options.gate ?? d.gate;
        if ((a.activation !== null && activation !== a.activation) || gate !== a.gate) wrong.push(`${a.prefix}: ${activation}/${gate}, model ${a.activation}/${a.gate}`);
      }
      if (NAMES_CANNOT_TELL[k]) {
        expect(wrong.length, k).toBeGreaterThan(0);
        for (const x of modules) expect(x.note, x.prefix).toMatch(NAMES_CANNOT_TELL[k]!);
      } else {
        expect(wrong, k).toEqual([]);
      }
    },
  );
});
