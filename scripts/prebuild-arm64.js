#!/usr/bin/env node
// `npm run prebuildify:arm64`: cross-compiles the CPU addon for linux-arm64 on an x86-64 Linux host
// and writes prebuilds/linux-arm64/squeeze-excite.glibc.node, named exactly as `npm run prebuildify`
// names its own (prebuildify --napi --tag-libc, which node-gyp-build matches at load time), stripped
// with aarch64-linux-gnu-strip. Then prints the binary's glibc/libstdc++ floor.
// Needs g++-aarch64-linux-gnu (scripts/setup-arm64-toolchain.sh). On an arm64 host, plain
// `npm run prebuildify` already builds this row natively.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { elfFloor } = require('./elf-floor.js');
const { root, requireTools, runPrebuildify } = require('./prebuildify-run.js');

const PREFIX = 'aarch64-linux-gnu-';

if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) {
  console.error(`prebuildify:arm64 cross-compiles from linux-x64 only (this is ${process.platform}-${process.arch})`);
  process.exit(1);
}
if (process.arch === 'x64') {
  requireTools('prebuildify:arm64', ['g++', 'gcc', 'strip', 'objdump'].map((t) => PREFIX + t),
    'Install the cross toolchain: sudo scripts/setup-arm64-toolchain.sh');
}

const args = ['--napi', '--strip', '--tag-libc', '--arch', 'arm64'];
if (process.arch !== 'arm64') args.push('--strip-bin', `${PREFIX}strip`);
const status = runPrebuildify(args);
if (status !== 0) process.exit(status);

const dir = path.join(root, 'prebuilds', 'linux-arm64');
for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.node'))) {
  const file = path.join(dir, f);
  const r = elfFloor(file, process.arch === 'arm64' ? 'objdump' : `${PREFIX}objdump`);
  const floor = Object.entries(r.floor).map(([ns, v]) => `${ns}_${v.version} (${v.symbols[0]})`).join(', ');
  console.log(`${path.relative(root, file)}: ${fs.statSync(file).size} bytes, ${r.stripped ? 'stripped' : 'NOT stripped'}; needs ${r.needed.join(', ')}; floor ${floor}`);
  if (!r.stripped) process.exit(1);
}
