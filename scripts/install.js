#!/usr/bin/env node
// `npm install` hook. A published install normally never gets here (npm 11 skips dependency
// install scripts) and loads the shipped prebuild. When it does run:
//   1. a prebuild that loads on this machine -> nothing to build;
//   2. a development checkout (.git present) or SQEX_BUILD=cmake -> cmake-js (CUDA when nvcc is found);
//   3. otherwise -> node-gyp, the CPU-only fallback build from binding.gyp.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { cmakeBuild } = require('./cmake-build.js');

const root = path.resolve(__dirname, '..');
const mode = process.env.SQEX_BUILD || (fs.existsSync(path.join(root, '.git')) ? 'cmake' : 'auto');

function prebuildLoads() {
  try {
    const file = require('node-gyp-build').path(root);
    if (!file.includes(`${path.sep}prebuilds${path.sep}`)) return false;
    require(file);
    console.log(`squeeze-excite: using the prebuilt ${path.relative(root, file)}`);
    return true;
  } catch {
    return false;
  }
}

if (mode === 'auto' && prebuildLoads()) process.exit(0);
if (mode === 'cmake') process.exit(cmakeBuild(['compile', '--out', 'build']));
console.log('squeeze-excite: no prebuild for this platform; building the CPU backend with node-gyp');
const r = spawnSync('node-gyp', ['rebuild'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
process.exit(r.status === null ? 1 : r.status);
