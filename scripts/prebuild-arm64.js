#!/usr/bin/env node
// `npm run prebuildify:arm64`: cross-compiles the CPU addon for linux-arm64 on an x86-64 Linux host
// and writes prebuilds/linux-arm64/squeeze-excite.glibc.node, named exactly as `npm run prebuildify`
// names its own (prebuildify --napi --tag-libc, which node-gyp-build matches at load time), stripped
// with aarch64-linux-gnu-strip. Then prints the binary's glibc/libstdc++ floor.
// Needs g++-aarch64-linux-gnu (scripts/setup-arm64-toolchain.sh). On an arm64 host, plain
// `npm run prebuildify` already builds this row natively.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { elfFloor } = require('./elf-floor.js');

const root = path.resolve(__dirname, '..');
const PREFIX = 'aarch64-linux-gnu-';

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) {
  console.error(`prebuildify:arm64 cross-compiles from linux-x64 only (this is ${process.platform}-${process.arch})`);
  process.exit(1);
}
const missing = ['g++', 'gcc', 'strip', 'objdump'].map((t) => PREFIX + t).filter((t) => !onPath(t));
if (process.arch === 'x64' && missing.length) {
  console.error(`prebuildify:arm64: ${missing.join(', ')} not found. Install the cross toolchain: sudo scripts/setup-arm64-toolchain.sh`);
  process.exit(1);
}

// prebuildify collects (moves) build/Release/*.node: keep the host's own build out of its way.
const hostAddon = path.join(root, 'build', 'Release', 'squeeze_excite.node');
const parked = path.join(root, 'build', 'Release', 'squeeze_excite.node.host');
const park = fs.existsSync(hostAddon);
if (park) fs.renameSync(hostAddon, parked);
let status;
try {
  const bin = path.join(path.dirname(require.resolve('prebuildify/package.json', { paths: [root] })), 'bin.js');
  const args = [bin, '--napi', '--strip', '--tag-libc', '--arch', 'arm64', '--node-gyp', 'scripts/prebuild-cmake.js'];
  if (process.arch !== 'arm64') args.push('--strip-bin', `${PREFIX}strip`);
  console.log(`squeeze-excite: prebuildify ${args.slice(1).join(' ')}`);
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  status = r.status === null ? 1 : r.status;
} finally {
  fs.rmSync(hostAddon, { force: true });
  if (park) fs.renameSync(parked, hostAddon);
}
if (status !== 0) process.exit(status);

const dir = path.join(root, 'prebuilds', 'linux-arm64');
for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.node'))) {
  const file = path.join(dir, f);
  const r = elfFloor(file, process.arch === 'arm64' ? 'objdump' : `${PREFIX}objdump`);
  const floor = Object.entries(r.floor).map(([ns, v]) => `${ns}_${v.version} (${v.symbols[0]})`).join(', ');
  console.log(`${path.relative(root, file)}: ${fs.statSync(file).size} bytes, ${r.stripped ? 'stripped' : 'NOT stripped'}; needs ${r.needed.join(', ')}; floor ${floor}`);
  if (!r.stripped) process.exit(1);
}
