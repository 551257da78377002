// scripts/ensure-addon.js, which `npm test` runs before the suites. A local CMake build older
// than its sources (a git pull, a branch switch, an edit of native/) used to load and be tested
// as it was; the script now has CMake's build tool bring it up to date first. Run here in a
// scratch checkout with a stand-in `cmake` on PATH, so no real build runs and build/ is not touched.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const repo = path.resolve(__dirname, '..');
const scratchRoots: string[] = [];
afterAll(() => {
  for (const d of scratchRoots) rmSync(d, { recursive: true, force: true });
});

/**
 * A scratch checkout: the script, a dist/index.js whose loadReport() says the addon loads, a
 * configured build/ with an addon file, and a bin/ folder for the stand-in cmake.
 * `cmake`: the stand-in's shell body (it logs its arguments to cmake.log first); null: none.
 */
function scratch(opts: { cmake: string | null; checkout?: boolean }): { root: string; bin: string; addon: string; log: string } {
  const root = mkdtempSync(path.join(tmpdir(), 'sqex-ensure-'));
  scratchRoots.push(root);
  mkdirSync(path.join(root, 'scripts'));
  copyFileSync(path.join(repo, 'scripts', 'ensure-addon.js'), path.join(root, 'scripts', 'ensure-addon.js'));
  mkdirSync(path.join(root, 'dist', 'backend'), { recursive: true });
  writeFileSync(path.join(root, 'dist', 'index.js'), "exports.loadReport = () => ({ binary: 'build/Release/squeeze_excite.node', attempts: [] });\n");
  // The script quotes paths with the loader's shellArg (the real one; requiring it loads no addon).
  writeFileSync(path.join(root, 'dist', 'backend', 'diagnose.js'), `module.exports = require(${JSON.stringify(path.join(repo, 'dist', 'backend', 'diagnose.js'))});\n`);
  if (opts.checkout ?? true) mkdirSync(path.join(root, '.git'));
  mkdirSync(path.join(root, 'build', 'Release'), { recursive: true });
  writeFileSync(path.join(root, 'build', 'CMakeCache.txt'), '# stand-in\n');
  const addon = path.join(root, 'build', 'Release', 'squeeze_excite.node');
  writeFileSync(addon, 'stands in for the addon');
  const bin = path.join(root, 'bin');
  mkdirSync(bin);
  const log = path.join(root, 'cmake.log');
  if (opts.cmake !== null) {
    const cmake = path.join(bin, 'cmake');
    writeFileSync(cmake, `#!/bin/sh\necho "$@" >> ${JSON.stringify(log)}\n${opts.cmake}\n`);
    chmodSync(cmake, 0o755);
  }
  return { root, bin, addon, log };
}

function run(s: { root: string; bin: string }): { status: number | null; stderr: string } {
  // PATH holds the stand-in cmake alone (its body uses shell built-ins only): never the real one.
  const r = spawnSync(process.execPath, [path.join(s.root, 'scripts', 'ensure-addon.js')], {
    cwd: s.root,
    env: { PATH: s.bin, HOME: s.root },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stderr: r.stderr };
}

describe.skipIf(process.platform === 'win32')('npm test brings a stale local build up to date before testing it', () => {
  it('asks CMake to build build/ (Release) and says nothing when nothing was stale', () => {
    const s = scratch({ cmake: 'echo "ninja: no work to do."' });
    const r = run(s);
    expect(r.status).toBe(0);
    expect(readFileSync(s.log, 'utf8').trim()).toBe(`--build ${path.join(s.root, 'build')} --config Release`);
    expect(r.stderr).toBe('');
  });

  it('says so when it rebuilt the addon', () => {
    const s = scratch({ cmake: `echo rebuilt > ${JSON.stringify(path.join('build', 'Release', 'squeeze_excite.node'))}` });
    const r = run(s);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^squeeze-excite: rebuilt the local addon, which was older than its sources \(\d+\.\d s\)\n$/);
  });

  it('a rebuild that fails stops npm test, with the build output and the fix', () => {
    const s = scratch({ cmake: 'echo "native/cpu/se.cpp:1: error: expected ;" >&2; exit 2' });
    const r = run(s);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('native/cpu/se.cpp:1: error: expected ;');
    expect(r.stderr).toContain('is older than its sources and rebuilding it failed (cmake --build build exited 2)');
    expect(r.stderr).toContain(`rm -rf ${path.join(s.root, 'build')} && npm install`);
  });

  it('without cmake on PATH it says the build could not be checked, and goes on', () => {
    const s = scratch({ cmake: null });
    const r = run(s);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('could not check the local build against its sources');
  });

  it('outside a checkout (an installed package) it runs no build', () => {
    const s = scratch({ cmake: 'exit 0', checkout: false });
    const r = run(s);
    expect(r.status).toBe(0);
    expect(existsSync(s.log)).toBe(false);
    expect(r.stderr).toBe('');
  });
});
