#!/usr/bin/env node
// `npm test`, before the suites: the addon must load, and be built from these sources.
// - `npm test` compiles the TypeScript but not the native code, so after `rm -rf build` (or a
//   checkout whose install step was skipped) every suite failed on its own with the same
//   LoadError (865 failures). When nothing loads, this runs the install step's build
//   (scripts/install.js: a prebuild that loads, else the source build) and says so.
// - A local CMake build older than its sources (after a git pull, a branch switch or an edit of
//   native/) loaded and was tested as it was, the old kernels passing for the new. CMake's own
//   build tool decides what is stale, header dependencies included, and rebuilds only that
//   (0.1 s when nothing changed), before anything loads the file.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
// dist/ is built before this runs (npm test: build:ts first); requiring the loader loads no addon.
const { shellArg } = require('../dist/backend/diagnose.js');

const root = path.resolve(__dirname, '..');
const buildDir = path.join(root, 'build');
const addon = path.join(buildDir, 'Release', 'squeeze_excite.node');
/** Seconds of a silent rebuild before the user is told what is running. */
const QUIET_SECONDS = 2;

function mtimeOrNull(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

/** Brings a local CMake build up to date with the sources; resolves to the exit status to use (0: go on). */
function refreshLocalBuild() {
  const isCheckout = fs.existsSync(path.join(root, '.git'));
  const before = mtimeOrNull(addon);
  if (!isCheckout || !fs.existsSync(path.join(buildDir, 'CMakeCache.txt')) || before === null) return Promise.resolve(0);
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn('cmake', ['--build', buildDir, '--config', 'Release'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    let told = false;
    const tell = () => {
      if (told) return;
      told = true;
      console.error('squeeze-excite: rebuilding the local addon (build/), which is older than its sources: cmake --build build');
      process.stderr.write(log);
    };
    const timer = setTimeout(tell, QUIET_SECONDS * 1000);
    const take = (chunk) => (told ? process.stderr.write(chunk) : (log += chunk));
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (err) => {
      // No cmake on PATH: the build cannot be checked; the tests run what is there.
      clearTimeout(timer);
      console.error(`squeeze-excite: could not check the local build against its sources (${err.message}); testing build/ as it is`);
      resolve(0);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      if (status !== 0) {
        tell();
        console.error(
          `squeeze-excite: the local addon (build/) is older than its sources and rebuilding it failed (cmake --build build exited ${status}).\n` +
            `  Fix the error above, or start the build afresh: rm -rf ${shellArg(buildDir)} && npm install`,
        );
        resolve(1);
        return;
      }
      const after = mtimeOrNull(addon);
      if (after !== before) {
        console.error(`squeeze-excite: rebuilt the local addon, which was older than its sources (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      }
      resolve(0);
    });
  });
}

refreshLocalBuild().then((status) => {
  if (status !== 0) process.exit(status);
  const report = require('../dist/index.js').loadReport(); // no LoadError: attempts say why (it throws only for a load re-entered or broken by other code)
  if (report.binary) process.exit(0);
  const why = report.attempts.map((a) => `${a.kind}: ${a.reason}`).join('; ') || 'no .node file found';
  console.error(`squeeze-excite: the native addon does not load in this checkout (${why}); building it as npm install does (node scripts/install.js)`);
  const build = spawnSync(process.execPath, [path.join(__dirname, 'install.js')], { cwd: root, stdio: 'inherit' });
  process.exit(build.status === null ? 1 : build.status);
});
