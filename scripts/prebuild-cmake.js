#!/usr/bin/env node
// prebuildify has no CMake backend; `npm run prebuildify` points its --node-gyp here. It calls us
// as it would call node-gyp ("rebuild --target=… --devdir=… --arch=… --release") and then moves
// the first build/Release/*.node into prebuilds/. We build with cmake-js instead, so the prebuild
// carries the CUDA backend wherever nvcc is present, for every release architecture
// (SQEX_CUDA=OFF forces a CPU-only prebuild; SQEX_CUDA_ARCHITECTURES picks others).
//
// The release build has its own CMake tree, build-prebuild/, so the development tree in build/
// keeps its configuration; build/Release/squeeze_excite.node is replaced by the release binary,
// which prebuildify then moves away. The npm scripts park the development binary meanwhile and
// put it back (scripts/prebuildify-run.js); run by hand, `npm run build:native` relinks it.
//
// Cross-compiling on an x86-64 Linux host (`npm run prebuildify:arm64`, `npm run prebuildify:win32`):
// an --arch, or a prebuildify --platform (PREBUILD_PLATFORM), other than the host's selects a CMake
// toolchain file from cmake/ and builds CPU-only in build-<platform>-<arch>/.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { cmakeBuild, cudaArchitectures } = require('./cmake-build.js');
const { releaseProblems } = require('./elf-floor.js');
const { peImports, win32Problems } = require('./pe-imports.js');

const root = path.resolve(__dirname, '..');
const TOOLCHAINS = { 'linux-arm64': 'cmake/aarch64-linux-gnu.cmake', 'win32-x64': 'cmake/x86_64-w64-mingw32.cmake' };
const CROSS_PREFIX = { 'linux-arm64': 'aarch64-linux-gnu-', 'win32-x64': 'x86_64-w64-mingw32-' };

const argv = process.argv.slice(2);
const archArg = argv.find((a) => a.startsWith('--arch='));
const arch = archArg ? archArg.slice('--arch='.length) : process.arch;
// prebuildify passes the target platform in the environment only.
const platform = process.env.PREBUILD_PLATFORM || process.platform;
const target = `${platform}-${arch}`;
const debug = argv.includes('--debug');
const cross = arch !== process.arch || platform !== process.platform;
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
  const toolchain = TOOLCHAINS[target];
  if (process.platform !== 'linux' || process.arch !== 'x64' || !toolchain) {
    console.error(`squeeze-excite: no cross toolchain for ${process.platform}-${process.arch} -> ${target} ` +
      `(known: linux-x64 -> ${Object.keys(TOOLCHAINS).join(', ')}); build on a ${target} machine instead`);
    process.exit(1);
  }
  out = `build-${target}`;
  const args = ['rebuild', '--out', out, '--arch', arch, `--CDCMAKE_TOOLCHAIN_FILE=${path.join(root, toolchain)}`, '--CDSQEX_CUDA=OFF'];
  if (debug) args.push('--debug');
  status = cmakeBuild(args);
}
if (status !== 0) process.exit(status);
const built = path.join(root, out, config, 'squeeze_excite.node');
// The mingw-w64 build promises node.exe + system DLLs only (the workflow's MSVC build is not held
// to it here: it was never run).
const unportable = cross && platform === 'win32'
  ? win32Problems(peImports(built)).map((p) => `squeeze-excite: ${built}: ${p}`)
  : releaseProblems(built, cross ? `${CROSS_PREFIX[target]}objdump` : 'objdump');
if (unportable.length) {
  for (const line of unportable) console.error(line);
  process.exit(1);
}
const dest = path.join(root, 'build', config);
fs.mkdirSync(dest, { recursive: true });
for (const f of fs.readdirSync(dest)) if (f.endsWith('.node')) fs.rmSync(path.join(dest, f));
fs.copyFileSync(built, path.join(dest, 'squeeze_excite.node'));
