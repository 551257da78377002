#!/usr/bin/env node
// The second linux-x64 CUDA build (issue 12), made with the CUDA 11.8 toolkit so that drivers older
// than R580 (R470, R535, R550, R570 ...: CUDA 11.2 to 12.x) get the CUDA path too. `npm run
// prebuildify` runs it after prebuildify has made the CUDA 13.0 prebuild:
//   1. builds the addon with nvcc 11.8 and GCC 11 (scripts/cuda11-toolkit.js finds them) for the
//      release architectures, in build-prebuild-cuda11/;
//   2. strips it into prebuilds/linux-x64/cuda11/<the CUDA 13.0 prebuild's name>: a folder, so that
//      node-gyp-build (which lists .node files only) keeps picking the CUDA 13.0 file;
//   3. writes prebuilds/linux-x64/cuda-builds.json, newest first, with each build's CUDA version
//      and the oldest driver it runs on, read from the built binaries themselves
//      (cudaStatus().runtimeVersion / minDriverVersion); lib/backend/cuda-builds.ts chooses by it;
//   4. prints each file's size, glibc/libstdc++ floor and the build time.
// Without the 11.8 toolkit (the usual case: CI's CPU rows, `npm install`) it says so, removes a
// stale cuda11/ build and lists the CUDA 13.0 build alone. SQEX_CUDA=OFF (a CPU-only prebuild)
// skips it. Install the toolkit: sudo scripts/setup-cuda-toolkit-11.sh.
//
// `node scripts/prebuild-cuda11.js --dev` (npm run build:native:cuda11): a development build for
// this machine's GPU, or sm_90 without one, in build-cuda11/Release/squeeze_excite.node (load it
// with SQUEEZE_EXCITE_BINARY; native/dev/NOTES-cuda.md says how the GPU session carries it).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { cmakeBuild, cudaArchitectures } = require('./cmake-build.js');
const { findCuda11Toolkit } = require('./cuda11-toolkit.js');
const { elfFloor, releaseProblems } = require('./elf-floor.js');

const root = path.resolve(__dirname, '..');
const dev = process.argv.includes('--dev');
const tupleDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const MANIFEST = path.join(tupleDir, 'cuda-builds.json');
const VARIANT_DIR = path.join(tupleDir, 'cuda11');

function log(msg) {
  console.log(`squeeze-excite: ${msg}`);
}

/** cudaStatus() of a built addon, read in a child process: { compiled, runtimeVersion, minDriverVersion }. */
function buildInfo(file) {
  const code = 'const s = require(process.argv[1]).cudaStatus(); console.log(JSON.stringify({ compiled: s.compiled, runtimeVersion: s.runtimeVersion, minDriverVersion: s.minDriverVersion ?? null }))';
  const r = spawnSync(process.execPath, ['-e', code, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`could not load ${file} to read its CUDA version: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout);
}

/** The top-level prebuild node-gyp-build picks in prebuilds/<platform>-<arch>/, or null. */
function primaryPrebuild() {
  if (!fs.existsSync(tupleDir)) return null;
  const ngb = require('node-gyp-build');
  const winner = fs
    .readdirSync(tupleDir)
    .map((f) => ngb.parseTags(f))
    .filter(ngb.matchTags('node', process.versions.modules))
    .sort(ngb.compareTags('node'))[0];
  return winner ? path.join(tupleDir, winner.file) : null;
}

function describe(file) {
  const r = elfFloor(file);
  const floor = Object.entries(r.floor).map(([ns, v]) => `${ns}_${v.version}`).join(', ');
  return `${path.relative(root, file)}: ${(fs.statSync(file).size / 1e6).toFixed(1)} MB, ${r.stripped ? 'stripped' : 'NOT stripped'}; floor ${floor}`;
}

/** Lists the CUDA builds present, newest first, in cuda-builds.json (removed when there is none). */
function writeManifest(files) {
  const builds = [];
  for (const file of files) {
    const info = buildInfo(file);
    if (!info.compiled || !info.runtimeVersion) continue;
    builds.push({ file: path.relative(tupleDir, file).split(path.sep).join('/'), cudaVersion: info.runtimeVersion, minDriverVersion: info.minDriverVersion ?? `${info.runtimeVersion.split('.')[0]}.0` });
  }
  builds.sort((a, b) => {
    const [am, an] = a.cudaVersion.split('.').map(Number);
    const [bm, bn] = b.cudaVersion.split('.').map(Number);
    return bm - am || bn - an;
  });
  if (builds.length === 0) {
    fs.rmSync(MANIFEST, { force: true });
    log('no CUDA build in this platform\'s prebuilds: no cuda-builds.json');
    return;
  }
  fs.writeFileSync(MANIFEST, `${JSON.stringify({ builds }, null, 2)}\n`);
  log(`${path.relative(root, MANIFEST)}: ${builds.map((b) => `CUDA ${b.cudaVersion} (driver >= ${b.minDriverVersion}) ${b.file}`).join('; ')}`);
}

function main() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    if (!dev) return 0; // the second CUDA build is a linux-x64 row only; nothing to say elsewhere
    console.error('build:native:cuda11 builds for linux-x64 only');
    return 1;
  }
  const toolkit = findCuda11Toolkit();
  if (!dev && process.env.SQEX_CUDA === 'OFF') {
    log('SQEX_CUDA=OFF: CPU-only prebuild, no CUDA 11.8 build');
    fs.rmSync(VARIANT_DIR, { recursive: true, force: true });
    fs.rmSync(MANIFEST, { force: true });
    return 0;
  }
  if (!toolkit.nvcc) {
    const msg =
      `skipped the CUDA 11.8 build: ${toolkit.missing} (looked at: ${toolkit.looked.join('; ')}). ` +
      'Install it with: sudo scripts/setup-cuda-toolkit-11.sh (Debian 12; elsewhere NVIDIA\'s 11.8 toolkit in /usr/local/cuda-11.8, or SQEX_CUDA11_NVCC), then run this again.';
    if (dev) {
      console.error(`squeeze-excite: ${msg}`);
      return 1;
    }
    log(`${msg} The linux-x64 prebuild carries the newest CUDA build only (drivers that support its CUDA version).`);
    fs.rmSync(VARIANT_DIR, { recursive: true, force: true });
    const primary = primaryPrebuild();
    if (primary) writeManifest([primary]);
    return 0;
  }

  log(`CUDA ${toolkit.version} toolkit: ${toolkit.nvcc}, host compiler ${toolkit.hostCxx}`);
  // nvcc finds ptxas, fatbinary and nvlink on PATH: the 11.8 ones must come first.
  process.env.PATH = `${toolkit.binDir}${path.delimiter}${process.env.PATH}`;
  const out = dev ? 'build-cuda11' : 'build-prebuild-cuda11';
  const arch = dev ? cudaArchitectures() : cudaArchitectures({ release: true });
  log(`CUDA ${toolkit.version} architectures: ${arch.value ?? 'the release list of CMakeLists.txt'} (${arch.why})`);
  const t0 = Date.now();
  const status = cmakeBuild(
    [dev ? 'compile' : 'rebuild', '--out', out, `--CDCMAKE_CUDA_COMPILER=${toolkit.nvcc}`, `--CDCMAKE_CUDA_HOST_COMPILER=${toolkit.hostCxx}`],
    { architectures: arch.value },
  );
  if (status !== 0) return status;
  const built = path.join(root, out, 'Release', 'squeeze_excite.node');
  const info = buildInfo(built);
  if (info.runtimeVersion !== toolkit.version) {
    console.error(`squeeze-excite: ${built} links CUDA ${info.runtimeVersion}, not the ${toolkit.version} it was built with: a wrong nvcc or cudart on the way`);
    return 1;
  }
  log(`CUDA ${toolkit.version} build took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const unportable = dev ? [] : releaseProblems(built);
  if (unportable.length) {
    for (const line of unportable) console.error(line);
    return 1;
  }
  if (dev) {
    log(`${describe(built)}; load it with SQUEEZE_EXCITE_BINARY=${built}`);
    return 0;
  }

  const primary = primaryPrebuild();
  if (!primary) {
    console.error(`squeeze-excite: no prebuild in ${path.relative(root, tupleDir)} to pair with: run prebuildify first (npm run prebuildify does both)`);
    return 1;
  }
  fs.rmSync(VARIANT_DIR, { recursive: true, force: true });
  fs.mkdirSync(VARIANT_DIR, { recursive: true });
  const dest = path.join(VARIANT_DIR, path.basename(primary));
  fs.copyFileSync(built, dest);
  const strip = spawnSync('strip', ['--strip-all', dest], { stdio: 'inherit' });
  if (strip.status !== 0) {
    console.error(`squeeze-excite: strip --strip-all ${dest} failed`);
    return 1;
  }
  writeManifest([primary, dest]);
  for (const f of [primary, dest]) log(describe(f));
  return 0;
}

process.exit(main());
