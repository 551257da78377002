// Built-ins replaced after the package loaded (as a caller's code, or a library of theirs, may
// do): the checks and the bookkeeping of every call use the intrinsics captured at load
// (lib/primordials.ts), so
//   1. a valid call consults none of the replaced built-ins and returns the same bits;
//   2. a bad call is refused by lib/ as without the patches: a TypeError/RangeError with `code`
//      and `argument`, the documented message, and `out` unwritten, even when the patched built-ins
//      lie (an iterator that detaches x, an includes that accepts anything, a Reflect.apply that
//      reports another length, a push that drops, an Object.assign that throws).
// A helper's attack found each of the lies in (2) reaching the native re-check (2026-12-01).
'use strict';
const { sqex, rng, fill, weightsFor, check, done, transfer, sameBits } = require('./common.cjs');

const r = rng(Number(process.env.SQEX_SEED) || 5);
const shape = [2, 16, 6, 5];
const n = 2 * 16 * 6 * 5;
const ops = ['se', 'eca', 'cbam'];
const syncFns = { se: sqex.seForward, eca: sqex.ecaForward, cbam: sqex.cbamForward };
const asyncFns = { se: sqex.seForwardAsync, eca: sqex.ecaForwardAsync, cbam: sqex.cbamForwardAsync };
const Blocks = { se: sqex.SEBlock, eca: sqex.ECABlock, cbam: sqex.CBAMBlock };
const x = fill(new Float32Array(n), r);
const weights = Object.fromEntries(ops.map((op) => [op, weightsFor(op, 16, r)]));
const blockOpts = { se: { channels: 16 }, eca: {}, cbam: { channels: 16 } };
const blocks = Object.fromEntries(ops.map((op) => [op, new Blocks[op](weights[op], blockOpts[op])]));

// Every valid call form, with its result.
const forms = [];
for (const op of ops) {
  forms.push([`${op} sync`, () => syncFns[op](x, shape, weights[op])]);
  forms.push([`${op} sync out`, () => syncFns[op](x, shape, weights[op], { out: new Float32Array(n) })]);
  forms.push([`${op} async`, () => asyncFns[op](x, shape, weights[op])]);
  forms.push([`${op} async staged`, () => asyncFns[op](x, shape, weights[op], { offload: 'always', out: new Float32Array(n) })]);
  forms.push([`${op} block`, () => blocks[op].forward(x, shape)]);
  forms.push([`${op} block async`, () => blocks[op].forwardAsync(x, shape, { offload: 'always' })]);
}

// What each built-in is replaced with: a counting wrapper (valid calls) or a lie (bad calls).
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype);
const targets = [
  [Array.prototype, Symbol.iterator, 'Array.prototype[Symbol.iterator]'],
  ...['push', 'includes', 'map', 'join', 'filter', 'forEach', 'findIndex', 'indexOf', 'slice', 'concat', 'fill'].map((k) => [Array.prototype, k, `Array.prototype.${k}`]),
  ...['apply', 'getPrototypeOf', 'getOwnPropertyDescriptor'].map((k) => [Reflect, k, `Reflect.${k}`]),
  ...['assign', 'keys', 'freeze', 'create', 'is', 'defineProperty'].map((k) => [Object, k, `Object.${k}`]),
  ...['round', 'sqrt', 'floor', 'abs', 'max', 'min', 'log2'].map((k) => [Math, k, `Math.${k}`]),
  ...['isInteger', 'isSafeInteger', 'isFinite'].map((k) => [Number, k, `Number.${k}`]),
  ...['has', 'add', 'clear'].map((k) => [Set.prototype, k, `Set.prototype.${k}`]),
  [Map.prototype, 'has', 'Map.prototype.has'],
  [TypedArrayPrototype, 'set', '%TypedArray%.prototype.set'],
  [TypedArrayPrototype, 'fill', '%TypedArray%.prototype.fill'],
  [Float64Array, 'from', 'Float64Array.from'],
  [Float32Array, 'from', 'Float32Array.from'],
  [JSON, 'stringify', 'JSON.stringify'],
  ...['slice', 'includes', 'toLowerCase', 'replace'].map((k) => [String.prototype, k, `String.prototype.${k}`]),
  ...['exec', 'test'].map((k) => [RegExp.prototype, k, `RegExp.prototype.${k}`]),
  [Function.prototype, 'call', 'Function.prototype.call'],
  [Function.prototype, 'apply', 'Function.prototype.apply'],
  [Promise.prototype, 'then', 'Promise.prototype.then'],
];
const originals = targets.map(([obj, key]) => obj[key]);
const apply = Reflect.apply;
const restore = () => {
  for (let i = 0; i < targets.length; i++) targets[i][0][targets[i][1]] = originals[i];
};

async function main() {
  // Results without any patch (a first call of each form also loads whatever loads lazily).
  const expected = [];
  for (const [, run] of forms) expected.push(await run());

  // 1. Counting wrappers: a valid call uses none of them and gives the same bits.
  const hits = new Map();
  const count = (name) => hits.set(name, (hits.get(name) ?? 0) + 1);
  let counting = false;
  targets.forEach(([obj, key, name], i) => {
    const orig = originals[i];
    obj[key] = function (...args) {
      if (counting) count(name);
      return apply(orig, this, args);
    };
  });
  // `await` reads a promise's constructor (and settles through its then unless that is the
  // intrinsic Promise): lib/ awaits only promises it gave an own constructor (lib/awaitable.ts).
  const PromiseIntrinsic = Promise;
  const ctorDescriptor = Object.getOwnPropertyDescriptor(Promise.prototype, 'constructor');
  Object.defineProperty(Promise.prototype, 'constructor', {
    get() {
      if (counting) count('Promise.prototype.constructor');
      return PromiseIntrinsic;
    },
    configurable: true,
  });
  for (let f = 0; f < forms.length; f++) {
    const [what, run] = forms[f];
    hits.clear();
    counting = true;
    let y;
    try {
      // Counted until the call has settled: an async form's promise must settle without a
      // `then`, a promise's constructor, or any other built-in a caller may have replaced. This
      // script's own await reads the returned promise's constructor: given one of its own here.
      const p = run();
      counting = false;
      if (p instanceof Promise) Reflect.defineProperty(p, 'constructor', { value: PromiseIntrinsic });
      counting = true;
      y = await p;
      counting = false;
    } catch (err) {
      counting = false;
      check(false, `${what}: threw ${err && err.code} ${err && err.message}`);
      continue;
    }
    counting = false;
    check(sameBits(y, expected[f]), `${what}: other bits under the wrappers`);
    check(hits.size === 0, `${what}: consulted ${JSON.stringify([...hits])}`);
  }
  restore();
  Object.defineProperty(Promise.prototype, 'constructor', ctorDescriptor);

  // 2. Lies, each on its own, against calls that must be refused.
  const refusals = [
    // [what, call, expected error class, code, argument]
    ['x too short', (o) => sqex.seForward(x.subarray(1), shape, weights.se, { out: o }), RangeError, 'ERR_OUT_OF_RANGE', 'x'],
    ['bad layout', (o) => sqex.seForward(x, shape, weights.se, { out: o, layout: 'bogus' }), RangeError, 'ERR_OUT_OF_RANGE', 'options.layout'],
    ['bad gate', (o) => sqex.ecaForward(x, shape, weights.eca, { out: o, gate: 'constructor' }), RangeError, 'ERR_OUT_OF_RANGE', 'options.gate'],
    ['shape 3 dims', (o) => sqex.cbamForward(x, [2, 16, 30], weights.cbam, { out: o }), RangeError, 'ERR_OUT_OF_RANGE', 'shape'],
    ['shape fractional', (o) => sqex.seForward(x, [2, 16, 6, 5.5], weights.se, { out: o }), RangeError, 'ERR_OUT_OF_RANGE', 'shape[3] (W)'],
    ['w1 wrong length', (o) => sqex.seForward(x, shape, { ...weights.se, w1: weights.se.w1.subarray(1) }, { out: o }), RangeError, 'ERR_OUT_OF_RANGE', 'weights.w1'],
    ['unknown option', (o) => sqex.seForward(x, shape, weights.se, { out: o, layuot: 'NHWC' }), TypeError, 'ERR_INVALID_ARG_TYPE', 'options'],
    ['out overlapping x', () => sqex.seForward(x, shape, weights.se, { out: new Float32Array(x.buffer, 4, n - 1) }), RangeError, 'ERR_OUT_OF_RANGE', 'options.out'],
    ['a Float64Array x', (o) => sqex.seForward(new Float64Array(n), shape, weights.se, { out: o }), TypeError, 'ERR_INVALID_ARG_TYPE', 'x'],
  ];
  const lengthGetter = Object.getOwnPropertyDescriptor(TypedArrayPrototype, 'length').get;
  const tagGetter = Object.getOwnPropertyDescriptor(TypedArrayPrototype, Symbol.toStringTag).get;
  const iter = Array.prototype[Symbol.iterator];
  const applyOrig = Reflect.apply;
  let iterCalled = false;
  const lies = [
    ['an iterator that detaches x', () => {
      Array.prototype[Symbol.iterator] = function () {
        iterCalled = true;
        if (victim !== null && victim.byteLength > 0) transfer(victim);
        return applyOrig(iter, this, []);
      };
    }],
    ['an includes that accepts anything', () => { Array.prototype.includes = () => true; }],
    ['a push that drops', () => { Array.prototype.push = () => 0; }],
    ['a Reflect.apply that lies about lengths and kinds', () => {
      Reflect.apply = (f, self, args) => (f === lengthGetter ? n : f === tagGetter ? 'Float32Array' : applyOrig(f, self, args));
    }],
    ['an Object.assign that throws', () => { Object.assign = () => { throw new Error('assign hijack'); }; }],
    ['a map and join that throw', () => {
      Array.prototype.map = () => { throw new Error('map hijack'); };
      Array.prototype.join = () => { throw new Error('join hijack'); };
    }],
    ['Math.round and Math.sqrt that lie', () => { Math.round = () => 16; Math.sqrt = () => 16; }],
    ['a String.prototype.includes that accepts anything', () => { String.prototype.includes = () => true; }],
    ['a RegExp exec and a String replace that throw', () => {
      RegExp.prototype.exec = () => { throw new Error('exec hijack'); };
      String.prototype.replace = () => { throw new Error('replace hijack'); };
    }],
  ];
  let victim = null;
  for (const [lie, install] of lies) {
    for (const [what, call, Klass, code, argument] of refusals) {
      const o = new Float32Array(n).fill(12345.5);
      // the iterator lie detaches a fresh copy of x's buffer, not x itself (which the other cases reuse)
      victim = null;
      iterCalled = false;
      install();
      let err = null;
      try {
        call(o);
      } catch (e) {
        err = e;
      }
      restore();
      const tag = `${lie} / ${what}`;
      check(err instanceof Klass, `${tag}: ${err && err.constructor && err.constructor.name} ${err && err.message}`);
      check(err !== null && err.code === code, `${tag}: code ${err && err.code}`);
      check(err !== null && err.argument === argument, `${tag}: argument ${err && err.argument} (${err && err.message})`);
      check(err !== null && typeof err.message === 'string' && /^(seForward|ecaForward|cbamForward): /.test(err.message) && !/NaN|×  ×|\(native\)/.test(err.message), `${tag}: message ${err && err.message}`);
      check(o.every((v) => v === 12345.5), `${tag}: out written`);
      check(!iterCalled, `${tag}: the array iterator was consulted`);
    }
  }
  // The iterator lie against a call whose x could be detached by it: x must not be read by the iterator.
  {
    const xs = fill(new Float32Array(n), r);
    const want = sqex.seForward(xs, shape, weights.se);
    victim = xs.buffer;
    lies[0][1]();
    let y = null;
    let err = null;
    try {
      y = sqex.seForward(xs, shape, weights.se);
    } catch (e) {
      err = e;
    }
    restore();
    check(err === null && y !== null && sameBits(y, want), `iterator lie, valid call: ${err && err.message}`);
    check(xs.length === n, 'iterator lie, valid call: x was detached during the call');
  }
  for (const op of ops) blocks[op].dispose();
  done();
}

main().catch((err) => {
  restore();
  check(false, `threw: ${err && err.stack}`);
  done();
});
