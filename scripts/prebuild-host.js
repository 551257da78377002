#!/usr/bin/env node
// `npm run prebuildify` (then scripts/prebuild-cuda11.js): this platform's prebuild, made by
// prebuildify --napi --strip --tag-libc through scripts/prebuild-cmake.js (the release build, in
// build-prebuild/). The checkout's own build/Release addon is parked meanwhile and put back, so a
// checkout (and an app linked to it) keeps loading its development build afterwards.
'use strict';
const { runPrebuildify } = require('./prebuildify-run.js');

process.exit(runPrebuildify(['--napi', '--strip', '--tag-libc']));
