#!/usr/bin/env node
// `npm install` hook. In an installed copy that ships a prebuild for this platform, step 1 finds
// it and nothing is built. Otherwise:
//   1. a prebuild that loads on this machine -> nothing to build;
//   2. a development checkout (.git present) or SQEX_BUILD=cmake -> a development build with
//      cmake-js: the CPU kernels, plus CUDA when nvcc is found, for this machine's GPU only (or
//      sm_90 without one; scripts/cmake-build.js says why). 0.5-4 min on 2 cores with nvcc, most of it
//      nvcc's (CPU-only, with SQEX_CUDA=OFF: under a minute).
//   3. otherwise -> node-gyp, the CPU-only fallback build from binding.gyp.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { cmakeBuild, cudaArchitectures } = require('./cmake-build.js');

const root = path.resolve(__dirname, '..');
const mode = process.env.SQEX_BUILD || (fs.existsSync(path.join(root, '.git')) ? 'cmake' : 'auto');

// Why no prebuild is used, for the message before a source build (null: one loads).
function prebuildProblem() {
  if (!fs.existsSync(path.join(root, 'prebuilds'))) return 'this copy of the package ships no prebuilt binaries (packed without npm run prebuildify)';
  let file;
  let nodeGypBuild;
  try {
    nodeGypBuild = require('node-gyp-build');
  } catch {
    // npm links a folder dependency (`npm install ./vendor/squeeze-excite`, `file:`) and installs
    // none of that folder's own dependencies: nothing here can pick the prebuild, nor build.
    console.log(
      `squeeze-excite: its dependencies (node-gyp-build, node-addon-api) are not installed where ${root} can require them: ` +
        'a linked or vendored folder, whose dependencies npm does not install. Install them there ' +
        `(cd ${JSON.stringify(root)} && npm install --omit=dev --ignore-scripts), or install the folder as a copy ` +
        '(npm install --install-links <folder>). Nothing was built.',
    );
    process.exit(0); // the install goes on; the package says the same when it is loaded
  }
  try {
    file = nodeGypBuild.path(root);
  } catch {
    return `no prebuilt binary for ${process.platform}-${process.arch} with this libc`;
  }
  if (!file.includes(`${path.sep}prebuilds${path.sep}`)) return `no prebuilt binary for ${process.platform}-${process.arch}`;
  // The loader's check first: a binary cut short (an interrupted download or copy) is mapped as
  // if whole, and require() would end this script with SIGBUS, without a word.
  const cut = truncatedPrebuild(file);
  if (cut !== null) return `the prebuilt ${path.relative(root, file)} is damaged: ${cut}`;
  try {
    require(file);
  } catch (err) {
    return `the prebuilt ${path.relative(root, file)} does not load here: ${err && err.message ? err.message.split('\n')[0] : err}`;
  }
  // Several CUDA builds (linux-x64): the runtime loader picks the one the driver supports.
  let builds = '';
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(path.dirname(file), 'cuda-builds.json'), 'utf8'));
    builds = ` among its CUDA builds (${manifest.builds.map((b) => b.cudaVersion).join(', ')}: the one the installed driver supports is chosen when the package loads)`;
  } catch {
    // one binary
  }
  console.log(`squeeze-excite: using the prebuilt ${path.relative(root, file)}${builds}; nothing to build`);
  return null;
}

/** Why `file` is cut short or damaged (lib/backend/binary-file.ts), or null; null too where dist/ is not built. */
function truncatedPrebuild(file) {
  const checker = path.join(__dirname, '..', 'dist', 'backend', 'binary-file.js');
  // A checkout before build:ts has no dist/: nothing to check with. Any other failure to load the
  // checker is this package's own fault, and is thrown, not read as "nothing to check" (an import
  // added to binary-file.ts once disabled the check silently, and a cut prebuild was loaded).
  if (!fs.existsSync(checker)) return null;
  return require(checker).truncatedBinary(fs, file);
}

// node-gyp as the package manager provides it: npm names its own copy in npm_config_node_gyp;
// else one installed beside this package; else a node-gyp on PATH.
function nodeGyp() {
  const own = process.env.npm_config_node_gyp;
  if (own && fs.existsSync(own)) return { cmd: process.execPath, args: [own] };
  try {
    return { cmd: process.execPath, args: [require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] })] };
  } catch {
    return { cmd: 'node-gyp', args: [] };
  }
}

// A checkout installed into another project (`npm install /path/to/checkout`: npm links it and
// runs its scripts again) keeps the build it has: rebuilding there would use that project's
// environment (a build made with SQEX_CUDA=OFF came back with CUDA, after minutes of nvcc).
function realDir(p) {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}
// dir is parent or a folder inside it (both real paths)
function inside(dir, parent) {
  const rel = path.relative(parent, dir);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}
// The project npm installs into: npm_config_local_prefix (npm 7+), else where npm was run from
// (INIT_CWD), which may be a folder inside the checkout (`cd test && npm install` installs the
// checkout itself, as a review found).
const project = process.env.npm_config_local_prefix || process.env.INIT_CWD;
const builtAddon = path.join(root, 'build', 'Release', 'squeeze_excite.node');
const intoAnother = project && !inside(realDir(project), realDir(root));
if (mode === 'cmake' && !process.env.SQEX_BUILD && intoAnother && fs.existsSync(builtAddon)) {
  console.log(
    `squeeze-excite: installed from the checkout ${root} into ${project}: using its build (build/Release/squeeze_excite.node) as it is. ` +
      `To rebuild it: cd ${JSON.stringify(root)} && npm run build:native (CPU only: npm run build:native:cpu).`,
  );
  process.exit(0);
}

const problem = mode === 'auto' ? prebuildProblem() : 'a source build was asked for';
if (problem === null) process.exit(0);
if (mode === 'cmake' && process.env.SQEX_CUDA === 'OFF') {
  // As for `npm run prebuildify`: SQEX_CUDA=OFF asks for the CPU kernels only.
  console.log('squeeze-excite: development checkout, SQEX_CUDA=OFF: building the CPU kernels only with CMake (cmake-js) into build/Release (under a minute on 2 cores).');
  process.exit(cmakeBuild(['compile', '--out', 'build', '--CDSQEX_CUDA=OFF']));
}
if (mode === 'cmake') {
  const arch = cudaArchitectures();
  console.log(
    [
      'squeeze-excite: development checkout: building the native addon from source with CMake (cmake-js) into build/Release.',
      '  CPU kernels always; CUDA kernels when CMake finds nvcc, for ' + `${arch.value} (${arch.why}).`,
      '  0.5-4 min on 2 cores with nvcc (mostly nvcc), more beside other work (CPU-only: under a minute). Other GPUs: SQEX_CUDA_ARCHITECTURES="86-real;90-real" npm run build:native.',
      '  All release architectures: npm run prebuildify. CPU only: SQEX_CUDA=OFF npm install, or npm run build:native:cpu.',
    ].join('\n'),
  );
  process.exit(cmakeBuild(['compile', '--out', 'build'], { architectures: arch.value }));
}
console.log(`squeeze-excite: ${problem}; building the CPU backend from source with node-gyp (needs Python 3, make and a C++17 compiler)`);
const gyp = nodeGyp();
// --jobs max: node-gyp's make otherwise compiles one file at a time (68 s against ~25 on 2 cores).
const r = spawnSync(gyp.cmd, [...gyp.args, 'rebuild', '--jobs', 'max'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' && gyp.args.length === 0 });
if (r.error) {
  console.error(
    `squeeze-excite: could not run node-gyp (${r.error.code || r.error.message}). Install it (npm install -g node-gyp) and run ` +
      '`node-gyp rebuild` in this package\'s folder, or install on a platform with a prebuilt binary (README, "Platforms and installation").',
  );
  process.exit(1);
}
process.exit(r.status === null ? 1 : r.status);
