// Seeded fuzz over the public API: valid and invalid arguments, sync and async, functions and
// blocks, hostile getters, Proxies, subclasses, detached / resizable / shared buffers, buffers
// taken away during async calls. Invariants checked on every call:
//   - the process never crashes (the parent test checks the exit);
//   - a refused call throws (or rejects with) an Error that has a string `code`, and writes
//     nothing: out and scaleOut keep their sentinel;
//   - an accepted call gives exactly the bits of a plain synchronous call on private copies;
//   - bystander arrays allocated meanwhile are never written.
// SQEX_FUZZ_CALLS sets the number of calls (default 10000), SQEX_SEED the seed.
'use strict';
const { rng: makeRng, check, done, report, sameBits, transfer, gc } = require('./common.cjs');
const sqex = require(process.env.SQEX_DIST);

const CALLS = Number(process.env.SQEX_FUZZ_CALLS || 10000);
const seed = Number(process.env.SQEX_SEED || 1);
const r = makeRng(seed);
const u = () => r() + 0.5; // [0, 1)
const int = (n) => Math.floor(u() * n);
const pick = (a) => a[int(a.length)];
const SENTINEL = -7.25;
const stats = { calls: 0, accepted: 0, refused: 0, async: 0, blocks: 0, codes: {} };

function normals(n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r() * 2 || 0.5;
  return a;
}
function sab(a) {
  const v = new Float32Array(new SharedArrayBuffer(a.length * 4));
  v.set(a);
  return v;
}
function resizable(a) {
  const v = new Float32Array(new ArrayBuffer(a.length * 4, { maxByteLength: a.length * 8 }));
  v.set(a);
  return v;
}
class Liar extends Float32Array {
  get length() {
    return 3;
  }
  get buffer() {
    return new ArrayBuffer(4);
  }
}

// A valid call: op, shape, weights, options (plain arrays).
function validCall() {
  const op = pick(['se', 'eca', 'cbam']);
  const shape = [1 + int(3), 1 + int(12), 1 + int(7), 1 + int(7)];
  const [n, c, h, w] = shape;
  const numel = n * c * h * w;
  const hid = 1 + int(Math.max(1, c));
  let weights;
  if (op === 'se') {
    weights = u() < 0.2 ? { w1: normals(c * c) } : { w1: normals(hid * c), w2: normals(c * hid) };
    if (u() < 0.5) weights.b1 = normals(weights.w2 ? hid : c);
    if (weights.w2 && u() < 0.5) weights.b2 = normals(c);
  } else if (op === 'eca') {
    weights = { weight: normals(pick([1, 3, 5])) };
  } else {
    const k = pick([1, 3, 5, 7]);
    weights = { w1: normals(hid * c), w2: normals(c * hid), spatialWeight: normals(2 * k * k) };
    if (u() < 0.5) weights.b1 = normals(hid);
    if (u() < 0.5) weights.spatialBias = normals(1);
  }
  const options = { device: 'cpu', layout: pick(['NCHW', 'NHWC']), gate: pick(['sigmoid', 'hardsigmoid']) };
  if (op !== 'eca') options.activation = pick(['relu', 'silu']);
  if (op === 'se' && u() < 0.3) options.residual = normals(numel);
  if (op === 'se' && u() < 0.3) options.outputActivation = 'relu';
  if (u() < 0.5) options.out = new Float32Array(numel).fill(SENTINEL);
  if (op !== 'cbam' && u() < 0.3) options.scaleOut = new Float32Array(n * c).fill(SENTINEL);
  // Half the calls stay on the staged path whatever it costs; the rest ('auto') mostly run their
  // async form on the calling thread (these shapes are small).
  if (u() < 0.5) options.offload = 'always';
  return { op, x: normals(numel), shape, weights, options };
}

// Plain synchronous result on private copies (the oracle).
function oracle(call) {
  const copy = (v) => (v instanceof Float32Array ? new Float32Array(v) : v);
  const weights = Object.fromEntries(Object.entries(call.weights).map(([k, v]) => [k, copy(v)]));
  const options = Object.fromEntries(Object.entries(call.options).map(([k, v]) => [k, copy(v)]));
  if (options.out) options.out = new Float32Array(options.out.length);
  if (options.scaleOut) options.scaleOut = new Float32Array(options.scaleOut.length);
  const y = sqex[`${call.op}Forward`](new Float32Array(call.x), [...call.shape], weights, options);
  return { y, s: options.scaleOut };
}

// Mutations that make a call invalid (each must be refused with a code, writing nothing).
const breakers = [
  (c) => { c.x = new Float64Array(c.x.length); },
  (c) => { c.x = Array.from(c.x); },
  (c) => { c.x = Buffer.from(c.x.buffer); },
  (c) => { c.x = new DataView(c.x.buffer); },
  (c) => { c.x = c.x.subarray(1); },
  (c) => { const x = c.x; transfer(x.buffer); },
  (c) => { c.x = new Liar(c.x.length); },
  (c) => { c.shape = c.shape.slice(0, 3); },
  (c) => { c.shape = [...c.shape, 1]; },
  (c) => { c.shape[int(4)] = pick([0, -1, 1.5, NaN, '3', 2 ** 31, undefined]); },
  (c) => { c.shape = new Proxy(c.shape, { get: (t, k) => (k === '1' ? t[1] + 1 : t[k]) }); },
  (c) => { c.weights = null; },
  (c) => { c.weights = { ...c.weights, bogus: new Float32Array(1) }; },
  (c) => { const k = pick(Object.keys(c.weights)); c.weights[k] = new Float32Array(c.weights[k].length + 1); },
  (c) => { const k = pick(Object.keys(c.weights)); c.weights[k] = new Float64Array(c.weights[k].length); },
  (c) => { c.options.layout = pick(['nchw', 'CHW', 1, null]); },
  (c) => { c.options.device = pick(['gpu', 'cuda:0', 0]); },
  (c) => { c.options.stream = pick([1, -1n, '0']); },
  (c) => { c.options.lyout = 'NHWC'; },
  (c) => { c.options.out = new Float32Array(c.x.length + 1).fill(SENTINEL); },
  (c) => { const big = new Float32Array(c.x.length + 1); big.set(c.x, 1); c.x = big.subarray(1); c.options.out = big.subarray(0, c.x.length).fill(SENTINEL); c.x = big.subarray(1); },
  (c) => { c.options.scaleOut = new Float32Array(c.op === 'cbam' ? 1 : 2).fill(SENTINEL); },
  (c) => { c.options = new Proxy({ device: 'cpu' }, { ownKeys: () => ['device', 'zzz'], getOwnPropertyDescriptor: () => ({ enumerable: true, configurable: true, value: 1 }) }); },
  (c) => { c.x = Object.create(sqex.DeviceTensor.prototype); },
  (c) => { c.options.device = 'cuda'; }, // refused only where CUDA is unavailable
  (c) => { c.options.offload = pick(['never', 'ALWAYS', true, 1]); },
];

// Variations that keep a call valid.
const benign = [
  (c) => { c.x = sab(c.x); },
  (c) => { c.x = resizable(c.x); },
  (c) => { if (c.options.out) c.options.out = sab(c.options.out); },
  (c) => { const k = pick(Object.keys(c.weights)); c.weights[k] = sab(c.weights[k]); },
  (c) => { if (c.options.out && !c.options.residual) c.options.out = c.x; },
  (c) => { const s = c.shape; const g = [...s]; c.shape = g; let reads = 0; Object.defineProperty(g, 0, { get: () => (reads++ ? 99 : s[0]), enumerable: true }); },
  (c) => { const o = c.options; c.options = {}; for (const [k, v] of Object.entries(o)) { let reads = 0; Object.defineProperty(c.options, k, { get: () => (reads++ ? 'NHWC-later' : v), enumerable: true }); } },
];

// Things done to the arrays while an async call is in flight.
const duringAsync = [
  (c) => transfer(c.x.buffer),
  (c) => { if (c.options.out) transfer(c.options.out.buffer); },
  (c) => { if (c.options.scaleOut) transfer(c.options.scaleOut.buffer); },
  (c) => { const k = pick(Object.keys(c.weights)); if (!(c.weights[k].buffer instanceof SharedArrayBuffer)) transfer(c.weights[k].buffer); },
  (c) => { if (c.x.buffer.resizable) c.x.buffer.resize(0); },
  () => gc(),
];

function refusedOk(err, c, outs) {
  const code = err && typeof err.code === 'string' ? err.code : undefined;
  check(code !== undefined, `refused without a code: ${err && err.stack}`);
  stats.codes[code] = (stats.codes[code] || 0) + 1;
  for (const o of outs) {
    if (o.length === 0) continue; // taken away during the call: nothing left to compare
    check(o.every((v) => v === SENTINEL), `refused call wrote its output (${code}): ${err && err.message}`);
  }
}

async function one(i) {
  const c = validCall();
  let expectValid = true;
  let ref;
  try {
    ref = oracle(c); // before any mutation (getters must not be consumed by the oracle)
  } catch (err) {
    check(false, `call ${i}: the generator made an invalid call: ${err.message}`);
    return;
  }
  const roll = u();
  if (roll < 0.45) {
    pick(breakers)(c);
    expectValid = false;
  } else if (roll < 0.75) {
    pick(benign)(c);
  }
  // Outputs as given (before a getter hides them), for the "nothing written" check.
  const outs = [];
  try {
    const desc = Object.getOwnPropertyDescriptor(c.options, 'out');
    if (desc && desc.value instanceof Float32Array && desc.value !== c.x && desc.value.buffer.byteLength > 0) outs.push(desc.value);
    const sdesc = Object.getOwnPropertyDescriptor(c.options, 'scaleOut');
    if (sdesc && sdesc.value instanceof Float32Array && sdesc.value.buffer.byteLength > 0) outs.push(sdesc.value);
  } catch {}
  const useAsync = u() < 0.4;
  const useBlock = u() < 0.15 && expectValid;
  const bystanders = [new Float32Array(64).fill(SENTINEL), new Float32Array(4096).fill(SENTINEL)];
  stats.calls++;
  let y;
  let error;
  try {
    if (useBlock) {
      stats.blocks++;
      const Block = { se: sqex.SEBlock, eca: sqex.ECABlock, cbam: sqex.CBAMBlock }[c.op];
      const { out, scaleOut, residual, offload, ...ctor } = c.options;
      const block = new Block(c.weights, c.op === 'eca' ? ctor : { ...ctor, channels: c.shape[1] });
      const per = {};
      if (out !== undefined) per.out = out;
      if (scaleOut !== undefined) per.scaleOut = scaleOut;
      if (residual !== undefined) per.residual = residual;
      if (offload !== undefined) per.offload = offload;
      y = useAsync ? await block.forwardAsync(c.x, c.shape, per) : block.forward(c.x, c.shape, per);
      block.dispose();
    } else if (useAsync) {
      stats.async++;
      const p = sqex[`${c.op}ForwardAsync`](c.x, c.shape, c.weights, c.options);
      const act = u() < 0.3 ? pick(duringAsync) : null;
      if (act) {
        try {
          act(c);
        } catch {}
        expectValid = expectValid && false; // the outcome may legitimately be a rejection now
      }
      y = await p;
    } else {
      y = sqex[`${c.op}Forward`](c.x, c.shape, c.weights, c.options);
    }
  } catch (err) {
    error = err;
  }
  for (const b of bystanders) check(b.every((v) => v === SENTINEL), `call ${i}: a bystander array was written`);
  if (error !== undefined) {
    stats.refused++;
    // A call expected valid may still be refused where the environment says so (e.g. 'cuda').
    refusedOk(error, c, outs);
    if (expectValid && ref !== undefined && error.code !== 'ERR_SQEX_CUDA_UNAVAILABLE') {
      check(false, `call ${i}: a valid ${c.op} call was refused: ${error.message}`);
    }
    return;
  }
  stats.accepted++;
  check(y instanceof Float32Array, `call ${i}: result is not a Float32Array`);
  if (expectValid && ref !== undefined && y instanceof Float32Array) {
    check(sameBits(y, ref.y), `call ${i}: ${c.op} result differs from the plain synchronous call`);
  }
}

(async () => {
  for (let i = 0; i < CALLS; i++) await one(i);
  report.stats = stats;
  done();
})().catch((err) => {
  process.stdout.write(`${JSON.stringify({ ok: false, checks: 0, failures: [String(err && err.stack)] })}\n`);
});
