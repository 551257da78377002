// Checkpoint reading with built-ins and prototypes replaced after the package loaded (an attack,
// 2026-12-03, found each case below subverting readSafetensors or fromStateDict): what a file
// yields, what is refused, which tensors are folded and the options a block gets must be those
// of an untouched process, and every refusal keeps its code. Each case patches, runs, restores.
'use strict';
const { sqex, check, done } = require('./common.cjs');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

// A safetensors file from entries [{ name, dtype, shape, bytes, offsets? }] or a header text.
function build(entries, headerText) {
  const hdr = {};
  let off = 0;
  const chunks = [];
  for (const e of entries) {
    hdr[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: e.offsets ?? [off, off + e.bytes.length] };
    off += e.bytes.length;
    chunks.push(e.bytes);
  }
  const text = Buffer.from(headerText ?? JSON.stringify(hdr), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  return new Uint8Array(Buffer.concat([len, text, ...chunks]));
}
const f32 = (a) => new Uint8Array(Float32Array.from(a).buffer);
const t = (shape, a) => ({ shape, data: Float32Array.from(a) });
const outcome = (f) => {
  try {
    return { value: f() };
  } catch (e) {
    return { code: e.code, check: e.check, name: e.constructor.name };
  }
};
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const TA = Object.getPrototypeOf(Uint8Array.prototype);

// Replaces obj[key] (a value, or { get, set } for an accessor) for the duration of run().
function patched(obj, key, replacement, run) {
  const had = Object.getOwnPropertyDescriptor(obj, key);
  if (replacement && typeof replacement === 'object' && ('get' in replacement || 'set' in replacement)) {
    Object.defineProperty(obj, key, { configurable: true, ...replacement });
  } else {
    Object.defineProperty(obj, key, { configurable: true, writable: true, value: replacement });
  }
  try {
    return run();
  } finally {
    if (had) Object.defineProperty(obj, key, had);
    else delete obj[key];
  }
}

const valid = build([{ name: 'a', dtype: 'F32', shape: [2], bytes: f32([1, 2]) }]);
const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sqex-hostile-')), 'valid.safetensors');
fs.writeFileSync(file, valid);
const readA = (src) => () => Array.from(sqex.readSafetensors(src).tensors.a.data);

// 1. A get/set on Object.prototype: descriptors the library builds must stay data descriptors.
for (const key of ['get', 'set']) {
  patched(Object.prototype, key, function () {}, () => {
    const r = outcome(readA(valid));
    check(same(r.value, [1, 2]), `Object.prototype.${key}: a valid readSafetensors gives ${JSON.stringify(r)}`);
    const bad = outcome(() => sqex.seForward(new Float32Array(4), [1, 1, 2], { w1: Float32Array.of(1), w2: Float32Array.of(1) }));
    check(bad.code === 'ERR_OUT_OF_RANGE', `Object.prototype.${key}: a bad shape gives ${JSON.stringify(bad)}`);
    const missing = outcome(() => sqex.readSafetensors(valid, { names: ['zz'] }));
    check(missing.code === 'ERR_SQEX_SAFETENSORS_NAME', `Object.prototype.${key}: an absent name gives ${JSON.stringify(missing)}`);
  });
}

// 2. Math functions: the header's heap budget, the read loop's chunk size.
for (const [key, fake] of [['max', () => 0], ['max', () => Infinity], ['min', () => 0], ['round', () => NaN], ['floor', () => -1]]) {
  patched(Math, key, fake, () => {
    const r = outcome(readA(valid));
    check(same(r.value, [1, 2]), `Math.${key} = ${fake}: readSafetensors(bytes) gives ${JSON.stringify(r)}`);
    const p = outcome(readA(file));
    check(same(p.value, [1, 2]), `Math.${key} = ${fake}: readSafetensors(path) gives ${JSON.stringify(p)}`);
  });
}
// ...and a header the budget refuses stays refused: ~140 MB of JS heap by the estimate, over the
// 64 MB this child gets (its test runs it with --max-old-space-size=256: a quarter, at least 64 MB).
{
  const n = 2_000_000;
  const text = `{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0],"x":[${'[],'.repeat(n - 1)}[]]}}`;
  const big = build([], text);
  const before = outcome(() => sqex.readSafetensorsHeader(big));
  const after = patched(Math, 'max', () => Infinity, () => outcome(() => sqex.readSafetensorsHeader(big)));
  check(before.check === 'header-too-large' && after.check === 'header-too-large', `a header over the heap budget: ${JSON.stringify(before)} / with Math.max replaced ${JSON.stringify(after)}`);
}

// 3. The array iterator: destructured data_offsets must not turn overlapping tensors into a tiling.
{
  const overlap = build([], '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}');
  const data = new Uint8Array([...overlap, ...f32([5, 6])]);
  const before = outcome(() => sqex.readSafetensors(data));
  const orig = Array.prototype[Symbol.iterator];
  let calls = 0;
  const after = patched(Array.prototype, Symbol.iterator, function () {
    if (this.length === 2 && typeof this[0] === 'number') return orig.call(calls++ === 0 ? [0, 8] : [8, 8]);
    return orig.call(this);
  }, () => outcome(() => sqex.readSafetensors(data)));
  check(before.check === 'offsets' && after.check === 'offsets', `overlapping offsets: ${JSON.stringify(before)} / with the iterator replaced ${JSON.stringify(after)}`);
}

// 4. Entry fields on Object.prototype must not complete an entry that lacks them.
{
  const empty = new Uint8Array([...build([], '{"a":{}}'), ...f32([5, 6])]);
  const polluted = () =>
    patched(Object.prototype, 'dtype', 'F32', () =>
      patched(Object.prototype, 'shape', [2], () => patched(Object.prototype, 'data_offsets', [0, 8], () => outcome(() => sqex.readSafetensors(empty)))));
  const r = polluted();
  check(r.check === 'header-structure', `{"a":{}} with dtype/shape/data_offsets on Object.prototype: ${JSON.stringify(r)}`);
}

// 5. Setters on Object.prototype must not drop a state dict's biases or a caller's options.
{
  const C = 4;
  const sd = {
    'se.fc1.weight': t([2, C, 1, 1], [1, 2, 3, 4, 5, 6, 7, 8].map((v) => v / 10)),
    'se.fc1.bias': t([2], [0.5, -0.5]),
    'se.fc2.weight': t([C, 2, 1, 1], [1, 2, 3, 4, 5, 6, 7, 8].map((v) => v / 10)),
    'se.fc2.bias': t([C], [1, 2, 3, -4]),
  };
  const mapped = () => sqex.attentionWeightsFromStateDict(sd, 'se', { kind: 'timm.SEModule' }).weights;
  for (const key of ['b1', 'b2']) {
    const w = patched(Object.prototype, key, { set() {} }, mapped);
    check(Object.hasOwn(w, key) && w[key] instanceof Float32Array, `a setter for ${key} on Object.prototype: the mapped weights have own ${key}: ${Object.hasOwn(w, key)}`);
  }
  const x = Float32Array.from({ length: C * 4 }, (_, i) => Math.cos(i));
  const clean = Array.from(sqex.SEBlock.fromStateDict(sd, 'se', { kind: 'timm.SEModule' }).forward(x, [1, C, 2, 2]));
  const withSetters = patched(Object.prototype, 'b1', { set() {} }, () =>
    patched(Object.prototype, 'b2', { set() {} }, () => Array.from(sqex.SEBlock.fromStateDict(sd, 'se', { kind: 'timm.SEModule' }).forward(x, [1, C, 2, 2]))));
  check(same(clean, withSetters), 'setters for b1/b2 on Object.prototype: SEBlock.fromStateDict computes with the biases');
  for (const [key, value, read] of [['gate', 'hardsigmoid', (b) => b.gate], ['activation', 'silu', (b) => b.activation]]) {
    const got = patched(Object.prototype, key, { set() {} }, () => read(sqex.SEBlock.fromStateDict(sd, 'se', { kind: 'timm.SEModule', [key]: value })));
    check(got === value, `a setter for ${key} on Object.prototype: the block's ${key} is ${got}, asked for ${value}`);
  }
  // timm SqueezeExcite's default activation is set by the mapping, not the caller.
  const sq = {
    'conv_reduce.weight': sd['se.fc1.weight'], 'conv_reduce.bias': sd['se.fc1.bias'],
    'conv_expand.weight': sd['se.fc2.weight'], 'conv_expand.bias': sd['se.fc2.bias'],
  };
  const cleanAct = sqex.SEBlock.fromStateDict(sq, '', { kind: 'timm.SqueezeExcite' }).activation;
  const act = patched(Object.prototype, 'activation', { set() {} }, () => sqex.SEBlock.fromStateDict(sq, '', { kind: 'timm.SqueezeExcite' }).activation);
  check(act === cleanAct, `a setter for activation on Object.prototype: timm.SqueezeExcite's default activation ${act}, untouched ${cleanAct}`);
}

// 6. Math.sqrt / Math.fround must not change a BatchNorm fold; 7. %TypedArray% getters must not
// change what is read, folded or refused.
{
  const sd = {
    'fc1.weight': t([2, 4, 1, 1], [1, 2, 3, 4, 5, 6, 7, 8]), 'fc1.bias': t([2], [0.5, -0.5]),
    'bn.weight': t([2], [2, 3]), 'bn.bias': t([2], [0.1, 0.2]), 'bn.running_mean': t([2], [1, 1]), 'bn.running_var': t([2], [4, 9]),
    'fc2.weight': t([4, 2, 1, 1], [1, 2, 3, 4, 5, 6, 7, 8]), 'fc2.bias': t([4], [1, 2, 3, 4]),
  };
  const fold = () => {
    const w = sqex.attentionWeightsFromStateDict(sd, '', { kind: 'timm.SEModule' }).weights;
    return [Array.from(w.w1), Array.from(w.b1)];
  };
  const clean = fold();
  for (const [key, fake] of [['sqrt', (v) => v], ['fround', (v) => v + 1]]) {
    const got = patched(Math, key, fake, fold);
    check(same(got, clean), `Math.${key} replaced: the BatchNorm fold gives ${JSON.stringify(got)}, untouched ${JSON.stringify(clean)}`);
  }
  const short = { ...sd, 'fc1.weight': t([2, 4, 1, 1], [1, 2, 3, 4, 5, 6, 7]) };
  const L = Object.getOwnPropertyDescriptor(TA, 'length').get;
  const lied = patched(TA, 'length', { get() { const n = L.call(this); return n === 7 ? 8 : n; } }, () =>
    outcome(() => sqex.attentionWeightsFromStateDict(short, '', { kind: 'timm.SEModule' })));
  check(lied.check === 'shape', `a 7-element fc1.weight of shape [2, 4, 1, 1] with a lying length getter: ${JSON.stringify(lied)}`);
  const foldLied = patched(TA, 'length', { get() { const n = L.call(this); return n === 8 ? 9 : n; } }, () => outcome(fold));
  check(same(foldLied.value, clean), `a lying length getter: the fold gives ${JSON.stringify(foldLied)}`);
}
{
  // An F32 tensor at an odd offset is copied; a replaced buffer getter must not swap the bytes.
  const text = JSON.stringify({ h: { dtype: 'U8', shape: [1], data_offsets: [0, 1] }, a: { dtype: 'F32', shape: [2], data_offsets: [1, 9] } });
  const bytes = new Uint8Array([...build([], text), 7, ...f32([1.5, 2.5])]);
  const real = Object.getOwnPropertyDescriptor(TA, 'buffer').get;
  const fake = new Float32Array([666, 666]).buffer;
  const got = patched(TA, 'buffer', { get() { const b = real.call(this); return b.byteLength === 8 && b !== fake ? fake : b; } }, () =>
    outcome(() => Array.from(sqex.readSafetensors(bytes).tensors.a.data)));
  check(same(got.value, [1.5, 2.5]), `a replaced buffer getter: the copied tensor holds ${JSON.stringify(got)}`);
  const head = patched(TA, 'buffer', { get() { return new ArrayBuffer(16); } }, () => outcome(readA(valid)));
  check(same(head.value, [1, 2]), `a buffer getter answering zeros: the header length is still read from the bytes: ${JSON.stringify(head)}`);
}

// 10. Codes defined, not assigned: an accessor for code on Error.prototype keeps them.
{
  const dir = path.dirname(file);
  let seen;
  const r = patched(Error.prototype, 'code', { get() { return undefined; }, set(v) { seen = v; } }, () => {
    const e = outcome(() => sqex.readSafetensors(dir));
    return { e, own: (() => { try { sqex.readSafetensors(dir); } catch (err) { return Object.getOwnPropertyDescriptor(err, 'code')?.value; } })() };
  });
  check(r.own === 'ERR_SQEX_SAFETENSORS_IO' && seen === undefined, `a code accessor on Error.prototype: a directory's error has own code ${r.own} (setter saw ${seen})`);
}

// 11. Array methods in the refusals' messages: the refusal keeps its kind and code.
for (const key of ['map', 'join', 'filter', 'slice', 'includes']) {
  patched(Array.prototype, key, function () { throw new Error(`${key} replaced`); }, () => {
    const a = outcome(() => sqex.attentionWeightsFromStateDict({}, 'se', { kind: 'timm.SEModule' }));
    check(a.code === 'ERR_SQEX_STATE_DICT' && a.check === 'missing', `Array.prototype.${key} throwing: a missing tensor gives ${JSON.stringify(a)}`);
    const b = outcome(() => sqex.readSafetensors(valid, { names: ['zz'] }));
    check(b.code === 'ERR_SQEX_SAFETENSORS_NAME', `Array.prototype.${key} throwing: an absent name gives ${JSON.stringify(b)}`);
    const c = outcome(() => sqex.attentionWeightsFromStateDict({}, 'se', { kind: 'timm.SEModul' }));
    check(c.code === 'ERR_OUT_OF_RANGE', `Array.prototype.${key} throwing: a misspelt kind gives ${JSON.stringify(c)}`);
  });
}
for (const key of ['endsWith', 'startsWith', 'toLowerCase', 'slice']) {
  patched(String.prototype, key, function () { throw new Error(`${key} replaced`); }, () => {
    const b = outcome(() => sqex.readSafetensors(valid, { names: ['zz'] }));
    check(b.code === 'ERR_SQEX_SAFETENSORS_NAME', `String.prototype.${key} throwing: an absent name gives ${JSON.stringify(b)}`);
    const c = outcome(() => sqex.attentionWeightsFromStateDict({}, 'se', { kind: 'SEModule' }));
    check(c.code === 'ERR_OUT_OF_RANGE', `String.prototype.${key} throwing: a kind without its library gives ${JSON.stringify(c)}`);
  });
}
{
  let reads = 0;
  const names = new Proxy(['a'], { get(target, k, r) { if (k === 'length') reads++; return Reflect.get(target, k, r); } });
  const r = outcome(() => sqex.readSafetensors(valid, { names }).names());
  check(same(r.value, ['a']) && reads === 1, `options.names' length read ${reads} times (once expected): ${JSON.stringify(r)}`);
}

// 12. A review's further cases (2026-12-03): each reaches code the cases above do not.
{
  const thrower = (k) => function () { throw new Error(`${k} replaced`); };
  // Array.prototype.slice / filter on the paths that use them: a missing tensor with a sibling
  // present (the sibling list), a kind named without its library (the suggestion).
  const some = { 'se.fc1.weight': t([2, 4, 1, 1], [1, 2, 3, 4, 5, 6, 7, 8]) };
  for (const key of ['slice', 'filter', 'map', 'join']) {
    patched(Array.prototype, key, thrower(key), () => {
      const a = outcome(() => sqex.attentionWeightsFromStateDict(some, 'se', { kind: 'timm.SEModule' }));
      check(a.check === 'missing', `Array.prototype.${key} throwing: a missing tensor beside a present one gives ${JSON.stringify(a)}`);
      const b = outcome(() => sqex.attentionWeightsFromStateDict({}, 'se', { kind: 'SEModule' }));
      check(b.code === 'ERR_OUT_OF_RANGE', `Array.prototype.${key} throwing: a kind without its library gives ${JSON.stringify(b)}`);
    });
  }
  // Math.fround where it decides: running_var + eps is 0 in float32 (PyTorch: ±Inf, so refused).
  const zeroVar = {
    'fc1.weight': t([1, 1, 1, 1], [1]),
    'bn.running_mean': t([1], [0]), 'bn.running_var': t([1], [Math.fround(-1e-5)]),
    'fc2.weight': t([1, 1, 1, 1], [1]),
  };
  const foldZero = () => outcome(() => sqex.attentionWeightsFromStateDict(zeroVar, '', { kind: 'timm.SEModule' }).weights.w1[0]);
  const zClean = foldZero();
  const zPatched = patched(Math, 'fround', (v) => v + 1, foldZero);
  check(zClean.check === 'unsupported' && zPatched.check === 'unsupported', `running_var + eps = 0 in float32: ${JSON.stringify(zClean)} / with Math.fround replaced ${JSON.stringify(zPatched)}`);
  // Number.isSafeInteger: the header's counts and the state dict's shape match.
  const unsafe = build([], '{"a":{"dtype":"U8","shape":[9007199254740993,0],"data_offsets":[0,0]}}');
  const u = patched(Number, 'isSafeInteger', () => true, () => outcome(() => sqex.readSafetensors(unsafe)));
  check(u.check === 'header-structure', `Number.isSafeInteger = () => true: shape [2^53 + 1, 0] gives ${JSON.stringify(u)}`);
  const sd = { 'fc1.weight': t([2, 4, 1, 1], [1, 2, 3, 4, 5, 6, 7, 8]), 'fc1.bias': t([2], [0.5, -0.5]), 'fc2.weight': t([4, 2, 1, 1], [1, 2, 3, 4, 5, 6, 7, 8]), 'fc2.bias': t([4], [1, 2, 3, 4]) };
  const mapKeys = () => outcome(() => Object.keys(sqex.attentionWeightsFromStateDict(sd, '', { kind: 'timm.SEModule' }).weights).sort());
  const m2 = patched(Number, 'isSafeInteger', () => false, mapKeys);
  check(same(m2.value, ['b1', 'b2', 'w1', 'w2']), `Number.isSafeInteger = () => false: a valid state dict maps to ${JSON.stringify(m2)}`);
  // The global String, BigInt, Float32Array and TypeError, replaced.
  const m3 = patched(globalThis, 'String', thrower('String'), mapKeys);
  check(same(m3.value, ['b1', 'b2', 'w1', 'w2']), `globalThis.String throwing: a valid state dict maps to ${JSON.stringify(m3)}`);
  const noData = build([], '{"a":{"dtype":"F32","shape":[1000],"data_offsets":[0,0]}}');
  const RealBigInt = BigInt;
  const m5 = patched(globalThis, 'BigInt', (v) => (v === 1000 ? 0n : RealBigInt(v)), () => outcome(() => sqex.readSafetensors(noData)));
  check(m5.check === 'shape-size', `globalThis.BigInt replaced: F32 [1000] with 0 data bytes gives ${JSON.stringify(m5)}`);
  const RealF32 = Float32Array;
  class Lie extends RealF32 { constructor(b, o, n) { super(typeof b === 'number' ? b : n); this.fill(666); } }
  const m6 = patched(globalThis, 'Float32Array', Lie, () => outcome(readA(valid)));
  check(same(m6.value, [1, 2]), `globalThis.Float32Array replaced: readSafetensors gives ${JSON.stringify(m6)}`);
  const m6b = patched(globalThis, 'RangeError', function () { return new Error('RangeError replaced'); }, () =>
    outcome(() => sqex.seForward(new Float32Array(4), [1, 1, 2], { w1: Float32Array.of(1), w2: Float32Array.of(1) })));
  check(m6b.code === 'ERR_OUT_OF_RANGE' && m6b.name === 'RangeError', `globalThis.RangeError replaced: a bad shape gives ${JSON.stringify(m6b)}`);
  // v8.getHeapStatistics: the header budget (this child's heap is 256 MB).
  const v8 = require('node:v8');
  const n = 2_000_000;
  const big = build([], `{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0],"x":[${'[],'.repeat(n - 1)}[]]}}`);
  const m4 = patched(v8, 'getHeapStatistics', () => ({ heap_size_limit: Infinity }), () => outcome(() => sqex.readSafetensorsHeader(big)));
  check(m4.check === 'header-too-large', `v8.getHeapStatistics replaced: a header over the budget gives ${JSON.stringify(m4)}`);
  // String.prototype.trim on the refusal of a ZIP (torch.save) file; a name accessor on Error.prototype.
  const zip = new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 1, 2, 3, 4]);
  const m7 = patched(String.prototype, 'trim', thrower('trim'), () => outcome(() => sqex.readSafetensors(zip)));
  check(m7.code === 'ERR_SQEX_SAFETENSORS' && m7.check === 'header-length', `String.prototype.trim throwing: a ZIP file gives ${JSON.stringify(m7)}`);
  const m8 = patched(Error.prototype, 'name', { get() { return 'Error'; }, set() {} }, () => {
    const names = [];
    for (const f of [() => sqex.readSafetensors(new Uint8Array(3)), () => sqex.attentionWeightsFromStateDict({}, '', { kind: 'timm.SEModule' })]) {
      try { f(); } catch (e) { names.push(e.name); }
    }
    return names;
  });
  check(same(m8, ['SafetensorsError', 'StateDictError']), `an accessor for name on Error.prototype: the errors are named ${JSON.stringify(m8)}`);
}

fs.rmSync(path.dirname(file), { recursive: true, force: true });
done();
