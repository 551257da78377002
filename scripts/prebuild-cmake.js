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
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { cmakeBuild, cudaArchitectures } = require('./cmake-build.js');

const root = path.resolve(__dirname, '..');
const argv = process.argv.slice(2);
const archArg = argv.find((a) => a.startsWith('--arch='));
const debug = argv.includes('--debug');
const args = ['rebuild', '--out', 'build-prebuild'];
if (archArg) args.push('--arch', archArg.slice('--arch='.length));
if (debug) args.push('--debug');
const cudaOff = process.env.SQEX_CUDA === 'OFF';
if (cudaOff) args.push('--CDSQEX_CUDA=OFF');
const arch = cudaArchitectures({ release: true });
if (!cudaOff) console.log(`squeeze-excite: prebuild CUDA architectures: ${arch.value ?? 'CMakeLists.txt default'} (${arch.why})`);
const status = cmakeBuild(args, { architectures: arch.value });
if (status !== 0) process.exit(status);

const config = debug ? 'Debug' : 'Release';
const built = path.join(root, 'build-prebuild', config, 'squeeze_excite.node');
const dest = path.join(root, 'build', config);
fs.mkdirSync(dest, { recursive: true });
for (const f of fs.readdirSync(dest)) if (f.endsWith('.node')) fs.rmSync(path.join(dest, f));
fs.copyFileSync(built, path.join(dest, 'squeeze_excite.node'));
