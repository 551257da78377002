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
//
// Several CUDA toolkits (a machine that also builds the CUDA 11.8 variant, whose Debian nvcc sits
// in /usr/bin): CMake takes the first nvcc on PATH, and `npm run` puts node's own folder (often
// /usr/bin) first. Unless CUDACXX or --CDCMAKE_CUDA_COMPILER names one, the newest nvcc on PATH,
// in $CUDA_PATH/bin or in /usr/local/cuda/bin is used, with its folder first on PATH (nvcc runs
// ptxas, fatbinary and nvlink from PATH).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
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

/** "13.0" from `nvcc --version`, or null. */
function nvccVersion(nvcc) {
  const r = spawnSync(nvcc, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  const m = r.status === 0 ? /release (\d+)\.(\d+)/.exec(r.stdout) : null;
  return m ? `${m[1]}.${m[2]}` : null;
}

/**
 * Every distinct nvcc on PATH, in $CUDA_PATH/bin and /usr/local/cuda/bin, newest first (PATH
 * order among equals): [{ file, dir, version }].
 */
function nvccCandidates() {
  const exe = process.platform === 'win32' ? 'nvcc.exe' : 'nvcc';
  const dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean);
  if (process.env.CUDA_PATH) dirs.push(path.join(process.env.CUDA_PATH, 'bin'));
  if (process.platform !== 'win32') dirs.push('/usr/local/cuda/bin');
  const seen = new Set();
  const found = [];
  for (const dir of dirs) {
    const file = path.join(dir, exe);
    if (!fs.existsSync(file) || seen.has(file)) continue;
    seen.add(file);
    const version = nvccVersion(file);
    if (version) found.push({ file, dir, version });
  }
  const key = (v) => v.split('.').map(Number);
  return found.sort((a, b) => key(b.version)[0] - key(a.version)[0] || key(b.version)[1] - key(a.version)[1]);
}

/** The nvcc to name when several CUDA versions are installed and nothing names one; else null. */
function newestNvccIfSeveral(args) {
  if (process.env.CUDACXX || args.some((a) => a.startsWith('--CDCMAKE_CUDA_COMPILER=') || a === '--CDSQEX_CUDA=OFF')) return null;
  const found = nvccCandidates();
  if (new Set(found.map((n) => n.version)).size < 2) return null;
  console.log(
    `squeeze-excite: several CUDA toolkits found (${found.map((n) => `${n.version}: ${n.file}`).join(', ')}): ` +
      `building with the newest, ${found[0].version} (CUDACXX=<nvcc> picks another)`,
  );
  return found[0];
}

function runCmakeJs(args, env = process.env) {
  const [cmd, pre] = cmakeJsCommand();
  console.log(`squeeze-excite: cmake-js ${args.join(' ')}`);
  const r = spawnSync(cmd, [...pre, ...args], { cwd: root, stdio: 'inherit', env, shell: process.platform === 'win32' });
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
  let env = process.env;
  const nvcc = newestNvccIfSeveral(rest);
  if (nvcc) {
    rest.push(`--CDCMAKE_CUDA_COMPILER=${nvcc.file}`);
    env = { ...process.env, PATH: `${nvcc.dir}${path.delimiter}${process.env.PATH ?? ''}` };
  }
  const t0 = Date.now();
  let status;
  if (verb === 'compile') {
    status = runCmakeJs(['configure', ...rest], env);
    if (status === 0) status = runCmakeJs(['build', ...rest], env);
    else {
      console.log('squeeze-excite: configuring the existing build tree failed; rebuilding from a clean one');
      status = runCmakeJs(['rebuild', ...rest], env);
    }
  } else {
    status = runCmakeJs([verb, ...rest], env);
  }
  console.log(`squeeze-excite: cmake-js ${status === 0 ? 'finished' : `failed (exit ${status})`} after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return status;
}

module.exports = { cmakeBuild, cudaArchitectures, nvccCandidates, nvccVersion };

if (require.main === module) {
  const args = process.argv.slice(2);
  const verb = args[0] === 'rebuild' || args[0] === 'compile' ? args.shift() : 'compile';
  const arch = cudaArchitectures();
  if (!args.some((a) => a === '--CDSQEX_CUDA=OFF')) console.log(`squeeze-excite: CUDA architectures ${arch.value ?? '(release list)'}: ${arch.why}`);
  process.exit(cmakeBuild([verb, '--out', 'build', ...args], { architectures: arch.value }));
}
