// Issue 4 and 9 proof: pack the project with a prebuild, install the tarball into a new project
// offline, with an empty npm cache and no compiler on PATH, and check that require and import
// both work and that every op runs. Independent of the network and of what earlier commands left
// in the npm cache: the dependencies are packed from this checkout's node_modules and installed
// beside the tarball. The pack happens in a scratch copy of the repo so the build/ used by the
// other suites is never touched; everything lives in one temp folder, removed afterwards.
//
// The prebuild is the real one when `npm run prebuildify` has made prebuilds/ for this platform;
// otherwise the suite's addon, named as prebuildify names it (a release build is minutes of nvcc;
// the workflow and `npm run prebuildify` build that).
// Also here: which CUDA architectures a development build compiles for (scripts/cmake-build.js).
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const skipReason = process.env.SQEX_SKIP_PACK_TEST ? `SQEX_SKIP_PACK_TEST=${process.env.SQEX_SKIP_PACK_TEST}` : null;
const platformDir = `${process.platform}-${process.arch}`;

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): string {
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

/** The file name prebuildify --napi --tag-libc gives this platform's prebuild (no napi tag). */
function prebuildName(): string {
  if (process.platform !== 'linux') return 'squeeze-excite.node';
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return `squeeze-excite.${header?.glibcVersionRuntime ? 'glibc' : 'musl'}.node`;
}

/** The addon the rest of the suite uses (SQUEEZE_EXCITE_BINARY, else what the loader picks). */
function suiteAddon(): string | null {
  if (process.env.SQUEEZE_EXCITE_BINARY) return process.env.SQUEEZE_EXCITE_BINARY;
  const out = execFileSync(process.execPath, ['-p', "require('./dist/index.js').cuda.status().binary"], { cwd: root, encoding: 'utf8' }).trim();
  return out === 'null' ? null : out;
}

const OPS_SCRIPT = `
const check = (sqex, how) => {
  const n = 2, c = 8, h = 5, w = 5, hid = 2, k = 3;
  const x = Float32Array.from({ length: n * c * h * w }, (_, i) => Math.sin(i) * 2);
  const w1 = Float32Array.from({ length: hid * c }, (_, i) => Math.cos(i) / 3);
  const w2 = Float32Array.from({ length: c * hid }, (_, i) => Math.sin(i + 1) / 3);
  const se = sqex.seForward(x, [n, c, h, w], { w1, w2 });
  const eca = sqex.ecaForward(x, [n, c, h, w], { weight: Float32Array.of(0.2, 0.5, -0.3) });
  const sw = Float32Array.from({ length: 2 * k * k }, (_, i) => Math.cos(i) / 4);
  const cbam = sqex.cbamForward(x, [n, c, h, w], { w1, w2, spatialWeight: sw });
  for (const [name, y] of [['se', se], ['eca', eca], ['cbam', cbam]]) {
    if (!(y instanceof Float32Array) || y.length !== x.length || !y.every(Number.isFinite)) throw new Error(how + ' ' + name + ' failed');
  }
  const st = sqex.cuda.status();
  return { how, binary: st.binary, compiled: st.compiled, available: st.available, reason: st.reason, sum: se.reduce((a, b) => a + b, 0) };
};
`;

describe.skipIf(skipReason !== null)(`npm pack + offline install without a toolchain${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let scratch = '';
  let env: NodeJS.ProcessEnv = {};
  beforeAll(() => {
    scratch = mkdtempSync(path.join(tmpdir(), 'sqex-pack-'));
    mkdirSync(path.join(scratch, 'tmp'));
    // npm's cache, logs and temp files stay in scratch: an empty cache, offline.
    env = {
      ...process.env,
      TMPDIR: path.join(scratch, 'tmp'),
      npm_config_cache: path.join(scratch, 'npm-cache'),
      npm_config_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    };
    delete env.SQUEEZE_EXCITE_BINARY;
  });
  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  // A PATH holding node, npm and sh only (npm runs scripts through sh): no cc, g++, make, cmake,
  // nvcc or python.
  function toolchainFreePath(): string {
    const bin = path.join(scratch, 'bin');
    mkdirSync(bin, { recursive: true });
    const npmCli = realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
    symlinkSync(process.execPath, path.join(bin, 'node'));
    symlinkSync('/bin/sh', path.join(bin, 'sh'));
    writeFileSync(path.join(bin, 'npm'), `#!/bin/sh\nexec "${process.execPath}" "${npmCli}" "$@"\n`, { mode: 0o755 });
    return bin;
  }

  it('packs with a prebuild, installs offline from an empty cache with no compiler, and runs every op through require and import', () => {
    // 1. A scratch copy of the repo's files, sharing node_modules.
    const src = path.join(scratch, 'src');
    const files = sh('git', ['ls-files', '--cached', '--others', '--exclude-standard'], root, env).split('\n').filter(Boolean);
    for (const f of files) {
      if (!existsSync(path.join(root, f))) continue;
      mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
      cpSync(path.join(root, f), path.join(src, f));
    }
    symlinkSync(path.join(root, 'node_modules'), path.join(src, 'node_modules'));

    // 2. The prebuild (prebuildify's, or the suite's addon under prebuildify's name), then the tarball.
    const made = path.join(root, 'prebuilds', platformDir);
    const dest = path.join(src, 'prebuilds', platformDir);
    mkdirSync(dest, { recursive: true });
    if (existsSync(made) && readdirSync(made).some((f) => f.endsWith('.node'))) {
      cpSync(made, dest, { recursive: true });
      console.log(`prebuild: prebuilds/${platformDir} from npm run prebuildify`);
    } else {
      const addon = suiteAddon();
      expect(addon, 'no loadable addon in this checkout: run npm install first').not.toBeNull();
      copyFileSync(addon as string, path.join(dest, prebuildName()));
      console.log(`prebuild: ${path.relative(root, addon as string)} staged as prebuilds/${platformDir}/${prebuildName()}`);
    }
    const packed = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', scratch], src, env)) as {
      filename: string; size: number; unpackedSize: number; files: { path: string }[];
    }[];
    const tarball = path.join(scratch, packed[0]!.filename);
    const listed = packed[0]!.files.map((f) => f.path);
    expect(listed.some((p) => p.startsWith('prebuilds/') && p.endsWith('.node'))).toBe(true);
    for (const f of ['dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'binding.gyp', 'bin/squeeze-excite.js', 'LICENSE', 'CHANGELOG.md', 'README.md', 'package.json']) {
      expect(listed).toContain(f);
    }
    expect(listed.filter((p) => p.startsWith('test/') || p.startsWith('bench/') || p.startsWith('build'))).toEqual([]);
    // A build from the tarball (SQEX_BUILD=cmake, or node-gyp where no prebuild fits) needs every
    // native source but the dev harnesses, and the build files.
    const sources = files.filter((f) => f.startsWith('native/') && !f.startsWith('native/dev/'));
    expect(sources.filter((f) => !listed.includes(f)), 'native sources missing from the tarball').toEqual([]);
    expect(listed).toContain('CMakeLists.txt');
    // Every shipped script's own relative requires ship too (prebuild-cmake.js needs elf-floor.js
    // and pe-imports.js).
    for (const f of listed.filter((p) => p.startsWith('scripts/') && p.endsWith('.js'))) {
      const text = readFileSync(path.join(src, f), 'utf8');
      for (const m of text.matchAll(/require\((['"])(\.\.?\/[^'"]+)\1\)/g)) {
        const dep = path.posix.normalize(path.posix.join(path.posix.dirname(f), m[2]!));
        expect(listed, `${f} requires ${m[2]}, which the tarball does not carry`).toContain(dep.endsWith('.js') ? dep : `${dep}.js`);
      }
    }
    console.log(`tarball ${packed[0]!.filename}: ${packed[0]!.size} bytes packed, ${packed[0]!.unpackedSize} unpacked, ${listed.length} files`);

    // 3. The runtime dependencies, packed from this checkout's node_modules (no registry).
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    const deps = Object.keys(pkg.dependencies ?? {}).map((name) => {
      const out = JSON.parse(sh('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch, path.join(root, 'node_modules', name)], scratch, env)) as { filename: string }[];
      return path.join(scratch, out[0]!.filename);
    });

    // 4. A new project, installed offline from the tarballs with an empty cache and no toolchain on PATH.
    const app = path.join(scratch, 'app');
    mkdirSync(app);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    const appEnv: NodeJS.ProcessEnv = { ...env, PATH: toolchainFreePath() };
    const installLog = sh('npm', ['install', '--no-save', '--foreground-scripts', tarball, ...deps], app, appEnv);
    console.log(installLog.trim());
    const found = sh('/bin/sh', ['-c', 'for t in cc gcc g++ c++ clang make cmake nvcc python3; do command -v $t; done; true'], app, appEnv);
    expect(found.trim()).toBe('');
    const installed = path.join(app, 'node_modules', 'squeeze-excite');
    expect(statSync(installed).isDirectory()).toBe(true);

    // 5. Source maps ship with their sources (inlined) or not at all.
    const maps = readdirSync(path.join(installed, 'dist'), { recursive: true }).map(String).filter((f) => f.endsWith('.map'));
    for (const m of maps) {
      const map = JSON.parse(readFileSync(path.join(installed, 'dist', m), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      const complete = map.sources.every((s, i) => typeof map.sourcesContent?.[i] === 'string' || existsSync(path.resolve(path.dirname(path.join(installed, 'dist', m)), s)));
      expect(complete, `${m} points at ${map.sources.join(', ')}, which the package does not carry`).toBe(true);
    }

    // 6. require and import, each running every op.
    writeFileSync(path.join(app, 'cjs.js'), `${OPS_SCRIPT}\nconsole.log(JSON.stringify(check(require('squeeze-excite'), 'require')));\n`);
    writeFileSync(path.join(app, 'esm.mjs'), `${OPS_SCRIPT}\nimport * as sqex from 'squeeze-excite';\nimport { seForward } from 'squeeze-excite';\nif (typeof seForward !== 'function') throw new Error('named import failed');\nconsole.log(JSON.stringify(check(sqex, 'import')));\n`);
    const cjs = JSON.parse(sh('node', ['cjs.js'], app, appEnv)) as { binary: string; compiled: boolean; sum: number };
    const esm = JSON.parse(sh('node', ['esm.mjs'], app, appEnv)) as { binary: string; compiled: boolean; sum: number };
    for (const r of [cjs, esm]) {
      expect(r.binary).toContain(`${path.sep}prebuilds${path.sep}`);
      expect(r.binary.startsWith(installed)).toBe(true);
    }
    expect(esm.sum).toBe(cjs.sum);
    // 7. the installed CLI runs (the node_modules/.bin link that `npx squeeze-excite` would run).
    expect(sh('node', [path.join(app, 'node_modules', '.bin', 'squeeze-excite'), '--help'], app, appEnv)).toMatch(/inspect/);
    console.log(`installed prebuild: ${cjs.binary} (CUDA compiled in: ${cjs.compiled})`);

    // 8. The unpacked tarball as a folder dependency (vendored). npm runs its `prepare` (which has
    //    nothing to compile there: it failed with "tsc: not found" before) and, linking it, installs
    //    none of its dependencies: the install completes and says so, and so does the LoadError;
    //    once they are installed in the folder it loads. With --install-links it is a copy and
    //    loads at once. (From a helper's test of install layouts, 2026-12-04.)
    const vendor = path.join(scratch, 'vendor');
    mkdirSync(vendor);
    sh('tar', ['xzf', tarball, '-C', vendor], scratch, env);
    const folder = path.join(vendor, 'squeeze-excite');
    sh('mv', [path.join(vendor, 'package'), folder], scratch, env);
    const linked = path.join(scratch, 'app-linked');
    mkdirSync(linked);
    writeFileSync(path.join(linked, 'package.json'), JSON.stringify({ name: 'app-linked', version: '1.0.0', private: true }));
    const linkLog = sh('npm', ['install', '--no-save', '--foreground-scripts', folder], linked, appEnv);
    expect(linkLog).toContain('npm install --omit=dev --ignore-scripts');
    writeFileSync(path.join(linked, 'cjs.js'), readFileSync(path.join(app, 'cjs.js')));
    let loadError = '';
    try {
      sh('node', ['cjs.js'], linked, appEnv);
    } catch (e) {
      loadError = String((e as { stderr?: string }).stderr);
    }
    expect(loadError).toContain('ERR_SQEX_LOAD');
    expect(loadError).toContain('is used in place');
    // What `npm install --omit=dev --ignore-scripts` in the folder does, offline: npm would want the
    // registry for the devDependencies' manifests even to leave them out.
    for (const name of Object.keys(pkg.dependencies ?? {})) {
      const dest = path.join(folder, 'node_modules', name);
      mkdirSync(dest, { recursive: true });
      sh('tar', ['xzf', deps.find((d) => path.basename(d).startsWith(`${name}-`))!, '-C', dest, '--strip-components=1'], scratch, env);
    }
    const viaLink = JSON.parse(sh('node', ['cjs.js'], linked, appEnv)) as { binary: string; sum: number };
    expect(realpathSync(viaLink.binary).startsWith(realpathSync(folder))).toBe(true);
    expect(viaLink.sum).toBe(cjs.sum);
    const copied = path.join(scratch, 'app-copy');
    mkdirSync(copied);
    writeFileSync(path.join(copied, 'package.json'), JSON.stringify({ name: 'app-copy', version: '1.0.0', private: true }));
    rmSync(path.join(folder, 'node_modules'), { recursive: true, force: true });
    sh('npm', ['install', '--no-save', '--install-links', folder, ...deps], copied, appEnv);
    writeFileSync(path.join(copied, 'cjs.js'), readFileSync(path.join(app, 'cjs.js')));
    const viaCopy = JSON.parse(sh('node', ['cjs.js'], copied, appEnv)) as { binary: string; sum: number };
    expect(viaCopy.binary.startsWith(path.join(copied, 'node_modules', 'squeeze-excite'))).toBe(true);
    expect(viaCopy.sum).toBe(cjs.sum);
  }, 300_000);
});

// What a development build compiles CUDA for (scripts/cmake-build.js): the GPUs nvidia-smi lists,
// sm_90 alone without one, SQEX_CUDA_ARCHITECTURES over both; prebuildify: the release list.
describe('CUDA architectures of a build', () => {
  let bin = '';
  beforeAll(() => {
    bin = mkdtempSync(path.join(tmpdir(), 'sqex-smi-'));
  });
  afterAll(() => {
    if (bin) rmSync(bin, { recursive: true, force: true });
  });

  function archs(smiOutput: string | null, env: Record<string, string> = {}, release = false): { value: string | null; why: string } {
    const dir = path.join(bin, String(Math.random()).slice(2));
    mkdirSync(dir);
    // A stand-in nvidia-smi (or one that fails, as without a driver) ahead of any real one.
    writeFileSync(path.join(dir, 'nvidia-smi'), smiOutput === null ? '#!/bin/sh\nexit 9\n' : `#!/bin/sh\nprintf '${smiOutput}'\n`, { mode: 0o755 });
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, PATH: `${dir}${path.delimiter}${process.env.PATH}` };
    if (!('SQEX_CUDA_ARCHITECTURES' in env)) delete childEnv.SQEX_CUDA_ARCHITECTURES;
    const code = `console.log(JSON.stringify(require('./scripts/cmake-build.js').cudaArchitectures({ release: ${release} })))`;
    return JSON.parse(execFileSync(process.execPath, ['-e', code], { cwd: root, env: childEnv, encoding: 'utf8' })) as { value: string | null; why: string };
  }

  it.skipIf(process.platform === 'win32')('compiles for the GPUs present, once per compute capability', () => {
    const r = archs('NVIDIA H200, 9.0\\nNVIDIA A100-SXM4-80GB, 8.0\\nNVIDIA H200, 9.0\\n');
    expect(r.value).toBe('90-real;80-real');
    expect(r.why).toContain('NVIDIA A100-SXM4-80GB, compute capability 8.0');
  });

  it.skipIf(process.platform === 'win32')('compiles for sm_90 alone without a GPU or driver', () => {
    expect(archs(null).value).toBe('90-real');
    expect(archs('').value).toBe('90-real');
  });

  it.skipIf(process.platform === 'win32')('takes SQEX_CUDA_ARCHITECTURES over the GPU and the release list', () => {
    expect(archs('NVIDIA H200, 9.0\\n', { SQEX_CUDA_ARCHITECTURES: '86-real' }).value).toBe('86-real');
    expect(archs(null, { SQEX_CUDA_ARCHITECTURES: '80-real;90' }, true).value).toBe('80-real;90');
  });

  it.skipIf(process.platform === 'win32')('leaves prebuildify the release list of CMakeLists.txt', () => {
    expect(archs('NVIDIA H200, 9.0\\n', {}, true).value).toBeNull();
    expect(readFileSync(path.join(root, 'CMakeLists.txt'), 'utf8')).toContain('set(SQEX_CUDA_ARCHITECTURES "75-real;80-real;86-real;89-real;90"');
  });
});

// The scripts npm runs (install.js at every `npm install`) and the CLI are plain JavaScript that
// nothing compiles: a syntax error would only show when npm runs them (a quote in an install
// message once did, before a commit).
describe('scripts and the CLI parse', () => {
  const files = [...readdirSync(path.join(root, 'scripts')).filter((f) => f.endsWith('.js')).map((f) => path.join('scripts', f)), ...readdirSync(path.join(root, 'bin')).map((f) => path.join('bin', f))];
  it.each(files)('%s', (file) => {
    expect(() => execFileSync(process.execPath, ['--check', file], { cwd: root, stdio: 'pipe' })).not.toThrow();
  });
});

// A prebuild cut short (an interrupted download or copy) is mapped as if whole, and require()
// ended the install script with SIGBUS (exit 135) and no message; install.js now runs the
// loader's header check first and treats the file as no prebuild (here node-gyp is absent, so it
// stops with its usual message instead of building).
describe.skipIf(process.platform !== 'linux')('install.js with a truncated prebuild (linux)', () => {
  it('says the prebuild is damaged instead of crashing', () => {
    const addon = suiteAddon();
    if (addon === null) throw new Error('no addon loads in this checkout');
    const pkg = mkdtempSync(path.join(tmpdir(), 'sqex-install-'));
    try {
      mkdirSync(path.join(pkg, 'scripts'));
      copyFileSync(path.join(root, 'scripts', 'install.js'), path.join(pkg, 'scripts', 'install.js'));
      copyFileSync(path.join(root, 'scripts', 'cmake-build.js'), path.join(pkg, 'scripts', 'cmake-build.js'));
      mkdirSync(path.join(pkg, 'dist', 'backend'), { recursive: true });
      copyFileSync(path.join(root, 'dist', 'backend', 'binary-file.js'), path.join(pkg, 'dist', 'backend', 'binary-file.js'));
      mkdirSync(path.join(pkg, 'node_modules'));
      symlinkSync(path.join(root, 'node_modules', 'node-gyp-build'), path.join(pkg, 'node_modules', 'node-gyp-build'));
      const dir = path.join(pkg, 'prebuilds', platformDir);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, prebuildName()), readFileSync(addon).subarray(0, 200_000));
      const env: NodeJS.ProcessEnv = { ...process.env, PATH: path.dirname(process.execPath), SQEX_BUILD: '' };
      delete env.npm_config_node_gyp;
      let out = '';
      let status: number | null = 0;
      let signal: string | null = null;
      try {
        out = execFileSync(process.execPath, [path.join('scripts', 'install.js')], { cwd: pkg, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        const e = err as { status: number | null; signal: string | null; stdout: string; stderr: string };
        status = e.status;
        signal = e.signal;
        out = e.stdout + e.stderr;
      }
      expect(signal).toBeNull();
      expect(status).toBe(1);
      expect(out).toContain(`the prebuilt prebuilds/${platformDir}/${prebuildName()} is damaged: truncated`);
    } finally {
      rmSync(pkg, { recursive: true, force: true });
    }
  });
});

// A checkout installed into another project (`npm install /path/to/checkout`): npm runs its
// install script again, from that project (INIT_CWD). It keeps the build it has instead of
// rebuilding with that project's environment (a helper's test, 2026-12-04: a SQEX_CUDA=OFF build
// came back with CUDA after minutes of nvcc); in the checkout itself it builds as before. The
// scratch checkout has no cmake-js, so a build attempt fails at once instead of compiling.
describe('install.js in a checkout installed into another project', () => {
  it('keeps the checkout\'s build there, and builds when run in the checkout itself', () => {
    const pkg = mkdtempSync(path.join(tmpdir(), 'sqex-checkout-'));
    const other = mkdtempSync(path.join(tmpdir(), 'sqex-app-'));
    try {
      mkdirSync(path.join(pkg, '.git'));
      mkdirSync(path.join(pkg, 'scripts'));
      for (const f of ['install.js', 'cmake-build.js']) copyFileSync(path.join(root, 'scripts', f), path.join(pkg, 'scripts', f));
      mkdirSync(path.join(pkg, 'build', 'Release'), { recursive: true });
      const built = path.join(pkg, 'build', 'Release', 'squeeze_excite.node');
      writeFileSync(built, 'the checkout\'s build');
      const run = (initCwd: string, localPrefix?: string): { status: number | null; out: string } => {
        const env: NodeJS.ProcessEnv = { ...process.env, PATH: path.dirname(process.execPath), INIT_CWD: initCwd };
        delete env.SQEX_BUILD;
        delete env.SQEX_CUDA;
        delete env.npm_config_local_prefix;
        if (localPrefix !== undefined) env.npm_config_local_prefix = localPrefix;
        try {
          return { status: 0, out: execFileSync(process.execPath, [path.join('scripts', 'install.js')], { cwd: pkg, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
        } catch (err) {
          const e = err as { status: number | null; stdout: string; stderr: string };
          return { status: e.status, out: e.stdout + e.stderr };
        }
      };
      const elsewhere = run(other);
      expect(elsewhere.status, elsewhere.out).toBe(0);
      expect(elsewhere.out).toContain('using its build (build/Release/squeeze_excite.node) as it is');
      expect(readFileSync(built, 'utf8')).toBe('the checkout\'s build');
      // npm's own view of the project (npm_config_local_prefix) decides where it is set
      expect(run(pkg, other).out).toContain('using its build');
      for (const [initCwd, localPrefix] of [[pkg, undefined], [path.join(pkg, 'scripts'), undefined], [path.join(pkg, 'scripts'), pkg]] as const) {
        // the checkout itself, also when npm is run from a folder inside it
        const here = run(initCwd, localPrefix);
        expect(here.out, `${initCwd} ${localPrefix}`).toContain('development checkout: building the native addon from source');
        expect(here.status).not.toBe(0); // no cmake-js in the scratch checkout
        mkdirSync(path.dirname(built), { recursive: true }); // a failed cmake-js run may have cleared build/
        writeFileSync(built, 'the checkout\'s build');
      }
    } finally {
      rmSync(pkg, { recursive: true, force: true });
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe('prepare.js in a checkout whose own npm install never ran', () => {
  it('says to run npm install there first, instead of "tsc: not found"', () => {
    // `npm install /path/to/checkout` in another project runs the checkout's `prepare` without its
    // devDependencies (a newcomer's try, 2026-12-04).
    const pkg = mkdtempSync(path.join(tmpdir(), 'sqex-unbuilt-'));
    try {
      mkdirSync(path.join(pkg, 'scripts'));
      mkdirSync(path.join(pkg, 'lib'));
      writeFileSync(path.join(pkg, 'tsconfig.json'), '{}');
      copyFileSync(path.join(root, 'scripts', 'prepare.js'), path.join(pkg, 'scripts', 'prepare.js'));
      let status: number | null = 0;
      let out = '';
      try {
        execFileSync(process.execPath, [path.join(pkg, 'scripts', 'prepare.js')], { cwd: pkg, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        const e = err as { status: number | null; stdout: string; stderr: string };
        status = e.status;
        out = e.stdout + e.stderr;
      }
      expect(status, out).toBe(1);
      expect(out).toContain(`Run \`npm install\` in ${pkg} first`);
      expect(out).not.toContain('tsc: not found');
    } finally {
      rmSync(pkg, { recursive: true, force: true });
    }
  });
});
