#!/usr/bin/env node
// The project the cross-platform CI steps (ci-arm64.sh, ci-win32.sh) install the packed tarball
// into, and the verdict on what it printed:
//   node scripts/ci-tarball-app.js write DIR
//     package.json, ops.js (every op on fixed inputs; prints what loaded and the outputs as JSON),
//     and cjs.js / esm.mjs, which run it through require and import.
//   node scripts/ci-tarball-app.js compare EMULATED.json HOST.json PLATFORM-ARCH PREBUILD SIMD
//     "ok …" when the emulated run is PLATFORM-ARCH, loaded node_modules/squeeze-excite/PREBUILD
//     (as loadReport() names it) with the SIMD table, the host run loaded the linux-x64 prebuild,
//     and every SE/ECA/CBAM output agrees within 1e-5 of the largest host output; "FAIL …" otherwise.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const OPS = `// Every op on fixed inputs; prints what loaded and the outputs.
module.exports = (sqex, how) => {
  const n = 2, c = 12, h = 5, w = 7, hid = 3, k = 3;
  const x = Float32Array.from({ length: n * c * h * w }, (_, i) => Math.sin(i) * 2);
  const w1 = Float32Array.from({ length: hid * c }, (_, i) => Math.cos(i) / 3);
  const w2 = Float32Array.from({ length: c * hid }, (_, i) => Math.sin(i + 1) / 3);
  const sw = Float32Array.from({ length: 2 * k * k }, (_, i) => Math.cos(i) / 4);
  const out = {
    se: sqex.seForward(x, [n, c, h, w], { w1, w2 }),
    eca: sqex.ecaForward(x, [n, c, h, w], { weight: Float32Array.of(0.2, 0.5, -0.3) }, { layout: 'NHWC' }),
    cbam: sqex.cbamForward(x, [n, c, h, w], { w1, w2, spatialWeight: sw }),
  };
  const r = sqex.loadReport();
  const info = require(r.binary).info();
  const res = { how, platform: process.platform, arch: process.arch, kind: r.kind, binary: r.binary, simd: info.simd };
  for (const [name, y] of Object.entries(out)) res[name] = Array.from(y);
  return JSON.stringify(res);
};
`;

function write(dir) {
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": "app", "version": "1.0.0", "private": true }\n');
  fs.writeFileSync(path.join(dir, 'ops.js'), OPS);
  fs.writeFileSync(path.join(dir, 'cjs.js'), "console.log(require('./ops.js')(require('squeeze-excite'), 'require'));\n");
  fs.writeFileSync(path.join(dir, 'esm.mjs'), "import * as sqex from 'squeeze-excite';\nimport ops from './ops.js';\nconsole.log(ops(sqex, 'import'));\n");
}

function compare(emulatedJson, hostJson, target, prebuild, simd) {
  const [a, x] = [emulatedJson, hostJson].map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
  const problems = [];
  // Windows paths use backslashes.
  const loaded = String(a.binary).replace(/\\/g, '/');
  if (`${a.platform}-${a.arch}` !== target || a.kind !== 'prebuild' || !loaded.endsWith(`/node_modules/squeeze-excite/${prebuild}`) || a.simd !== simd) {
    problems.push(`${a.platform}-${a.arch} loaded ${a.kind} ${a.binary} (${a.simd}; expected ${target}, ${prebuild}, ${simd})`);
  }
  if (`${x.platform}-${x.arch}` !== 'linux-x64' || x.kind !== 'prebuild' || !x.binary.includes('/prebuilds/linux-x64/')) problems.push(`the host loaded ${x.kind} ${x.binary}`);
  let worst = 0;
  for (const op of ['se', 'eca', 'cbam']) {
    let d = 0;
    let m = 0;
    for (let i = 0; i < x[op].length; i++) {
      d = Math.max(d, Math.abs(a[op][i] - x[op][i]));
      m = Math.max(m, Math.abs(x[op][i]));
    }
    if (!(a[op].length === x[op].length && a[op].every(Number.isFinite) && d <= 1e-5 * m)) problems.push(`${op}: max|${target} - linux-x64| ${d} > 1e-5 * ${m}`);
    worst = Math.max(worst, d / m);
  }
  console.log(problems.length ? `FAIL ${a.how}: ${problems.join('; ')}`
    : `ok ${a.how}: loadReport() names ${loaded.split('/node_modules/')[1]}; simd ${a.simd}; SE/ECA/CBAM within ${worst.toExponential(1)} of the linux-x64 (${x.simd}) results`);
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'write' && args.length === 1) write(args[0]);
else if (cmd === 'compare' && args.length === 5) compare(...args);
else {
  console.error('usage: ci-tarball-app.js write DIR | compare EMULATED.json HOST.json PLATFORM-ARCH PREBUILD SIMD');
  process.exit(2);
}
