#!/usr/bin/env node
// `npm test`, before the suites: the addon must load. `npm test` compiles the TypeScript but not
// the native code, so after `rm -rf build` (or a checkout whose install step was skipped) every
// suite failed on its own with the same LoadError (865 failures). When nothing loads, this runs
// the install step's build (scripts/install.js: a prebuild that loads, else the source build) and
// says so; when the addon loads, it does nothing.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const report = require('../dist/index.js').loadReport(); // never throws: attempts say why
if (report.binary) process.exit(0);
const why = report.attempts.map((a) => `${a.kind}: ${a.reason}`).join('; ') || 'no .node file found';
console.error(`squeeze-excite: the native addon does not load in this checkout (${why}); building it as npm install does (node scripts/install.js)`);
const build = spawnSync(process.execPath, [path.join(__dirname, 'install.js')], { cwd: path.resolve(__dirname, '..'), stdio: 'inherit' });
process.exit(build.status === null ? 1 : build.status);
