// The raw binding (reachable from user code: require(loadReport().binary)) given an operand tuple
// whose element is an accessor that detaches an operand read before it. The binding reads every
// element first and takes pointers only after (ParseHostOperands): the call must refuse the
// detached operand with a coded error, or run on intact memory; never touch freed memory.
'use strict';
const path = require('node:path');
const { sqex, rng, fill, weightsFor, check, done, transfer, gc } = require('./common.cjs');
const { loadBinding } = require(path.join(path.dirname(process.env.SQEX_DIST), 'backend', 'load.js'));

const binding = loadBinding();
const r = rng(Number(process.env.SQEX_SEED) || 9);
const shape = [2, 32, 24, 24];
const n = 2 * 32 * 576;
const w = weightsFor('se', 32, r);
// A real cfg for this call, taken from lib's own call.
let cfg = null;
const orig = binding.cpuForward;
binding.cpuForward = function (c, ops) {
  cfg = Float64Array.from(c);
  return orig.call(this, c, ops);
};
sqex.seForward(fill(new Float32Array(n), r), shape, w, { device: 'cpu' });
binding.cpuForward = orig;
check(cfg !== null, 'no cfg captured');

for (const victim of [0, 2]) {
  for (const withOut of [false, true]) {
    for (let rep = 0; rep < 20; rep++) {
      const x = fill(new Float32Array(n), r);
      const out = withOut ? new Float32Array(n) : null;
      const victimArray = victim === 0 ? x : out;
      if (!victimArray) continue;
      const ops = [x, null, out, null, w.w1, w.b1 ?? null, w.w2, w.b2 ?? null, null];
      // The last element: a getter that transfers the victim's buffer away and collects it.
      Object.defineProperty(ops, 8, {
        get() {
          transfer(victimArray.buffer);
          gc();
          return null;
        },
      });
      try {
        binding.cpuForward(cfg, ops);
        check(false, `victim ${victim}, out ${withOut}: accepted a detached operand`);
      } catch (err) {
        check(typeof (err && err.code) === 'string', `victim ${victim}: uncoded ${err && err.message}`);
      }
    }
  }
}
done();
