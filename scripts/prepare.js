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
// npm names itself in npm_execpath; `npm` on PATH otherwise (running this script by hand).
const npmCli = process.env.npm_execpath;
const [cmd, args] = npmCli && /\.[cm]?js$/.test(npmCli) ? [process.execPath, [npmCli]] : ['npm', []];
const r = spawnSync(cmd, [...args, 'run', 'build:ts'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' && args.length === 0 });
if (r.error) {
  console.error(`squeeze-excite: could not run npm run build:ts (${r.error.code || r.error.message})`);
  process.exit(1);
}
process.exit(r.status === null ? 1 : r.status);
