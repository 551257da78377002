#!/usr/bin/env node
// prebuildify has no CMake backend; `npm run prebuildify` points its --node-gyp here. It calls us
// as it would call node-gyp ("rebuild --target=… --devdir=… --arch=… --release") and then moves
// the first build/Release/*.node into prebuilds/. We build with cmake-js instead, so the prebuild
// carries the CUDA backend wherever nvcc is present, for every release architecture
// (SQEX_CUDA=OFF forces a CPU-only prebuild; SQEX_CUDA_ARCHITECTURES picks others).
//
// The release build has its own CMake tree, build-prebuild/, so the development tree in build/
// keeps its configuration; only build/Release/squeeze_excite.node is replaced by the release
// binary, which prebuildify then moves away (`npm run build:native` relinks it in a second).
//
// Cross-compiling (`npm run prebuildify:arm64` on an x86-64 Linux host): an --arch other than the
// host's selects a CMake toolchain file from cmake/ and builds CPU-only in build-linux-<arch>/.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { cmakeBuild, cudaArchitectures } = require('./cmake-build.js');
const { releaseProblems } = require('./elf-floor.js');

const root = path.resolve(__dirname, '..');
const TOOLCHAINS = { arm64: 'cmake/aarch64-linux-gnu.cmake' };
const CROSS_PREFIX = { arm64: 'aarch64-linux-gnu-' };

const argv = process.argv.slice(2);
const archArg = argv.find((a) => a.startsWith('--arch='));
const arch = archArg ? archArg.slice('--arch='.length) : process.arch;
const debug = argv.includes('--debug');
const cross = arch !== process.arch;
const config = debug ? 'Debug' : 'Release';

let out;
let status;
if (!cross) {
  out = 'build-prebuild';
  const args = ['rebuild', '--out', out];
  if (archArg) args.push('--arch', arch);
  if (debug) args.push('--debug');
  const cudaOff = process.env.SQEX_CUDA === 'OFF';
  if (cudaOff) args.push('--CDSQEX_CUDA=OFF');
  const archs = cudaArchitectures({ release: true });
  if (!cudaOff) console.log(`squeeze-excite: prebuild CUDA architectures: ${archs.value ?? 'CMakeLists.txt default'} (${archs.why})`);
  status = cmakeBuild(args, { architectures: archs.value });
} else {
  const toolchain = TOOLCHAINS[arch];
  if (process.platform !== 'linux' || !toolchain) {
    console.error(`squeeze-excite: no cross toolchain for ${process.platform}-${process.arch} -> ${process.platform}-${arch} ` +
      `(known: linux-x64 -> linux-${Object.keys(TOOLCHAINS).join(', linux-')}); build on a ${arch} machine instead`);
    process.exit(1);
  }
  out = `build-linux-${arch}`;
  const args = ['rebuild', '--out', out, '--arch', arch, `--CDCMAKE_TOOLCHAIN_FILE=${path.join(root, toolchain)}`, '--CDSQEX_CUDA=OFF'];
  if (debug) args.push('--debug');
  status = cmakeBuild(args);
}
if (status !== 0) process.exit(status);
const built = path.join(root, out, config, 'squeeze_excite.node');
const unportable = releaseProblems(built, cross ? `${CROSS_PREFIX[arch]}objdump` : 'objdump');
if (unportable.length) {
  for (const line of unportable) console.error(line);
  process.exit(1);
}
const dest = path.join(root, 'build', config);
fs.mkdirSync(dest, { recursive: true });
for (const f of fs.readdirSync(dest)) if (f.endsWith('.node')) fs.rmSync(path.join(dest, f));
fs.copyFileSync(built, path.join(dest, 'squeeze_excite.node'));
