// The first call of a process loads the addon, and the loader reads node:path as it is then: a
// caller who replaced path.extname runs code inside that load. From an attack (2026-12-02): the
// load ran after the call's arguments were checked, so that code could
//   reenter: call the same block again with another shape, which rewrote the block's shared cfg:
//            the outer call returned normally, computed for the inner call's shape (127 of 128
//            outputs wrong);
//   detach:  shrink an x already checked: the addon's own backstop refused it, without `argument`;
//   throw:   make the load fail, and the failure was cached: the package stayed unusable after
//            the built-in was restored.
// Each scenario (SCENARIO) needs a process whose first call this is.
'use strict';
const path = require('node:path');
const { sqex, rng, fill, check, done, sameBits } = require('./common.cjs');

const r = rng(Number(process.env.SQEX_SEED) || 11);
const scenario = process.env.SCENARIO;
const originalExtname = path.extname;
let hookRuns = 0;

/** Runs `body` once, from inside the next call of path.extname (the first load's), then restores it. */
function onFirstLoad(body) {
  path.extname = function (...args) {
    path.extname = originalExtname;
    hookRuns++;
    body();
    return Reflect.apply(originalExtname, this, args);
  };
}

async function main() {
  if (scenario === 'reenter') {
    // ECA and CBAM blocks, called again from inside the load with another shape of the same
    // element count (16 x 2 x 4 against 8 x 4 x 4): the outer result must be the function form's.
    const weight = Float32Array.of(0.3, -0.8, 0.5);
    const eca = new sqex.ECABlock({ weight }, { device: 'cpu' });
    const x = fill(new Float32Array(8 * 4 * 4), r);
    let inner = null;
    onFirstLoad(() => {
      try {
        inner = { y: eca.forward(fill(new Float32Array(128), r), [1, 16, 2, 4]) };
      } catch (err) {
        inner = { err };
      }
    });
    const y = eca.forward(x, [1, 8, 4, 4]);
    check(hookRuns === 1, `the loader called path.extname (${hookRuns} runs): the scenario did not happen`);
    check(sameBits(y, sqex.ecaForward(x, [1, 8, 4, 4], { weight })), 'the outer call computed its own shape');
    // The inner call came while the addon was loading: refused, coded (or, were it run, right).
    check(inner !== null && (inner.y !== undefined || inner.err.code === 'ERR_SQEX_LOAD'), `inner call: ${inner && inner.err ? `${inner.err.code} ${inner.err.message}` : 'a result'}`);
    // The same through the async form of a block, and the package still works afterwards.
    const y2 = await eca.forwardAsync(x, [1, 8, 4, 4]);
    check(sameBits(y2, y), 'an async call after the load');
  } else if (scenario === 'reenter-async') {
    const c = 8;
    const w = { w1: fill(new Float32Array(2 * c), r, 0.2), w2: fill(new Float32Array(c * 2), r, 0.2), spatialWeight: fill(new Float32Array(2 * 3 * 3), r, 0.2) };
    const cbam = new sqex.CBAMBlock(w, { channels: c, device: 'cpu' });
    const x = fill(new Float32Array(c * 4 * 4), r);
    let innerDone = null;
    onFirstLoad(() => {
      innerDone = cbam.forwardAsync(fill(new Float32Array(c * 8 * 2), r), [1, c, 8, 2]).then(
        () => 'ran',
        (err) => err.code,
      );
    });
    const y = await cbam.forwardAsync(x, [1, c, 4, 4]);
    check(hookRuns === 1, `the loader called path.extname (${hookRuns} runs)`);
    check(sameBits(y, sqex.cbamForward(x, [1, c, 4, 4], w)), 'the outer async call computed its own shape');
    const innerOutcome = await innerDone;
    check(innerOutcome === 'ran' || innerOutcome === 'ERR_SQEX_LOAD', `inner async call: ${innerOutcome}`);
  } else if (scenario === 'detach') {
    // x shrunk to nothing from inside the load: x is read after the load, so it is refused as
    // lib/ refuses an empty x (named), not by the addon's backstop.
    const c = 8;
    const x = new Float32Array(new ArrayBuffer(c * 16 * 4, { maxByteLength: 4096 }));
    fill(x, r);
    const out = new Float32Array(c * 16).fill(7);
    onFirstLoad(() => x.buffer.resize(0));
    let err = null;
    try {
      await sqex.seForwardAsync(x, [1, c, 4, 4], { w1: fill(new Float32Array(2 * c), r), w2: fill(new Float32Array(c * 2), r) }, { out });
    } catch (e) {
      err = e;
    }
    check(hookRuns === 1, `the loader called path.extname (${hookRuns} runs)`);
    check(err !== null && err.argument === 'x' && (err.code === 'ERR_OUT_OF_RANGE' || err.code === 'ERR_INVALID_ARG_TYPE'), `refusal: ${err && `${err.code} ${err.argument} ${err.message}`}`);
    check(out.every((v) => v === 7), 'out unwritten');
  } else if (scenario === 'throw') {
    // A replaced built-in that throws inside the load: that call fails, coded; once it is
    // restored, the next call loads the addon and runs.
    const c = 8;
    const x = fill(new Float32Array(c * 16), r);
    const w = { w1: fill(new Float32Array(2 * c), r), w2: fill(new Float32Array(c * 2), r) };
    path.extname = () => {
      hookRuns++;
      throw new Error('a transient failure of the caller\'s');
    };
    let err = null;
    try {
      sqex.seForward(x, [1, c, 4, 4], w);
    } catch (e) {
      err = e;
    }
    path.extname = originalExtname;
    check(hookRuns >= 1, `the loader called path.extname (${hookRuns} runs)`);
    check(err !== null && err.code === 'ERR_SQEX_LOAD', `first call: ${err && `${err.code} ${err.message}`}`);
    let y = null;
    try {
      y = sqex.seForward(x, [1, c, 4, 4], w);
    } catch (e) {
      check(false, `second call after the restore: ${e.code} ${e.message}`);
    }
    check(y !== null && y.length === x.length, 'the second call ran');
  } else if (scenario === 'patched-globals') {
    // Built-ins replaced after the package was required and before its first call (the load runs
    // then): Object.freeze / Object.assign / JSON.parse that throw, and global typed-array
    // constructors that throw. From an attack (2026-12-04): the load froze its report with the
    // live Object.freeze and made its coded error with the live Object.assign (so `new SEBlock`
    // and cuda.status() threw the caller's uncoded Error), read package.json with the live
    // JSON.parse (then called the package "bundled"), and the calls made their cfg arrays with
    // the global Float64Array. Every call must run as without the patches, and every refusal
    // keep its code.
    const F32 = Float32Array;
    const c = 8;
    const shape = [2, c, 3, 5];
    const x = fill(new F32(2 * c * 15), r);
    const w = { w1: fill(new F32(2 * c), r, 0.2), b1: fill(new F32(2), r), w2: fill(new F32(c * 2), r, 0.2), b2: fill(new F32(c), r) };
    const saved = {
      freeze: Object.freeze, assign: Object.assign, parse: JSON.parse,
      ctors: ['Float32Array', 'Float64Array', 'DataView', 'Uint16Array', 'Uint32Array', 'Uint8Array', 'Int32Array', 'BigUint64Array'].map((k) => [k, globalThis[k]]),
    };
    const thrower = (what) => function () { hookRuns++; throw new Error(`the caller's ${what}`); };
    Object.freeze = thrower('Object.freeze');
    Object.assign = thrower('Object.assign');
    JSON.parse = thrower('JSON.parse');
    for (const [k] of saved.ctors) globalThis[k] = thrower(k);
    const got = {};
    const attempt = (name, f) => {
      try {
        got[name] = { value: f() };
      } catch (err) {
        got[name] = { err };
      }
    };
    attempt('seForward', () => sqex.seForward(x, shape, w));
    attempt('block', () => new sqex.SEBlock(w, { channels: c }).forward(x, shape));
    attempt('status', () => sqex.cuda.status());
    attempt('report', () => sqex.loadReport());
    attempt('empty', () => sqex.seForward(new F32(0), [0, c, 3, 5], w));
    attempt('unknown option', () => sqex.seForward(x, shape, w, { laoyut: 'NCHW' }));
    Object.freeze = saved.freeze;
    Object.assign = saved.assign;
    JSON.parse = saved.parse;
    for (const [k, v] of saved.ctors) globalThis[k] = v;
    const ok = (name) => got[name] && got[name].err === undefined;
    const why = (name) => (got[name] && got[name].err ? `${got[name].err.code} ${got[name].err.message}` : 'ran');
    const expected = sqex.seForward(x, shape, w);
    check(ok('seForward') && sameBits(got.seForward.value, expected), `seForward: ${why('seForward')}`);
    check(ok('block') && sameBits(got.block.value, expected), `SEBlock: ${why('block')}`);
    check(ok('status') && Object.isFrozen(got.status.value) && Object.isFrozen(got.status.value.devices), `cuda.status(): ${why('status')}`);
    check(ok('report') && got.report.value.binary !== null && got.report.value.bundled === null && Object.isFrozen(got.report.value), `loadReport(): ${why('report')} ${ok('report') ? JSON.stringify(got.report.value.bundled) : ''}`);
    check(ok('empty') && got.empty.value instanceof F32 && got.empty.value.length === 0, `an empty batch: ${why('empty')}`);
    const refusal = got['unknown option'].err;
    check(refusal !== undefined && refusal.code === 'ERR_INVALID_ARG_TYPE' && /did you mean 'layout'/.test(refusal.message), `unknown option: ${why('unknown option')}`);
  } else {
    check(false, `unknown SCENARIO ${scenario}`);
  }
  done();
}

main().catch((err) => {
  check(false, `uncaught: ${err && err.stack}`);
  done();
});
