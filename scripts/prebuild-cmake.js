#!/usr/bin/env node
// prebuildify has no CMake backend; `npm run prebuildify` points its --node-gyp here. It calls us
// as it would call node-gyp ("rebuild --target=… --devdir=… --arch=… --release") and then collects
// build/Release/*.node. We build with cmake-js instead, so the prebuild carries the CUDA backend
// wherever nvcc is present (SQEX_CUDA=OFF forces a CPU-only prebuild).
//
// Cross-compiling (`npm run prebuildify:arm64` on an x86-64 Linux host): an --arch other than the
// host's selects a CMake toolchain file from cmake/, builds CPU-only in build-linux-<arch>/ (so the
// host's build/ cache is never reconfigured for another target), and copies the addon into
// build/Release/ where prebuildify collects it.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { cmakeBuild } = require('./cmake-build.js');

const root = path.resolve(__dirname, '..');
const TOOLCHAINS = { arm64: 'cmake/aarch64-linux-gnu.cmake' };

const argv = process.argv.slice(2);
const archArg = argv.find((a) => a.startsWith('--arch='));
const arch = archArg ? archArg.slice('--arch='.length) : process.arch;
const debug = argv.includes('--debug');
const cross = arch !== process.arch;

if (!cross) {
  const args = ['rebuild', '--out', 'build'];
  if (archArg) args.push('--arch', arch);
  if (debug) args.push('--debug');
  if (process.env.SQEX_CUDA === 'OFF') args.push('--CDSQEX_CUDA=OFF');
  process.exit(cmakeBuild(args));
}

const toolchain = TOOLCHAINS[arch];
if (process.platform !== 'linux' || !toolchain) {
  console.error(`squeeze-excite: no cross toolchain for ${process.platform}-${process.arch} -> ${process.platform}-${arch} ` +
    `(known: linux-x64 -> linux-${Object.keys(TOOLCHAINS).join(', linux-')}); build on a ${arch} machine instead`);
  process.exit(1);
}
const out = `build-linux-${arch}`;
const config = debug ? 'Debug' : 'Release';
const args = ['rebuild', '--out', out, '--arch', arch, `--CDCMAKE_TOOLCHAIN_FILE=${path.join(root, toolchain)}`, '--CDSQEX_CUDA=OFF'];
if (debug) args.push('--debug');
const status = cmakeBuild(args);
if (status !== 0) process.exit(status);
const built = path.join(root, out, config, 'squeeze_excite.node');
const collect = path.join(root, 'build', config);
fs.mkdirSync(collect, { recursive: true });
fs.copyFileSync(built, path.join(collect, 'squeeze_excite.node'));
