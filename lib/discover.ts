// Finds the attention modules of a checkpoint from its tensor names and shapes alone (the
// header is enough), so a user learns which prefixes and kinds to pass to fromStateDict.

import { torchvisionFamily } from './families.js';
import { rangeError, readGuarded, typeError } from './arg-errors.js';
import { describe } from './describe.js';
import { isArrayValue, isMapValue, isPlainObject } from './is.js';
import { typedArrayName } from './typed-arrays.js';
import { JSONStringify, ObjectKeys, ReflectApply, listAppend, ownValue } from './primordials.js';
import { SafetensorsFile, type SafetensorsHeader } from './safetensors.js';
import { ATTENTION_KINDS, type AttentionKind, type CBAMKind, type ECAKind, type SEKind } from './attention-kinds.js';
import type { StateDict } from './state-dict-reader.js';
import type { Activation, Gate } from './types.js';

const mapForEach = Map.prototype.forEach;

/**
 * What every {@link FoundAttention} has, whichever block loads it.
 */
export interface FoundAttentionBase {
  /** The module's name: pass it as fromStateDict's prefix. */
  prefix: string;
  /** Other kinds with the same tensor names and shapes (they load the same with the defaults, or as noted). */
  alternatives: AttentionKind[];
  /** C, or null where the module stores none (ECA). */
  channels: number | null;
  /** rd, the hidden width of the excitation MLP (SE, CBAM; C for EffectiveSEModule); null for ECA, which has none. */
  hidden: number | null;
  /** ECA's conv k, or CBAM's spatial k; null for the SE kinds, which have no conv. */
  kernelSize: number | null;
  /**
   * Options to pass with `kind` where the model around the module names its tensors as a known
   * architecture whose attention differs from the kind's defaults (`note` says which), e.g.
   * `{ gate: 'hardsigmoid' }` for torchvision's MobileNetV3; `{}` where the defaults are the guess.
   * A state dict holds no activations: this is inferred from names, so check it against the model.
   * `strict: false` for a module whose prefix holds other tensors too (the root, prefix '', of a
   * state dict, or a module that contains another): fromStateDict's strict check would count them
   * all as this module's.
   */
  options: { activation?: Activation; gate?: Gate; strict?: boolean };
  /** A BatchNorm that fromStateDict folds (timm SEModule `bn`, CBAM's spatial BN). */
  foldsBatchNorm: boolean;
  /** Why `kind` is null, what `options` are guessed from, or what else the tensors could be; '' when nothing. */
  note: string;
  /** Full names of its tensors. */
  tensors: string[];
}

/**
 * One module found by {@link findAttentionModules}: where it is (`prefix`), which kind it looks
 * like, its sizes (`channels`, `hidden`, `kernelSize`), the tensors it reads, and the options a
 * block needs that the checkpoint cannot tell (from the model family its names show).
 * Discriminated by `block`, the class that loads it: `kind` is that class's kind (so
 * `if (m.block === 'SEBlock') SEBlock.fromStateDict(sd, m.prefix, { kind: m.kind, ...m.options })`
 * type-checks), and both are null for a variant this library does not compute (see `note`).
 */
export type FoundAttention =
  | (FoundAttentionBase & { block: 'SEBlock'; kind: SEKind })
  | (FoundAttentionBase & { block: 'ECABlock'; kind: ECAKind })
  | (FoundAttentionBase & { block: 'CBAMBlock'; kind: CBAMKind })
  | (FoundAttentionBase & { block: null; kind: null });

interface Named {
  name: string;
  shape: readonly number[];
}

const FN = 'findAttentionModules';

/**
 * The { name, shape }s of a source, checked and copied once (a getter cannot change them while
 * they are matched): a wrong value is a coded TypeError / RangeError naming it, not a TypeError
 * from deep inside the matching.
 */
function namedOf(source: unknown): Named[] {
  // Each form becomes a list of entries, with the argument name each entry's errors use.
  const entries: { arg: string; name: unknown; value: unknown }[] = [];
  let form: 'file' | 'array' | 'map' | 'object' | null;
  try {
    // A record must be a plain object: a Uint8Array of the file's bytes would read as a record of
    // one key per byte (a 100 MB one ran the heap out), a Promise or a class instance as empty.
    form = source instanceof SafetensorsFile ? 'file' : isArrayValue(source) ? 'array' : isMapValue(source) ? 'map' : isPlainObject(source) ? 'object' : null;
  } catch {
    form = null; // a revoked Proxy: instanceof and Array.isArray throw
  }
  const fromList = (list: unknown, arg: string): void => {
    if (!isArrayValue(list)) throw typeError(FN, arg, 'an Array of { name, shape }', list);
    const items = list;
    const n = readGuarded(FN, arg, 'an Array of { name, shape }', items, () => items.length);
    for (let i = 0; i < n; i++) {
      const entry: unknown = readGuarded(FN, arg, 'an Array of { name, shape }', items, () => ownValue(items, i));
      if (typeof entry !== 'object' || entry === null) throw typeError(FN, `${arg}[${i}]`, 'an object { name, shape }', entry);
      const name = readGuarded(FN, `${arg}[${i}]`, 'an object { name, shape }', entry, () => ownValue(entry, 'name'));
      listAppend(entries, { arg: `${arg}[${i}]`, name, value: entry });
    }
  };
  const what = 'a safetensors header (readSafetensorsHeader), a SafetensorsFile, an Array of { name, shape }, or a state dict (a record or Map of { shape, data } by tensor name)';
  if (form === 'file') {
    const header: unknown = readGuarded(FN, 'source', 'a SafetensorsFile', source, () => (source as SafetensorsFile).header);
    if (typeof header !== 'object' || header === null) throw typeError(FN, 'source.header', 'a safetensors header', header);
    fromList(readGuarded(FN, 'source.header', 'a safetensors header', header, () => ownValue(header, 'tensors')), 'source.header.tensors');
  } else if (form === 'array') {
    fromList(source, 'source');
  } else if (form === 'map') {
    // Map.prototype.forEach as it was at load: a subclass's or a patched iterator is not asked.
    const pairs: { name: unknown; value: unknown }[] = [];
    readGuarded(FN, 'source', what, source, () =>
      ReflectApply(mapForEach, source, [(value: unknown, name: unknown) => listAppend(pairs, { name, value })]),
    );
    for (let i = 0; i < pairs.length; i++) {
      const { name, value } = pairs[i]!;
      if (typeof name !== 'string') throw typeError(FN, 'source', 'a Map whose keys are tensor names (strings)', source, `It has the key ${describe(name)}`);
      listAppend(entries, { arg: `source.get(${JSONStringify(name)})`, name, value });
    }
  } else if (form === 'object') {
    // A header holds an Array `tensors`; a state-dict record maps names to { shape, data } (a
    // tensor may even be named "tensors", but its value is then no Array).
    const tensors = readGuarded(FN, 'source', what, source, () => ownValue(source as object, 'tensors'));
    if (isArrayValue(tensors)) {
      fromList(tensors, 'source.tensors');
    } else {
      const keys = readGuarded(FN, 'source', what, source, () => ObjectKeys(source as object));
      for (let k = 0; k < keys.length; k++) {
        const key = keys[k]!;
        const value = readGuarded(FN, `source[${JSONStringify(key)}]`, 'an object { shape, data }', source, () => (source as Record<string, unknown>)[key]);
        listAppend(entries, { arg: `source[${JSONStringify(key)}]`, name: key, value });
      }
    }
  } else {
    const bytes = typedArrayName(source) !== undefined;
    throw typeError(FN, 'source', what, source, bytes ? "For a file's bytes, pass readSafetensorsHeader(bytes)" : undefined);
  }
  const out: Named[] = [];
  for (let e = 0; e < entries.length; e++) {
    const { arg, name, value } = entries[e]!;
    if (typeof name !== 'string') throw typeError(FN, `${arg}.name`, 'a string', name);
    if (typeof value !== 'object' || value === null) throw typeError(FN, arg, 'an object with a shape', value);
    if (typedArrayName(value) !== undefined) {
      throw typeError(FN, arg, 'an object with a shape', value, 'A state dict maps each name to { shape, data }: wrap a bare array as { shape: [...dims], data: value }');
    }
    const shape = readGuarded(FN, arg, 'an object with a shape', value, () => ownValue(value, 'shape'));
    const sarg = `${arg}.shape`;
    if (!isArrayValue(shape)) throw typeError(FN, sarg, 'an Array of non-negative integers', shape);
    // read once, element by element; a safetensors shape has at most a few dims (64 is generous)
    const raw = readGuarded(FN, sarg, 'an Array of non-negative integers', shape, () => {
      const len = shape.length;
      const copy: unknown[] = [];
      for (let d = 0; d < len && d <= 64; d++) listAppend(copy, ownValue(shape, d));
      return copy;
    });
    if (raw.length > 64) throw rangeError(FN, sarg, 'an Array of at most 64 non-negative integers', shape);
    const dims: number[] = [];
    for (let d = 0; d < raw.length; d++) {
      const dim: unknown = raw[d];
      if (typeof dim !== 'number') throw typeError(FN, `${sarg}[${d}]`, 'a non-negative integer', dim);
      if (!Number.isSafeInteger(dim) || dim < 0) throw rangeError(FN, `${sarg}[${d}]`, 'a non-negative integer', dim);
      listAppend(dims, dim);
    }
    listAppend(out, { name, shape: dims });
  }
  return out;
}

function is1x1(s: readonly number[] | undefined): s is readonly [number, number, 1, 1] {
  return s !== undefined && s.length === 4 && s[2] === 1 && s[3] === 1 && s[0]! >= 1 && s[1]! >= 1;
}

function join(prefix: string, rel: string): string {
  return prefix === '' ? rel : `${prefix}.${rel}`;
}

/**
 * timm's EfficientNet-family models (efficientnet.py, mobilenetv3.py) share SqueezeExcite and its
 * names (`blocks.i.j.se`); their heads tell them apart: MobileNetV3-style models (mobilenetv3, lcnet,
 * ghostnet, hardcorenas) have `conv_head.bias` and no `bn2` and use relu + hardsigmoid; those with
 * `bn2` (efficientnet, efficientnetv2, mixnet, tinynet) use the defaults, silu + sigmoid.
 */
function efficientNetFamily(prefix: string, shapes: ReadonlyMap<string, readonly number[]>): Pick<FoundAttentionBase, 'options' | 'note'> {
  const m = /^(.*?)blocks\.\d+\.\d+\.se$/.exec(prefix);
  const root = m === null ? null : m[1]!;
  const bn2 = root !== null && shapes.has(`${root}bn2.weight`);
  if (root !== null && !bn2 && shapes.has(`${root}conv_head.bias`)) {
    return { options: { activation: 'relu', gate: 'hardsigmoid' }, note: "the model has a MobileNetV3 head (conv_head with a bias, no bn2): timm's MobileNetV3, LCNet, GhostNet, HardCoReNAS use relu, hardsigmoid" };
  }
  if (bn2) {
    return { options: {}, note: "the model has an EfficientNet head (conv_head, bn2): silu, sigmoid, the defaults (but semnasnet's SE uses relu)" };
  }
  return { options: {}, note: "silu by default (EfficientNet); MobileNetV3 needs activation 'relu', gate 'hardsigmoid'; FBNetV3's hardswish is not supported" };
}

/**
 * Lists the attention modules in a set of tensors, detected by timm / torchvision names and
 * consistent shapes: `P.channel.fc1/fc2` + `P.spatial.conv.conv` [1, 2, k, k] (CbamModule),
 * `P.conv_reduce/conv_expand` (EfficientNet SqueezeExcite), `P.fc1/fc2` as 1×1 convs [rd, C, 1, 1]
 * and [C, rd, 1, 1] (SEModule or torchvision SqueezeExcitation: same tensors), `P.fc` [C, C, 1, 1]
 * alone with its bias (EffectiveSEModule), `P.conv.weight` [1, 1, k] alone (EcaModule). Those two
 * are not listed at the root (P = '': a module saved alone), where a lone `fc.weight` or
 * `conv.weight` is too common a name to call attention; ECABlock.fromStateDict(st, '', { kind:
 * 'timm.EcaModule' }) and SEBlock.fromStateDict(st, '', { kind: 'timm.EffectiveSEModule' }) load
 * them there. Linear
 * MLPs (2-D fc1/fc2, as in transformers) are not 1×1 convs and are not listed, nor are 1×1-conv
 * MLPs that widen (hidden > C: ConvNeXt conv_mlp, FastViT, MobileViTv2); fc1/fc2 with another layer
 * under P (timm GlobalContext's ConvMlp: a norm between them) are listed with kind null. Where the surrounding
 * names match a torchvision or timm architecture whose attention differs from the kind's defaults,
 * `options` carries what to pass (a guess from names, said in `note`).
 *
 * @param source - a header (readSafetensorsHeader), a SafetensorsFile, an Array of
 *   { name, shape } (a tensor's full name and its dims, non-negative integers), or a state dict
 *   as the loaders take it (a record or Map of { shape, data } by tensor name; only the shapes
 *   are read).
 * @returns the modules, sorted by prefix (numbers in natural order).
 * @throws TypeError (code 'ERR_INVALID_ARG_TYPE') or RangeError (code 'ERR_OUT_OF_RANGE') naming
 *   the argument, for a source that is none of these or an entry without a string name and a shape.
 */
export function findAttentionModules(
  source: SafetensorsHeader | SafetensorsFile | readonly { readonly name: string; readonly shape: readonly number[] }[] | StateDict,
): FoundAttention[] {
  const list = namedOf(source);
  const shapes = new Map<string, readonly number[]>();
  for (const t of list) shapes.set(t.name, t.shape);
  const names = [...shapes.keys()];
  // The names under a prefix P (`P.*`) are one run of the names in code-unit order: from `P.` up
  // to `P/` ('/' follows '.'). Found by binary search, so that the per-module lookups below cost
  // log n, not a scan of every name each (100k candidates took 93 s).
  const sorted = names.map((_, i) => i).sort((a, b) => (names[a]! < names[b]! ? -1 : names[a]! > names[b]! ? 1 : 0));
  const lowerBound = (key: string): number => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (names[sorted[mid]!]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  /** How many names are under p (all of them for ''). */
  const countUnder = (p: string): number => (p === '' ? names.length : lowerBound(`${p}/`) - lowerBound(`${p}.`));
  /** The names under p, in the header's order. */
  const under = (p: string): string[] => {
    if (p === '') return names.slice();
    const run = sorted.slice(lowerBound(`${p}.`), lowerBound(`${p}/`));
    return run.sort((a, b) => a - b).map((i) => names[i]!);
  };
  const claimed = new Set<string>();
  const found: FoundAttention[] = [];
  const prefixOf = (name: string, suffix: string): string | null => {
    if (name === suffix) return '';
    if (!name.endsWith(`.${suffix}`)) return null;
    const p = name.slice(0, -suffix.length - 1);
    // An empty path component ('.fc1.weight', 'a..fc1.weight': no PyTorch module has an empty
    // name) has no prefix fromStateDict reads back (a trailing '.' is dropped there), so it
    // would be listed as the root module or as 'a.': not a module to suggest.
    return p === '' || p.endsWith('.') ? null : p;
  };
  type Found = Omit<FoundAttentionBase, 'alternatives' | 'note' | 'options'> & Partial<Pick<FoundAttentionBase, 'alternatives' | 'note' | 'options'>> & { kind: AttentionKind | null };
  const add = (f: Found): void => {
    for (const t of f.tensors) claimed.add(t);
    // The block is the kind's (ATTENTION_KINDS), which the union's pairs state for the types.
    listAppend(found, { alternatives: [], note: '', options: {}, ...f, block: f.kind === null ? null : ATTENTION_KINDS[f.kind].block } as FoundAttention);
  };
  const bnTensors = (p: string): string[] => ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((s) => join(p, s)).filter((n) => shapes.has(n));

  // CBAM first: its channel MLP would otherwise read as an SE module at P.channel.
  for (const name of names) {
    const p = prefixOf(name, 'channel.fc1.weight');
    if (p === null) continue;
    const fc1 = shapes.get(name);
    const fc2 = shapes.get(join(p, 'channel.fc2.weight'));
    const conv = shapes.get(join(p, 'spatial.conv.conv.weight'));
    if (!is1x1(fc1) || !is1x1(fc2) || fc2[0] !== fc1[1] || fc2[1] !== fc1[0] || conv === undefined || conv.length !== 4 || conv[0] !== 1) continue;
    const [rd, c] = fc1;
    const k = conv[2]!;
    const tensors = under(join(p, 'channel')).concat(under(join(p, 'spatial')));
    if (conv[1] === 1) {
      add({ prefix: p, kind: null, channels: c, hidden: rd, kernelSize: k, foldsBatchNorm: false, tensors, note: 'timm LightCbamModule (one pooled map into the spatial conv): not supported' });
    } else if (conv[1] === 2 && conv[3] === k && k % 2 === 1) {
      add({ prefix: p, kind: 'timm.CbamModule', channels: c, hidden: rd, kernelSize: k, foldsBatchNorm: bnTensors(join(p, 'spatial.conv.bn')).length > 0, tensors });
    }
  }

  for (const name of names) {
    if (claimed.has(name)) continue;
    const p = prefixOf(name, 'conv_reduce.weight');
    if (p === null) continue;
    const w1 = shapes.get(name);
    const w2 = shapes.get(join(p, 'conv_expand.weight'));
    if (!is1x1(w1) || !is1x1(w2) || w2[0] !== w1[1] || w2[1] !== w1[0]) continue;
    const tensors = under(join(p, 'conv_reduce')).concat(under(join(p, 'conv_expand')));
    add({ prefix: p, kind: 'timm.SqueezeExcite', channels: w1[1], hidden: w1[0], kernelSize: null, foldsBatchNorm: false, tensors, ...efficientNetFamily(p, shapes) });
  }

  for (const name of names) {
    if (claimed.has(name)) continue;
    const p = prefixOf(name, 'fc1.weight');
    if (p === null) continue;
    const w1 = shapes.get(name);
    const w2 = shapes.get(join(p, 'fc2.weight'));
    if (!is1x1(w1) || !is1x1(w2) || w2[0] !== w1[1] || w2[1] !== w1[0]) continue;
    // A pair that widens (hidden > C) is a convolutional MLP (timm ConvNeXt with conv_mlp, FastViT,
    // MobileViTv2: hidden 2-4 C), not a squeeze: none of the 332 SE-type modules of 30 timm /
    // torchvision architectures has hidden > C (EffectiveSE's C is the most), while those three
    // models hold 31 such MLPs (test/fixtures/model_names.json.gz, test/discover.models.test.ts).
    // Except hidden 8 over C < 8: timm's and torchvision's make_divisible round rd up to a
    // multiple of 8, at least 8, so an SE over fewer than 8 channels widens to 8 (a parity audit:
    // timm SEModule(4) was not listed); those MLPs have C >= 48.
    if (w1[0]! > w1[1]! && !(w1[0] === 8 && w1[1]! < 8)) continue;
    const bn = bnTensors(join(p, 'bn'));
    const hasBias = shapes.has(join(p, 'fc1.bias'));
    const tensors = under(join(p, 'fc1')).concat(bn, under(join(p, 'fc2')));
    const timmOnly = bn.length > 0 || !hasBias; // torchvision's SqueezeExcitation always has biases and no bn
    const base = { prefix: p, channels: w1[1]!, hidden: w1[0]!, kernelSize: null, foldsBatchNorm: bn.length > 0, tensors };
    const tv = timmOnly ? null : torchvisionFamily(p);
    if (tv !== null) add({ ...base, kind: 'torchvision.SqueezeExcitation', alternatives: ['timm.SEModule'], ...tv });
    else
      add({
        ...base,
        kind: 'timm.SEModule',
        alternatives: timmOnly ? [] : ['torchvision.SqueezeExcitation'],
        note: timmOnly ? '' : "same tensors and defaults (relu, sigmoid); torchvision MobileNetV3 needs gate 'hardsigmoid'",
      });
  }

  for (const name of names) {
    if (claimed.has(name)) continue;
    const p = prefixOf(name, 'fc.weight');
    if (p === null) continue;
    const w = shapes.get(name);
    const b = shapes.get(join(p, 'fc.bias'));
    if (p === '' || !is1x1(w) || w[0] !== w[1] || b === undefined || b.length !== 1 || b[0] !== w[0] || countUnder(p) !== 2) continue;
    add({ prefix: p, kind: 'timm.EffectiveSEModule', channels: w[0], hidden: w[0], kernelSize: null, foldsBatchNorm: false, tensors: under(p) });
  }

  for (const name of names) {
    if (claimed.has(name)) continue;
    const p = prefixOf(name, 'conv.weight');
    if (p === null || p === '') continue;
    const w = shapes.get(name)!;
    const conv2 = shapes.get(join(p, 'conv2.weight'));
    if (w.length === 3 && w[1] === 1 && w[2] === 1 && conv2 !== undefined && conv2.length === 3 && conv2[0] === 1 && conv2[1] === w[0]) {
      add({ prefix: p, kind: null, channels: null, hidden: w[0]!, kernelSize: conv2[2]!, foldsBatchNorm: false, tensors: under(p), note: 'timm EcaModule(use_mlp=True): not supported' });
      continue;
    }
    if (w.length !== 3 || w[0] !== 1 || w[1] !== 1 || w[2]! % 2 !== 1 || countUnder(p) !== 1) continue;
    add({ prefix: p, kind: 'timm.EcaModule', channels: null, hidden: null, kernelSize: w[2]!, foldsBatchNorm: false, tensors: [name], note: 'C not stored (any C); CecaModule (circular padding) has the same tensor, not supported' });
  }

  // fc1 and fc2 with another layer of their own between them are not an SE module: timm's
  // GlobalContext ConvMlp (fc1, norm = LayerNorm2d, fc2) was listed as timm.SEModule with strict:
  // false, which loads it without its norm (26% off; a review, 2026-12-04). Under a prefix, any
  // tensor that no module listed reads counts; at the root, where a whole model's other layers
  // are, one of a layer as wide as the hidden width (a norm or conv on fc1's output).
  for (let i = 0; i < found.length; i++) {
    const f = found[i]!;
    if (f.kind !== 'timm.SEModule' && f.kind !== 'torchvision.SqueezeExcitation') continue;
    const own = new Set(f.tensors);
    const strays = under(f.prefix).filter((n) => !own.has(n) && !claimed.has(n));
    const between = f.prefix === '' ? strays.filter((n) => n.indexOf('.') === n.lastIndexOf('.') && n.includes('.') && shapes.get(n)![0] === f.hidden) : strays;
    if (between.length === 0) continue;
    const p = f.prefix === '' ? '' : `${f.prefix}.`;
    const layers = [...new Set(between.map((n) => n.slice(p.length).split('.')[0]!))];
    found[i] = {
      ...f,
      kind: null,
      block: null,
      alternatives: [],
      options: {},
      foldsBatchNorm: false,
      tensors: f.tensors.concat(between),
      note: `fc1 and fc2 narrow ${f.channels} → ${f.hidden} → ${f.channels} as an SE module's do, but ${f.prefix === '' ? 'the root' : JSON.stringify(p)} also holds ${layers.map((l) => JSON.stringify(p + l)).join(', ')} (${between.length} tensors no module listed here reads), a layer between them (timm GlobalContext's ConvMlp: fc1, norm, fc2) or beside them: not an SE module, not supported (loading fc1 and fc2 alone would drop it)`,
    };
  }

  // A module whose prefix holds other tensors too (the root of a state dict beside other tensors,
  // or a module that contains another: 'a' and 'a.inner'): fromStateDict's strict check counts
  // every name under the prefix as this module's, so it loads as listed only with strict: false
  // (the CLI's snippet for 'a' failed with 'unexpected'; an attack, 2026-12-02).
  for (const f of found) {
    const all = countUnder(f.prefix);
    if (f.kind === null || f.tensors.length >= all) continue;
    f.options.strict = false;
    const why = f.prefix === ''
      ? `at the root of a state dict that holds ${all - f.tensors.length} other tensors, which fromStateDict's strict check would count as this module's`
      : `"${f.prefix}." also holds ${all - f.tensors.length} other tensors (another module's, say), which fromStateDict's strict check would count as this module's`;
    f.note = f.note ? `${f.note}; ${why}` : why;
  }
  const collator = new Intl.Collator('en', { numeric: true });
  return found.sort((a, b) => collator.compare(a.prefix, b.prefix));
}
