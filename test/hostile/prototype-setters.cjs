// Accessors on Object.prototype and Error.prototype (a getter that reads undefined, a setter that
// drops the value) for the property names the addon gives its errors, its exports and its info
// and status objects, installed before the package's first call loads the addon. The addon
// defines those properties on its own objects instead of assigning them (native/binding/
// own_property.h), so they stay: the addon loads, calls compute, and native errors keep `code`
// and `argument`. From an attack (2026-12-04): ERR_SQEX_ARRAY_CHANGED came back with neither.
'use strict';
const { sqex, rng, fill, weightsFor, fns, stagedAsyncFns, check, sameBits, done, transfer } = require('./common.cjs');

const ERROR_KEYS = ['code', 'argument', 'bytes', 'available', 'reserved', 'cudaError', 'cudaErrorName'];
const OBJECT_KEYS = [
  // the exports (native/binding/addon.cpp, cuda_exports.cpp)
  'info', 'setThreads', 'cpuForward', 'cpuForwardAsync', 'setResultAllocator', 'cudaStatus', 'cudaForwardHost',
  'cudaForwardHostAsync', 'cudaForwardDevice', 'cudaForwardDeviceAsync', 'cudaAlloc', 'cudaFree', 'cudaUpload',
  'cudaDownload', 'cudaDownloadAsync', 'cudaSynchronize', 'cudaMemInfo', 'cudaBenchmark',
  // info() and cudaStatus()
  'contract', 'napiVersion', 'buildSystem', 'cudaCompiled', 'simd', 'portableLink', 'compiled', 'deviceCount',
  'driverVersion', 'runtimeVersion', 'minDriverVersion',
];
const dropped = {};
for (const [proto, keys] of [[Object.prototype, OBJECT_KEYS], [Error.prototype, ERROR_KEYS]]) {
  for (const key of keys) {
    Object.defineProperty(proto, key, {
      get() {
        return undefined;
      },
      set(v) {
        dropped[key] = (dropped[key] || 0) + 1;
      },
      configurable: true,
    });
  }
}

const shape = [2, 16, 6, 5];
const n = 2 * 16 * 6 * 5;

(async () => {
  const r = rng(Number(process.env.SQEX_SEED) || 7);
  const x = fill(new Float32Array(n), r);
  for (const op of ['se', 'eca', 'cbam']) {
    const w = weightsFor(op, 16, r);
    const y = fns[op](x, shape, w); // the first call loads the addon
    check(y instanceof Float32Array && y.length === n && y.every(Number.isFinite), `${op}: the sync call computed`);
    const staged = await stagedAsyncFns[op](x, shape, w, { out: new Float32Array(n) });
    check(sameBits(staged, y), `${op}: the staged async call gives the sync call's bits`);
    // A native error: the staged call's out transferred while it runs.
    const out = new Float32Array(n);
    const p = stagedAsyncFns[op](x, shape, w, { out });
    transfer(out.buffer);
    const e = await p.then(() => null, (err) => err);
    check(e !== null, `${op}: the call with out transferred was refused`);
    if (e !== null) {
      const own = (k) => Object.getOwnPropertyDescriptor(e, k);
      check(own('code') !== undefined && own('code').value === 'ERR_SQEX_ARRAY_CHANGED', `${op}: own code ERR_SQEX_ARRAY_CHANGED, got ${own('code') && own('code').value}`);
      check(own('argument') !== undefined && own('argument').value === 'options.out', `${op}: own argument options.out`);
      check(e.message.includes('options.out'), `${op}: the message names options.out`);
    }
  }
  const info = sqex.loadReport();
  check(info !== null && typeof info === 'object', 'loadReport answers');
  const status = sqex.cuda.status();
  check(typeof Object.getOwnPropertyDescriptor(status, 'available').value === 'boolean', 'cuda.status().available is an own boolean');
  check(Object.keys(dropped).length === 0, `no property of the addon's went through a prototype setter: ${JSON.stringify(dropped)}`);
  done();
})();
