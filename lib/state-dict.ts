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

import type { CBAMBlockOptions, ECABlockOptions, SEBlockOptions } from './blocks.js';
import { nearestValue, parseObject } from './args.js';
import { torchvisionFamily } from './families.js';
import { bufferOf, byteOffsetOf, describe, isArrayValue, isFloat32Array, isMapValue, isPlainObject, isUnusableView, lengthOf, rangeError, readGuarded, typeError, typedArrayName } from './is.js';
import { MAX_SPATIAL_K, type CBAMWeights } from './ops/cbam.js';
import { MAX_ECA_K, type ECAWeights } from './ops/eca.js';
import type { SEWeights } from './ops/se.js';
import { SafetensorsFile, safetensorsToFloat32, type SafetensorsDType } from './safetensors.js';
import { uncurryThis } from './primordials.js';
import type { Activation, DeviceSelection, Gate } from './types.js';

const fileNames = uncurryThis(SafetensorsFile.prototype.names as () => string[]);
const fileGet = uncurryThis(SafetensorsFile.prototype.get as (name: string) => unknown);

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

/** torch.nn.BatchNorm2d's default eps (1e-5), added to running_var when a BatchNorm is folded; a state dict does not store it. */
export const BATCHNORM_EPS = 1e-5;

/** One tensor of a plain state dict: row-major data of `shape`. */
export interface StateDictTensor {
  /** Dims, e.g. [rd, C, 1, 1] for a 1×1 conv weight; at most 8, non-negative integers. */
  shape: readonly number[];
  /**
   * The elements, row-major, as many as the shape's product: float32 (a Float32Array); or, as
   * readSafetensors returns them, F16/BF16 bits (a Uint16Array, with `dtype` saying which) or F64
   * values (a Float64Array), converted here (F64 rounded to nearest). Anything else is a
   * StateDictError with `check` 'dtype'.
   */
  data: Float32Array | Uint16Array | Float64Array;
  /**
   * safetensors dtype ('F16' or 'BF16'); needed only to tell F16 from BF16 bits (Uint16Array
   * data). Typed so that editors suggest the safetensors names while any string (what a reader
   * of another library gives) still type-checks; a value that does not fit the data is a
   * StateDictError with `check` 'dtype'.
   */
  dtype?: SafetensorsDType | (string & {});
}

/** What fromStateDict reads: readSafetensors' result, a record or a Map of tensors by name. */
export type StateDict = SafetensorsFile | Readonly<Record<string, StateDictTensor>> | ReadonlyMap<string, StateDictTensor>;

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
  bnEps?: number;
  /**
   * Refuse tensors under the prefix that the module does not have (default true), as PyTorch's
   * load_state_dict(strict=True) does: they mean a different module or variant (StateDictError,
   * `check` 'unexpected'). A non-boolean is a TypeError (code 'ERR_INVALID_ARG_TYPE').
   */
  strict?: boolean;
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

/**
 * Which rule a state dict broke (StateDictError.check): 'missing' (a tensor the module needs is
 * absent), 'shape' (a tensor of the wrong shape, or data of the wrong length), 'dtype' (data that
 * is not float32, F16/BF16 bits or F64, or a detached buffer), 'unexpected' (strict: tensors the
 * module does not have), 'unsupported' (a variant this library does not compute).
 */
export type StateDictCheck = 'missing' | 'shape' | 'dtype' | 'unexpected' | 'unsupported';

/**
 * A state dict that does not hold the module asked for. `code` is 'ERR_SQEX_STATE_DICT';
 * `check` names the rule; `tensor` the full tensor name at fault (when one is);
 * `expectedShape` the shape it must have (missing / shape).
 */
export class StateDictError extends Error {
  /** Always 'ERR_SQEX_STATE_DICT'. */
  readonly code = 'ERR_SQEX_STATE_DICT';
  /** The rule broken: see {@link StateDictCheck}. */
  readonly check: StateDictCheck;
  /** The full name of the tensor at fault (e.g. 'layer1.0.se.fc1.weight'), when one is. */
  readonly tensor: string | undefined;
  /** The shape it must have, e.g. '[16, 64, 1, 1]' (checks 'missing' and 'shape'). */
  readonly expectedShape: string | undefined;
  constructor(message: string, check: StateDictCheck, tensor?: string, expectedShape?: string) {
    super(message);
    this.name = 'StateDictError';
    this.check = check;
    this.tensor = tensor;
    this.expectedShape = expectedShape;
  }
}

/** The result of mapping one SE-family module. */
export interface MappedSE {
  op: 'se';
  kind: SEKind;
  /** Float32Arrays for seForward / SEBlock; unfolded ones may be views of the state dict's data. */
  weights: SEWeights;
  /** The kind's default, for the two-FC forms (absent for EffectiveSEModule's single FC). */
  activation?: Activation;
  /** The kind's default gate. */
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
  op: 'eca';
  kind: ECAKind;
  /** `{ weight }`, k elements (a view of the state dict's data when it was float32). */
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
  op: 'cbam';
  kind: CBAMKind;
  /** Float32Arrays for cbamForward / CBAMBlock, the spatial BatchNorm folded into spatialWeight and spatialBias. */
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

const objectKeys = Object.keys;
const mapForEach = Map.prototype.forEach;
const hasOwn = Object.hasOwn;

/** A module's name as the reader uses it: a trailing '.' is ignored. */
function modulePrefix(prefix: string): string {
  return prefix.endsWith('.') ? prefix.slice(0, -1) : prefix;
}

/** A state-dict entry's fields, read once, from own properties only (never Object.prototype's). */
interface Entry {
  /** The shape's dims, copied once (null when it is not an array of dims). */
  shape: number[] | null;
  /** Why shape is null, for the message: e.g. " whose [1] is the number -1". */
  shapeProblem: string;
  /** The shape value as given (for messages only). */
  rawShape: unknown;
  data: unknown;
  dtype: unknown;
}
function entryFields(t: object): Entry {
  const own = (k: string): unknown => (hasOwn(t, k) ? (t as Record<string, unknown>)[k] : undefined);
  const rawShape = own('shape');
  const { dims, problem } = shapeCopy(rawShape);
  return { shape: dims, shapeProblem: problem, rawShape, data: own('data'), dtype: own('dtype') };
}

/** Tensors have at most this many dims here (conv weights: 4). */
const MAX_DIMS = 8;

/** A copy of a shape read once (length, then each element), or null dims and what is wrong. */
function shapeCopy(shape: unknown): { dims: number[] | null; problem: string } {
  if (!isArrayValue(shape)) return { dims: null, problem: '' };
  const n = shape.length;
  if (!(n >= 0 && n <= MAX_DIMS)) return { dims: null, problem: ` (more than ${MAX_DIMS} dims)` };
  const dims: number[] = [];
  for (let i = 0; i < n; i++) {
    const d: unknown = shape[i];
    if (!(typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) return { dims: null, problem: ` whose [${i}] is ${describe(d)}` };
    dims.push(d);
  }
  return { dims, problem: '' };
}

/** A dim of an expected shape: a number, or a name bound by the first tensor that shows it. */
type Dim = number | string;

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Reads the tensors of one module (`prefix.`) from a state dict, checking names and shapes. */
class ModuleReader {
  readonly fn: string;
  readonly prefix: string;
  // The state dict as it was when the call began: names and entries read once (a record's
  // getters, a Map subclass's get), each entry's fields read once on first use.
  private readonly entries = new Map<string, unknown>();
  private readonly fields = new Map<string, Entry | null>();
  readonly used: string[] = [];
  readonly dims = new Map<string, number>();
  /** The kind asked for, for the hints of a 'missing' error. */
  kind: AttentionKind | null = null;

  constructor(fn: string, tensors: unknown, prefix: unknown) {
    this.fn = fn;
    if (typeof prefix !== 'string') throw typeError(fn, 'prefix', "a string: the module's name in the state dict, e.g. 'layer1.0.se' ('' for a module saved alone)", prefix);
    this.prefix = modulePrefix(prefix);
    let form: 'file' | 'map' | 'record' | null;
    try {
      form = tensors instanceof SafetensorsFile ? 'file' : isMapValue(tensors) ? 'map' : isPlainObject(tensors) ? 'record' : null;
    } catch {
      form = null; // a revoked Proxy: instanceof throws
    }
    if (form === 'file') {
      // SafetensorsFile's own names and get, whatever a subclass or the instance overrides (an
      // override returning a non-iterable escaped as V8's uncoded TypeError): they check the
      // fields they read and throw coded errors.
      const names = fileNames(tensors);
      for (let i = 0; i < names.length; i++) this.entries.set(names[i]!, fileGet(tensors, names[i]!));
    } else if (form === 'map') {
      mapForEach.call(tensors, (v: unknown, k: unknown) => {
        if (typeof k === 'string') this.entries.set(k, v);
      });
    } else if (form === 'record') {
      const rec = tensors as Readonly<Record<string, unknown>>;
      const expected = 'a record of { shape, data: Float32Array } by tensor name';
      const keys = readGuarded(fn, 'tensors', expected, rec, () => objectKeys(rec));
      for (let i = 0; i < keys.length; i++) this.entries.set(keys[i]!, readGuarded(fn, 'tensors', expected, rec, () => rec[keys[i]!]));
    } else {
      throw typeError(fn, 'tensors', 'what readSafetensors returns, or a record or Map of { shape, data: Float32Array } by tensor name', tensors);
    }
  }

  private lookup(name: string): unknown {
    return this.entries.get(name);
  }

  /** The entry's fields (read once), or null for an entry that is not an object. */
  private fieldsOf(name: string): Entry | null {
    if (!this.fields.has(name)) {
      const t = this.entries.get(name);
      const fields = typeof t === 'object' && t !== null ? readGuarded(this.fn, `tensors['${name}']`, 'an object { shape, data }', t, () => entryFields(t)) : null;
      this.fields.set(name, fields);
    }
    return this.fields.get(name)!;
  }

  private allNames(): string[] {
    return [...this.entries.keys()];
  }

  full(rel: string): string {
    return this.prefix === '' ? rel : `${this.prefix}.${rel}`;
  }

  /** Names under the prefix (relative), in state-dict order. */
  under(): string[] {
    const p = this.prefix === '' ? '' : `${this.prefix}.`;
    return this.allNames()
      .filter((n) => n.startsWith(p))
      .map((n) => n.slice(p.length));
  }

  has(rel: string): boolean {
    return this.lookup(this.full(rel)) !== undefined;
  }

  shapeOf(rel: string): readonly number[] | undefined {
    // fieldsOf is null for a missing name as for an entry that is not an object.
    const entry = this.fieldsOf(this.full(rel));
    return entry === null ? undefined : (entry.shape ?? undefined);
  }

  private render(pattern: readonly Dim[]): string {
    return `[${pattern.map((d) => (typeof d === 'number' ? String(d) : (this.dims.get(d) ?? d))).join(', ')}]`;
  }

  /** Binds the named dims of the first pattern that matches; null when none does. */
  private match(shape: readonly number[], patterns: readonly (readonly Dim[])[]): boolean {
    for (const p of patterns) {
      if (p.length !== shape.length) continue;
      const bound = new Map<string, number>();
      const ok = p.every((d, i) => {
        const v = shape[i]!;
        if (typeof d === 'number') return v === d;
        const known = this.dims.get(d) ?? bound.get(d);
        if (known !== undefined) return v === known;
        if (!(Number.isSafeInteger(v) && v >= 1)) return false;
        bound.set(d, v);
        return true;
      });
      if (ok) {
        for (const [k, v] of bound) this.dims.set(k, v);
        return true;
      }
    }
    return false;
  }

  /** The tensor `rel` as float32, of one of the shapes in `patterns` (the first is the canonical). */
  get(rel: string, patterns: readonly (readonly Dim[])[], why = ''): Float32Array {
    const r = this.optional(rel, patterns, why);
    if (r === null) {
      const expected = this.render(patterns[0]!);
      const siblings = this.under();
      const where = this.prefix === '' ? 'in the state dict' : `under "${this.prefix}."`;
      const listed = siblings.length === 0 ? `there is no tensor ${where}` : `${where} there are: ${siblings.slice(0, 12).join(', ')}${siblings.length > 12 ? ', …' : ''}`;
      throw new StateDictError(
        `${this.fn}: tensor "${this.full(rel)}" (shape ${expected}${why}) is missing from the state dict; ${listed}.${this.missingHint(rel, siblings)} Check the prefix and kind (\`npx squeeze-excite inspect FILE\` lists the attention blocks of a .safetensors file)`,
        'missing',
        this.full(rel),
        expected,
      );
    }
    return r;
  }

  /**
   * A likelier kind or prefix, from the names alone (' …' or ''): the kinds whose tensor names are
   * under the prefix, when the kind asked for is not one of them (and the block that loads them,
   * when it is another); else the prefix with or without 'module.' (what nn.DataParallel and
   * DistributedDataParallel put before every name), when the missing tensor is there.
   */
  private missingHint(rel: string, siblings: readonly string[]): string {
    const has = (n: string): boolean => siblings.includes(n);
    const kinds: AttentionKind[] = has('channel.fc1.weight') && has('spatial.conv.conv.weight')
      ? ['timm.CbamModule']
      : has('conv_reduce.weight') && has('conv_expand.weight')
        ? ['timm.SqueezeExcite']
        : has('fc1.weight') && has('fc2.weight')
          ? ['timm.SEModule', 'torchvision.SqueezeExcitation']
          : has('fc.weight') && !has('fc1.weight')
            ? ['timm.EffectiveSEModule']
            : has('conv.weight') && siblings.length <= 2
              ? ['timm.EcaModule']
              : [];
    if (kinds.length > 0 && !(this.kind !== null && kinds.includes(this.kind))) {
      const block = ATTENTION_KINDS[kinds[0]!].block;
      const caller = /^(SEBlock|ECABlock|CBAMBlock)\./.exec(this.fn)?.[1];
      const names = kinds.map((k) => `'${k}'`).join(' or ');
      return caller !== undefined && caller !== block
        ? ` These names are those of kind ${names}: load them with ${block}.fromStateDict(tensors, prefix, { kind: '${kinds[0]}' }).`
        : ` These names are those of kind ${names}: pass { kind: '${kinds[0]}' }.`;
    }
    const p = this.prefix;
    const alt = p === 'module' ? '' : p.startsWith('module.') ? p.slice('module.'.length) : p === '' ? 'module' : `module.${p}`;
    const name = alt === '' ? rel : `${alt}.${rel}`;
    if (this.entries.has(name)) {
      const why = alt.startsWith('module') ? " (nn.DataParallel and DistributedDataParallel save every name with 'module.' before it)" : '';
      return ` "${name}" is in the state dict: pass the prefix '${alt}'${why}.`;
    }
    return '';
  }

  optional(rel: string, patterns: readonly (readonly Dim[])[], why = ''): Float32Array | null {
    const name = this.full(rel);
    const t = this.lookup(name);
    if (t === undefined && !this.entries.has(name)) return null;
    this.used.push(name);
    const expected = this.render(patterns[0]!);
    // Every field read once, from own properties; the shape copied, the data seen through the
    // intrinsic TypedArray accessors (a subclass's length or buffer getter is not asked).
    const entry = this.fieldsOf(name);
    if (entry === null) {
      throw new StateDictError(`${this.fn}: tensor "${name}" must be an object { shape, data } of shape ${expected}; received ${describe(t)}`, 'shape', name, expected);
    }
    const alts = patterns.length > 1 ? ` (or ${patterns.slice(1).map((p) => this.render(p)).join(', ')})` : '';
    const shape = entry.shape;
    if (shape === null) {
      const bare = typedArrayName(t) !== undefined ? '. A state dict maps each name to { shape, data }: wrap a bare array as { shape: [...dims], data: value }' : '';
      throw new StateDictError(
        `${this.fn}: tensor "${name}" must have a shape (an array of at most ${MAX_DIMS} non-negative integer dims) ${expected}; received ${describe(entry.rawShape)}${entry.shapeProblem}${bare}`,
        'shape',
        name,
        expected,
      );
    }
    if (!this.match(shape, patterns)) {
      throw new StateDictError(`${this.fn}: tensor "${name}" must have shape ${expected}${alts}${why}; received ${formatShape(shape)}`, 'shape', name, expected);
    }
    // A typed array only (a DataView is a view too, and the intrinsic TypedArray getters throw
    // V8's own TypeError on it: an attack on the published types got that).
    if (typedArrayName(entry.data) !== undefined && isUnusableView(entry.data as ArrayBufferView)) {
      throw new StateDictError(`${this.fn}: tensor "${name}" has data whose buffer was detached (transferred) or shrunk: pass the tensor's data itself`, 'dtype', name);
    }
    const data = toFloat32(entry);
    if (data === null) {
      throw new StateDictError(
        `${this.fn}: tensor "${name}" must hold float32 data (a Float32Array; F16, BF16 and F64 tensors from readSafetensors are converted); received ${entry.dtype !== undefined ? `dtype ${String(entry.dtype)} as ` : ''}${describe(entry.data)}`,
        'dtype',
        name,
      );
    }
    let count = 1;
    for (const d of shape) count *= d;
    if (data.length !== count) {
      throw new StateDictError(`${this.fn}: tensor "${name}" has shape ${formatShape(shape)} (${count} elements) but its data holds ${data.length}`, 'shape', name, formatShape(shape));
    }
    return data;
  }

  /** Marks tensors read without using their values (BatchNorm's num_batches_tracked). */
  skip(rel: string): void {
    if (this.has(rel)) this.used.push(this.full(rel));
  }

  dim(name: string): number {
    return this.dims.get(name)!;
  }

  /** strict: every tensor under the prefix must have been read. */
  finish(strict: boolean, kind: AttentionKind): string[] {
    if (strict) {
      const used = new Set(this.used);
      const extra = this.under().filter((rel) => !used.has(this.full(rel)));
      if (extra.length > 0) {
        const first = this.full(extra[0]!);
        throw new StateDictError(
          `${this.fn}: ${extra.length} tensor${extra.length > 1 ? 's' : ''} ${this.prefix === '' ? 'in the state dict' : `under "${this.prefix}."`} ${extra.length > 1 ? 'are' : 'is'} not part of ${ATTENTION_KINDS[kind].module}: ${extra.slice(0, 8).join(', ')}${extra.length > 8 ? ', …' : ''}. A different module or variant? (pass strict: false to ignore them)`,
          'unexpected',
          first,
        );
      }
    }
    return this.used;
  }
}

/**
 * The entry's data as a plain Float32Array: a Float32Array (or subclass) becomes a plain view of
 * the same memory made with the intrinsic accessors; F64, and F16/BF16 bits, are converted.
 */
function toFloat32(t: Entry): Float32Array | null {
  const data = t.data;
  if (isFloat32Array(data)) return new Float32Array(bufferOf(data), byteOffsetOf(data), lengthOf(data));
  const dtype = t.dtype;
  const tag = typedArrayName(data);
  if (tag === 'Float64Array') return safetensorsToFloat32('F64', data as Float64Array);
  if (tag === 'Uint16Array' && (dtype === 'F16' || dtype === 'BF16')) return safetensorsToFloat32(dtype, data as Uint16Array);
  return null;
}

const conv1x1 = (out: Dim, inp: Dim): Dim[][] => [
  [out, inp, 1, 1],
  [out, inp],
];

/** eval-mode BatchNorm as scale and shift: y = x·scale + shift, in float64; `refuse` names it for foldInto. */
function batchNormAffine(
  r: ModuleReader,
  bn: string,
  width: Dim,
  eps: number,
  what: string,
): { scale: Float64Array; shift: Float64Array; refuse: (detail: string) => never } {
  if (!r.has(`${bn}.running_mean`) || !r.has(`${bn}.running_var`)) {
    throw new StateDictError(
      `${r.fn}: "${r.full(bn)}" has no running_mean / running_var, so it is not an eval-mode BatchNorm2d that can be folded into ${what} (a different norm layer, or track_running_stats=False); this module cannot be loaded`,
      'unsupported',
      r.full(`${bn}.running_mean`),
    );
  }
  const mean = r.get(`${bn}.running_mean`, [[width]]);
  const variance = r.get(`${bn}.running_var`, [[width]]);
  const gamma = r.optional(`${bn}.weight`, [[width]]); // affine=False stores neither weight nor bias
  const beta = r.optional(`${bn}.bias`, [[width]]);
  r.skip(`${bn}.num_batches_tracked`);
  const n = mean.length;
  const scale = new Float64Array(n);
  const shift = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    scale[j] = (gamma ? gamma[j]! : 1) / Math.sqrt(variance[j]! + eps);
    shift[j] = (beta ? beta[j]! : 0) - mean[j]! * scale[j]!;
  }
  const refuse = (detail: string): never => {
    throw new StateDictError(
      `${r.fn}: the eval-mode BatchNorm "${r.full(bn)}" cannot be folded into ${what} exactly: ${detail}. PyTorch applies it after the conv and gets finite values where the folded weights would give ±Inf or NaN (Inf − Inf), so this module is refused rather than computed differently`,
      'unsupported',
      r.full(`${bn}.weight`),
    );
  };
  return { scale, shift, refuse };
}

/**
 * conv (weight [out, ...], bias [out] or none) followed by BatchNorm -> one conv, rounded to float32
 * once. Exact for finite BatchNorms; an infinite scale or shift (γ = ±Inf, running_var + eps = 0) or
 * a folded weight or bias that overflows float32 from finite values is refused (bn.refuse): the
 * folded conv would add ±Inf terms that cancel into NaN where PyTorch's conv-then-BatchNorm stays
 * finite (a parity audit: γ = +Inf gave 128 NaN outputs of 128, PyTorch 8). NaN statistics are not
 * refused: PyTorch's outputs are NaN there too, as the folded ones are.
 */
function foldInto(
  weight: Float32Array,
  bias: Float32Array | null,
  bn: { scale: Float64Array; shift: Float64Array; refuse: (detail: string) => never },
): { weight: Float32Array; bias: Float32Array } {
  const out = bn.scale.length;
  const per = weight.length / out;
  const w = new Float32Array(weight.length);
  const b = new Float32Array(out);
  const infinite = (v: number): boolean => v === Infinity || v === -Infinity;
  for (let o = 0; o < out; o++) {
    const s = bn.scale[o]!;
    if (infinite(s)) bn.refuse(`its scale γ / √(running_var + eps) is ${s} in channel ${o}`);
    if (infinite(bn.shift[o]!)) bn.refuse(`its shift β − running_mean · scale is ${bn.shift[o]} in channel ${o}`);
    for (let i = 0; i < per; i++) {
      const v = weight[o * per + i]!;
      w[o * per + i] = v * s;
      if (infinite(w[o * per + i]!) && !infinite(v)) bn.refuse(`the folded weight ${v} × ${s} overflows float32 in channel ${o}`);
    }
    const v = bias ? bias[o]! : 0;
    b[o] = v * s + bn.shift[o]!;
    if (infinite(b[o]!) && !infinite(v)) bn.refuse(`the folded bias ${v} × ${s} + ${bn.shift[o]} overflows float32 in channel ${o}`);
  }
  return { weight: w, bias: b };
}

/** " (did you mean 'timm.SEModule'?)": a kind equal up to case and separators, within edit distance 2, or named without its library. */
function kindSuggestion(kind: string, kinds: readonly AttentionKind[]): string {
  const near = nearestValue(kind, kinds);
  if (near !== '') return near;
  const lower = kind.toLowerCase();
  const bare = kinds.filter((k) => k.slice(k.indexOf('.') + 1).toLowerCase() === lower);
  return bare.length > 0 ? ` (did you mean ${bare.map((k) => `'${k}'`).join(' or ')}?)` : '';
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
      `an object with at least options.kind, one of ${kinds.map((k) => `'${k}'`).join(', ')} (\`npx squeeze-excite inspect FILE\` prints each module's kind and options)`,
      options,
    );
  }
  // channels is a block option that C, read from the tensor shapes, replaces here.
  const known = ['kind', 'bnEps', 'strict', ...blockKeys.filter((k) => k !== 'channels')];
  const { kind, bnEps, strict, ...rest } = parseObject(fn, 'options', options, known, false, { channels: 'C comes from the tensor shapes' });
  const kindList = `one of ${kinds.map((k) => `'${k}'`).join(', ')}`;
  if (typeof kind !== 'string') throw typeError(fn, 'options.kind', `${kindList} (\`npx squeeze-excite inspect FILE\` prints each module's kind)`, kind);
  if (!kinds.includes(kind as AttentionKind)) {
    const other = Object.hasOwn(ATTENTION_KINDS, kind) ? ` ('${kind}' is loaded by ${ATTENTION_KINDS[kind as AttentionKind].block}.fromStateDict)` : '';
    const e = rangeError(fn, 'options.kind', `${kindList}${other}`, kind);
    if (other === '') e.message += kindSuggestion(kind, kinds);
    throw e;
  }
  if (bnEps !== undefined && typeof bnEps !== 'number') throw typeError(fn, 'options.bnEps', 'a finite number ≥ 0 (the BatchNorm eps, default 1e-5)', bnEps);
  if (bnEps !== undefined && !(Number.isFinite(bnEps) && bnEps >= 0)) {
    throw rangeError(fn, 'options.bnEps', 'a finite number ≥ 0 (the BatchNorm eps, default 1e-5)', bnEps);
  }
  if (strict !== undefined && typeof strict !== 'boolean') throw typeError(fn, 'options.strict', 'a boolean', strict);
  return { kind: kind as AttentionKind, eps: bnEps ?? BATCHNORM_EPS, strict: strict ?? true, rest };
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
  const [n1, n2] = kind === 'timm.SqueezeExcite' ? ['conv_reduce', 'conv_expand'] : ['fc1', 'fc2'];
  const biasRequired = kind !== 'timm.SEModule'; // timm SEModule has bias=False as an option
  let w1 = r.get(`${n1}.weight`, conv1x1('rd', 'C'), ' (rd × C × 1 × 1)');
  let b1: Float32Array | null = biasRequired ? r.get(`${n1}.bias`, [['rd']]) : r.optional(`${n1}.bias`, [['rd']]);
  const w2 = r.get(`${n2}.weight`, conv1x1('C', 'rd'), ' (C × rd × 1 × 1)');
  const b2 = biasRequired ? r.get(`${n2}.bias`, [['C']]) : r.optional(`${n2}.bias`, [['C']]);
  let folded = false;
  if (kind === 'timm.SEModule' && r.under().some((n) => n.startsWith('bn.'))) {
    // SEModule: fc2(act(bn(fc1(z)))): an eval-mode BN on fc1's output folds into fc1 exactly.
    const f = foldInto(w1, b1, batchNormAffine(r, 'bn', 'rd', eps, 'fc1'));
    w1 = f.weight;
    b1 = f.bias;
    folded = true;
  }
  const weights: SEWeights = { w1, w2 };
  if (b1) weights.b1 = b1;
  if (b2) weights.b2 = b2;
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
  if (r.under().some((n) => n.startsWith('spatial.conv.bn.'))) {
    const f = foldInto(sw, sb, batchNormAffine(r, 'spatial.conv.bn', 1, eps, 'the spatial conv'));
    spatialWeight = f.weight;
    spatialBias = f.bias;
    folded = true;
  }
  const weights: CBAMWeights = { w1, w2, spatialWeight };
  if (b1) weights.b1 = b1;
  if (b2) weights.b2 = b2;
  if (spatialBias) weights.spatialBias = spatialBias;
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
 * b' = (b − running_mean)·s + β, in float64 and rounded to float32 once.
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
 *   {@link MappedCBAM}.
 * @throws StateDictError (code 'ERR_SQEX_STATE_DICT', `check` 'missing' | 'shape' | 'dtype' |
 *   'unexpected' | 'unsupported', `tensor`, `expectedShape`) naming the tensor and the shape it
 *   must have; TypeError / RangeError (codes 'ERR_INVALID_ARG_TYPE' / 'ERR_OUT_OF_RANGE', with `argument`) for
 *   bad arguments.
 */
export function attentionWeightsFromStateDict(tensors: StateDict, prefix: string, options: StateDictMapOptions): MappedAttention {
  const fn = 'attentionWeightsFromStateDict';
  const { kind, eps, strict } = parseMapOptions(fn, options, ALL_KINDS, []);
  return mapKind(fn, tensors, prefix, kind, eps, strict);
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
  const missing = Object.keys(hint.options).filter((k) => given[k] === undefined);
  if (missing.length === 0 || familyWarned.has(hint.note)) return;
  familyWarned.add(hint.note);
  const want = missing.map((k) => `${k}: '${hint.options[k]}'`).join(', ');
  process.emitWarning(
    `${fn}: '${prefix}' is ${hint.note}; the block uses the kind's defaults unless options say otherwise: pass { ${want} } (or the default value explicitly, to keep it and silence this warning)`,
    { code: 'SQEX_STATE_DICT_OPTIONS' },
  );
}

/** @internal SEBlock.fromStateDict's mapping: the weights and the block options (defaults under overrides). */
export function seFromStateDict(fn: string, tensors: unknown, prefix: unknown, options: unknown, blockKeys: readonly string[]): { mapped: MappedSE; weights: SEWeights; options: SEBlockOptions } {
  const { kind, eps, strict, rest } = parseMapOptions(fn, options, SE_KINDS, blockKeys);
  const mapped = mapKind(fn, tensors, prefix, kind, eps, strict) as MappedSE;
  if (kind === 'torchvision.SqueezeExcitation') warnFamilyOptions(fn, prefix as string, rest);
  const defaults: Record<string, unknown> = { gate: mapped.gate, channels: mapped.channels };
  if (mapped.activation !== undefined) defaults.activation = mapped.activation;
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
