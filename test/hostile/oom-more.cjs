// More host-memory exhaustion (RLIMIT_AS through util-linux `prlimit` on our own pid, as oom.cjs):
//   - a block's SharedArrayBuffer copy of its weights (lib/ops/weights.ts copyWeights) and
//     readSafetensors' buffers were V8's uncoded RangeError("Array buffer allocation failed");
//   - an async call whose worker thread runs out of memory: the handlers in StatusWorker::Execute
//     built a std::string for the Status, which threw std::bad_alloc again, and node-addon-api
//     rejected the promise with an uncoded Error("std::bad_alloc").
// Every refusal must carry ERR_SQEX_OUT_OF_MEMORY; the process must go on (exit 0).
// Linux only (the vitest file skips elsewhere).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { sqex, rng, fill, weightsFor, check, sameBits, done, report, capAddressSpace } = require('./common.cjs');

const MiB = 1 << 20;
const r = rng(Number(process.env.SQEX_SEED) || 3);

function outcome(fn) {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return err;
  }
}
const isOom = (e) => e && e.code === 'ERR_SQEX_OUT_OF_MEMORY';
const describe = (e) => (e === 'ok' ? 'ok' : `${e && e.constructor && e.constructor.name} code ${e && e.code}: ${e && e.message}`);

(async () => {
  const mode = process.env.SQEX_OOM_MODE;
  if (mode === 'lib') {
    // 256 MiB of weights for a block, and a 256 MiB safetensors file, then a cap 160 MiB above
    // (room for V8 itself: with no headroom its JIT can die of "Zone Allocation failed").
    const c = 8192;
    const w1 = new Float32Array(c * c).fill(0.001);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sqex-oom-')), 'big.safetensors');
    try {
      const n = 64 * MiB;
      let header = JSON.stringify({ t: { dtype: 'F32', shape: [n], data_offsets: [0, n * 4] } });
      while (header.length % 8) header += ' ';
      const fd = fs.openSync(file, 'w');
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(header.length));
      fs.writeSync(fd, len);
      fs.writeSync(fd, header);
      const chunk = Buffer.alloc(16 * MiB, 0x3f);
      for (let i = 0; i < 16; i++) fs.writeSync(fd, chunk);
      fs.closeSync(fd);
      const xs = fill(new Float32Array(64 * 64), r);
      const ws = weightsFor('se', 64, r);
      const expected = sqex.seForward(xs, [1, 64, 8, 8], ws, { device: 'cpu' });

      capAddressSpace(160 * MiB);
      const e1 = outcome(() => new sqex.SEBlock({ w1 }, { device: 'cpu', channels: c }));
      check(isOom(e1), `new SEBlock with 256 MiB of weights: ${describe(e1)}`);
      if (isOom(e1)) check(e1.bytes === 256 * MiB, `new SEBlock: bytes ${e1.bytes}`);
      for (const opts of [undefined, { toFloat32: true }, { names: ['t'] }]) {
        const e2 = outcome(() => sqex.readSafetensors(file, opts));
        check(isOom(e2), `readSafetensors(${JSON.stringify(opts)}) of a 256 MiB file: ${describe(e2)}`);
      }
      check(sameBits(sqex.seForward(xs, [1, 64, 8, 8], ws, { device: 'cpu' }), expected), 'a small call after the refusals');
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  } else if (mode === 'worker') {
    // Two 256 MiB arrays; one async call with out leaves 512 MiB of staging cached; the cap then
    // leaves no headroom, a CBAM call with out is refused (its scratch), and small async calls
    // follow: their worker thread cannot grow its malloc arena. Each must resolve with the right
    // bits or reject with the coded error (before the fix: Error("std::bad_alloc"), no code, in
    // about 2 of 3 runs of this sequence on the 2-core dev VM).
    const c = 64;
    const hw = 1 << 20;
    const shape = [1, c, hw, 1];
    const ws = weightsFor('se', c, r);
    const wc = weightsFor('cbam', c, r);
    const x = new Float32Array(c * hw);
    for (let i = 0; i < x.length; i += 997) x[i] = r();
    const out = new Float32Array(c * hw).fill(1234.5);
    const xs = fill(new Float32Array(c * 64), r);
    const small = [1, c, 8, 8];
    const expected = sqex.seForward(xs, small, ws, { device: 'cpu' });
    const expectedAsync = await sqex.seForwardAsync(xs, small, ws, { device: 'cpu' });
    check(sameBits(expected, expectedAsync), 'sync and async agree before the cap');
    await sqex.seForwardAsync(x, shape, ws, { device: 'cpu', out });
    out.fill(1234.5);
    capAddressSpace(0);
    const e = outcome(() => sqex.cbamForward(x, shape, wc, { device: 'cpu', out }));
    check(e === 'ok' || isOom(e), `cbamForward with out under the cap: ${describe(e)}`);
    const tally = {};
    for (let i = 0; i < 4; i++) {
      let k;
      try {
        k = sameBits(await sqex.seForwardAsync(xs, small, ws, { device: 'cpu' }), expected) ? 'resolved' : 'WRONG BITS';
      } catch (err) {
        k = isOom(err) ? 'ERR_SQEX_OUT_OF_MEMORY' : describe(err);
      }
      tally[k] = (tally[k] || 0) + 1;
      check(k === 'resolved' || k === 'ERR_SQEX_OUT_OF_MEMORY', `small seForwardAsync under the cap: ${k}`);
    }
    report.tally = tally;
  } else {
    check(false, `SQEX_OOM_MODE must be lib or worker; received ${mode}`);
  }
  done();
})().catch((err) => {
  check(false, `unexpected: ${err && err.stack}`);
  done();
});
