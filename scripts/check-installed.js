#!/usr/bin/env node
// Runs every golden fixture (test/fixtures/golden_*.json) through an installed copy of the
// package, on the devices named: `node scripts/check-installed.js <app-dir> [cpu] [cuda]`.
// Used to prove a packed tarball works where it is installed (e.g. offline on the GPU host).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { createRequire } = require('node:module');

const [appDir, ...devices] = process.argv.slice(2);
const sqex = createRequire(path.join(path.resolve(appDir), 'package.json'))('squeeze-excite');
const fixtureDir = path.join(__dirname, '..', 'test', 'fixtures');

function f32(v) {
  const bytes = Buffer.from(v.f32, 'base64');
  const out = new Float32Array(v.length);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

const status = sqex.cuda.status();
console.log(`binary: ${status.binary}`);
console.log(`cuda: compiled=${status.compiled} available=${status.available} ${status.devices.map((d) => d.name).join(', ')} ${status.reason ?? ''}`);
let failed = 0;
let ran = 0;
for (const file of fs.readdirSync(fixtureDir).filter((f) => f.startsWith('golden_')).sort()) {
  const fx = JSON.parse(fs.readFileSync(path.join(fixtureDir, file), 'utf8'));
  const w = Object.fromEntries(Object.entries(fx.weights).map(([k, v]) => [k, f32(v)]));
  for (const layout of ['NCHW', 'NHWC']) {
    for (const device of devices.length ? devices : ['cpu']) {
      const options = { layout, device, gate: fx.options.gate ?? 'sigmoid' };
      let weights = w;
      let fn = sqex.seForward;
      if (fx.op === 'eca') {
        fn = sqex.ecaForward;
        weights = { weight: w.weight };
      } else {
        if (fx.op === 'cbam' || w.w2) options.activation = fx.options.activation ?? 'relu';
        if (fx.op === 'cbam') fn = sqex.cbamForward;
        if (fx.op === 'se' && fx.options.outputActivation) options.outputActivation = fx.options.outputActivation;
        if (fx.op === 'se' && fx.residual) options.residual = f32(fx.residual[layout]);
      }
      const out = new Float32Array(fx.x[layout].length).fill(Number.NaN);
      let y;
      try {
        y = fn(f32(fx.x[layout]), fx.shape, weights, { ...options, out });
      } catch (err) {
        ran++;
        failed++;
        console.log(`FAIL ${device.padEnd(4)} ${layout} ${fx.name.padEnd(32)} threw: ${err.message.split('\n')[0]}`);
        continue;
      }
      const ref = f32(fx.expected[layout]);
      let maxErr = 0;
      let maxRef = 0;
      for (let i = 0; i < ref.length; i++) {
        maxErr = Math.max(maxErr, Number.isNaN(y[i]) ? Infinity : Math.abs(y[i] - ref[i]));
        maxRef = Math.max(maxRef, Math.abs(ref[i]));
      }
      const rel = maxErr / maxRef;
      const ok = rel <= 1e-5;
      ran++;
      if (!ok) failed++;
      console.log(`${ok ? 'ok  ' : 'FAIL'} ${device.padEnd(4)} ${layout} ${fx.name.padEnd(32)} rel err ${rel.toExponential(2)}  (${fx.module})`);
    }
  }
}
console.log(`installed package: ${ran - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
