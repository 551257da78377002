#!/usr/bin/env node
// Builds the addon with CMake through cmake-js: `node scripts/cmake-build.js [compile|rebuild] [cmake-js args]`.
// cmake-js is a devDependency; in an installed copy of the package, where it is absent, it is
// fetched once through npx. cmake-js uses node-api-headers (package.json "binary"), so nothing
// else is downloaded.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function cmakeJsCommand() {
  try {
    const bin = path.join(path.dirname(require.resolve('cmake-js/package.json', { paths: [root] })), 'bin', 'cmake-js');
    return [process.execPath, [bin]];
  } catch {
    return [process.platform === 'win32' ? 'npx.cmd' : 'npx', ['--yes', 'cmake-js@8']];
  }
}

function cmakeBuild(args) {
  const [cmd, pre] = cmakeJsCommand();
  const all = [...pre, ...args];
  console.log(`squeeze-excite: cmake-js ${args.join(' ')}`);
  const r = spawnSync(cmd, all, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.error) throw r.error;
  return r.status === null ? 1 : r.status;
}

module.exports = { cmakeBuild };

if (require.main === module) {
  const args = process.argv.slice(2);
  const verb = args[0] === 'rebuild' || args[0] === 'compile' ? args.shift() : 'compile';
  process.exit(cmakeBuild([verb, '--out', 'build', ...args]));
}
