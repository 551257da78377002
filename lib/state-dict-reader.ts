// Reading one module's tensors from a state dict (readSafetensors' result, a record or a Map):
// every name and entry read once, shapes matched against the module's patterns with named dims
// (C, rd, k), data taken as float32 through the intrinsic accessors (F16/BF16/F64 converted), and
// a StateDictError naming the tensor and the rule when anything does not fit.

import { allocateArray } from './alloc.js';
import { ATTENTION_KINDS, type AttentionKind } from './attention-kinds.js';
import { readGuarded, typeError, typeErrorText } from './arg-errors.js';
import { STATE_DICT_NAME, editDistance } from './args.js';
import { describe } from './describe.js';
import { isArrayValue, isMapValue, isPlainObject } from './is.js';
import { bufferOf, byteOffsetOf, isFloat32Array, isUnusableView, lengthOf, typedArrayName } from './typed-arrays.js';
import {
  Float32ArrayCtor,
  JSONStringify,
  MapPrototypeForEach,
  MapPrototypeGet,
  MapPrototypeHas,
  MapPrototypeSet,
  NumberIsSafeInteger,
  ObjectHasOwn,
  ObjectKeys,
  RegExpPrototypeExec,
  StringCtor,
  StringPrototypeSlice,
  StringPrototypeEndsWith,
  StringPrototypeIncludes,
  StringPrototypeStartsWith,
  StringPrototypeToLowerCase,
  TypedArrayPrototypeSet,
  defineOwn,
  joinList,
  listAppend,
  listHas,
  listMap,
  listSlice,
  ownValue,
  quotedList,
  uncurryThis,
} from './primordials.js';
import { isSafetensorsDType } from './safetensors-header.js';
import { SafetensorsFile, safetensorsToFloat32, type SafetensorsDType, type SafetensorsTensor } from './safetensors.js';

const fileNames = uncurryThis(SafetensorsFile.prototype.names as () => string[]);
const fileGet = uncurryThis(SafetensorsFile.prototype.get as (name: string) => unknown);

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
   * of another library gives) still type-checks. A label that names another type than the data's
   * (a safetensors name, or torch's and numpy's names such as 'torch.int32' or '<i4') is a
   * StateDictError with `check` 'dtype'; other strings are not read. One exception: a Float32Array
   * may be labelled F16, BF16 or F64 (or their torch/numpy names), the type it was converted from,
   * as readSafetensors(source, { toFloat32: true }) leaves it.
   */
  dtype?: SafetensorsDType | (string & {}) | undefined;
}

/**
 * What fromStateDict reads: readSafetensors' result (or its `tensors`), a record or a Map of
 * tensors by name. A file's tensors of other dtypes (integers, float8) may be there; one the module
 * reads is refused (StateDictError, check 'dtype').
 */
export type StateDict =
  | SafetensorsFile
  | Readonly<Record<string, StateDictTensor | SafetensorsTensor>>
  | ReadonlyMap<string, StateDictTensor | SafetensorsTensor>;

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
  /**
   * Made by the state-dict readers of this package (a caller has no need to make one).
   * @param message - the whole message.
   * @param check - the rule broken ({@link StateDictCheck}), as given (not checked).
   * @param tensor - the full name of the tensor at fault, when one is.
   * @param expectedShape - the shape it must have, e.g. '[16, 64, 1, 1]'.
   */
  constructor(message: string, check: StateDictCheck, tensor?: string, expectedShape?: string) {
    super(message);
    defineOwn(this, 'name', 'StateDictError'); // an accessor on Error.prototype.name must not swallow it
    this.check = check;
    this.tensor = tensor;
    this.expectedShape = expectedShape;
  }
}

/** A module's name as the reader uses it: a trailing '.' is ignored. */
export function modulePrefix(prefix: string): string {
  return prefix.length > 0 && prefix[prefix.length - 1] === '.' ? StringPrototypeSlice(prefix, 0, -1) : prefix;
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
  const rawShape = ownValue(t, 'shape');
  const { dims, problem } = shapeCopy(rawShape);
  return { shape: dims, shapeProblem: problem, rawShape, data: ownValue(t, 'data'), dtype: ownValue(t, 'dtype') };
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
    // A hole would be read through the prototype chain (an attack's getter on Object.prototype['2']
    // gave [1, 1, <hole>] a third dim of 3: an ECA kernel of 3 loaded from it).
    if (!ObjectHasOwn(shape, i)) return { dims: null, problem: ` whose [${i}] is nothing (a hole in the array)` };
    const d: unknown = shape[i];
    if (!(typeof d === 'number' && NumberIsSafeInteger(d) && d >= 0)) return { dims: null, problem: ` whose [${i}] is ${describe(d)}` };
    listAppend(dims, d);
  }
  return { dims, problem: '' };
}

/** A dim of an expected shape: a number, or a name bound by the first tensor that shows it. */
export type Dim = number | string;

export function formatShape(shape: readonly number[]): string {
  return `[${joinList(shape, ', ')}]`;
}

/**
 * Reads the tensors of one module (`prefix.`) from a state dict, checking names and shapes. What
 * decides which tensors are read, folded or refused uses built-ins captured at load
 * (primordials.ts): a caller that replaced Array.prototype.some or filter made a timm SEModule
 * load without its BatchNorm, and the strict check pass (an attack, 2026-12-02).
 */
export class ModuleReader {
  readonly fn: string;
  readonly prefix: string;
  // The state dict as it was when the call began: names and entries read once (a record's
  // getters, a Map subclass's get), each entry's fields read once on first use.
  private readonly entries = new Map<string, unknown>();
  private readonly fields = new Map<string, Entry | null>();
  readonly used: string[] = [];
  readonly dims = new Map<string, number>();
  // Which tensor each dim was taken from, and its shape: a mismatch later may be that tensor's fault.
  private readonly dimSources = new Map<string, string>();
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
      for (let i = 0; i < names.length; i++) MapPrototypeSet(this.entries, names[i]!, fileGet(tensors, names[i]!));
    } else if (form === 'map') {
      MapPrototypeForEach(tensors, (v: unknown, k: unknown) => {
        if (typeof k === 'string') MapPrototypeSet(this.entries, k, v);
      });
    } else if (form === 'record') {
      const rec = tensors as Readonly<Record<string, unknown>>;
      const expected = 'a record of { shape, data: Float32Array } by tensor name';
      const keys = readGuarded(fn, 'tensors', expected, rec, () => ObjectKeys(rec));
      for (let i = 0; i < keys.length; i++) MapPrototypeSet(this.entries, keys[i]!, readGuarded(fn, 'tensors', expected, rec, () => rec[keys[i]!]));
      // A header (what readSafetensorsHeader returns, and findAttentionModules and inspect take) was
      // read as a record of tensors: the error named a missing tensor (a review, 2026-12-04).
      const field = (k: string): unknown => MapPrototypeGet(this.entries, k);
      if (typeof field('headerLength') === 'number' && typeof field('dataStart') === 'number' && typeof field('fileLength') === 'number' && isArrayValue(field('tensors'))) {
        throw typeErrorText(
          fn,
          'tensors',
          'what readSafetensors returns, or a record or Map of { shape, data: Float32Array } by tensor name',
          "a safetensors header (what readSafetensorsHeader returns), which holds no tensor data. Pass readSafetensors(path) instead (its names option reads only the module's tensors)",
        );
      }
    } else {
      // A file's bytes (a Buffer from readFileSync) would otherwise get the typed-array hint.
      const bytes = typedArrayName(tensors) === 'Uint8Array';
      throw typeError(fn, 'tensors', 'what readSafetensors returns, or a record or Map of { shape, data: Float32Array } by tensor name', tensors, bytes ? "For a .safetensors file's bytes, pass readSafetensors(bytes)" : undefined);
    }
  }

  private lookup(name: string): unknown {
    return MapPrototypeGet(this.entries, name);
  }

  /** The entry's fields (read once), or null for an entry that is not an object. */
  private fieldsOf(name: string): Entry | null {
    if (!MapPrototypeHas(this.fields, name)) {
      const t = MapPrototypeGet(this.entries, name);
      const fields = typeof t === 'object' && t !== null ? readGuarded(this.fn, `tensors['${name}']`, 'an object { shape, data }', t, () => entryFields(t)) : null;
      MapPrototypeSet(this.fields, name, fields);
    }
    return MapPrototypeGet(this.fields, name) as Entry | null;
  }

  private allNames(): string[] {
    const names: string[] = [];
    MapPrototypeForEach(this.entries, (_v: unknown, k: unknown) => listAppend(names, k as string));
    return names;
  }

  full(rel: string): string {
    return this.prefix === '' ? rel : `${this.prefix}.${rel}`;
  }

  /** Names under the prefix (relative), in state-dict order. */
  under(): string[] {
    const p = this.prefix === '' ? '' : `${this.prefix}.`;
    const all = this.allNames();
    const rel: string[] = [];
    for (let i = 0; i < all.length; i++) if (StringPrototypeStartsWith(all[i]!, p)) listAppend(rel, StringPrototypeSlice(all[i]!, p.length));
    return rel;
  }

  /** Whether any name under the prefix starts with `relPrefix` (e.g. 'bn.': a BatchNorm to fold). */
  hasUnder(relPrefix: string): boolean {
    const rel = this.under();
    for (let i = 0; i < rel.length; i++) if (StringPrototypeStartsWith(rel[i]!, relPrefix)) return true;
    return false;
  }

  has(rel: string): boolean {
    return this.lookup(this.full(rel)) !== undefined;
  }

  shapeOf(rel: string): readonly number[] | undefined {
    // fieldsOf is null for a missing name as for an entry that is not an object.
    const entry = this.fieldsOf(this.full(rel));
    return entry === null ? undefined : (entry.shape ?? undefined);
  }

  /**
   * For a shape refused against `pattern`: where the named dims it disagrees with were taken from
   * (' …' or ''), since the tensor they came from may be the one that is off.
   */
  private boundFrom(pattern: readonly Dim[], shape: readonly number[]): string {
    let text = '';
    for (let i = 0; i < pattern.length && i < shape.length; i++) {
      const d = pattern[i]!;
      if (typeof d === 'number') continue;
      const known = MapPrototypeGet(this.dims, d) as number | undefined;
      const source = MapPrototypeGet(this.dimSources, d) as string | undefined;
      if (known === undefined || source === undefined || known === shape[i] || StringPrototypeIncludes(text, `${d} = `)) continue;
      text += `${text === '' ? '' : '; '}${d} = ${known} was taken from ${source}`;
    }
    return text === '' ? '' : ` (${text}: if that tensor is the one that is off, fix it instead)`;
  }

  private render(pattern: readonly Dim[]): string {
    let text = '';
    for (let i = 0; i < pattern.length; i++) {
      const d = pattern[i]!;
      text += (i === 0 ? '' : ', ') + (typeof d === 'number' ? StringCtor(d) : StringCtor((MapPrototypeGet(this.dims, d) as number | undefined) ?? d));
    }
    return `[${text}]`;
  }

  /** Binds the named dims of the first pattern that matches (taken from tensor `name`); false when none does. */
  private match(shape: readonly number[], patterns: readonly (readonly Dim[])[], name: string): boolean {
    for (let j = 0; j < patterns.length; j++) {
      const p = patterns[j]!;
      if (p.length !== shape.length) continue;
      const bound = new Map<string, number>();
      let ok = true;
      for (let i = 0; ok && i < p.length; i++) {
        const d = p[i]!;
        const v = shape[i]!;
        if (typeof d === 'number') {
          ok = v === d;
          continue;
        }
        const known = (MapPrototypeGet(this.dims, d) ?? MapPrototypeGet(bound, d)) as number | undefined;
        if (known !== undefined) ok = v === known;
        else if (!(NumberIsSafeInteger(v) && v >= 1)) ok = false;
        else MapPrototypeSet(bound, d, v);
      }
      if (ok) {
        MapPrototypeForEach(bound, (v: unknown, k: unknown) => {
          MapPrototypeSet(this.dims, k, v);
          MapPrototypeSet(this.dimSources, k, `"${name}" ${formatShape(shape)}`);
        });
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
      // BatchNorm step counters are left out of the names shown: safetensors stores int64 tensors
      // first, so a network's first 12 names were all num_batches_tracked (a newcomer's trial).
      const shown: string[] = [];
      for (let i = 0; i < siblings.length; i++) {
        const n = siblings[i]!;
        if (n !== 'num_batches_tracked' && !StringPrototypeEndsWith(n, '.num_batches_tracked')) listAppend(shown, n);
      }
      const names = shown.length > 0 ? shown : siblings;
      const counters = siblings.length - names.length;
      const besides = counters === 0 ? '' : ` (and ${counters} num_batches_tracked)`;
      const listed = siblings.length === 0
        ? `there is no tensor ${where}.`
        : names.length > 12
          ? `${where} there are ${siblings.length} tensors, among them: ${joinList(listSlice(names, 0, 12), ', ')}, and more.`
          : `${where} there are: ${joinList(names, ', ')}${besides}.`;
      throw new StateDictError(
        `${this.fn}: tensor "${this.full(rel)}" (shape ${expected}${why}) is missing from the state dict; ${listed}${this.missingHint(rel, siblings)} Check the prefix and kind (\`npx squeeze-excite inspect FILE\` lists the attention blocks of a .safetensors file)`,
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
    const has = (n: string): boolean => listHas(siblings, n);
    // EffectiveSEModule's fc is square, [C, C, 1, 1] (or [C, C]): a classifier's [classes, C] is not.
    const fc = this.shapeOf('fc.weight');
    const squareFc = fc !== undefined && fc.length >= 2 && fc[0] === fc[1] && (fc.length === 2 || (fc.length === 4 && fc[2] === 1 && fc[3] === 1));
    const kinds: AttentionKind[] = has('channel.fc1.weight') && has('spatial.conv.conv.weight')
      ? ['timm.CbamModule']
      : has('conv_reduce.weight') && has('conv_expand.weight')
        ? ['timm.SqueezeExcite']
        : has('fc1.weight') && has('fc2.weight')
          ? ['timm.SEModule', 'torchvision.SqueezeExcitation']
          // a square fc.weight and fc.bias alone: a whole network's root holds its classifier's fc
          // too (a newcomer's trial: seresnet18 at prefix '' was told EffectiveSEModule), and so
          // may a classifier head's prefix (a review).
          : has('fc.weight') && squareFc && (siblings.length === 1 || (siblings.length === 2 && has('fc.bias')))
            ? ['timm.EffectiveSEModule']
            : has('conv.weight') && siblings.length <= 2
              ? ['timm.EcaModule']
              : [];
    if (kinds.length > 0 && !(this.kind !== null && listHas(kinds, this.kind))) {
      const block = ATTENTION_KINDS[kinds[0]!].block;
      const caller = RegExpPrototypeExec(/^(SEBlock|ECABlock|CBAMBlock)\./, this.fn)?.[1];
      const names = quotedList(kinds, ' or ');
      return caller !== undefined && caller !== block
        ? ` These names are those of kind ${names}: load them with ${block}.fromStateDict(tensors, prefix, { kind: '${kinds[0]}' }).`
        : ` These names are those of kind ${names}: pass { kind: '${kinds[0]}' }.`;
    }
    const p = this.prefix;
    const alt = p === 'module' ? '' : StringPrototypeStartsWith(p, 'module.') ? StringPrototypeSlice(p, 'module.'.length) : p === '' ? 'module' : `module.${p}`;
    const name = alt === '' ? rel : `${alt}.${rel}`;
    if (MapPrototypeHas(this.entries, name)) {
      const why = StringPrototypeStartsWith(alt, 'module') ? " (nn.DataParallel and DistributedDataParallel save every name with 'module.' before it)" : '';
      return ` "${name}" is in the state dict: pass the prefix '${alt}'${why}.`;
    }
    // The prefixes under which the name is (a prefix left out, or the whole dict of a network).
    const tail = `.${rel}`;
    const places: string[] = [];
    for (let i = 0; i < siblings.length; i++) {
      const n = siblings[i]!;
      if (StringPrototypeEndsWith(n, tail)) listAppend(places, this.full(StringPrototypeSlice(n, 0, n.length - tail.length)));
    }
    if (places.length > 0) {
      const shown = joinList(listMap(listSlice(places, 0, 5), (q) => `'${q}'`), ', ');
      return ` "${rel}" is under ${places.length === 1 ? 'the prefix' : `${places.length} prefixes:`} ${shown}${places.length > 5 ? ', …' : ''}: pass ${places.length === 1 ? 'it' : 'one'} as the prefix.`;
    }
    // A misspelling under the prefix: the nearest name within 2 edits whose last part is not one
    // a module's tensor has (fc1.weight is 1 edit from fc2.weight, a name the kind reads later, and
    // from fc1.wieght; only the second is a misspelling).
    let near = '';
    let nearDist = 3;
    for (let i = 0; i < siblings.length; i++) {
      if (RegExpPrototypeExec(STATE_DICT_NAME, `.${siblings[i]!}`) !== null) continue;
      const d = editDistance(siblings[i]!, rel, 2);
      if (d < nearDist) {
        nearDist = d;
        near = siblings[i]!;
      }
    }
    if (near !== '') return ` "${this.full(near)}" is ${nearDist} edit${nearDist === 1 ? '' : 's'} from it: a misspelt name?`;
    return '';
  }

  optional(rel: string, patterns: readonly (readonly Dim[])[], why = ''): Float32Array | null {
    const name = this.full(rel);
    const t = this.lookup(name);
    if (t === undefined && !MapPrototypeHas(this.entries, name)) return null;
    listAppend(this.used, name);
    const expected = this.render(patterns[0]!);
    // Every field read once, from own properties; the shape copied, the data seen through the
    // intrinsic TypedArray accessors (a subclass's length or buffer getter is not asked).
    const entry = this.fieldsOf(name);
    if (entry === null) {
      throw new StateDictError(`${this.fn}: tensor "${name}" must be an object { shape, data } of shape ${expected}; received ${describe(t)}`, 'shape', name, expected);
    }
    const alts = patterns.length > 1 ? ` (or ${joinList(listMap(listSlice(patterns, 1), (p) => this.render(p)), ', ')})` : '';
    const shape = entry.shape;
    if (shape === null) {
      const bare = typedArrayName(t) !== undefined
        ? '. A state dict maps each name to { shape, data }: wrap a bare array as { shape: [...dims], data: value }'
        : isArrayValue(t)
          ? ". A state dict maps each name to { shape, data }: an Array of numbers is { shape: [...dims], data: Float32Array.from(value) }, a nested one (PyTorch's .tolist()) { shape: [...dims], data: Float32Array.from(value.flat(Infinity)) }"
          : '';
      throw new StateDictError(
        `${this.fn}: tensor "${name}" must have a shape (an array of at most ${MAX_DIMS} non-negative integer dims) ${expected}; received ${describe(entry.rawShape)}${entry.shapeProblem}${bare}`,
        'shape',
        name,
        expected,
      );
    }
    if (!this.match(shape, patterns, name)) {
      throw new StateDictError(`${this.fn}: tensor "${name}" must have shape ${expected}${alts}${why}; received ${formatShape(shape)}${this.boundFrom(patterns[0]!, shape)}`, 'shape', name, expected);
    }
    // A typed array only (a DataView is a view too, and the intrinsic TypedArray getters throw
    // V8's own TypeError on it: an attack on the published types got that).
    if (typedArrayName(entry.data) !== undefined && isUnusableView(entry.data as ArrayBufferView)) {
      throw new StateDictError(`${this.fn}: tensor "${name}" has data whose buffer was detached (transferred) or shrunk: pass the tensor's data itself`, 'dtype', name);
    }
    const data = toFloat32(entry);
    if (data === null) {
      // Float data refused only for its label; other data for its type.
      const own = isFloat32Array(entry.data) ? 'F32' : typedArrayName(entry.data) === 'Float64Array' ? 'F64' : null;
      if (own !== null) {
        throw new StateDictError(
          `${this.fn}: tensor "${name}" has dtype ${JSONStringify(entry.dtype)}, which does not fit its data, ${describe(entry.data)} (${own}): give the dtype of the data (or omit dtype), or data of that dtype (F16/BF16 as bits in a Uint16Array)`,
          'dtype',
          name,
        );
      }
      throw new StateDictError(
        `${this.fn}: tensor "${name}" must hold float32 data (a Float32Array; F16, BF16 and F64 tensors from readSafetensors are converted); received ${entry.dtype !== undefined ? `dtype ${StringCtor(entry.dtype)} as ` : ''}${describe(entry.data)}${typedArrayName(entry.data) === 'Uint16Array' ? ". Half-precision bits in a Uint16Array need dtype 'F16' or 'BF16' (or 'torch.float16' / 'torch.bfloat16')" : ''}`,
        'dtype',
        name,
      );
    }
    let count = 1;
    for (let i = 0; i < shape.length; i++) count *= shape[i]!;
    const held = lengthOf(data);
    if (held !== count) {
      throw new StateDictError(`${this.fn}: tensor "${name}" has shape ${formatShape(shape)} (${count} elements) but its data holds ${held}`, 'shape', name, formatShape(shape));
    }
    return data;
  }

  /** Marks tensors read without using their values (BatchNorm's num_batches_tracked). */
  skip(rel: string): void {
    if (this.has(rel)) listAppend(this.used, this.full(rel));
  }

  dim(name: string): number {
    return MapPrototypeGet(this.dims, name) as number;
  }

  /** strict: every tensor under the prefix must have been read. */
  finish(strict: boolean, kind: AttentionKind): string[] {
    if (strict) {
      const rel = this.under();
      const extra: string[] = [];
      for (let i = 0; i < rel.length; i++) if (!listHas(this.used, this.full(rel[i]!))) listAppend(extra, rel[i]!);
      if (extra.length > 0) {
        const first = this.full(extra[0]!);
        throw new StateDictError(
          `${this.fn}: ${extra.length} tensor${extra.length > 1 ? 's' : ''} ${this.prefix === '' ? 'in the state dict' : `under "${this.prefix}."`} ${extra.length > 1 ? 'are' : 'is'} not part of ${ATTENTION_KINDS[kind].module}: ${joinList(listSlice(extra, 0, 8), ', ')}${extra.length > 8 ? ', …' : ''}. A different module or variant? (pass strict: false to ignore them)`,
          'unexpected',
          first,
        );
      }
    }
    return this.used;
  }
}

/**
 * dtype names other libraries print (torch, numpy, and the short forms people write), as
 * safetensors names: floats, and the integer and bool types, which never fit float data.
 */
const DTYPE_LABELS: Readonly<Record<string, string>> = {
  float32: 'F32', float: 'F32', fp32: 'F32', f32: 'F32',
  float16: 'F16', half: 'F16', fp16: 'F16', f16: 'F16',
  bfloat16: 'BF16', bf16: 'BF16',
  float64: 'F64', double: 'F64', fp64: 'F64', f64: 'F64',
  int8: 'I8', uint8: 'U8', int16: 'I16', short: 'I16', uint16: 'U16', int32: 'I32', int: 'I32', uint32: 'U32',
  int64: 'I64', long: 'I64', uint64: 'U64', bool: 'BOOL', complex64: 'C64',
  float8_e4m3fn: 'F8_E4M3', float8_e5m2: 'F8_E5M2', float8_e4m3fnuz: 'F8_E4M3FNUZ', float8_e5m2fnuz: 'F8_E5M2FNUZ',
};

/**
 * The safetensors dtype a label names: the format's own names ('F16'), torch's and numpy's names
 * ('torch.float16', 'float32', 'half', 'int32'), and numpy's codes ('<f4', 'f2', 'e'); null for a
 * label this cannot read (accepted, as the data's own type decides).
 */
/** numpy's one-character type codes (`arr.dtype.char`), case-sensitive. */
const NUMPY_CHARS: Readonly<Record<string, string>> = {
  e: 'F16', f: 'F32', d: 'F64', '?': 'BOOL', b: 'I8', B: 'U8', h: 'I16', H: 'U16', i: 'I32', I: 'U32',
  l: 'I64', L: 'U64', q: 'I64', Q: 'U64', F: 'C64', D: 'C128',
};
/** numpy's kind and size (`arr.dtype.str` without its byte order), e.g. 'f4', 'u1', 'c8'. */
const NUMPY_KINDS: Readonly<Record<string, string>> = {
  f2: 'F16', f4: 'F32', f8: 'F64', b1: 'BOOL', i1: 'I8', u1: 'U8', i2: 'I16', u2: 'U16', i4: 'I32', u4: 'U32',
  i8: 'I64', u8: 'U64', c8: 'C64', c16: 'C128',
};

function dtypeName(label: unknown): string | null {
  if (typeof label !== 'string') return null;
  if (isSafetensorsDType(label)) return label;
  if (ObjectHasOwn(NUMPY_CHARS, label)) return NUMPY_CHARS[label]!;
  // numpy's dtype.str: a byte order ('<' little, '>' big, '|' not applicable, '=' native), then
  // kind and size. Big-endian data never fits a typed array of this machine's order.
  const order = StringPrototypeSlice(label, 0, 1);
  if (order === '<' || order === '>' || order === '|' || order === '=') {
    const kind = StringPrototypeSlice(label, 1);
    if (ObjectHasOwn(NUMPY_KINDS, kind)) return order === '>' && kind !== 'b1' && kind !== 'i1' && kind !== 'u1' ? `big-endian ${NUMPY_KINDS[kind]!}` : NUMPY_KINDS[kind]!;
    return null;
  }
  if (ObjectHasOwn(NUMPY_KINDS, label)) return NUMPY_KINDS[label]!;
  // Captured built-ins: the label is the caller's string, and this decides whether data is read.
  const l = StringPrototypeToLowerCase(label);
  const head = StringPrototypeSlice(l, 0, 6);
  const bare = head === 'torch.' || head === 'numpy.' ? StringPrototypeSlice(l, 6) : l;
  return ObjectHasOwn(DTYPE_LABELS, bare) ? DTYPE_LABELS[bare]! : null;
}

/**
 * The entry's data as a plain Float32Array of its own: a Float32Array (or subclass) is copied
 * through the intrinsic accessors, F64 and F16/BF16 bits are converted. A copy, not a view: the
 * getters of the entries read after this one are the caller's code, and one that detached or
 * shrank this entry's buffer left its checked data empty (an attack: a BatchNorm folded into NaN
 * weights, an SE w1 of length 0, with no error).
 * A Float32Array labelled F16, BF16 or F64 is data converted from that type, as
 * readSafetensors(source, { toFloat32: true }) returns it (the label stays the file's type).
 */
function toFloat32(t: Entry): Float32Array | null {
  const data = t.data;
  const dtype = t.dtype;
  const named = dtypeName(dtype);
  if (isFloat32Array(data)) {
    const fits = named === null || named === 'F32' || named === 'F16' || named === 'BF16' || named === 'F64';
    if (!fits) return null;
    const copy = allocateArray(Float32ArrayCtor, lengthOf(data), 'a float32 copy of a tensor');
    TypedArrayPrototypeSet(copy, new Float32ArrayCtor(bufferOf(data), byteOffsetOf(data), lengthOf(data)));
    return copy;
  }
  const tag = typedArrayName(data);
  if (tag === 'Float64Array') return named === null || named === 'F64' ? safetensorsToFloat32('F64', data as Float64Array) : null;
  if (tag === 'Uint16Array' && (named === 'F16' || named === 'BF16')) return safetensorsToFloat32(named, data as Uint16Array);
  return null;
}
