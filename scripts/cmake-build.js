#!/usr/bin/env node
// Builds the addon with CMake through cmake-js: `node scripts/cmake-build.js [compile|rebuild] [cmake-js args]`.
// cmake-js is a devDependency; in an installed copy of the package, where it is absent, it is
// fetched once through npx. cmake-js uses node-api-headers (package.json "binary"), so nothing
// else is downloaded.
//
// CUDA architectures. nvcc compiles every kernel once per architecture, so the release list
// (CMakeLists.txt: sm_75, 80, 86, 89, 90 SASS + compute_90 PTX) takes minutes on a small machine.
// A development build (this script, `npm install` in a checkout) compiles for the GPUs in this
// machine (nvidia-smi), or for sm_90 alone when there is none: that keeps the compile check, and
// the result runs on an H100/H200. SQEX_CUDA_ARCHITECTURES (a CMake architecture list, e.g.
// "86-real" or "80-real;90") overrides both; `npm run prebuildify` builds the release list.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const FALLBACK_ARCHITECTURE = '90-real';

function cmakeJsCommand() {
  try {
    const bin = path.join(path.dirname(require.resolve('cmake-js/package.json', { paths: [root] })), 'bin', 'cmake-js');
    return [process.execPath, [bin]];
  } catch {
    return [process.platform === 'win32' ? 'npx.cmd' : 'npx', ['--yes', 'cmake-js@8']];
  }
}

/** The GPUs nvidia-smi lists, as { name, cap: '9.0' }; [] without a driver or GPU. */
function localGpus() {
  const r = spawnSync('nvidia-smi', ['--query-gpu=name,compute_cap', '--format=csv,noheader'], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0 || !r.stdout) return [];
  return r.stdout
    .split('\n')
    .map((line) => line.split(',').map((s) => s.trim()))
    .filter(([name, cap]) => name && /^\d+\.\d+$/.test(cap ?? ''))
    .map(([name, cap]) => ({ name, cap }));
}

/**
 * The CUDA architectures of a build and why: { value, why }. value is a CMake
 * CUDA_ARCHITECTURES list, or null for CMakeLists.txt's release list.
 */
function cudaArchitectures({ release = false } = {}) {
  const env = process.env.SQEX_CUDA_ARCHITECTURES;
  if (env) return { value: env, why: 'from SQEX_CUDA_ARCHITECTURES' };
  if (release) return { value: null, why: 'the release list: sm_75, 80, 86, 89, 90 + compute_90 PTX' };
  const gpus = localGpus();
  if (gpus.length) {
    const caps = [...new Set(gpus.map((g) => g.cap.replace('.', '')))];
    const value = caps.map((c) => `${c}-real`).join(';');
    const seen = [...new Set(gpus.map((g) => `${g.name}, compute capability ${g.cap}`))];
    return { value, why: `the ${seen.length > 1 ? 'GPUs' : 'GPU'} in this machine (${seen.join('; ')})` };
  }
  return { value: FALLBACK_ARCHITECTURE, why: 'no GPU found by nvidia-smi: sm_90 only, which keeps the compile check and runs on H100/H200' };
}

function runCmakeJs(args) {
  const [cmd, pre] = cmakeJsCommand();
  console.log(`squeeze-excite: cmake-js ${args.join(' ')}`);
  const r = spawnSync(cmd, [...pre, ...args], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.error) throw r.error;
  return r.status === null ? 1 : r.status;
}

/**
 * Runs cmake-js with args (a verb first: compile, rebuild, or any cmake-js command).
 * options.architectures: a CMake CUDA architecture list passed as SQEX_CUDA_ARCHITECTURES (null:
 * CMakeLists.txt's default). Returns the exit status.
 *
 * compile = configure, then build: cmake-js's own compile configures only a fresh build tree, so
 * a changed option (other architectures, SQEX_CUDA=OFF) would never reach an existing one. A
 * failed configure (e.g. a cache from another source folder) falls back to a clean rebuild.
 */
function cmakeBuild(args, { architectures = null } = {}) {
  const [verb, ...rest] = args;
  // cmake-js logs its full argument arrays at the default "info" level; CMake's and the
  // compiler's own output still shows.
  if (!rest.some((a) => a === '-l' || a.startsWith('--log-level'))) rest.push('--log-level', 'warn');
  // Options stick in CMakeCache.txt: say SQEX_CUDA every time, so that a build after a CPU-only
  // one (npm run build:native:cpu) compiles CUDA again.
  if (!rest.some((a) => a.startsWith('--CDSQEX_CUDA='))) rest.push('--CDSQEX_CUDA=ON');
  if (architectures && !rest.some((a) => a.startsWith('--CDSQEX_CUDA_ARCHITECTURES='))) {
    rest.push(`--CDSQEX_CUDA_ARCHITECTURES=${architectures}`);
  }
  const t0 = Date.now();
  let status;
  if (verb === 'compile') {
    status = runCmakeJs(['configure', ...rest]);
    if (status === 0) status = runCmakeJs(['build', ...rest]);
    else {
      console.log('squeeze-excite: configuring the existing build tree failed; rebuilding from a clean one');
      status = runCmakeJs(['rebuild', ...rest]);
    }
  } else {
    status = runCmakeJs([verb, ...rest]);
  }
  console.log(`squeeze-excite: cmake-js ${status === 0 ? 'finished' : `failed (exit ${status})`} after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return status;
}

module.exports = { cmakeBuild, cudaArchitectures };

if (require.main === module) {
  const args = process.argv.slice(2);
  const verb = args[0] === 'rebuild' || args[0] === 'compile' ? args.shift() : 'compile';
  const arch = cudaArchitectures();
  if (!args.some((a) => a === '--CDSQEX_CUDA=OFF')) console.log(`squeeze-excite: CUDA architectures ${arch.value ?? '(release list)'}: ${arch.why}`);
  process.exit(cmakeBuild([verb, '--out', 'build', ...args], { architectures: arch.value }));
}
