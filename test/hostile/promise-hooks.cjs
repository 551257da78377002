// Promise hooks are JavaScript that V8 runs whenever a promise is created, including the one the
// addon creates for an async call. An async call whose op runs on the calling thread (offload
// 'auto' on a small tensor) used to create it after taking pointers into the caller's arrays and
// before running the op: a hook that shrank `out` there made the kernel write into freed pages
// (SIGSEGV), one that transferred x or a weight made it read freed memory. Here a hook (async_hooks
// init, or v8.promiseHooks.onInit) strikes at the k-th promise created after the call starts, for
// each k up to past the call's own promises: whatever it does, the process survives, unrelated
// memory is untouched, a refusal carries a code, and a result equals the sync call's.
'use strict';
const { sqex, rng, fill, weightsFor, fns, autoAsyncFns, check, sameBits, done, transfer, gc, bystanders, outcome, promiseStrikes } = require('./common.cjs');

const SHAPE = [1, 64, 16, 16];
const NUMEL = SHAPE.reduce((a, b) => a * b);
const strikes = promiseStrikes();

const blockFor = (op, w) =>
  op === 'se' ? new sqex.SEBlock(w) : op === 'eca' ? new sqex.ECABlock(w) : new sqex.CBAMBlock(w, { channels: SHAPE[1] });

async function one(op, viaBlock, target, k, seed) {
  const r = rng(seed);
  const x = fill(new Float32Array(NUMEL), r);
  const w = weightsFor(op, SHAPE[1], r);
  const ref = fns[op](new Float32Array(x), SHAPE, w);
  // out on a resizable buffer, so that the hook can shrink it to nothing
  const rab = new ArrayBuffer(NUMEL * 4, { maxByteLength: NUMEL * 4 });
  const out = new Float32Array(rab, 0, NUMEL);
  const block = viaBlock ? blockFor(op, w) : null;
  const victim = target === 'x' ? x.buffer : target === 'weight' ? Object.values(w)[0].buffer : null;
  const strike = () => {
    if (victim === null) rab.resize(0);
    else transfer(victim);
    gc();
  };
  const p = strikes.during(k, strike, () => (viaBlock ? block.forwardAsync(x, SHAPE, { out }) : autoAsyncFns[op](x, SHAPE, w, { out })));
  const checkBystanders = bystanders(NUMEL);
  const { result, error } = await outcome(p);
  const label = `${op}${viaBlock ? ' block' : ''} ${target} at promise ${k}`;
  checkBystanders(label);
  if (error !== undefined) {
    check(typeof error.code === 'string' && error.code.startsWith('ERR_'), `${label}: rejected without a code: ${error && error.message}`);
    return;
  }
  check(result === out, `${label}: resolved with another array`);
  // A shrunk out has nothing left to compare; otherwise the op saw the arrays as they were.
  if (out.length === NUMEL) check(sameBits(out, ref), `${label}: result differs from the synchronous call on the same data`);
}

(async () => {
  let seed = Number(process.env.SQEX_SEED) || 1;
  for (const [kind, install] of Object.entries(strikes.kinds)) {
    const uninstall = install();
    strikes.state.most = 0;
    for (const op of ['se', 'eca', 'cbam']) {
      for (const viaBlock of [false, true]) {
        for (const target of ['out', 'x', 'weight']) {
          if (viaBlock && target === 'weight') continue; // a block holds its own copy
          await strikes.strikeEach(`${kind} ${op}${viaBlock ? ' block' : ''} ${target}`, (k) => one(op, viaBlock, target, k, seed++));
        }
      }
    }
    uninstall();
    check(strikes.state.most > 0, `${kind}: a call created no promise the hooks saw`);
  }
  done();
})();
