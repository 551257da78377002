#!/usr/bin/env node
// `npm install` hook. In an installed copy that ships a prebuild for this platform, step 1 finds
// it and nothing is built. Otherwise:
//   1. a prebuild that loads on this machine -> nothing to build;
//   2. a development checkout (.git present) or SQEX_BUILD=cmake -> a development build with
//      cmake-js: the CPU kernels, plus CUDA when nvcc is found, for this machine's GPU only (or
//      sm_90 without one; scripts/cmake-build.js says why). About 30-90 s on 2 cores.
//   3. otherwise -> node-gyp, the CPU-only fallback build from binding.gyp.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { cmakeBuild, cudaArchitectures } = require('./cmake-build.js');

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
if (mode === 'cmake') {
  const arch = cudaArchitectures();
  console.log(
    [
      'squeeze-excite: development checkout: building the native addon from source with CMake (cmake-js) into build/Release.',
      '  CPU kernels always; CUDA kernels when CMake finds nvcc, for ' + `${arch.value} (${arch.why}).`,
      '  Usually 30-90 s on 2 cores (CPU-only: about 10 s). Other GPUs: SQEX_CUDA_ARCHITECTURES="86-real;90-real" npm run build:native.',
      '  All release architectures: npm run prebuildify. CPU only: npm run build:native:cpu.',
    ].join('\n'),
  );
  process.exit(cmakeBuild(['compile', '--out', 'build'], { architectures: arch.value }));
}
console.log('squeeze-excite: no prebuild for this platform; building the CPU backend with node-gyp (needs Python 3, make and a C++17 compiler)');
const r = spawnSync('node-gyp', ['rebuild'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
process.exit(r.status === null ? 1 : r.status);
