// CPU CBAM's guard on its spatial maps (20 bytes a pixel of each sample in flight) plus its
// output: a call whose memory the system (here a memory cgroup) does not have is refused with
// ERR_SQEX_OUT_OF_MEMORY before the pages fault in (an attack: 1x1x32768x32768 asked for 20 GiB
// on a 23 GiB machine and the OOM killer ended the process). The guard reads what the system has
// for every call of 4 MiB or more, and never reuses an earlier call's reading (a first form that
// kept one for 100 ms let a call through after memory was taken meanwhile, and the process was
// OOM-killed: a review). Checked here: a large call right after small ones is refused; memory
// freed just before a call is seen (it runs); memory taken just before a call is seen (it is
// refused). Run by test/memory-safety.test.ts inside a 512 MiB memory cgroup.
'use strict';
const { sqex, rng, fill, weightsFor, check, sameBits, done } = require('./common.cjs');

const r = rng(Number(process.env.SQEX_SEED) || 11);
const w = weightsFor('cbam', 1, r);
// 1x1x4096x4096: x and out 64 MiB each, the maps 320 MiB and the output 64 MiB more than what
// the cgroup leaves once x and out are held.
const big = [1, 1, 4096, 4096];
const bigN = 4096 * 4096;
const x = fill(new Float32Array(bigN), r);
const out = new Float32Array(bigN).fill(1234.5);
const small = [1, 1, 8, 8];
const xs = fill(new Float32Array(64), r);
const expected = sqex.cbamForward(xs, small, w, { device: 'cpu' });

let refusedAfterSmall = 0;
for (let round = 0; round < 5; round++) {
  // Small calls first (too small to read on their own), then the large one, which reads.
  for (let i = 0; i < 50; i++) check(sameBits(sqex.cbamForward(xs, small, w, { device: 'cpu' }), expected), 'a small call between the large ones');
  let err = null;
  try {
    sqex.cbamForward(x, big, w, { device: 'cpu', out });
  } catch (e) {
    err = e;
  }
  check(err && err.code === 'ERR_SQEX_OUT_OF_MEMORY', `round ${round}: 1x1x4096x4096 refused (${err ? `${err.code}: ${err.message}` : 'it ran'})`);
  if (err) {
    refusedAfterSmall++;
    check(/spatial maps/.test(err.message) && /available/.test(err.message), `the refusal says why: ${err.message}`);
  }
}
let untouched = true;
for (let i = 0; i < bigN; i += 4093) if (out[i] !== 1234.5) untouched = false;
check(untouched, 'a refused call wrote into out');
// A call that fits still runs: a quarter of the pixels (1x1x2048x2048, 80 MiB of maps and 16 of output).
const mid = [1, 1, 2048, 2048];
const ym = sqex.cbamForward(x.subarray(0, 2048 * 2048), mid, w, { device: 'cpu', out: out.subarray(0, 2048 * 2048) });
check(ym[0] !== 1234.5 && Number.isFinite(ym[0]), 'the 1x1x2048x2048 call ran');
check(sameBits(sqex.cbamForward(xs, small, w, { device: 'cpu' }), expected), 'a small call after the refusals');

// The other direction: memory held while a call is refused, freed, and the same call made at once:
// judged against a new reading, it runs (a reading kept from the refusal would refuse it again).
// 1x1x2048x4096 needs 192 MiB of maps and
// output; with 256 MiB more held, the cgroup has less than that; without it, about 200 MiB more.
// The 256 MiB are a child process's (in this cgroup too): its exit gives them back at once, where
// a collected ArrayBuffer's memory is freed by V8's sweeper some time after the collection.
const { spawn } = require('node:child_process');
const held = [1, 1, 2048, 4096];
const heldN = 2048 * 4096;
const tryCall = (shape) => {
  try {
    sqex.cbamForward(x.subarray(0, shape[2] * shape[3]), shape, w, { device: 'cpu', out: out.subarray(0, shape[2] * shape[3]) });
    return null;
  } catch (e) {
    return e;
  }
};
const tryHeld = () => {
  try {
    sqex.cbamForward(x.subarray(0, heldN), held, w, { device: 'cpu', out: out.subarray(0, heldN) });
    return null;
  } catch (e) {
    return e;
  }
};
(async () => {
  const holder = spawn(process.execPath, ['-e', "new Float64Array(32 * 1024 * 1024).fill(1); process.stdout.write('ready'); setInterval(() => {}, 1e6);"], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    holder.stdout.once('data', resolve);
    holder.once('exit', (code, signal) => reject(new Error(`the holder exited (${code}, ${signal})`)));
  });
  out.fill(1234.5, 0, heldN);
  for (let i = 0; i < 50; i++) sqex.cbamForward(xs, small, w, { device: 'cpu' });
  const errWhileHeld = tryHeld();
  check(errWhileHeld && errWhileHeld.code === 'ERR_SQEX_OUT_OF_MEMORY', `1x1x2048x4096 with 256 MiB more held: refused (${errWhileHeld ? errWhileHeld.code : 'it ran'})`);
  check(out[0] === 1234.5 && out[heldN - 1] === 1234.5, 'the refused call wrote nothing');
  const t0 = process.hrtime.bigint();
  const exited = new Promise((resolve) => holder.once('exit', resolve));
  holder.kill('SIGKILL');
  await exited;
  const errAfterFree = tryHeld();
  const msAfterReading = Number(process.hrtime.bigint() - t0) / 1e6;
  check(errAfterFree === null, `1x1x2048x4096 right after the 256 MiB were freed (${msAfterReading.toFixed(1)} ms later): ran (${errAfterFree ? `${errAfterFree.code}: ${errAfterFree.message}` : ''})`);
  check(out[0] !== 1234.5 && out[heldN - 1] !== 1234.5, 'the 1x1x2048x4096 call wrote its output');

  // Memory taken just before a call: what the system has now (the guard's own figure, from a call
  // it refuses), a small call, then all but ~48 MiB of it filled by this process, then a call that
  // needs 96 MiB (1x1x2048x2048: 80 MiB of maps, 16 of output): refused, not OOM-killed.
  const probe = tryCall(big);
  const m = probe && /more than the ([\d.]+) MiB the system has available/.exec(probe.message);
  check(m !== null, `the guard's figure: ${probe && probe.message}`);
  if (m !== null) {
    const fillMiB = Math.max(0, Number(m[1]) - 48);
    sqex.cbamForward(xs, small, w, { device: 'cpu' });
    const filler = new Float64Array(Math.floor((fillMiB * 1048576) / 8)).fill(1);
    const mid = [1, 1, 2048, 2048];
    out.fill(1234.5, 0, 2048 * 2048);
    let errTaken = null;
    try {
      sqex.cbamForward(x.subarray(0, 2048 * 2048), mid, w, { device: 'cpu', out: out.subarray(0, 2048 * 2048) });
    } catch (e) {
      errTaken = e;
    }
    check(errTaken && errTaken.code === 'ERR_SQEX_OUT_OF_MEMORY', `1x1x2048x2048 after ${fillMiB.toFixed(0)} MiB more were taken: refused (${errTaken ? errTaken.code : 'it ran'})`);
    check(out[0] === 1234.5, 'the refused call wrote nothing');
    check(filler[filler.length - 1] === 1, 'the filler is held');
  }
  const { report } = require('./common.cjs');
  report.refused = refusedAfterSmall;
  done();
})().catch((err) => {
  check(false, `unexpected: ${err && err.stack}`);
  done();
});
