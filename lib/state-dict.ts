// From a PyTorch state dict (tensor name -> tensor) to the weights and options of one attention
// block: which tensors each timm / torchvision module stores, the shapes they must have, the
// options the checkpoint cannot tell (activation, gate: the module's defaults), and the eval-mode
// BatchNorm folds (timm SEModule's optional `bn`, CbamModule's spatial `ConvNormAct`).
//
// Module sources the names and semantics follow: timm.layers.squeeze_excite (SEModule,
// EffectiveSEModule), timm.models._efficientnet_blocks (SqueezeExcite), timm.layers.eca
// (EcaModule), timm.layers.cbam (CbamModule) with timm.layers.conv_bn_act (ConvNormAct: `conv`,
// then `bn`), torchvision.ops.misc (SqueezeExcitation). scripts/gen_golden.py folds CBAM the
// same way.
//
// This file maps each kind's tensors to weights and block options; the kinds table is
// attention-kinds.ts, the tensor reader state-dict-reader.ts, the BatchNorm folds batchnorm-fold.ts.

import { ATTENTION_KINDS, type AttentionKind, type CBAMKind, type ECAKind, type SEKind } from './attention-kinds.js';
import { BATCHNORM_EPS, batchNormAffine, foldInto } from './batchnorm-fold.js';
import type { CBAMBlockOptions, ECABlockOptions, SEBlockOptions } from './block-options.js';
import { nearestValue, parseEnum, parseObject } from './args.js';
import { ACTIVATIONS, GATES } from './ops/spec.js';
import { torchvisionFamily } from './families.js';
import { rangeError, typeError } from './arg-errors.js';
import { emitWarningSafely } from './errors.js';
import {
  NumberIsFinite,
  ObjectFreeze,
  ObjectHasOwn,
  ObjectKeys,
  SetPrototypeAdd,
  SetPrototypeHas,
  StringPrototypeSlice,
  StringPrototypeToLowerCase,
  defineOwn,
  joinList,
  listAppend,
  listFilter,
  listHas,
  listMap,
  quotedList,
} from './primordials.js';
import { MAX_SPATIAL_K, type CBAMWeights } from './ops/cbam.js';
import { MAX_ECA_K, type ECAWeights } from './ops/eca.js';
import type { SEWeights } from './ops/se.js';
import { ModuleReader, StateDictError, formatShape, modulePrefix, type Dim, type StateDict } from './state-dict-reader.js';
import type { Activation, DeviceSelection, Gate } from './types.js';

export { ATTENTION_KINDS, BATCHNORM_EPS, StateDictError };
export type { AttentionKind, CBAMKind, ECAKind, SEKind };
export type { StateDict, StateDictCheck, StateDictTensor } from './state-dict-reader.js';

/** Options of the mapping itself (an unknown key is a TypeError, code 'ERR_INVALID_ARG_TYPE'). */
export interface StateDictMapOptions<K extends AttentionKind = AttentionKind> {
  /**
   * The module the tensors come from: required; a missing or non-string kind is a TypeError
   * (code 'ERR_INVALID_ARG_TYPE'), another string a RangeError (code 'ERR_OUT_OF_RANGE').
   */
  kind: K;
  /**
   * eps of the BatchNorm layers being folded (not stored in a state dict): a finite number ≥ 0
   * (a non-number is a TypeError, code 'ERR_INVALID_ARG_TYPE'; a negative or non-finite number a
   * RangeError, code 'ERR_OUT_OF_RANGE'), added to running_var; default 1e-5
   * ({@link BATCHNORM_EPS}). Checked but unused where nothing is folded (EcaModule, and SE
   * modules without `bn`).
   */
  bnEps?: number | undefined;
  /**
   * Refuse tensors under the prefix that the module does not have (default true), as PyTorch's
   * load_state_dict(strict=True) does: they mean a different module or variant (StateDictError,
   * `check` 'unexpected'). A non-boolean is a TypeError (code 'ERR_INVALID_ARG_TYPE').
   */
  strict?: boolean | undefined;
}

/**
 * Options of attentionWeightsFromStateDict: the mapping's, and the activation and gate the module
 * computes where they differ from the kind's defaults (a state dict cannot tell them:
 * findAttentionModules' `options` says where the names show them, e.g. torchvision MobileNetV3's
 * `{ gate: 'hardsigmoid' }`); the result's `activation` and `gate` are these when given, except
 * that a result without an activation (timm.EffectiveSEModule's, timm.EcaModule's) has none.
 */
export interface AttentionMapOptions<K extends AttentionKind = AttentionKind> extends StateDictMapOptions<K> {
  /**
   * The hidden activation, 'relu' or 'silu' (another string is a RangeError, code
   * 'ERR_OUT_OF_RANGE'). timm.EcaModule has none (passing it is a RangeError, as for
   * ECABlock.fromStateDict); timm.EffectiveSEModule's single FC has none either, and takes it
   * without using it, as SEBlock does.
   */
  activation?: Activation | undefined;
  /** The gate, 'sigmoid' or 'hardsigmoid' (another string is a RangeError, code 'ERR_OUT_OF_RANGE'). */
  gate?: Gate | undefined;
}

/**
 * Options of SEBlock.fromStateDict: the mapping's, and SEBlockOptions but `channels` (C comes
 * from the shapes: passing it is a RangeError, code 'ERR_OUT_OF_RANGE'), overriding the kind's
 * defaults. `device` and `deviceIndex` as {@link DeviceSelection}.
 */
export type SEFromStateDictOptions = StateDictMapOptions<SEKind> & DeviceSelection & Omit<SEBlockOptions, 'channels' | 'device' | 'deviceIndex'>;
/** Options of ECABlock.fromStateDict: the mapping's and ECABlockOptions (overriding the defaults). */
export type ECAFromStateDictOptions = StateDictMapOptions<ECAKind> & ECABlockOptions;
/** Options of CBAMBlock.fromStateDict: the mapping's and CBAMBlockOptions but `channels`. */
export type CBAMFromStateDictOptions = StateDictMapOptions<CBAMKind> & DeviceSelection & Omit<CBAMBlockOptions, 'channels' | 'device' | 'deviceIndex'>;

/** The result of mapping one SE-family module. */
export interface MappedSE {
  /** 'se': which op the weights are for (seForward, SEBlock); tells the mapped kinds apart. */
  op: 'se';
  /** The kind asked for (options.kind). */
  kind: SEKind;
  /**
   * Float32Arrays for seForward / SEBlock, of their own (copies of the state dict's data, or
   * folded). For SEBlock pass `{ channels }` with them too: w1 and w2 alone (a module without
   * biases) do not fix C. SEBlock.fromStateDict does all this.
   */
  weights: SEWeights;
  /** The kind's default, for the two-FC forms (absent for EffectiveSEModule's single FC). */
  activation?: Activation | undefined;
  /**
   * The kind's default gate. A state dict holds no activations: torchvision's MobileNetV3 SE
   * computes 'hardsigmoid' (and EfficientNet's SE 'silu'), which the block needs as options
   * (SEBlock.fromStateDict warns where the prefix shows the family; findAttentionModules says so).
   */
  gate: Gate;
  /** C, from the shapes. */
  channels: number;
  /** rd, the hidden width; C for the single FC of EffectiveSEModule. */
  hidden: number;
  /** True when a timm `bn` between the FCs was folded into fc1. */
  foldedBatchNorm: boolean;
  /** Full names of the tensors read. */
  tensors: string[];
}
/** The result of mapping a timm EcaModule. */
export interface MappedECA {
  /** 'eca': which op the weights are for (ecaForward, ECABlock); tells the mapped kinds apart. */
  op: 'eca';
  /** The kind asked for (options.kind). */
  kind: ECAKind;
  /** `{ weight }`, k elements (a copy of the state dict's data). */
  weights: ECAWeights;
  /** The kind's default gate ('sigmoid'). */
  gate: Gate;
  /** k, the conv kernel's length (odd). */
  kernelSize: number;
  /** Full names of the tensors read. */
  tensors: string[];
}
/** The result of mapping a timm CbamModule. */
export interface MappedCBAM {
  /** 'cbam': which op the weights are for (cbamForward, CBAMBlock); tells the mapped kinds apart. */
  op: 'cbam';
  /** The kind asked for (options.kind). */
  kind: CBAMKind;
  /**
   * Float32Arrays for cbamForward / CBAMBlock, the spatial BatchNorm folded into spatialWeight and
   * spatialBias. For CBAMBlock pass `{ channels }` with them too: timm's CbamModule has no MLP
   * biases by default, and w1 and w2 alone do not fix C. CBAMBlock.fromStateDict does all this.
   */
  weights: CBAMWeights;
  /** The kind's default activation ('relu'). */
  activation: Activation;
  /** The kind's default gate ('sigmoid'). */
  gate: Gate;
  /** C, from the shapes. */
  channels: number;
  /** rd, the channel MLP's hidden width. */
  hidden: number;
  /** The spatial conv's k. */
  kernelSize: number;
  /** True when the spatial BatchNorm was folded (always, for timm's ConvNormAct). */
  foldedBatchNorm: boolean;
  /** Full names of the tensors read. */
  tensors: string[];
}
/** What attentionWeightsFromStateDict returns: tell the kinds apart by `op`. */
export type MappedAttention = MappedSE | MappedECA | MappedCBAM;

/**
 * What {@link attentionWeightsFromStateDict} returns for kind K: MappedSE for the SE kinds,
 * MappedECA for timm.EcaModule, MappedCBAM for timm.CbamModule; for a K that is a union of kinds
 * (a kind read from findAttentionModules), the union of theirs, narrowed by checking `op`.
 */
export type MappedAttentionOf<K extends AttentionKind> = K extends SEKind ? MappedSE : K extends ECAKind ? MappedECA : K extends CBAMKind ? MappedCBAM : never;

const conv1x1 = (out: Dim, inp: Dim): Dim[][] => [
  [out, inp, 1, 1],
  [out, inp],
];

// Modules a caller may name that no block computes, each with why, by module name in lower case
// (with or without the library). Said instead of a suggestion: 'timm.CecaModule' is one letter from
// 'timm.EcaModule', whose tensors it shares, so the hint led to a block that computes the edge
// channels with zero padding where CecaModule wraps around (a parity check, 2026-12-05: 0.62 vs
// 0.03 on the first channel).
const UNSUPPORTED_KINDS: Readonly<Record<string, string>> = ObjectFreeze({
  cecamodule:
    "timm's CecaModule (ECA with circular padding over the channels) is not supported: EcaModule has the same tensor " +
    'but pads with zeros, so loading this checkpoint as EcaModule would compute different values for the first and last channels',
  lightcbammodule:
    "timm's LightCbamModule is not supported: its spatial conv takes one map (half the channel mean plus half the channel max), " +
    "where CbamModule's takes the two maps",
});

/** Why a kind the caller named is one no block computes, or ''. */
function unsupportedKind(kind: string): string {
  let dot = kind.length;
  while (dot > 0 && kind[dot - 1] !== '.') dot--;
  const name = StringPrototypeToLowerCase(StringPrototypeSlice(kind, dot));
  return ObjectHasOwn(UNSUPPORTED_KINDS, name) ? `: ${UNSUPPORTED_KINDS[name]}` : '';
}

/** " (did you mean 'timm.SEModule'?)": a kind equal up to case and separators, within edit distance 2, or named without its library. */
function kindSuggestion(kind: string, kinds: readonly AttentionKind[]): string {
  const unsupported = unsupportedKind(kind);
  if (unsupported !== '') return unsupported;
  const near = nearestValue(kind, kinds);
  if (near !== '') return near;
  const lower = StringPrototypeToLowerCase(kind);
  const bare = listFilter(kinds, (k) => StringPrototypeToLowerCase(moduleName(k)) === lower);
  return bare.length > 0 ? ` (did you mean ${quotedList(bare, ' or ')}?)` : '';
}

/** 'SEModule' of 'timm.SEModule': what follows the library's name. */
function moduleName(kind: string): string {
  let dot = 0;
  while (dot < kind.length && kind[dot] !== '.') dot++;
  return StringPrototypeSlice(kind, dot + 1);
}

function parseMapOptions(
  fn: string,
  options: unknown,
  kinds: readonly AttentionKind[],
  blockKeys: readonly string[],
): { kind: AttentionKind; eps: number; strict: boolean; rest: Record<string, unknown> } {
  // Own keys, each read once; an unknown key is named (with a did-you-mean) under this function.
  // Options omitted altogether: the one required key is named, with its values and where to find it.
  if (options === undefined) {
    throw typeError(
      fn,
      'options',
      `an object with at least options.kind, one of ${quotedList(kinds, ', ')} (\`npx squeeze-excite inspect FILE\` prints each module's kind and options)`,
      options,
    );
  }
  // channels is a block option that C, read from the tensor shapes, replaces here.
  const known = ['kind', 'bnEps', 'strict'];
  for (let i = 0; i < blockKeys.length; i++) if (blockKeys[i] !== 'channels') listAppend(known, blockKeys[i]!);
  const { kind, bnEps, strict, ...rest } = parseObject(fn, 'options', options, known, false, { channels: 'C comes from the tensor shapes' });
  const kindList = `one of ${quotedList(kinds, ', ')}`;
  if (typeof kind !== 'string') throw typeError(fn, 'options.kind', `${kindList} (\`npx squeeze-excite inspect FILE\` prints each module's kind)`, kind);
  if (!listHas(kinds, kind)) {
    const other = ObjectHasOwn(ATTENTION_KINDS, kind) ? ` ('${kind}' is loaded by ${ATTENTION_KINDS[kind as AttentionKind].block}.fromStateDict)` : '';
    const e = rangeError(fn, 'options.kind', `${kindList}${other}`, kind);
    if (other === '') e.message += kindSuggestion(kind, kinds);
    throw e;
  }
  if (bnEps !== undefined && typeof bnEps !== 'number') throw typeError(fn, 'options.bnEps', 'a finite number ≥ 0 (the BatchNorm eps, default 1e-5)', bnEps);
  if (bnEps !== undefined && !(NumberIsFinite(bnEps) && bnEps >= 0)) {
    throw rangeError(fn, 'options.bnEps', 'a finite number ≥ 0 (the BatchNorm eps, default 1e-5)', bnEps);
  }
  if (strict !== undefined && typeof strict !== 'boolean') throw typeError(fn, 'options.strict', 'a boolean', strict);
  // A block option given as undefined is one left out: it must not replace the kind's default
  // under `{ ...defaults, ...rest }` (activation: undefined made a timm SqueezeExcite's silu relu).
  const given: Record<string, unknown> = {};
  const keys = ObjectKeys(rest);
  // defineOwn, not assignment: a setter on Object.prototype must not swallow an option.
  for (let i = 0; i < keys.length; i++) if (rest[keys[i]!] !== undefined) defineOwn(given, keys[i]!, rest[keys[i]!]);
  return { kind: kind as AttentionKind, eps: bnEps ?? BATCHNORM_EPS, strict: strict ?? true, rest: given };
}

const SE_KINDS: readonly SEKind[] = ['timm.SEModule', 'timm.EffectiveSEModule', 'timm.SqueezeExcite', 'torchvision.SqueezeExcitation'];

function mapSE(r: ModuleReader, kind: SEKind, eps: number, strict: boolean): MappedSE {
  const info = ATTENTION_KINDS[kind];
  if (kind === 'timm.EffectiveSEModule') {
    const w1 = r.get('fc.weight', conv1x1('C', 'C'), ' (C × C × 1 × 1)');
    const b1 = r.get('fc.bias', [['C']]);
    const c = r.dim('C');
    return { op: 'se', kind, weights: { w1, b1 }, gate: info.gate, channels: c, hidden: c, foldedBatchNorm: false, tensors: r.finish(strict, kind) };
  }
  const n1 = kind === 'timm.SqueezeExcite' ? 'conv_reduce' : 'fc1';
  const n2 = kind === 'timm.SqueezeExcite' ? 'conv_expand' : 'fc2';
  const biasRequired = kind !== 'timm.SEModule'; // timm SEModule has bias=False as an option
  let w1 = r.get(`${n1}.weight`, conv1x1('rd', 'C'), ' (rd × C × 1 × 1)');
  let b1: Float32Array | null = biasRequired ? r.get(`${n1}.bias`, [['rd']]) : r.optional(`${n1}.bias`, [['rd']]);
  const w2 = r.get(`${n2}.weight`, conv1x1('C', 'rd'), ' (C × rd × 1 × 1)');
  const b2 = biasRequired ? r.get(`${n2}.bias`, [['C']]) : r.optional(`${n2}.bias`, [['C']]);
  let folded = false;
  if (kind === 'timm.SEModule' && r.hasUnder('bn.')) {
    // SEModule: fc2(act(bn(fc1(z)))): an eval-mode BN on fc1's output folds into fc1 exactly.
    const f = foldInto(w1, b1, batchNormAffine(r, 'bn', 'rd', eps, 'fc1'));
    w1 = f.weight;
    b1 = f.bias;
    folded = true;
  }
  // defineOwn: a setter on Object.prototype must not drop a bias (an attack did, silently).
  const weights: SEWeights = { w1, w2 };
  if (b1) defineOwn(weights, 'b1', b1);
  if (b2) defineOwn(weights, 'b2', b2);
  return {
    op: 'se',
    kind,
    weights,
    activation: info.activation!,
    gate: info.gate,
    channels: r.dim('C'),
    hidden: r.dim('rd'),
    foldedBatchNorm: folded,
    tensors: r.finish(strict, kind),
  };
}

function mapECA(r: ModuleReader, kind: ECAKind, strict: boolean): MappedECA {
  if (r.has('conv2.weight')) {
    throw new StateDictError(
      `${r.fn}: "${r.full('conv2.weight')}" is present: this is timm's EcaModule(use_mlp=True) (a conv → act → conv MLP over the pooled channels), which ECABlock does not compute`,
      'unsupported',
      r.full('conv2.weight'),
    );
  }
  const weight = r.get('conv.weight', [[1, 1, 'k'], ['k']], ' (Conv1d(1, 1, k) weight, k odd)');
  const k = r.dim('k');
  if (k % 2 !== 1) {
    throw new StateDictError(`${r.fn}: tensor "${r.full('conv.weight')}" has k = ${k}; EcaModule's conv has an odd k (padding (k - 1) / 2 keeps C)`, 'shape', r.full('conv.weight'), '[1, 1, k] with k odd');
  }
  if (k > MAX_ECA_K) {
    throw new StateDictError(`${r.fn}: tensor "${r.full('conv.weight')}" has k = ${k}; ECABlock computes k ≤ ${MAX_ECA_K}`, 'unsupported', r.full('conv.weight'), `[1, 1, k] with k ≤ ${MAX_ECA_K}`);
  }
  return { op: 'eca', kind, weights: { weight }, gate: ATTENTION_KINDS[kind].gate, kernelSize: k, tensors: r.finish(strict, kind) };
}

function mapCBAM(r: ModuleReader, kind: CBAMKind, eps: number, strict: boolean): MappedCBAM {
  const info = ATTENTION_KINDS[kind];
  const w1 = r.get('channel.fc1.weight', conv1x1('rd', 'C'), ' (rd × C × 1 × 1)');
  const b1 = r.optional('channel.fc1.bias', [['rd']]); // mlp_bias=False (the default) stores none
  const w2 = r.get('channel.fc2.weight', conv1x1('C', 'rd'), ' (C × rd × 1 × 1)');
  const b2 = r.optional('channel.fc2.bias', [['C']]);
  const convShape = r.shapeOf('spatial.conv.conv.weight');
  if (convShape && convShape.length === 4 && convShape[1] === 1) {
    throw new StateDictError(
      `${r.fn}: "${r.full('spatial.conv.conv.weight')}" has shape ${formatShape(convShape)}: one input map, as in timm's LightCbamModule (avg and max pooled maps summed), which CBAMBlock does not compute; CbamModule's spatial conv takes 2 maps`,
      'unsupported',
      r.full('spatial.conv.conv.weight'),
      '[1, 2, k, k]',
    );
  }
  const sw = r.get('spatial.conv.conv.weight', [[1, 2, 'k', 'k']], ' (the spatial Conv2d(2, 1, k): channel 0 mean map, 1 max map)');
  const k = r.dim('k');
  if (k % 2 !== 1) {
    throw new StateDictError(`${r.fn}: tensor "${r.full('spatial.conv.conv.weight')}" has k = ${k}; the spatial conv must have an odd k`, 'shape', r.full('spatial.conv.conv.weight'), '[1, 2, k, k] with k odd');
  }
  if (k > MAX_SPATIAL_K) {
    throw new StateDictError(`${r.fn}: tensor "${r.full('spatial.conv.conv.weight')}" has k = ${k}; CBAMBlock computes k ≤ ${MAX_SPATIAL_K}`, 'unsupported', r.full('spatial.conv.conv.weight'), `[1, 2, k, k] with k ≤ ${MAX_SPATIAL_K}`);
  }
  const sb = r.optional('spatial.conv.conv.bias', [[1]]);
  let spatialWeight = sw;
  let spatialBias = sb;
  let folded = false;
  if (r.hasUnder('spatial.conv.bn.')) {
    const f = foldInto(sw, sb, batchNormAffine(r, 'spatial.conv.bn', 1, eps, 'the spatial conv'));
    spatialWeight = f.weight;
    spatialBias = f.bias;
    folded = true;
  }
  const weights: CBAMWeights = { w1, w2, spatialWeight };
  if (b1) defineOwn(weights, 'b1', b1);
  if (b2) defineOwn(weights, 'b2', b2);
  if (spatialBias) defineOwn(weights, 'spatialBias', spatialBias);
  return {
    op: 'cbam',
    kind,
    weights,
    activation: info.activation!,
    gate: info.gate,
    channels: r.dim('C'),
    hidden: r.dim('rd'),
    kernelSize: k,
    foldedBatchNorm: folded,
    tensors: r.finish(strict, kind),
  };
}

const ALL_KINDS = Object.keys(ATTENTION_KINDS) as AttentionKind[];

/**
 * Maps one attention module of a PyTorch state dict to this library's weights (Float32Arrays,
 * row-major, as seForward / ecaForward / cbamForward take them) and the module's default
 * options.
 *
 * Tensors read, under `prefix.` (shapes; C channels, rd hidden width, k kernel size, all taken
 * from the shapes; a 1×1 conv weight [a, b, 1, 1] may also be given as [a, b]):
 * - timm.SEModule: fc1.weight [rd, C, 1, 1], fc1.bias [rd]?, bn.* (BatchNorm2d(rd), folded into
 *   fc1)?, fc2.weight [C, rd, 1, 1], fc2.bias [C]?; relu, sigmoid.
 * - timm.EffectiveSEModule: fc.weight [C, C, 1, 1], fc.bias [C]; hardsigmoid.
 * - timm.SqueezeExcite: conv_reduce.weight [rd, C, 1, 1], conv_reduce.bias [rd],
 *   conv_expand.weight [C, rd, 1, 1], conv_expand.bias [C]; silu (EfficientNet's), sigmoid.
 * - torchvision.SqueezeExcitation: fc1.weight, fc1.bias, fc2.weight, fc2.bias; relu, sigmoid.
 * - timm.EcaModule: conv.weight [1, 1, k], k odd; sigmoid. (No tensor tells C.)
 * - timm.CbamModule: channel.fc1.weight, channel.fc1.bias?, channel.fc2.weight,
 *   channel.fc2.bias?, spatial.conv.conv.weight [1, 2, k, k], spatial.conv.bn.* (BatchNorm2d(1),
 *   folded); relu, sigmoid.
 * BatchNorm folding (eval mode): s = γ / sqrt(running_var + eps), W' = W·s per output channel,
 * b' = (b − running_mean)·s + β, in float64 and rounded to float32 once: torch.nn.BatchNorm2d's
 * eval formula y = (x − running_mean) / sqrt(running_var + eps)·γ + β applied to W·x + b, as
 * torch.nn.utils.fusion.fuse_conv_bn_weights folds it.
 *
 * Not visible in a state dict, hence not detected: timm's add_maxpool (SE, ESE), CecaModule's
 * circular padding (same tensors as EcaModule), and non-default activations or gates (pass them
 * to the block as overrides).
 *
 * @param tensors - readSafetensors' result, or a record or Map of {@link StateDictTensor} by name.
 * @param prefix - the module's name in the state dict, e.g. 'layer1.0.se' ('' for a module saved
 *   alone; a trailing '.' is ignored).
 * @param options - see {@link StateDictMapOptions}.
 * @returns the weights and defaults, told apart by `op`: {@link MappedSE}, {@link MappedECA} or
 *   {@link MappedCBAM}; typed by the kind ({@link MappedAttentionOf}): a literal kind gives its
 *   own, a kind typed as a union the union.
 * @throws StateDictError (code 'ERR_SQEX_STATE_DICT', `check` 'missing' | 'shape' | 'dtype' |
 *   'unexpected' | 'unsupported', `tensor`, `expectedShape`) naming the tensor and the shape it
 *   must have; TypeError / RangeError (codes 'ERR_INVALID_ARG_TYPE' / 'ERR_OUT_OF_RANGE', with `argument`) for
 *   bad arguments.
 */
export function attentionWeightsFromStateDict<K extends AttentionKind>(tensors: StateDict, prefix: string, options: AttentionMapOptions<K>): MappedAttentionOf<K> {
  const fn = 'attentionWeightsFromStateDict';
  const { kind, eps, strict, rest } = parseMapOptions(fn, options, ALL_KINDS, ['activation', 'gate']);
  // The overrides checked before any tensor is read: a user's trial spread findAttentionModules'
  // `options` here, and without them the result's gate was the kind's default (1.5% off a
  // MobileNetV3's SE, no warning).
  const gate = rest.gate === undefined ? undefined : parseEnum(fn, 'options.gate', rest.gate, GATES, 'sigmoid');
  const activation = rest.activation === undefined ? undefined : parseEnum(fn, 'options.activation', rest.activation, ACTIVATIONS, 'relu');
  if (activation !== undefined && ATTENTION_KINDS[kind].block === 'ECABlock') {
    throw rangeError(fn, 'options.activation', `absent: ${kind} has no hidden activation`, rest.activation, 'Leave it out');
  }
  const mapped = mapKind(fn, tensors, prefix, kind, eps, strict);
  if (kind === 'torchvision.SqueezeExcitation') warnFamilyOptions(fn, prefix, rest);
  if (gate !== undefined) mapped.gate = gate;
  // A kind without a hidden activation (EffectiveSEModule's single FC) keeps none, as SEBlock ignores it there.
  if (activation !== undefined && mapped.op !== 'eca' && ATTENTION_KINDS[kind].activation !== null) mapped.activation = activation;
  // mapKind maps by the kind parsed from options.kind: the SE kinds to MappedSE, EcaModule to MappedECA, CbamModule to MappedCBAM.
  return mapped as MappedAttentionOf<K>;
}

function mapKind(fn: string, tensors: unknown, prefix: unknown, kind: AttentionKind, eps: number, strict: boolean): MappedAttention {
  const r = new ModuleReader(fn, tensors, prefix);
  r.kind = kind;
  if (kind === 'timm.EcaModule') return mapECA(r, kind, strict);
  if (kind === 'timm.CbamModule') return mapCBAM(r, kind, eps, strict);
  return mapSE(r, kind, eps, strict);
}

const familyWarned = new Set<string>();
/**
 * A state dict holds no activations: a torchvision SqueezeExcitation named as in MobileNetV3
 * (features.N.block.M, gate hardsigmoid) or EfficientNet (features.N.M.block.K, SiLU) loaded
 * without those options computes with the kind's defaults (relu, sigmoid), 0.09 away from
 * torch in a newcomer's MobileNetV3 check. Warns once per family; passing the option, even its
 * default value, silences it.
 */
function warnFamilyOptions(fn: string, prefix: string, given: Readonly<Record<string, unknown>>): void {
  const hint = torchvisionFamily(modulePrefix(prefix));
  if (hint === null) return;
  const missing = listFilter(ObjectKeys(hint.options), (k) => given[k] === undefined);
  if (missing.length === 0 || SetPrototypeHas(familyWarned, hint.note)) return;
  SetPrototypeAdd(familyWarned, hint.note);
  const want = joinList(listMap(missing, (k) => `${k}: '${hint.options[k]}'`), ', ');
  emitWarningSafely(
    `${fn}: '${prefix}' is ${hint.note}; the block uses the kind's defaults unless options say otherwise: pass { ${want} } (or the default value explicitly, to keep it and silence this warning)`,
    'SQEX_STATE_DICT_OPTIONS',
  );
}

/** @internal SEBlock.fromStateDict's mapping: the weights and the block options (defaults under overrides). */
export function seFromStateDict(fn: string, tensors: unknown, prefix: unknown, options: unknown, blockKeys: readonly string[]): { mapped: MappedSE; weights: SEWeights; options: SEBlockOptions } {
  const { kind, eps, strict, rest } = parseMapOptions(fn, options, SE_KINDS, blockKeys);
  const mapped = mapKind(fn, tensors, prefix, kind, eps, strict) as MappedSE;
  if (kind === 'torchvision.SqueezeExcitation') warnFamilyOptions(fn, prefix as string, rest);
  const defaults: Record<string, unknown> = { gate: mapped.gate, channels: mapped.channels };
  if (mapped.activation !== undefined) defineOwn(defaults, 'activation', mapped.activation);
  return { mapped, weights: mapped.weights, options: { ...defaults, ...rest } as SEBlockOptions };
}

/** @internal ECABlock.fromStateDict's mapping. */
export function ecaFromStateDict(fn: string, tensors: unknown, prefix: unknown, options: unknown, blockKeys: readonly string[]): { mapped: MappedECA; weights: ECAWeights; options: ECABlockOptions } {
  const { kind, eps, strict, rest } = parseMapOptions(fn, options, ['timm.EcaModule'], blockKeys);
  const mapped = mapKind(fn, tensors, prefix, kind, eps, strict) as MappedECA;
  return { mapped, weights: mapped.weights, options: { gate: mapped.gate, ...rest } as ECABlockOptions };
}

/** @internal CBAMBlock.fromStateDict's mapping. */
export function cbamFromStateDict(fn: string, tensors: unknown, prefix: unknown, options: unknown, blockKeys: readonly string[]): { mapped: MappedCBAM; weights: CBAMWeights; options: CBAMBlockOptions } {
  const { kind, eps, strict, rest } = parseMapOptions(fn, options, ['timm.CbamModule'], blockKeys);
  const mapped = mapKind(fn, tensors, prefix, kind, eps, strict) as MappedCBAM;
  return {
    mapped,
    weights: mapped.weights,
    options: { activation: mapped.activation, gate: mapped.gate, channels: mapped.channels, ...rest } as CBAMBlockOptions,
  };
}
