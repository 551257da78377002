// Host memory runs out mid-call: the call must fail with ERR_SQEX_OUT_OF_MEMORY and the process
// must go on. Before, a result array too large for the memory left ended the process through
// V8's fatal out-of-memory (napi_create_arraybuffer), and a staging copy through std::terminate
// (std::bad_alloc thrown across Node-API).
//
// How: allocate the operands, then cap this process's address space (RLIMIT_AS, set with
// util-linux `prlimit` on our own pid) a little above what it uses, so that the next large
// allocation fails and small ones still succeed. Linux only; the test skips elsewhere.
'use strict';
const { sqex, rng, fill, weightsFor, fns, stagedAsyncFns, check, sameBits, done, report, capAddressSpace } = require('./common.cjs');

const MiB = 1 << 20;
const c = 64;
const hw = 1 << 21; // 1×64×2097152×1 floats: 512 MiB per array
const shape = [1, c, hw, 1];
const r = rng(Number(process.env.SQEX_SEED) || 7);


function expectOom(what, fn) {
  try {
    fn();
    check(false, `${what}: no error`);
  } catch (err) {
    check(err && err.code === 'ERR_SQEX_OUT_OF_MEMORY', `${what}: code ${err && err.code} (${err && err.message})`);
    return err;
  }
  return null;
}

async function expectOomAsync(what, promiseFn) {
  try {
    await promiseFn();
    check(false, `${what}: resolved`);
  } catch (err) {
    check(err && err.code === 'ERR_SQEX_OUT_OF_MEMORY', `${what}: code ${err && err.code} (${err && err.message})`);
    return err;
  }
  return null;
}

(async () => {
  const x = new Float32Array(c * hw);
  for (let i = 0; i < x.length; i += 4096) x[i] = r();
  const out = new Float32Array(c * hw);
  out.fill(1234.5);
  const w = { se: weightsFor('se', c, r), eca: weightsFor('eca', c, r), cbam: weightsFor('cbam', c, r) };
  // A small call's expected result, computed before the cap.
  const small = [1, c, 8, 8];
  const xs = fill(new Float32Array(c * 64), r);
  const expected = fns.se(xs, small, w.se, { device: 'cpu' });

  const cap = capAddressSpace(256 * MiB);
  // The cap holds: a plain 512 MiB allocation now fails in JS as well.
  let jsFails = false;
  try {
    new Float32Array(c * hw);
  } catch {
    jsFails = true;
  }
  check(jsFails, 'RLIMIT_AS did not take effect (a 512 MiB Float32Array was still allocated)');

  for (const op of ['se', 'eca', 'cbam']) {
    const e = expectOom(`${op}Forward without out (512 MiB result)`, () => fns[op](x, shape, w[op], { device: 'cpu' }));
    if (e) check(e.bytes === 512 * MiB, `${op}: bytes ${e.bytes}`);
    await expectOomAsync(`${op}ForwardAsync with out (512 MiB staging of x)`, () =>
      stagedAsyncFns[op](x, shape, w[op], { device: 'cpu', out }),
    );
    await expectOomAsync(`${op}ForwardAsync without out`, () => stagedAsyncFns[op](x, shape, w[op], { device: 'cpu' }));
  }
  // The library's JS-side allocations (half conversions, DeviceTensor.toHost) carry the same code.
  const bits = new Uint16Array(x.buffer); // a view: 256 Mi elements, 1 GiB as float32
  const e16 = expectOom('float16BitsToFloat32 over 256 Mi elements', () => sqex.float16BitsToFloat32(bits));
  if (e16) check(e16.bytes === 1024 * MiB, `float16BitsToFloat32: bytes ${e16.bytes}`);

  // Nothing was written into out by the refused calls.
  let untouched = true;
  for (let i = 0; i < out.length; i += 1021) if (out[i] !== 1234.5) untouched = false;
  check(untouched, 'a refused call wrote into out');

  // The process goes on: small calls, sync and async, give the same bits as before the cap.
  check(sameBits(fns.se(xs, small, w.se, { device: 'cpu' }), expected), 'small sync call after the refusals');
  check(sameBits(await stagedAsyncFns.se(xs, small, w.se, { device: 'cpu' }), expected), 'small async call after the refusals');
  // In place over the big arrays still works: no allocation is needed.
  fns.se(x, shape, w.se, { device: 'cpu', out });
  check(out[0] !== 1234.5, 'the sync call with out over 512 MiB did not run');
  report.cap = cap;
  done();
})().catch((err) => {
  check(false, `unexpected: ${err && err.stack}`);
  done();
});
