// Shared by the prebuild scripts (prebuild-host.js, prebuild-arm64.js, prebuild-win32.js): checks
// that a cross toolchain is on PATH, and runs prebuildify with scripts/prebuild-cmake.js as its
// --node-gyp while the checkout's own build/Release addon is parked out of its way (prebuildify
// moves the first build/Release/*.node it finds into prebuilds/; without the parking, the
// checkout would load the prebuild, CPU-only where it was built with SQEX_CUDA=OFF, from then on).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Exits with `hint` when any of `tools` is not on PATH. */
function requireTools(script, tools, hint) {
  const missing = tools.filter((t) => !onPath(t));
  if (missing.length) {
    console.error(`${script}: ${missing.join(', ')} not found. ${hint}`);
    process.exit(1);
  }
}

/** Runs `prebuildify <args> --node-gyp scripts/prebuild-cmake.js`; returns its exit status. */
function runPrebuildify(args) {
  const hostAddon = path.join(root, 'build', 'Release', 'squeeze_excite.node');
  const parked = path.join(root, 'build', 'Release', 'squeeze_excite.node.host');
  const park = fs.existsSync(hostAddon);
  if (park) fs.renameSync(hostAddon, parked);
  try {
    const bin = path.join(path.dirname(require.resolve('prebuildify/package.json', { paths: [root] })), 'bin.js');
    const all = [bin, ...args, '--node-gyp', 'scripts/prebuild-cmake.js'];
    console.log(`squeeze-excite: prebuildify ${all.slice(1).join(' ')}`);
    const r = spawnSync(process.execPath, all, { cwd: root, stdio: 'inherit' });
    return r.status === null ? 1 : r.status;
  } finally {
    fs.rmSync(hostAddon, { force: true });
    if (park) fs.renameSync(parked, hostAddon);
  }
}

module.exports = { root, onPath, requireTools, runPrebuildify };
