// The PyTorch attention modules this library loads from a state dict, each with the block that
// computes it and the defaults a checkpoint cannot tell (its activation and gate): the table the
// loaders (state-dict.ts), the reader's hints and findAttentionModules read.

import type { Activation, Gate } from './types.js';

/**
 * SE-family modules SEBlock.fromStateDict loads: timm.layers.squeeze_excite.SEModule and
 * EffectiveSEModule, timm.models._efficientnet_blocks.SqueezeExcite, torchvision.ops.SqueezeExcitation.
 */
export type SEKind = 'timm.SEModule' | 'timm.EffectiveSEModule' | 'timm.SqueezeExcite' | 'torchvision.SqueezeExcitation';
/** timm.layers.eca.EcaModule, which ECABlock.fromStateDict loads. */
export type ECAKind = 'timm.EcaModule';
/** timm.layers.cbam.CbamModule, which CBAMBlock.fromStateDict loads. */
export type CBAMKind = 'timm.CbamModule';
/** A module, named by its library and class. */
export type AttentionKind = SEKind | ECAKind | CBAMKind;

/**
 * Every kind, the block that loads it and the module defaults used when not overridden. Frozen
 * (an assignment to it or to an entry throws in strict mode).
 */
// Frozen, each entry too: its defaults are read by every mapping, and an assignment to one
// (typed Readonly, but plain objects) changed them for the whole process.
export const ATTENTION_KINDS: Readonly<
  Record<
    AttentionKind,
    {
      /** The block class whose fromStateDict loads it. */
      readonly block: 'SEBlock' | 'ECABlock' | 'CBAMBlock';
      /**
       * The hidden activation a loaded block gets unless `options.activation` says otherwise: the
       * module's default, except for timm.SqueezeExcite, whose class default is ReLU but which
       * EfficientNet builds with SiLU (its blocks pass their own act_layer), so 'silu' here; for
       * timm's MobileNetV3 SE pass activation 'relu' and gate 'hardsigmoid'. null: the module has
       * none (the single FC of EffectiveSEModule, ECA).
       */
      readonly activation: Activation | null;
      /** The gate a loaded block gets unless `options.gate` says otherwise: the module's default. */
      readonly gate: Gate;
      /** Its PyTorch class, e.g. 'timm.layers.squeeze_excite.SEModule'. */
      readonly module: string;
    }
  >
> = deepFreezeKinds({
  'timm.SEModule': { block: 'SEBlock', activation: 'relu', gate: 'sigmoid', module: 'timm.layers.squeeze_excite.SEModule' },
  'timm.EffectiveSEModule': { block: 'SEBlock', activation: null, gate: 'hardsigmoid', module: 'timm.layers.squeeze_excite.EffectiveSEModule' },
  // act_layer is the containing block's: SiLU in EfficientNet (MobileNetV3 uses relu + hardsigmoid).
  'timm.SqueezeExcite': { block: 'SEBlock', activation: 'silu', gate: 'sigmoid', module: 'timm.models._efficientnet_blocks.SqueezeExcite' },
  'torchvision.SqueezeExcitation': { block: 'SEBlock', activation: 'relu', gate: 'sigmoid', module: 'torchvision.ops.SqueezeExcitation' },
  'timm.EcaModule': { block: 'ECABlock', activation: null, gate: 'sigmoid', module: 'timm.layers.eca.EcaModule' },
  'timm.CbamModule': { block: 'CBAMBlock', activation: 'relu', gate: 'sigmoid', module: 'timm.layers.cbam.CbamModule' },
});

function deepFreezeKinds<T extends Record<string, object>>(kinds: T): Readonly<T> {
  for (const info of Object.values(kinds)) Object.freeze(info);
  return Object.freeze(kinds);
}
