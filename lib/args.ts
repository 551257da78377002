// Checks of scalar arguments: shapes, enum strings, option objects, indices, streams.

import type { Shape4 } from './types.js';
import { rangeError, rangeErrorText, readGuarded, typeError, unreadableError } from './arg-errors.js';
import { describe, formatShape } from './describe.js';
import { isArrayValue, isPlainObject } from './is.js';
import { MAX_ELEMENTS, MAX_U64 } from './typed-arrays.js';

import {
  Int32ArrayCtor,
  JSONStringify,
  MathAbs,
  MathMax,
  MathMin,
  NumberIsInteger as isInteger,
  ObjectCreate,
  ObjectFreeze,
  ObjectGetOwnPropertyNames as ownStringKeys,
  ObjectHasOwn,
  ObjectPrototypePropertyIsEnumerable,
  RegExpPrototypeExec,
  StringPrototypeStartsWith,
  StringPrototypeToLowerCase,
  joinList,
  listHas,
} from './primordials.js';

export const SHAPE_EXPECTED = 'an array of 4 integers [N, C, H, W] (N ≥ 0; C, H, W ≥ 1)';
const AXES = ['N', 'C', 'H', 'W'] as const;

function axisName(arg: string, i: number): string {
  return `${arg}[${i}] (${AXES[i]})`;
}

/**
 * A frozen copy of a valid [N, C, H, W]; N·C·H·W must be at most 2^31 − 1. N may be 0 (an empty
 * batch, as PyTorch allows: the ops then return an empty result and run nothing); C, H and W are
 * at least 1 (PyTorch refuses an empty channel or spatial axis in these blocks' pooling). Each
 * element is read exactly once (a getter cannot answer the check and the use differently):
 * callers use the copy.
 */
export function parseShape(fn: string, arg: string, value: unknown): Shape4 {
  if (!isArrayValue(value)) throw typeError(fn, arg, SHAPE_EXPECTED, value);
  // An array literal: its elements are own properties from the start, so storing into them runs
  // no setter a caller put on Array.prototype (push would run a patched push).
  const raw: unknown[] = [undefined, undefined, undefined, undefined];
  let length: unknown;
  try {
    // A Proxy's traps or an element's getter may throw: that is a coded TypeError naming the
    // argument, as for options and weights (readGuarded), not the caller's bare error.
    length = value.length;
    // A hole ([2, 8, 4, , ]) is not read through Array.prototype, where a caller's index
    // property would fill it (an attack: Array.prototype[3] = 4 made such a shape pass).
    if (length === 4) for (let i = 0; i < 4; i++) raw[i] = ObjectHasOwn(value, i) ? value[i] : undefined;
  } catch (cause) {
    throw unreadableError(fn, arg, SHAPE_EXPECTED, value, cause);
  }
  if (length !== 4) throw rangeError(fn, arg, SHAPE_EXPECTED, value);
  const dims: number[] = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) {
    const d = raw[i];
    // Messages are built only on failure: this runs on every call.
    const least = i === 0 ? 0 : 1;
    if (typeof d !== 'number') throw typeError(fn, axisName(arg, i), axisExpected(i), d);
    if (!isInteger(d) || d < least) throw rangeError(fn, axisName(arg, i), axisExpected(i), d);
    if (d > MAX_ELEMENTS) throw rangeError(fn, axisName(arg, i), `${axisExpected(i)} at most ${MAX_ELEMENTS}`, d);
    dims[i] = d === 0 ? 0 : d; // -0 as 0: the copy is what callers see (a result's shape, byteLength)
  }
  const numel = dims[0]! * dims[1]! * dims[2]! * dims[3]!;
  if (numel > MAX_ELEMENTS) {
    throw rangeErrorText(
      fn,
      arg,
      `${SHAPE_EXPECTED} with at most ${MAX_ELEMENTS} (2^31 − 1) elements per tensor`,
      `${formatShape(dims)} = ${numel} elements`,
    );
  }
  return ObjectFreeze([dims[0]!, dims[1]!, dims[2]!, dims[3]!] as const);
}

function axisExpected(i: number): string {
  return i === 0 ? 'a non-negative integer (0 for an empty batch)' : 'a positive integer';
}

export function numelOf(shape: Shape4): number {
  return shape[0] * shape[1] * shape[2] * shape[3];
}

function quoteList(allowed: readonly string[]): string {
  let text = '';
  for (let i = 0; i < allowed.length; i++) text += `${i === 0 ? '' : ', '}'${allowed[i]!}'`;
  return text;
}

/** An enum string; undefined gives the default. */
export function parseEnum<T extends string>(fn: string, arg: string, value: unknown, allowed: readonly T[], dflt: T): T {
  if (value === undefined) return dflt;
  if (typeof value !== 'string') throw typeError(fn, arg, `one of ${quoteList(allowed)}`, value);
  if (!listHas(allowed, value)) {
    const e = rangeError(fn, arg, `one of ${quoteList(allowed)}`, value);
    e.message += nearestValue(value, allowed);
    throw e;
  }
  return value as T;
}

// Other names the field uses for an allowed value (PyTorch's, TensorFlow's, the papers'), folded as
// nearestValue folds: 'gpu' is nearer 'cpu' by spelling but means 'cuda'.
const VALUE_SYNONYMS = ObjectFreeze({
  __proto__: null,
  gpu: 'cuda',
  nvidia: 'cuda',
  channelslast: 'NHWC',
  channelsfirst: 'NCHW',
  swish: 'silu',
  hsigmoid: 'hardsigmoid', // timm's and MobileNetV3's short name
}) as unknown as Readonly<Record<string, string | undefined>>;

// Activations of their own, one or two letters from an allowed value ('gelu' from 'relu', 'selu',
// 'elu'): told that they are not supported instead of a suggestion that would compute another
// function without an error (as 'timm.CecaModule' got 'timm.EcaModule': a parity check, 2026-12-05).
const OTHER_FUNCTIONS = ObjectFreeze({
  __proto__: null,
  gelu: true,
  gelutanh: true,
  quickgelu: true,
  selu: true,
  elu: true,
  celu: true,
  relu6: true,
  leakyrelu: true,
  prelu: true,
  tanh: true,
  hardtanh: true,
  hardswish: true,
  hswish: true,
  mish: true,
  softplus: true,
}) as unknown as Readonly<Record<string, true | undefined>>;

/**
 * " (did you mean 'hardsigmoid'?)" for a value equal to an allowed one up to case, '-' and '_',
 * another name for one ('gpu' for 'cuda', 'channels_last' for 'NHWC', 'swish' for 'silu'), or
 * within edit distance 2 of one; 'cuda:1' also points to options.deviceIndex.
 */
export function nearestValue(value: string, allowed: readonly string[]): string {
  const fold = (v: string): string => {
    const lower = StringPrototypeToLowerCase(v);
    let text = '';
    for (let i = 0; i < lower.length; i++) if (lower[i] !== '-' && lower[i] !== '_' && lower[i] !== ' ') text += lower[i]!;
    return text;
  };
  const folded = fold(value);
  for (let i = 0; i < allowed.length; i++) {
    const a = allowed[i]!;
    if (fold(a) === folded) return ` (did you mean '${a}'?)`;
  }
  // only where functions are asked for (activation, gate, outputActivation), not for a layout or device
  if (OTHER_FUNCTIONS[folded] === true && (listHas(allowed, 'relu') || listHas(allowed, 'sigmoid'))) {
    return ` ('${value}' is another function, which this library does not compute)`;
  }
  const synonym = VALUE_SYNONYMS[folded];
  if (synonym !== undefined && listHas(allowed, synonym)) return ` (did you mean '${synonym}'?)`;
  // PyTorch's 'cuda:1': the index is an option of its own here.
  const indexed = RegExpPrototypeExec(/^(cuda|gpu):(\d+)$/, folded);
  if (indexed !== null && listHas(allowed, 'cuda')) return ` (did you mean 'cuda' with options.deviceIndex ${indexed[2]}?)`;
  return didYouMean(value, allowed);
}

// Null-prototype, as every copy parseObject returns: a key set on a polluted Object.prototype
// must not read as an option when the caller passed none.
const EMPTY: Readonly<Record<string, unknown>> = ObjectFreeze(ObjectCreate(null) as Record<string, unknown>);

/**
 * An options (or weights) object, snapshotted: undefined gives {}; anything but a plain object
 * is a TypeError, and so is an own key outside `known` (a misspelt option would otherwise be
 * silently ignored; a non-enumerable unknown key, a framework's, is passed over). Returns a
 * null-prototype copy in which every own known key (enumerable or not) was read exactly once,
 * so a getter cannot pass the checks with one value and run with another, and keys inherited
 * from a polluted Object.prototype are never seen. (Internal: the copy is never handed back to
 * user code.)
 */
export function parseObject(
  fn: string,
  arg: string,
  value: unknown,
  known: readonly string[],
  optional: boolean,
  refused?: Readonly<Record<string, string>>,
): Readonly<Record<string, unknown>> {
  if (value === undefined && optional) return EMPTY;
  const expected = (): string =>
    `${optional ? 'undefined or ' : ''}a plain object with only the ${known.length === 1 ? 'key' : 'keys'} ${joinList(known, ', ')}`;
  if (!isPlainObject(value)) throw typeError(fn, arg, expected(), value);
  const copy = ObjectCreate(null) as Record<string, unknown>;
  // Every own string key, enumerable or not, read once: Object.keys skipped one defined with
  // Object.defineProperty, so a non-enumerable `out` was ignored (an attack, 2026-12-04). An
  // unknown key is refused only when enumerable: frameworks hide their own on the objects they
  // hold (Vue 2's __ob__, Vue 3's __v_skip), which console.log does not show either (a review).
  const keys = readGuarded(fn, arg, expected, value, () => ownStringKeys(value));
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k]!;
    let isKnown = false;
    for (let i = 0; i < known.length; i++) if (known[i] === key) isKnown = true;
    if (!isKnown && !readGuarded(fn, arg, expected, value, () => ObjectPrototypePropertyIsEnumerable(value, key))) continue;
    // A key this call refuses for a stated reason (e.g. a value that comes from elsewhere).
    if (!isKnown && refused !== undefined && ObjectHasOwn(refused, key)) {
      throw rangeError(fn, `${arg}.${key}`, `absent: ${refused[key]}`, (value as Record<string, unknown>)[key]);
    }
    if (!isKnown) {
      const e = typeError(fn, arg, expected(), value);
      let hint = arg === 'weights' ? stateDictNameHint(key, known) : '';
      if (hint === '' && arg === 'weights') hint = otherOpWeightHint(key, known);
      if (hint === '') hint = didYouMean(key, known);
      e.message = `${fn}: ${arg} must be ${expected()}; received ${describe(value)} with the unknown key ${JSONStringify(key)}${hint}`;
      throw e;
    }
    // A getter that throws is refused as the argument it reads (its error the cause), as the
    // keys' own read is: the caller's bare Error escaped without a code (an attack).
    copy[key] = readGuarded(fn, `${arg}.${key}`, 'a readable property', value, () => (value as Record<string, unknown>)[key]);
  }
  return copy;
}

/** " (did you mean 'layout'?)" for a key within edit distance 2 of a known one. */
// PyTorch state-dict names (timm, torchvision; after any module prefix) and the weights key each
// one is. timm's EffectiveSEModule 'fc.weight' is left out: it is w2 of a one-FC SE, a mapping
// that fromStateDict makes with its shape check.
const STATE_DICT_NAMES: readonly (readonly [RegExp, string])[] = [
  [/(^|\.)(fc1|conv_reduce)\.weight$/, 'w1'],
  [/(^|\.)(fc1|conv_reduce)\.bias$/, 'b1'],
  [/(^|\.)(fc2|conv_expand)\.weight$/, 'w2'],
  [/(^|\.)(fc2|conv_expand)\.bias$/, 'b2'],
  [/(^|\.)spatial\.conv(\.conv)?\.weight$/, 'spatialWeight'],
  [/(^|\.)spatial\.conv(\.conv)?\.bias$/, 'spatialBias'],
  [/(^|\.)conv\.weight$/, 'weight'],
];

/**
 * Any other name a state dict holds (readSafetensors(file).tensors passed as the weights: its
 * first key is often a BatchNorm's or another layer's); also what state-dict-reader.ts's hints
 * tell from a misspelling.
 */
export const STATE_DICT_NAME = /\.(weight|bias|running_mean|running_var|num_batches_tracked)$/;

/** For a weights key that is a PyTorch state-dict name: which key it is here, and the loaders; else ''. */
function stateDictNameHint(key: string, known: readonly string[]): string {
  const loaders = 'a whole state dict maps with SEBlock/ECABlock/CBAMBlock.fromStateDict or attentionWeightsFromStateDict';
  for (let i = 0; i < STATE_DICT_NAMES.length; i++) {
    const entry = STATE_DICT_NAMES[i]!;
    if (RegExpPrototypeExec(entry[0], key) !== null && listHas(known, entry[1])) return ` (PyTorch's ${JSONStringify(key)} is '${entry[1]}' here; ${loaders})`;
  }
  if (RegExpPrototypeExec(STATE_DICT_NAME, key) !== null) {
    return ` (a PyTorch state-dict name: ${loaders}, given the module's prefix; \`npx squeeze-excite inspect FILE\` lists the prefixes of a .safetensors file)`;
  }
  return '';
}

// The ops' weight keys, for a key that belongs to another op (the ops' weights interfaces).
const OP_WEIGHT_KEYS: readonly (readonly [string, string])[] = [
  ['w1', 'an SE or CBAM weight (seForward / SEBlock, cbamForward / CBAMBlock)'],
  ['b1', 'an SE or CBAM bias (seForward / SEBlock, cbamForward / CBAMBlock)'],
  ['w2', 'an SE or CBAM weight (seForward / SEBlock, cbamForward / CBAMBlock)'],
  ['b2', 'an SE or CBAM bias (seForward / SEBlock, cbamForward / CBAMBlock)'],
  ['weight', "ECA's conv weight, its k taps (ecaForward / ECABlock)"],
  ['spatialWeight', "CBAM's spatial-gate conv weight (cbamForward / CBAMBlock)"],
  ['spatialBias', "CBAM's spatial-gate conv bias (cbamForward / CBAMBlock)"],
];

/** For a weights key of another op: whose it is and what this op takes; else ''. */
function otherOpWeightHint(key: string, known: readonly string[]): string {
  for (let i = 0; i < OP_WEIGHT_KEYS.length; i++) {
    const entry = OP_WEIGHT_KEYS[i]!; // indexed, not destructured: no iterator a caller could replace
    if (entry[0] === key && !listHas(known, key)) return ` (${key} is ${entry[1]}; this one takes { ${joinList(known, ', ')} })`;
  }
  return '';
}

/**
 * " (did you mean 'layout'?)" for a key within edit distance 2 of a known one, or a prefix of
 * exactly one known key ({ w } for ECA's 'weight').
 */
function didYouMean(key: string, known: readonly string[]): string {
  if (key.length > 0) {
    const lower = StringPrototypeToLowerCase(key);
    let only: string | undefined;
    let count = 0;
    for (let i = 0; i < known.length; i++) {
      if (StringPrototypeStartsWith(StringPrototypeToLowerCase(known[i]!), lower)) {
        only = known[i];
        count++;
      }
    }
    if (count === 1 && only !== key) return ` (did you mean '${only}'?)`;
  }
  let best: string | undefined;
  let bestDist = 3;
  for (let i = 0; i < known.length; i++) {
    const k = known[i]!;
    const d = editDistance(StringPrototypeToLowerCase(key), StringPrototypeToLowerCase(k));
    if (d < bestDist) {
      bestDist = d;
      best = k;
    }
  }
  return best === undefined ? '' : ` (did you mean '${best}'?)`;
}

/**
 * Optimal string alignment distance: Levenshtein's insertions, deletions and substitutions, plus a
 * swap of two adjacent characters, each counting 1 (Damerau's transposition, without editing a
 * swapped pair again): 'NWHC' is 1 from 'NHWC' and 2 from 'NCHW'. With `limit`, exact up to it and
 * limit + 1 for anything further: only the band |i − j| ≤ limit is computed (a path outside it
 * costs more), and the work stops once a row exceeds it (every later cell does too), so a
 * search among many long names costs O(length · limit) a name, not O(length²) (a review: 500
 * names of 1,000 characters took 4 s).
 */
export function editDistance(a: string, b: string, limit = Infinity): number {
  const la = a.length, lb = b.length;
  const cap = MathMin(limit, MathMax(la, lb));
  const big = cap + 1;
  if (MathAbs(la - lb) > cap) return big;
  // Typed arrays: storing into an element never consults a prototype (an Array's new index would
  // run a setter a caller put on Array.prototype). Rows i - 2, i - 1 and i; outside the band, big.
  let before = new Int32ArrayCtor(lb + 1);
  let prev = new Int32ArrayCtor(lb + 1);
  let row = new Int32ArrayCtor(lb + 1);
  for (let j = 0; j <= lb; j++) {
    before[j] = big;
    prev[j] = j <= cap ? j : big;
    row[j] = big;
  }
  // The band only moves right, so a cell right of it still holds its initial big.
  for (let i = 1; i <= la; i++) {
    const lo = MathMax(1, i - cap);
    const hi = MathMin(lb, i + cap);
    row[lo - 1] = lo === 1 ? i : big;
    let rowMin = row[lo - 1]!;
    for (let j = lo; j <= hi; j++) {
      let d = MathMin(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = MathMin(d, before[j - 2]! + 1);
      row[j] = d;
      if (d < rowMin) rowMin = d;
    }
    // Every later cell is at least a cell of this row: a transposition that jumps the row from a
    // cell v of row i - 1 arrives at v + 1, which the substitution from v already gave this row.
    if (rowMin > cap) return big;
    const free = before;
    before = prev;
    prev = row;
    row = free;
  }
  return MathMin(prev[lb]!, big);
}

/** A non-negative integer index (CUDA device ordinal); undefined stays undefined. */
export function parseIndex(fn: string, arg: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') {
    throw typeError(fn, arg, 'a non-negative integer', value, typeof value === 'bigint' ? 'Pass a number, e.g. Number(i)' : undefined);
  }
  if (!isInteger(value) || value < 0 || value > 0x7fffffff) throw rangeError(fn, arg, 'a non-negative integer', value);
  return value;
}

/** cudaStreamPerThread's handle (driver_types.h). */
const CUDA_STREAM_PER_THREAD = 2n;

/** A cudaStream_t handle as a bigint (0n = the legacy default stream); undefined gives 0n. */
export function parseStreamHandle(fn: string, arg: string, value: unknown): bigint {
  if (value === undefined) return 0n;
  const expected = 'a bigint cudaStream_t handle in [0n, 2n ** 64n)';
  if (typeof value !== 'bigint') {
    throw typeError(fn, arg, expected, value, typeof value === 'number' ? 'Write it as a bigint: 0n, or BigInt(handle) for a handle held as a number' : undefined);
  }
  if (value < 0n || value > MAX_U64) throw rangeError(fn, arg, expected, value);
  return value;
}

/** The stream of an op: a handle, but not cudaStreamPerThread. */
export function parseStream(fn: string, arg: string, value: unknown): bigint {
  const stream = parseStreamHandle(fn, arg, value);
  // The per-thread default stream is another stream on each thread: an async call over host arrays
  // runs on a pool thread and one over DeviceTensors waits there (on that thread's stream, not the
  // caller's), and the kernel workspace, kept per stream handle, would be shared by threads whose
  // work is not ordered (an attack on the CUDA path, 2026-11-30).
  if (stream === CUDA_STREAM_PER_THREAD) {
    throw rangeError(
      fn,
      arg,
      '0n (the default stream) or a stream you created, not cudaStreamPerThread (2n), which names another stream on every thread: async calls run or wait on a pool thread, and the kernel workspace is kept per handle',
      stream,
    );
  }
  return stream;
}
