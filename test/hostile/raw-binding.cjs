// The raw binding used as the fuzz of 2026-11-30 used it (require(loadReport().binary), bypassing
// lib/'s checks), each finding a check here:
//   - in a thread where lib/ never loaded (so no result allocator is registered), a result too large
//     for memory ended the process with V8's fatal "ArrayBuffer::New Allocation failed" (SIGABRT);
//     then ERR_SQEX_OUT_OF_MEMORY; since 2026-12-02 the operands are checked before the result is
//     allocated, so such a call is refused for its x and nothing is allocated;
//   - an allocator's own RangeError (not a failed allocation) was reported as memory running out;
//   - setThreads(1024) sized every kernel's per-thread scratch for 1024 threads (the pool starts at
//     most 256): ECA over 512 KB took 1.6 GB; now [0, 256], and info().threads says what runs;
//   - cudaBenchmark read iters with Int32Value (2^32 + 5 ran 5 iterations); device's range message.
'use strict';
const { Worker } = require('node:worker_threads');
const { sqex, check, done } = require('./common.cjs');

const binary = sqex.loadReport().binary;
const raw = require(binary);
// cfg: op n c h w layout hidden twoFc act gate outAct ecaK spatialK spatialBias dtype device
const cfg = (op, n, c, h, w, extra = {}) =>
  new Float64Array([op, n, c, h, w, 0, extra.hidden ?? 1, 1, 0, 0, 0, extra.ecaK ?? 0, 0, 0, 0, 0]);

function codeOf(fn) {
  try {
    fn();
  } catch (e) {
    return `${e && e.name}:${e && e.code}:${e && e.message}`;
  }
  return 'no error';
}

(async () => {
  // 1. Workers that load only the raw binding: no allocator registered there. Node 26 ends a
  // worker whose ArrayBuffer allocation fails (ERR_WORKER_OUT_OF_MEMORY, for any code: a plain
  // `new ArrayBuffer(2 ** 42)` too) where Node 20-24 throw a RangeError; a probe says which this is.
  const runWorker = (source) =>
    new Promise((resolve) => {
      const w = new Worker(source, { eval: true });
      const out = { messages: [], error: null, exitCode: null };
      w.on('message', (m) => out.messages.push(m));
      w.on('error', (e) => (out.error = e));
      w.on('exit', (c) => {
        out.exitCode = c;
        resolve(out);
      });
    });
  // A result too large for memory is now refused before any allocation: its operands are
  // checked first (an attack, 2026-12-02: a huge cfg with a 16-element x reported out-of-memory,
  // not x's length), and a y that large needs an x as large. So the absurd call of 2026-11-30
  // (every operand null) is a coded TypeError for x, and a short x a RangeError naming its length;
  // the allocator is not called and the worker goes on (on Node 26 too, which ends a worker whose
  // ArrayBuffer allocation fails).
  const absurd = await runWorker(`
const { parentPort } = require('node:worker_threads');
const raw = require(${JSON.stringify(binary)});
let calls = 0;
raw.setResultAllocator((bytes) => { calls++; return new ArrayBuffer(bytes); });
const cfg = new Float64Array([0, 1, 1, 1 << 20, 1 << 20, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]); // 2^40 floats
for (const x of [null, new Float32Array(16)]) {
  try { raw.cpuForward(cfg, [x, null, null, null, new Float32Array(1), null, new Float32Array(1), null, null]); parentPort.postMessage('no error'); }
  catch (e) { parentPort.postMessage(e.code + ' ' + e.message.replace(/^squeeze-excite \\(native\\): /, '')); }
}
parentPort.postMessage('allocator calls ' + calls);
`);
  check(absurd.exitCode === 0 && absurd.error === null, `raw-only worker exit ${absurd.exitCode} ${absurd.error}`);
  check(absurd.messages[0] === 'ERR_INVALID_ARG_TYPE x is required', `absurd result, no x: ${absurd.messages[0]}`);
  check(absurd.messages[1] === 'ERR_OUT_OF_RANGE x must have 1099511627776 elements; received 16', `absurd result, a 16-element x: ${absurd.messages[1]}`);
  check(absurd.messages[2] === 'allocator calls 0', `the allocator is not called for a refused call: ${absurd.messages[2]}`);
  // A normal call there works, its result from the captured ArrayBuffer constructor.
  const normal = await runWorker(`
const { parentPort } = require('node:worker_threads');
const raw = require(${JSON.stringify(binary)});
const x = new Float32Array(16).fill(1), w1 = new Float32Array(4).fill(0.5), w2 = new Float32Array(4).fill(0.5);
const y = raw.cpuForward(new Float64Array([0, 1, 4, 2, 2, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]), [x, null, null, null, w1, null, w2, null, null]);
parentPort.postMessage(y instanceof Float32Array && y.length === 16 && y.every((v) => Math.abs(v - 1 / (1 + Math.exp(-1))) < 1e-6) ? 'result ok' : 'result wrong');
`);
  check(normal.exitCode === 0 && normal.messages[0] === 'result ok', `a raw call's result without lib/'s allocator: ${normal.messages[0]} (exit ${normal.exitCode})`);
  check(raw.info().threads >= 1, 'this process goes on');

  // 2. setThreads: [0, 256]; info().threads never more than runs.
  check(/^RangeError:ERR_OUT_OF_RANGE:.*\[0, 256\]/.test(codeOf(() => raw.setThreads(1024))), `setThreads(1024): ${codeOf(() => raw.setThreads(1024))}`);
  check(/^RangeError:ERR_OUT_OF_RANGE/.test(codeOf(() => raw.setThreads(257))), 'setThreads(257) refused');
  raw.setThreads(256);
  check(raw.info().threads === 256, `info().threads after setThreads(256): ${raw.info().threads}`);
  // ECA over 512 KB at 256 threads: one sample, one slot of scratch (1.6 GB at 1024 threads before).
  const before = process.memoryUsage().rss;
  const c = 131072;
  const y = raw.cpuForward(cfg(1, 1, c, 1, 1, { ecaK: 1, hidden: 0 }), [new Float32Array(c).fill(2), null, null, null, null, null, null, null, new Float32Array([1])]);
  const grew = process.memoryUsage().rss - before;
  check(y.length === c && Math.abs(y[0] - 2 / (1 + Math.exp(-2))) < 1e-6, `ECA c=131072 at 256 threads: y[0] = ${y[0]}`);
  check(grew < 64 * 2 ** 20, `ECA c=131072 at 256 threads grew RSS by ${(grew / 2 ** 20).toFixed(0)} MiB`);
  // Every op and layout gives the same bits with 256 participants as with the default (the
  // scratch is sized from the participants a phase can really have).
  const { rng, fill, weightsFor, sameBits } = require('./common.cjs');
  const r = rng(Number(process.env.SQEX_SEED) || 5);
  const cases = [];
  for (const op of ['se', 'eca', 'cbam'])
    for (const layout of ['NCHW', 'NHWC'])
      for (const shape of [[1, 64, 9, 9], [3, 32, 40, 40], [300, 16, 2, 2]]) {
        const x = fill(new Float32Array(shape[0] * shape[1] * shape[2] * shape[3]), r, 2);
        cases.push({ op, layout, shape, x, w: weightsFor(op, shape[1], r) });
      }
  const fns = { se: sqex.seForward, eca: sqex.ecaForward, cbam: sqex.cbamForward };
  const at256 = cases.map((c) => fns[c.op](c.x, c.shape, c.w, { device: 'cpu', layout: c.layout }));
  raw.setThreads(0);
  cases.forEach((c, i) => {
    const y = fns[c.op](c.x, c.shape, c.w, { device: 'cpu', layout: c.layout });
    check(sameBits(y, at256[i]), `${c.op} ${c.layout} [${c.shape}]: 256 threads and the default differ`);
  });

  // 3. cudaBenchmark iters: an integer in [1, 100000] (checked before CUDA is needed).
  const se = cfg(0, 1, 4, 2, 2);
  const hw = [new Float32Array(4).fill(0.5), null, new Float32Array(4).fill(0.5), null, null]; // w1 b1 w2 b2 aux
  for (const iters of [2 ** 32 + 5, 1.7, -(2 ** 32) + 3, 0, NaN]) {
    const r = codeOf(() => raw.cudaBenchmark(se, hw, iters));
    check(/^RangeError:ERR_OUT_OF_RANGE:.*iters must be an integer in \[1, 100000\]/.test(r), `cudaBenchmark iters ${iters}: ${r}`);
  }
  const d = codeOf(() => raw.cudaFree(65536, 1n));
  check(/device must be an integer in \[0, 65535\]/.test(d), `device 65536: ${d}`);

  // 4. The allocator's own RangeError passes as it is (it is not memory running out).
  // (Registering fails here: lib/ registered first; so in a worker without lib/.)
  const w2 = new Worker(`
const { parentPort } = require('node:worker_threads');
const raw = require(${JSON.stringify(binary)});
raw.setResultAllocator(() => { throw new RangeError('a bug in the allocator'); });
try { raw.cpuForward(new Float64Array([0, 1, 4, 2, 2, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]), [new Float32Array(16), null, null, null, new Float32Array(4), null, new Float32Array(4), null, null]); parentPort.postMessage('no error'); }
catch (e) { parentPort.postMessage(e.name + ':' + e.code + ':' + e.message); }
`, { eval: true });
  const m2 = await new Promise((resolve) => w2.once('message', resolve));
  check(m2 === 'RangeError:undefined:a bug in the allocator', `an allocator's own RangeError: ${m2}`);

  // 5. CBAM's spatialBias: a float32's value, NaN or ±Inf; a finite double past float's range
  // (only the raw binding can send one) is refused, not rounded to ±Inf or FLT_MAX without a word.
  const cbamCfg = (bias) => new Float64Array([2, 1, 4, 3, 3, 0, 2, 1, 0, 0, 0, 0, 3, bias, 0, 0]);
  const cbamOps = () => [fill(new Float32Array(36), r, 1), null, null, null, new Float32Array(8).fill(0.25), null, new Float32Array(8).fill(0.25), null, new Float32Array(18).fill(0.1)];
  for (const bias of [1e300, -1e39, 3.4028235677973366e38, Number.MAX_VALUE]) {
    const got = codeOf(() => raw.cpuForward(cbamCfg(bias), cbamOps()));
    check(/^RangeError:ERR_OUT_OF_RANGE:.*spatialBias must be within float32's range/.test(got), `spatialBias ${bias}: ${got}`);
  }
  for (const bias of [3.4028234663852886e38, -0.5, NaN, Infinity, -Infinity]) {
    const got = codeOf(() => raw.cpuForward(cbamCfg(bias), cbamOps()));
    check(got === 'no error', `spatialBias ${bias} runs: ${got}`);
  }
  done();
})().catch((e) => {
  check(false, `threw: ${e && e.stack}`);
  done();
});
