// An async call over host arrays while the caller transfers, clones away, resizes or posts each
// of its buffers, then collects garbage and allocates: the process survives, unrelated memory is
// untouched, inputs give the right result, and a lost output rejects by name (nothing written).
'use strict';
const { MessageChannel } = require('node:worker_threads');
const { rng, fill, weightsFor, fns, stagedAsyncFns, autoAsyncFns, check, sameBits, done, transfer, gc, bystanders, outcome, report } = require('./common.cjs');

const SHAPE = process.env.SQEX_HOSTILE_SHAPE ? JSON.parse(process.env.SQEX_HOSTILE_SHAPE) : [4, 64, 56, 56];
const [N, C, H, W] = SHAPE;
const NUMEL = N * C * H * W;
// SQEX_HOSTILE_DEVICE=cuda runs the same over the CUDA host path (pinned staging) on a GPU machine.
const DEVICE = process.env.SQEX_HOSTILE_DEVICE || 'cpu';

function args(op, r, makeX = (n) => new Float32Array(n)) {
  const x = fill(makeX(NUMEL), r);
  const w = weightsFor(op, C, r);
  const opts = { device: DEVICE };
  if (op === 'se') opts.residual = fill(new Float32Array(NUMEL), r);
  if (op !== 'cbam') opts.scaleOut = new Float32Array(N * C);
  return { x, w, opts };
}

function reference(op, a) {
  const opts = { ...a.opts };
  if (a.opts.scaleOut) opts.scaleOut = new Float32Array(N * C);
  const y = fns[op](new Float32Array(a.x), SHAPE, a.w, opts);
  return { y, s: opts.scaleOut };
}

// Ways to take a buffer away from its views while the call runs.
const port = new MessageChannel();
const takers = {
  structuredClone: (buf) => transfer(buf),
  postMessage: (buf) => port.port1.postMessage(buf, [buf]),
};

// mode 'staged' (offload 'always'): a lost output rejects by name, nothing written. mode 'auto'
// (the default offload): a call may run on the calling thread, its output written before the
// promise is returned, or be staged; a lost output is then either written already (the call ran
// before the transfer) or refused by name. Either way the process and unrelated memory survive
// and inputs give the right result. Returns whether the call ran on the calling thread (null: the
// op has no such operand, nothing was called).
async function one(op, target, how, seed, mode = 'staged') {
  const r = rng(seed);
  const a = args(op, r);
  const ref = reference(op, a);
  // 'auto' always passes out: that it holds the result when the call returns shows where it ran.
  if (target === 'out' || mode === 'auto') a.opts.out = new Float32Array(NUMEL);
  const arr = target === 'x' ? a.x : target === 'weight' ? Object.values(a.w)[0] : a.opts[target];
  if (arr === undefined) return null; // the op has no such operand
  const p = (mode === 'auto' ? autoAsyncFns : stagedAsyncFns)[op](a.x, SHAPE, a.w, a.opts);
  const ranInline = mode === 'auto' && sameBits(a.opts.out, ref.y);
  takers[how](arr.buffer);
  gc();
  // Unrelated live arrays allocated after the transfer: the kernel's output must not land here.
  const checkBystanders = bystanders(Math.min(NUMEL, 1 << 16));
  const { result, error } = await outcome(p);
  const label = `${mode} ${op} ${target} ${how}${ranInline ? ' (ran on the calling thread)' : ''}`;
  checkBystanders(label);
  if ((target === 'out' || target === 'scaleOut') && ranInline) {
    check(error === undefined && result === a.opts.out, `${label}: ${error ? error.message : 'resolved with another array'}`);
  } else if (target === 'out' || target === 'scaleOut') {
    const name = `options.${target}`;
    check(error !== undefined && error.code === 'ERR_SQEX_ARRAY_CHANGED' && error.argument === name, `${label}: expected ERR_SQEX_ARRAY_CHANGED naming ${name}, got ${error && error.code} ${error && error.message}`);
    check(error === undefined || error.message.includes(name), `${label}: message names ${name}`);
  } else {
    check(error === undefined, `${label}: rejected: ${error && error.message}`);
    if (error === undefined) {
      check(sameBits(result, ref.y), `${label}: result differs from the synchronous call on the same data`);
      if (a.opts.scaleOut && ref.s) check(sameBits(a.opts.scaleOut, ref.s), `${label}: scaleOut differs`);
    }
  }
  return ranInline;
}

// A resizable ArrayBuffer shrunk to 0 during the call (and, for out, grown back before settle).
async function resizable(op, seed) {
  const r = rng(seed);
  const base = args(op, r);
  const ref = reference(op, base);
  for (const target of ['x', 'out']) {
    const rab = new ArrayBuffer(NUMEL * 4, { maxByteLength: NUMEL * 8 });
    const view = new Float32Array(rab); // length-tracking
    const x = target === 'x' ? view : new Float32Array(base.x);
    if (target === 'x') view.set(base.x);
    const opts = { ...base.opts };
    if (target === 'out') opts.out = view;
    const p = stagedAsyncFns[op](x, SHAPE, base.w, opts);
    rab.resize(0);
    gc();
    let result, error;
    try {
      result = await p;
    } catch (err) {
      error = err;
    }
    const label = `${op} resizable ${target}`;
    if (target === 'x') {
      check(error === undefined && sameBits(result, ref.y), `${label}: ${error ? error.message : 'wrong result'}`);
    } else {
      check(error !== undefined && error.code === 'ERR_SQEX_ARRAY_CHANGED', `${label}: expected ERR_SQEX_ARRAY_CHANGED, got ${error && error.message}`);
    }
  }
  // Shrunk and grown back before the call settles: the array has its length again and gets the result.
  const rab = new ArrayBuffer(NUMEL * 4, { maxByteLength: NUMEL * 8 });
  const out = new Float32Array(rab);
  const p = stagedAsyncFns[op](new Float32Array(base.x), SHAPE, base.w, { ...base.opts, out });
  rab.resize(0);
  rab.resize(NUMEL * 4);
  const y = await p;
  check(y === out && sameBits(out, ref.y), `${op} resizable out shrunk and regrown: result written`);
}

// SharedArrayBuffer views: used in place (they cannot be detached), results right.
async function shared(op, seed) {
  const r = rng(seed);
  const base = args(op, r);
  const ref = reference(op, base);
  const sab = (src) => {
    const v = new Float32Array(new SharedArrayBuffer(src.length * 4));
    v.set(src);
    return v;
  };
  const x = sab(base.x);
  const w = Object.fromEntries(Object.entries(base.w).map(([k, v]) => [k, sab(v)]));
  const out = new Float32Array(new SharedArrayBuffer(NUMEL * 4));
  const opts = { ...base.opts, out };
  if (base.opts.residual) opts.residual = sab(base.opts.residual);
  const y = await stagedAsyncFns[op](x, SHAPE, w, opts);
  check(y === out && sameBits(out, ref.y), `${op} SharedArrayBuffer operands: async result`);
  out.fill(0);
  fns[op](x, SHAPE, w, opts);
  check(sameBits(out, ref.y), `${op} SharedArrayBuffer operands: sync result`);
  let threw = false;
  try {
    transfer(x.buffer);
  } catch {
    threw = true;
  }
  check(threw, 'a SharedArrayBuffer cannot be transferred (the in-place rule rests on it)');
}

(async () => {
  let seed = Number(process.env.SQEX_SEED || 1);
  // 'auto' first: at these shapes the calls run on the calling thread, so this pass checks that
  // their results stand whatever is taken afterwards; the staged pass below attacks calls in flight.
  let inline = 0;
  let calls = 0;
  for (const op of ['se', 'eca', 'cbam']) {
    for (const target of ['x', 'residual', 'weight', 'out', 'scaleOut']) {
      for (const how of Object.keys(takers)) {
        const r = await one(op, target, how, seed++, 'auto');
        if (r !== null) calls++;
        if (r) inline++;
      }
    }
  }
  report.autoCalls = calls;
  report.autoInline = inline;
  for (const op of ['se', 'eca', 'cbam']) {
    for (const target of ['x', 'residual', 'weight', 'out', 'scaleOut']) {
      for (const how of Object.keys(takers)) await one(op, target, how, seed++);
    }
    await resizable(op, seed++);
    await shared(op, seed++);
  }
  port.port1.close();
  port.port2.close();
  done();
})().catch((err) => {
  process.stdout.write(`${JSON.stringify({ ok: false, checks: 0, failures: [String(err && err.stack)] })}\n`);
});
