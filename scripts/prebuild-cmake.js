#!/usr/bin/env node
// prebuildify has no CMake backend; `npm run prebuildify` points its --node-gyp here. It calls us
// as it would call node-gyp ("rebuild --target=… --devdir=… --arch=… --release") and then collects
// build/Release/*.node. We build with cmake-js instead, so the prebuild carries the CUDA backend
// wherever nvcc is present (SQEX_CUDA=OFF forces a CPU-only prebuild).
'use strict';
const { cmakeBuild } = require('./cmake-build.js');

const argv = process.argv.slice(2);
const archArg = argv.find((a) => a.startsWith('--arch='));
const args = ['rebuild', '--out', 'build'];
if (archArg) args.push('--arch', archArg.slice('--arch='.length));
if (argv.includes('--debug')) args.push('--debug');
if (process.env.SQEX_CUDA === 'OFF') args.push('--CDSQEX_CUDA=OFF');
process.exit(cmakeBuild(args));
