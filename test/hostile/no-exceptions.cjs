// Counts the exceptions thrown (and caught) inside the library during ordinary calls, after a
// warm-up call: a caught exception costs microseconds (a stack trace is captured), and an
// exception-driven type probe in the per-call path made SE 1x64x8x8 take 57 us a call instead of
// 24 (2026-12-01: telling a SharedArrayBuffer from an ArrayBuffer by calling the other's getter).
// Run by test/no-exceptions.test.ts in a child process: SQEX_DIST=<dist/index.js> node this-file.
'use strict';
const inspector = require('node:inspector');
const sq = require(process.env.SQEX_DIST);

const C = 64, H = 8, W = 8, n = C * H * W;
const x = new Float32Array(n).map((_, i) => Math.sin(i));
const w = { w1: new Float32Array(4 * C).fill(0.01), b1: new Float32Array(4), w2: new Float32Array(C * 4).fill(0.01), b2: new Float32Array(C) };
const cw = { w1: w.w1, w2: w.w2, spatialWeight: new Float32Array(2 * 49).fill(0.01) };
const ew = { weight: Float32Array.of(0.2, 0.5, 0.3) };
const shape = [1, C, H, W];
const sab = new Float32Array(new SharedArrayBuffer(n * 4));
sab.set(x);
const rab = new Float32Array(new ArrayBuffer(n * 4, { maxByteLength: n * 8 }));
rab.set(x);
const block = new sq.SEBlock(w);
const t = (shape, data) => ({ shape, data });
const record = { 'se.fc1.weight': t([4, C, 1, 1], w.w1), 'se.fc1.bias': t([4], w.b1), 'se.fc2.weight': t([C, 4, 1, 1], w.w2), 'se.fc2.bias': t([C], w.b2) };
const cblock = new sq.CBAMBlock(cw, { channels: C });

const cases = {
  'seForward, out': () => sq.seForward(x, shape, w, { out: new Float32Array(n), device: 'cpu' }),
  'seForward, no out': () => sq.seForward(x, shape, w),
  'seForward NHWC, scaleOut, residual': () => sq.seForward(x, shape, w, { layout: 'NHWC', scaleOut: new Float32Array(C), residual: x }),
  'seForward over a SharedArrayBuffer': () => sq.seForward(sab, shape, w),
  'seForward over a resizable buffer': () => sq.seForward(rab, shape, w),
  'ecaForward': () => sq.ecaForward(x, shape, ew),
  'cbamForward': () => sq.cbamForward(x, shape, cw),
  'SEBlock.forward': () => block.forward(x, shape),
  'CBAMBlock.forward': () => cblock.forward(x, shape),
  'seForwardAsync': () => sq.seForwardAsync(x, shape, w),
  "seForwardAsync, offload 'always'": () => sq.seForwardAsync(x, shape, w, { offload: 'always' }),
  'SEBlock.forwardAsync': () => block.forwardAsync(x, shape),
  // A plain-object state dict: telling it from a Map threw and caught once a call (an attack).
  'attentionWeightsFromStateDict over a record': () => sq.attentionWeightsFromStateDict(record, 'se', { kind: 'timm.SEModule' }),
  'SEBlock.fromStateDict over a record': () => sq.SEBlock.fromStateDict(record, 'se', { kind: 'timm.SEModule' }),
  'findAttentionModules over a record': () => sq.findAttentionModules(record),
};

(async () => {
  // Warm-up: the first call loads the addon and reads the CUDA status (probes that may throw once).
  for (const f of Object.values(cases)) await f();
  const session = new inspector.Session();
  session.connect();
  let where = [];
  session.on('Debugger.paused', (m) => {
    const f = m.params.callFrames[0];
    where.push(`${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.location.lineNumber + 1}`);
    session.post('Debugger.resume');
  });
  session.post('Debugger.enable');
  const result = {};
  for (const [name, f] of Object.entries(cases)) {
    where = [];
    session.post('Debugger.setPauseOnExceptions', { state: 'all' });
    await f();
    session.post('Debugger.setPauseOnExceptions', { state: 'none' });
    result[name] = where;
  }
  session.disconnect();
  console.log(JSON.stringify(result));
})();
