// Promise hooks against the CUDA paths (run by test/gpu/ops.cuda.test.ts where CUDA is usable:
// a GPU, or the emulated addon). A hook (v8.promiseHooks.onInit, or async_hooks init) strikes at
// the k-th promise made after an async call starts, for each k up to past the call's own
// promises: it disposes x, out or a DeviceTensor weight, disposes the block, or re-enters the
// block with another call. An attack (2026-12-04) found lib/ making promises between filling the
// device pointers (and a block's shared cfg and dev) and the addon's call: kernels read and wrote
// freed device memory, and a block's call ran with the re-entrant call's shape. Whatever the hook
// does, a call is refused with a code, or gives the bits of the same call made without hooks.
'use strict';
const { sqex, rng, fill, weightsFor, check, sameBits, done, promiseStrikes } = require('./common.cjs');

const { DeviceTensor, SEBlock, ECABlock } = sqex;
const SHAPE = [2, 16, 4, 4];
const NUMEL = SHAPE.reduce((a, b) => a * b);

const strikes = promiseStrikes();
const { strikeEach } = strikes;

const host = (t) => t.toHostSync();
const silently = (f) => {
  try {
    f();
  } catch {
    // a second dispose, or a refusal of the re-entrant call: not what is checked
  }
};

// Each case: make(r) -> { call(), reference: Float32Array, strikes: { name: () => void }, result(y) -> host values or null }.
const cases = {
  'seForwardAsync, DeviceTensor x and weights': (r) => {
    const xh = fill(new Float32Array(NUMEL), r);
    const wh = weightsFor('se', SHAPE[1], r);
    const reference = host(sqex.seForward(DeviceTensor.from(xh, SHAPE), SHAPE, wh));
    const x = DeviceTensor.from(xh, SHAPE);
    const w1 = DeviceTensor.from(wh.w1, [wh.w1.length, 1, 1, 1]);
    const w = { ...wh, w1 };
    const out = DeviceTensor.empty(SHAPE);
    return {
      call: () => sqex.seForwardAsync(x, SHAPE, w, { out }),
      reference,
      strikes: { x: () => x.dispose(), out: () => out.dispose(), w1: () => w1.dispose() },
      struckResult: (name) => name === 'out',
    };
  },
  'ecaForwardAsync, DeviceTensor x, host weight': (r) => {
    const xh = fill(new Float32Array(NUMEL), r);
    const wh = weightsFor('eca', SHAPE[1], r);
    const reference = host(sqex.ecaForward(DeviceTensor.from(xh, SHAPE), SHAPE, wh));
    const x = DeviceTensor.from(xh, SHAPE);
    return { call: () => sqex.ecaForwardAsync(x, SHAPE, wh), reference, strikes: { x: () => x.dispose() }, struckResult: () => false };
  },
  'SEBlock.forwardAsync, resident weights': (r) => {
    const xh = fill(new Float32Array(NUMEL), r);
    const wh = weightsFor('se', SHAPE[1], r);
    const block = new SEBlock(wh, { device: 'cuda' });
    const reference = host(block.forward(DeviceTensor.from(xh, SHAPE)));
    const x = DeviceTensor.from(xh, SHAPE);
    const other = DeviceTensor.from(fill(new Float32Array(NUMEL / 2), r), [1, 16, 4, 4]);
    return {
      call: () => block.forwardAsync(x),
      reference,
      strikes: {
        x: () => x.dispose(),
        block: () => block.dispose(),
        // the same block again, with another shape: it refills the block's cfg and dev
        reenter: () => block.forward(other).dispose(),
      },
      struckResult: () => false,
    };
  },
  'ECABlock.forwardAsync, host arrays on cuda': (r) => {
    const xh = fill(new Float32Array(NUMEL), r);
    const wh = weightsFor('eca', SHAPE[1], r);
    const block = new ECABlock(wh, { device: 'cuda' });
    const reference = block.forward(xh, SHAPE);
    const otherShape = [1, 8, 2, 4];
    return {
      call: () => block.forwardAsync(xh, SHAPE),
      reference,
      strikes: { reenter: () => block.forward(fill(new Float32Array(64), r), otherShape), block: () => block.dispose() },
      struckResult: () => false,
    };
  },
};

async function one(name, make, strikeName, k, seed) {
  const c = make(rng(seed));
  let p;
  try {
    p = strikes.during(k, () => silently(c.strikes[strikeName]), c.call);
  } catch (err) {
    p = Promise.reject(err);
  }
  const made = strikes.state.count;
  const label = `${name}, ${strikeName} at promise ${k}`;
  let y;
  try {
    y = await p;
  } catch (err) {
    check(typeof err.code === 'string' && err.code.startsWith('ERR_'), `${label}: refused without a code: ${err && err.message}`);
    return;
  }
  if (c.struckResult(strikeName) && k <= made) return; // the result itself was disposed: nothing to read
  let values;
  try {
    values = y instanceof Float32Array ? y : host(y);
  } catch (err) {
    check(false, `${label}: resolved, but its result cannot be read: ${err && err.code} ${err && err.message}`);
    return;
  }
  check(sameBits(values, c.reference), `${label}: resolved with other values than the call without hooks`);
}

(async () => {
  let seed = Number(process.env.SQEX_SEED) || 1;
  for (const [kind, install] of Object.entries(strikes.kinds)) {
    const uninstall = install();
    strikes.state.most = 0;
    for (const [name, make] of Object.entries(cases)) {
      const strikes = Object.keys(make(rng(1)).strikes);
      for (const s of strikes) await strikeEach(`${kind} ${name}, ${s}`, (k) => one(name, make, s, k, seed++));
    }
    uninstall();
    check(strikes.state.most > 0, `${kind}: a call made no promise the hooks saw`);
  }
  done();
})();
