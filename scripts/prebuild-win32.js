#!/usr/bin/env node
// `npm run prebuildify:win32`: cross-compiles the CPU addon for win32-x64 on an x86-64 Linux host
// with mingw-w64 (cmake/x86_64-w64-mingw32.cmake) and writes prebuilds/win32-x64/squeeze-excite.node,
// stripped with x86_64-w64-mingw32-strip. prebuildify --napi without --tag-libc: libc means nothing
// on Windows, and node-gyp-build on win32 matches an untagged file whatever LIBC says. Then prints
// what the binary imports (scripts/pe-imports.js) and fails unless that is Node-API from node.exe
// and system DLLs only, stripped.
// Needs mingw-w64 (scripts/setup-win32-toolchain.sh). The workflow's Windows job builds the MSVC
// binary (with CUDA when it finds nvcc) instead.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { peImports, win32Problems } = require('./pe-imports.js');
const { root, requireTools, runPrebuildify } = require('./prebuildify-run.js');

const PREFIX = 'x86_64-w64-mingw32-';

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`prebuildify:win32 cross-compiles from linux-x64 only (this is ${process.platform}-${process.arch})`);
  process.exit(1);
}
requireTools('prebuildify:win32', ['g++-posix', 'gcc-posix', 'strip', 'dlltool'].map((t) => PREFIX + t),
  'Install the cross toolchain: sudo scripts/setup-win32-toolchain.sh');

const status = runPrebuildify(['--napi', '--strip', '--platform', 'win32', '--arch', 'x64', '--strip-bin', `${PREFIX}strip`]);
if (status !== 0) process.exit(status);

const dir = path.join(root, 'prebuilds', 'win32-x64');
for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.node'))) {
  const file = path.join(dir, f);
  const r = peImports(file);
  const dlls = [...r.imports.map((d) => d.dll), ...r.delayImports.map((d) => `${d.dll} (delay-loaded, ${d.functions.length} functions)`)];
  console.log(`${path.relative(root, file)}: ${fs.statSync(file).size} bytes, ${r.stripped ? 'stripped' : 'NOT stripped'}; C runtime ${r.crt}; imports ${dlls.join(', ')}`);
  const problems = win32Problems(r);
  for (const p of problems) console.error(`  ${p}`);
  if (!r.stripped || problems.length) process.exit(1);
}
