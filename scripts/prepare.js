#!/usr/bin/env node
// npm's `prepare` hook: compiles lib/ (TypeScript) into dist/ where there is something to compile
// (a checkout: `npm install` in it, or a git dependency). A copy made from the packed tarball (a
// folder dependency, a vendored or linked unpacked package) ships dist/ and has neither lib/,
// tsconfig.json nor TypeScript: npm runs `prepare` there too, and it has nothing to do.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
if (!fs.existsSync(path.join(root, 'tsconfig.json')) || !fs.existsSync(path.join(root, 'lib'))) {
  process.exit(0); // an unpacked package: dist/ is already built
}
// A checkout whose own `npm install` never ran, installed into another project (`npm install
// /path/to/checkout`): npm runs this hook there without the checkout's devDependencies, and
// build:ts died with "tsc: not found" (a newcomer's try, 2026-12-04). Say what to do instead.
function hasTypeScript() {
  try {
    require.resolve('typescript/package.json', { paths: [root] }); // hoisted into a workspace's root too
    return true;
  } catch {
    return false;
  }
}
if (!hasTypeScript()) {
  console.error(
    `squeeze-excite: ${root} is a checkout that has not been built: its development dependencies ` +
      '(TypeScript, cmake-js) are not installed there, so its JavaScript and its native addon cannot be built. ' +
      `Run \`npm install\` in ${root} first (it compiles both), then install it into your project again; ` +
      'or install a tarball made there (README, "Quick start").',
  );
  process.exit(1);
}
// npm names itself in npm_execpath; `npm` on PATH otherwise (running this script by hand).
const npmCli = process.env.npm_execpath;
const [cmd, args] = npmCli && /\.[cm]?js$/.test(npmCli) ? [process.execPath, [npmCli]] : ['npm', []];
const r = spawnSync(cmd, [...args, 'run', 'build:ts'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' && args.length === 0 });
if (r.error) {
  console.error(`squeeze-excite: could not run npm run build:ts (${r.error.code || r.error.message})`);
  process.exit(1);
}
process.exit(r.status === null ? 1 : r.status);
