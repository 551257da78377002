// The loader's diagnostics (issues 4 and 9). Each case runs a fresh Node process on a scratch copy
// of the package (dist/ + package.json + node_modules), arranged to have no binary, a bogus one, a
// prebuild only, a local build that shadows a prebuild, addons disabled, or a bundled copy. The
// advice must fit the failure: a compiler only where no shipped binary can fit.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSION_FLAG, onPath } from './helpers.js';
import { BINDING_CONTRACT } from '../dist/backend/contract.js';

const root = path.resolve(__dirname, '..');
const requireCjs = createRequire(import.meta.url);
let scratch = '';
beforeAll(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'sqex-loader-'));
});
// Dozens of package copies, some with a multi-MB addon: on a busy machine their removal took
// longer than the default 10 s hook timeout (a review's run, 2026-12-02).
afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
}, 60_000);

// The addon the rest of the suite uses: SQUEEZE_EXCITE_BINARY (CI's node-gyp run), else whatever
// this checkout's loader picks (build/Release, or prebuilds/ after `npm run prebuildify`, which
// moves build/Release/*.node away).
function suiteAddon(): string | null {
  if (process.env.SQUEEZE_EXCITE_BINARY) return process.env.SQUEEZE_EXCITE_BINARY;
  const out = execFileSync(process.execPath, ['-p', "require('./dist/index.js').cuda.status().binary"], { cwd: root, encoding: 'utf8' }).trim();
  return out === 'null' ? null : out;
}
const builtAddon = suiteAddon();
const noAddon = builtAddon === null ? 'this checkout has no loadable addon (run npm install or npm run build:native)' : null;
const prebuildDir = `prebuilds/${process.platform}-${process.arch}`;

let counter = 0;
function packageCopy(): string {
  const dir = path.join(scratch, `pkg${counter++}`);
  mkdirSync(dir);
  cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true });
  copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

function withPrebuild(dir: string): string {
  mkdirSync(path.join(dir, prebuildDir), { recursive: true });
  const file = path.join(dir, prebuildDir, 'squeeze-excite.napi.node');
  copyFileSync(builtAddon as string, file);
  return file;
}

interface Probe {
  error: string | null;
  errorName: string | null;
  errorCode: string | null;
  status: { compiled: boolean; reason: string | null; binary: string | null };
  report: { binary: string | null; kind: string | null; shadowsPrebuild: boolean; bundled: string | null; attempts: { kind: string; file: string | null; ok: boolean; reason: string | null; code?: string | null; denied?: string | null }[] };
}

const PROBE = `
const sqex = require('./dist/index.js');
const { loadReport } = require('./dist/backend/load.js');
let error = null, errorName = null, errorCode = null;
try { sqex.seForward(new Float32Array(4), [1, 4, 1, 1], { w1: new Float32Array(4), w2: new Float32Array(4) }, { device: 'cpu' }); }
catch (e) { error = e.message; errorName = e.name; errorCode = e.code ?? null; }
const status = sqex.cuda.status();
console.log(JSON.stringify({ error, errorName, errorCode, status: { compiled: status.compiled, reason: status.reason, binary: status.binary }, report: loadReport() }));
`;

/** PROBE run in package `dir` (as `user` through runuser when given: root reads any file). */
function probe(dir: string, env: Record<string, string> = {}, nodeArgs: string[] = [], user?: string): Probe {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (!('SQUEEZE_EXCITE_BINARY' in env)) delete childEnv.SQUEEZE_EXCITE_BINARY;
  // --no-warnings: the permission model's ExperimentalWarning and SecurityWarning would go to this
  // process's stderr (the child's stderr is inherited), noise in every test run.
  const node = [process.execPath, '--no-warnings', ...nodeArgs, '-e', PROBE];
  const [cmd, args] = user === undefined ? [node[0]!, node.slice(1)] : ['runuser', ['-u', user, '--', ...node]];
  return JSON.parse(execFileSync(cmd, args, { cwd: dir, env: childEnv, encoding: 'utf8' })) as Probe;
}

/**
 * The LoadError message of package `dir` whose prebuild (a stand-in file) fails to load with the
 * dlopen error `dlopenError(file)`, through the package's own loader with that requireAddon.
 */
function failedPrebuildLoad(dir: string, dlopenError: (file: string) => string): string {
  mkdirSync(path.join(dir, prebuildDir), { recursive: true });
  const file = path.join(dir, prebuildDir, 'squeeze-excite.napi.node');
  writeFileSync(file, 'stands in for a prebuild');
  const { loadWith } = requireCjs(path.join(dir, 'dist', 'backend', 'load.js')) as {
    loadWith(setup: { root: string; requireAddon(f: string): unknown; binaryEnv?: string; cudaBuildEnv?: string; bundled: string | null }): unknown;
  };
  try {
    loadWith({
      root: dir,
      requireAddon: () => { throw Object.assign(new Error(dlopenError(file)), { code: 'ERR_DLOPEN_FAILED' }); },
      binaryEnv: undefined,
      cudaBuildEnv: undefined,
      bundled: null,
    });
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

/** The "To fix it:" part of a LoadError message. */
function fixes(msg: string | null): string {
  return (msg ?? '').split('To fix it:')[1] ?? '';
}
const COMPILER_ADVICE = /apt-get|xcode-select|Build Tools|node-gyp rebuild|C\+\+17 compiler/;

describe('native loader diagnostics', () => {
  it('with no binary at all, one error lists every attempt, why it failed, and the fix', () => {
    const p = probe(packageCopy());
    expect(p.errorName).toBe('LoadError');
    expect(p.errorCode).toBe('ERR_SQEX_LOAD');
    const msg = p.error ?? '';
    expect(msg).toMatch(/could not load the native addon for/);
    expect(msg).toContain('ships no prebuilt binaries');
    expect(msg).toContain('Tried:');
    expect(msg).toMatch(/local build .*build\/Release\/squeeze_excite\.node: file does not exist/);
    expect(msg).toMatch(/prebuild: no prebuilds\/ folder/);
    expect(msg).toMatch(/source build: not built here \(no build\/ folder\)/);
    expect(msg).toContain('To fix it:');
    expect(msg).toContain('npm run prebuildify && npm pack');
    expect(msg).toContain('npx node-gyp rebuild');
    if (process.platform === 'linux') expect(msg).toContain('apt-get install -y python3 make g++');
    // cuda.status() never throws; it carries the same reason.
    expect(p.status.compiled).toBe(false);
    expect(p.status.binary).toBeNull();
    expect(p.status.reason).toContain('could not be loaded');
    expect(p.report.bundled).toBeNull();
    expect(p.report.attempts.map((a) => a.kind)).toEqual(['local build', 'local build', 'prebuild', 'source build']);
  });

  // A newcomer's check (2026-12-02): in a project under "down stream é", the fix `cd <root> &&
  // npx node-gyp rebuild` pasted as printed said "cd: too many arguments" and built nothing.
  it.skipIf(process.platform === 'win32')('the fix commands quote a package path with a space or a quote, and run as pasted', () => {
    const holder = path.join(scratch, "down stream é's");
    mkdirSync(holder);
    const dir = path.join(holder, 'squeeze-excite');
    cpSync(packageCopy(), dir, { recursive: true, verbatimSymlinks: true });
    const p = probe(dir);
    const quoted = `'${dir.replace(/'/g, "'\\''")}'`;
    const line = fixes(p.error).split('\n').find((l) => l.includes('npx node-gyp rebuild')) ?? '';
    expect(line).toContain(`cd ${quoted} && npx node-gyp rebuild`);
    // The cd part, pasted into a shell, lands in the package.
    const cd = /cd ('(?:[^']|'\\'')*') &&/.exec(line)?.[1] ?? '';
    expect(execFileSync('bash', ['-c', `cd ${cd} && pwd`], { encoding: 'utf8' }).trim()).toBe(dir);
  });

  it('stops at an explicit SQUEEZE_EXCITE_BINARY that does not load, and says why', () => {
    const p = probe(packageCopy(), { SQUEEZE_EXCITE_BINARY: path.join(scratch, 'nope.node') });
    expect(p.errorName).toBe('LoadError');
    expect(p.errorCode).toBe('ERR_SQEX_LOAD');
    expect(p.report.attempts).toEqual([expect.objectContaining({ kind: 'env', ok: false, reason: 'file does not exist' })]);
    expect(p.error).toMatch(/env .*nope\.node: file does not exist/);
    expect(p.error).toMatch(/SQUEEZE_EXCITE_BINARY names ".*nope\.node", which did not load \(file does not exist\); the loader does not fall back/);
    expect(fixes(p.error)).toMatch(/Point SQUEEZE_EXCITE_BINARY at a squeeze-excite addon file \(\.node\) built for this platform .*prebuilds\/linux-x64\/squeeze-excite\.glibc\.node.* or unset it/);
    expect(fixes(p.error)).not.toMatch(COMPILER_ADVICE);
  });

  // A newcomer (2026-11-30) set it to a path that did not exist and got build/Release instead, silently.
  it.skipIf(noAddon)('does not fall back to a local build or a prebuild when SQUEEZE_EXCITE_BINARY does not load', () => {
    const dir = packageCopy();
    withPrebuild(dir);
    mkdirSync(path.join(dir, 'build/Release'), { recursive: true });
    copyFileSync(builtAddon as string, path.join(dir, 'build/Release/squeeze_excite.node'));
    const p = probe(dir, { SQUEEZE_EXCITE_BINARY: path.join(scratch, 'typo.node') });
    expect(p.errorCode).toBe('ERR_SQEX_LOAD');
    expect(p.status.binary).toBeNull();
    expect(p.status.reason).toContain('could not be loaded');
    expect(p.report.attempts.map((a) => a.kind)).toEqual(['env']);
    // Unset, the same package loads its local build.
    expect(probe(dir).report.kind).toBe('local build');
  });

  // Found by an attack (2026-11-30): require() ran a non-.node file as JavaScript, and a FIFO or
  // /dev/zero made the first call hang (or read until memory ran out).
  it('refuses a SQUEEZE_EXCITE_BINARY that is a FIFO, a device, a directory or not a .node file, without running or opening it', () => {
    const js = path.join(scratch, 'evil.txt');
    const marker = path.join(scratch, 'evil-ran');
    writeFileSync(js, `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran'); module.exports = { cpuForward() { return 42; } };`);
    const cases: [string, RegExp][] = [
      [js, /not a \.node file \(evil\.txt\): require\(\) would run it as JavaScript/],
      ['/dev/zero', /not a regular file \(a character device\)/],
      [scratch, /not a regular file \(a directory\)/],
    ];
    let fifo: string | null = path.join(scratch, 'f.node');
    try {
      execFileSync('mkfifo', [fifo]);
      cases.push([fifo, /not a regular file \(a FIFO \(named pipe\)\)/]);
    } catch {
      fifo = null; // no mkfifo here: the other cases still run
    }
    for (const [file, reason] of cases) {
      const childEnv: NodeJS.ProcessEnv = { ...process.env, SQUEEZE_EXCITE_BINARY: file };
      // A hang would be killed by the timeout and fail the parse below.
      const out = execFileSync(process.execPath, ['-e', PROBE], { cwd: packageCopy(), env: childEnv, encoding: 'utf8', timeout: 20_000 });
      const p = JSON.parse(out) as Probe;
      expect(p.report.attempts[0], file).toMatchObject({ kind: 'env', ok: false, reason: expect.stringMatching(reason) });
    }
    expect(existsSync(marker)).toBe(false);
  });

  it('with SQUEEZE_EXCITE_CUDA_BUILD set and no prebuilds, names the variable instead of advising a build', () => {
    const dir = packageCopy();
    mkdirSync(path.join(dir, '.git'));
    const p = probe(dir, { SQUEEZE_EXCITE_CUDA_BUILD: 'abc' });
    expect(p.error).toMatch(/SQUEEZE_EXCITE_CUDA_BUILD=abc selects a shipped prebuild \(local builds are not tried\)/);
    expect(fixes(p.error)).toMatch(/Unset SQUEEZE_EXCITE_CUDA_BUILD/);
  });

  it('in a source checkout with nothing built, says to build the checkout', () => {
    const dir = packageCopy();
    mkdirSync(path.join(dir, '.git'));
    const p = probe(dir);
    expect(p.error).toContain(`${dir} is a source checkout`);
    expect(fixes(p.error)).toContain(`cd ${dir} && npm install`);
  });

  it('with prebuilds for other platforms only, says none fits and suggests the compiler', () => {
    const dir = packageCopy();
    mkdirSync(path.join(dir, 'prebuilds', 'sunos-mips'), { recursive: true });
    const p = probe(dir);
    expect(p.error).toContain(`no prebuild for ${process.platform}-${process.arch} (available: sunos-mips)`);
    expect(fixes(p.error)).toMatch(COMPILER_ADVICE);
  });

  it('with a damaged prebuild for this platform, says to reinstall, not to install a compiler', () => {
    const dir = packageCopy();
    mkdirSync(path.join(dir, prebuildDir), { recursive: true });
    writeFileSync(path.join(dir, prebuildDir, 'squeeze-excite.napi.node'), 'not an ELF file');
    const p = probe(dir);
    expect(p.error).toContain('the prebuilt binary for this platform is there but did not load');
    expect(fixes(p.error)).toContain('Reinstall the package');
    expect(fixes(p.error)).not.toMatch(COMPILER_ADVICE);
  });

  // An attack (2026-12-02): in a source checkout the reinstall fix said `rm -rf <the checkout>`,
  // and another architecture's file was reported in dlopen's words only ("No such file or directory").
  it('in a source checkout, a prebuild that does not load gets the build fix, never an rm -rf of the checkout', () => {
    const dir = packageCopy();
    mkdirSync(path.join(dir, '.git'));
    mkdirSync(path.join(dir, prebuildDir), { recursive: true });
    writeFileSync(path.join(dir, prebuildDir, 'squeeze-excite.napi.node'), 'not an ELF file');
    const p = probe(dir);
    expect(p.error).toContain('the prebuilt binary for this platform is there but did not load');
    expect(fixes(p.error)).toContain(`This is a source checkout: build the addon here`);
    expect(fixes(p.error)).toContain(`cd ${dir} && npm run build:native`);
    expect(fixes(p.error)).not.toContain('rm -rf');
  });

  it.runIf(process.platform === 'linux')("a prebuild built for another architecture says so (dlopen's words say 'No such file')", () => {
    const dir = packageCopy();
    mkdirSync(path.join(dir, prebuildDir), { recursive: true });
    // A 64-byte ELF header whose e_machine is another architecture's (aarch64 on x64, x86-64 elsewhere).
    const elf = new Uint8Array(64);
    elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
    const [machine, name] = process.arch === 'x64' ? [0xb7, 'arm64'] : [0x3e, 'x64'];
    elf[16] = 3; // ET_DYN
    elf[18] = machine;
    writeFileSync(path.join(dir, prebuildDir, 'squeeze-excite.napi.node'), elf);
    const p = probe(dir);
    expect(p.error).toContain(`the file is built for ${name}, and this Node runs on ${process.arch}`);
    expect(fixes(p.error)).toContain('Install the package on the machine that runs it');
  });

  it('with a prebuild that needs a newer glibc, names the floor and the dlopen error, and suggests building', () => {
    // The dynamic loader's own message, as dlopen reports it on a system older than the floor.
    const dir = packageCopy();
    const message = failedPrebuildLoad(dir, (file) => `/lib/x86_64-linux-gnu/libc.so.6: version \`GLIBC_2.99' not found (required by ${file})`);
    expect(message).toContain('older than the prebuilt binary needs (glibc >= 2.28)');
    expect(message).toContain("version `GLIBC_2.99' not found");
    expect(fixes(message)).toMatch(/node-gyp rebuild/);
  });

  // A helper's test of deployments (2026-12-03): a prebuild the running user may not read (a Docker
  // COPY with umask 077 and a non-root USER) was told to reinstall, which fails the same way.
  it('a prebuild this user may not read: says to make the package readable, not to reinstall', () => {
    const dir = packageCopy();
    const message = failedPrebuildLoad(dir, (file) => `${file}: cannot open shared object file: Permission denied`);
    expect(message).toContain('is there, but this process may not read it');
    expect(fixes(message)).toContain(`chmod -R a+rX ${dir}`);
    expect(fixes(message)).not.toMatch(/Reinstall|rm -rf/);
  });

  // The prebuilds/ folder itself unsearchable (a tar or Docker COPY leaving it 700 for another
  // user): the advice was a compiler's build (a helper's test of deployments, 2026-12-04). Root
  // reads any folder, so the child runs as nobody.
  // And only where nobody may run this node (CI's other Node releases live under /root, mode 700).
  const asNobody =
    process.platform === 'linux' && process.getuid?.() === 0 && onPath('runuser') && noAddon === null &&
    spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '-e', '0'], { stdio: 'ignore' }).status === 0;
  const nobodySkip = asNobody ? '' : ' (skipped: needs Linux, root, runuser, a loadable addon and a node binary the nobody user may run)';
  it.runIf(asNobody)(`a prebuilds folder this user may not search: says to make the package readable, not to build${nobodySkip}`, () => {
    const dir = packageCopy();
    withPrebuild(dir);
    chmodSync(scratch, 0o755);
    for (const sub of ['prebuilds', prebuildDir]) {
      chmodSync(path.join(dir, 'prebuilds'), 0o755);
      chmodSync(path.join(dir, prebuildDir), 0o755);
      chmodSync(path.join(dir, sub), 0o700);
      const p = probe(dir, {}, [], 'nobody');
      expect(p.errorCode, sub).toBe('ERR_SQEX_LOAD');
      expect(p.error, sub).toMatch(/the prebuilt binaries' folder is there, but this process may not search it: .*EACCES/);
      expect(fixes(p.error), sub).toContain(`chmod -R a+rX ${dir}`);
      expect(fixes(p.error), sub).not.toMatch(COMPILER_ADVICE);
    }
  });

  // node-gyp-build's own files unreadable: the package's chmod would not reach them (a review,
  // 2026-12-04: that branch advised it).
  it.runIf(asNobody)(`node-gyp-build's files this user may not read: says to make node-gyp-build readable${nobodySkip}`, () => {
    const dir = packageCopy();
    withPrebuild(dir);
    chmodSync(scratch, 0o755);
    rmSync(path.join(dir, 'node_modules'));
    const ngb = path.join(dir, 'node_modules', 'node-gyp-build');
    cpSync(path.join(root, 'node_modules', 'node-gyp-build'), ngb, { recursive: true });
    chmodSync(path.join(ngb, 'index.js'), 0o600);
    const p = probe(dir, {}, [], 'nobody');
    expect(p.errorCode).toBe('ERR_SQEX_LOAD');
    expect(p.error).toMatch(/node-gyp-build, which picks the prebuilt binary, is there but this process may not read it: .*EACCES/);
    expect(fixes(p.error)).toContain(`Make node-gyp-build readable (and its folders searchable) by the user that runs node: chmod -R a+rX ${ngb}`);
    expect(fixes(p.error)).not.toMatch(COMPILER_ADVICE);
  });

  // The same helper: the package folder shipped alone, without node-gyp-build beside it, was told
  // to install a compiler, though the right prebuild was in the folder.
  it.skipIf(noAddon !== null)('a package without node-gyp-build beside it: says to ship the dependencies, or name the binary', () => {
    const dir = packageCopy();
    rmSync(path.join(dir, 'node_modules'));
    withPrebuild(dir);
    const p = probe(dir);
    expect(p.errorCode).toBe('ERR_SQEX_LOAD');
    expect(p.error).toMatch(/node-gyp-build, the dependency that picks the prebuilt binary for this platform, is not installed where squeeze-excite can require it/);
    expect(fixes(p.error)).toMatch(/npm ci --omit=dev/);
    expect(fixes(p.error)).toContain('SQUEEZE_EXCITE_BINARY=');
    expect(fixes(p.error)).not.toMatch(COMPILER_ADVICE);
    // The copy is not under a node_modules folder: used in place, as a linked or vendored folder,
    // whose dependencies npm does not install.
    expect(fixes(p.error)).toContain(`is used in place`);
    expect(fixes(p.error)).toContain('npm install --omit=dev --ignore-scripts');
  });

  // A dependency that pollutes Object.prototype before the first call: node-gyp-build read
  // tags.runtime / tags.abi of an untagged file name from it and found "no file matching" the
  // prebuild that was there (an attack, 2026-12-04).
  it.skipIf(noAddon !== null)('loads the prebuild with Object.prototype.runtime and .abi polluted', () => {
    const dir = packageCopy();
    const file = withPrebuild(dir);
    const pollute = path.join(scratch, `pollute${counter++}.cjs`);
    writeFileSync(pollute, "for (const k of ['runtime', 'abi', 'napi', 'libc', 'uv', 'armv']) Object.defineProperty(Object.prototype, k, { value: 'polluted', writable: true, configurable: true });\n");
    const p = probe(dir, {}, ['--require', pollute]);
    expect(p.error).toBeNull();
    expect(p.report.binary).toBe(file);
  });

  // pnpm's layout (the package a link into the store, its dependencies beside the real folder) run
  // with --preserve-symlinks: node-gyp-build resolved from the link's folder only, and the LoadError
  // advised shipping node_modules that were there (an attack, 2026-12-04). It loads now.
  it.skipIf(noAddon !== null || process.platform === 'win32')('a pnpm-style link under --preserve-symlinks finds node-gyp-build beside the real folder', () => {
    const store = path.join(scratch, `store${counter++}`, 'node_modules');
    mkdirSync(store, { recursive: true });
    const real = packageCopy();
    rmSync(path.join(real, 'node_modules'));
    withPrebuild(real);
    const pkg = path.join(store, 'squeeze-excite');
    cpSync(real, pkg, { recursive: true });
    cpSync(path.join(root, 'node_modules', 'node-gyp-build'), path.join(store, 'node-gyp-build'), { recursive: true });
    const app = path.join(scratch, `app${counter++}`);
    mkdirSync(path.join(app, 'node_modules'), { recursive: true });
    symlinkSync(pkg, path.join(app, 'node_modules', 'squeeze-excite'));
    const script = `const s = require('squeeze-excite'); console.log(JSON.stringify(Array.from(s.seForward(Float32Array.of(1, 2, 3, 4), [1, 4, 1, 1], { w1: new Float32Array(4), w2: new Float32Array(4) }))));`;
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.SQUEEZE_EXCITE_BINARY;
    for (const args of [[], ['--preserve-symlinks']]) {
      expect(JSON.parse(execFileSync(process.execPath, [...args, '-e', script], { cwd: app, env, encoding: 'utf8' })), args.join(' ') || 'no flag').toEqual([0.5, 1, 1.5, 2]);
    }
  });

  // Yarn Plug'n'Play with the package kept zipped (dependenciesMeta unplugged: false; package.json
  // asks for unplugging): dlopen cannot open a file inside the archive, and "reinstall" would not help.
  it('a prebuild inside a Yarn zip archive: says to let Yarn unplug the package', () => {
    const dir = path.join(packageCopy(), 'cache', 'squeeze-excite-npm-0.1.0.zip', 'node_modules', 'squeeze-excite');
    mkdirSync(dir, { recursive: true });
    cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true });
    copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
    symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    const message = failedPrebuildLoad(dir, (file) => `${file}: cannot open shared object file: Not a directory`);
    expect(message).toContain('Yarn keeps squeeze-excite inside its zip archive');
    expect(fixes(message)).toContain('Let Yarn unplug it');
    expect(fixes(message)).not.toMatch(/Reinstall/);
  });

  describe.skipIf(noAddon !== null)(`with a loadable addon${noAddon ? ` (skipped: ${noAddon})` : ''}`, () => {
    it('loads the prebuild for this platform when there is no local build', () => {
      const dir = packageCopy();
      const file = withPrebuild(dir);
      const p = probe(dir);
      expect(p.error).toBeNull();
      expect(p.report.kind).toBe('prebuild');
      expect(p.status.binary).toBe(file);
      expect(p.report.shadowsPrebuild).toBe(false);
    });

    it('makes a local build that shadows a prebuild visible', () => {
      const dir = packageCopy();
      withPrebuild(dir);
      mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
      copyFileSync(builtAddon as string, path.join(dir, 'build', 'Release', 'squeeze_excite.node'));
      const p = probe(dir);
      expect(p.error).toBeNull();
      expect(p.report.kind).toBe('local build');
      expect(p.status.binary).toBe(path.join(dir, 'build', 'Release', 'squeeze_excite.node'));
      expect(p.report.shadowsPrebuild).toBe(true);
    });

    it('skips a corrupt local build, keeps its reason, and loads the prebuild', () => {
      const dir = packageCopy();
      withPrebuild(dir);
      mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
      writeFileSync(path.join(dir, 'build', 'Release', 'squeeze_excite.node'), 'not an ELF file');
      const p = probe(dir);
      expect(p.error).toBeNull();
      expect(p.report.kind).toBe('prebuild');
      const local = p.report.attempts.find((a) => a.kind === 'local build' && a.file?.endsWith(path.join('Release', 'squeeze_excite.node')));
      expect(local?.ok).toBe(false);
      expect(local?.reason).toMatch(/invalid ELF header|not a valid Win32|slice is not valid|file too short|ERR_DLOPEN_FAILED/);
    });

    it('under node --no-addons names the flag and ERR_DLOPEN_DISABLED, and suggests no compiler', () => {
      const dir = packageCopy();
      withPrebuild(dir);
      const p = probe(dir, {}, ['--no-addons']);
      expect(p.errorCode).toBe('ERR_SQEX_LOAD');
      expect(p.error).toContain('native addons are disabled in this process (node --no-addons, ERR_DLOPEN_DISABLED)');
      expect(p.report.attempts.find((a) => a.kind === 'prebuild')).toMatchObject({ ok: false, code: 'ERR_DLOPEN_DISABLED' });
      expect(fixes(p.error)).toContain('Run without --no-addons');
      expect(fixes(p.error)).not.toMatch(COMPILER_ADVICE);
    });
  });
});

// An app that requires the package, bundled with nothing external, must fail at run time with
// advice to mark the package external (not with a compiler list, and not with esbuild's
// 'Dynamic require of "node:fs" is not supported' in an ES-module bundle); marked external, it
// works. esbuild is the bundler of the report; rolldown comes with vitest (vite 8).
const APP_BODY = `
let out;
try {
  const y = sqex.seForward(new Float32Array(4), [1, 4, 1, 1], { w1: new Float32Array(4), w2: new Float32Array(4) }, { device: 'cpu' });
  out = { error: null, code: null, binary: sqex.cuda.status().binary, y: Array.from(y) };
} catch (e) {
  out = { error: e.message, code: e.code ?? null, binary: null, y: null };
}
console.log(JSON.stringify(out));
`;
const APP_CJS = `const sqex = require('squeeze-excite');\n${APP_BODY}`;
const APP_ESM = `import * as sqex from 'squeeze-excite';\n${APP_BODY}`;

interface Bundler {
  name: string;
  bin: string;
  /** argv for: bundle `entry` into `outfile` as `format`, squeeze-excite external or not. */
  args(entry: string, outfile: string, format: 'cjs' | 'esm', external: boolean): string[];
}
const BUNDLERS: Bundler[] = [
  {
    name: 'esbuild',
    bin: path.join(root, 'node_modules', '.bin', 'esbuild'),
    args: (entry, outfile, format, external) => [entry, '--bundle', '--platform=node', `--format=${format}`, `--outfile=${outfile}`, '--log-level=error', ...(external ? ['--external:squeeze-excite'] : [])],
  },
  {
    name: 'rolldown',
    bin: path.join(root, 'node_modules', '.bin', 'rolldown'),
    args: (entry, outfile, format, external) => [entry, '-p', 'node', '-f', format, '-o', outfile, ...(external ? ['-e', 'squeeze-excite'] : [])],
  },
];

interface AppRun { error: string | null; code: string | null; binary: string | null; y: number[] | null }

for (const b of BUNDLERS) {
  const missing = existsSync(b.bin) ? null : `${b.name} is not in node_modules/.bin (not a dependency of this project or of vitest here)`;
  if (missing) console.log(`loader.test: bundler case skipped: ${missing}`);
  describe.skipIf(missing !== null || noAddon !== null)(`an app bundled with ${b.name}${missing ? ` (skipped: ${missing})` : noAddon ? ` (skipped: ${noAddon})` : ''}`, () => {
    let app = '';
    let prebuild = '';
    beforeAll(() => {
      const pkg = packageCopy();
      prebuild = withPrebuild(pkg);
      app = path.join(scratch, `app-${b.name}`);
      mkdirSync(path.join(app, 'node_modules'), { recursive: true });
      symlinkSync(pkg, path.join(app, 'node_modules', 'squeeze-excite'));
      writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
      writeFileSync(path.join(app, 'app.cjs'), APP_CJS);
      writeFileSync(path.join(app, 'app.mjs'), APP_ESM);
    });

    function bundleAndRun(format: 'cjs' | 'esm', external: boolean, env: Record<string, string> = {}): AppRun {
      const entry = format === 'cjs' ? 'app.cjs' : 'app.mjs';
      const outfile = path.join('out', `${format}${external ? '-external' : ''}.${format === 'cjs' ? 'cjs' : 'mjs'}`);
      execFileSync(b.bin, b.args(entry, outfile, format, external), { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
      if (!('SQUEEZE_EXCITE_BINARY' in env)) delete childEnv.SQUEEZE_EXCITE_BINARY;
      return JSON.parse(execFileSync(process.execPath, [outfile], { cwd: app, env: childEnv, encoding: 'utf8' })) as AppRun;
    }

    // The next three run under esbuild only (not registered for rolldown, rather than listed as
    // skipped): they check the loader, and need esbuild's --define or one bundle to do it.
    // webpack's `node: { __filename: true }` (and esbuild's --define, used here) puts a relative
    // path in __filename: createRequire threw an uncoded TypeError as the bundle started, even with
    // SQUEEZE_EXCITE_BINARY set (a helper's test of bundlers, 2026-12-03).
    if (b.name === 'esbuild') {
      it('cjs with a relative __filename: a coded refusal, and SQUEEZE_EXCITE_BINARY runs it', () => {
        const outfile = path.join('out', 'cjs-relative-filename.cjs');
        execFileSync(b.bin, [...b.args('app.cjs', outfile, 'cjs', false), '--define:__filename="node_modules/squeeze-excite/dist/backend/package-root.js"'], { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        const run = (env: Record<string, string>): AppRun => {
          const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
          if (!('SQUEEZE_EXCITE_BINARY' in env)) delete childEnv.SQUEEZE_EXCITE_BINARY;
          return JSON.parse(execFileSync(process.execPath, [outfile], { cwd: app, env: childEnv, encoding: 'utf8' })) as AppRun;
        };
        const refused = run({});
        expect(refused.code).toBe('ERR_SQEX_LOAD');
        expect(refused.error).toMatch(/this copy of squeeze-excite was bundled into an app bundle \(its __filename is the relative "node_modules\/squeeze-excite/);
        const ran = run({ SQUEEZE_EXCITE_BINARY: prebuild });
        expect(ran.error).toBeNull();
        expect(ran.y).toHaveLength(4);
      });
    }

    // An ES-module bundle has no __filename, and the loader took process.cwd() at import: with the
    // working directory deleted that threw ENOENT out of the app's import, uncoded, even with
    // SQUEEZE_EXCITE_BINARY set (a helper's test of deployments, 2026-12-04).
    if (b.name === 'esbuild') {
      it.runIf(process.platform !== 'win32')('esm with its working directory deleted: a coded refusal on first use, and SQUEEZE_EXCITE_BINARY runs it', () => {
        const outfile = path.join(app, 'out', 'esm-no-cwd.mjs');
        execFileSync(b.bin, b.args('app.mjs', outfile, 'esm', false), { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        const gone = path.join(scratch, `gone${counter++}`);
        const run = (env: Record<string, string>): AppRun => {
          const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
          if (!('SQUEEZE_EXCITE_BINARY' in env)) delete childEnv.SQUEEZE_EXCITE_BINARY;
          const script = 'mkdir "$1" && cd "$1" && rmdir "$1" && exec "$2" "$3"';
          return JSON.parse(execFileSync('sh', ['-c', script, 'sh', gone, process.execPath, outfile], { env: childEnv, encoding: 'utf8' })) as AppRun;
        };
        const refused = run({});
        expect(refused.code).toBe('ERR_SQEX_LOAD');
        expect(refused.error).toMatch(/this copy of squeeze-excite was bundled into an ES-module bundle/);
        const ran = run({ SQUEEZE_EXCITE_BINARY: prebuild });
        expect(ran.error).toBeNull();
        expect(ran.y).toHaveLength(4);
      });
    }

    // Inside a Node single-executable application require() loads built-in modules only, so the
    // advice to mark the package external cannot work there (a helper built such a SEA, 2026-12-04,
    // and met ERR_UNKNOWN_BUILTIN_MODULE). Building a SEA takes postject; here node:sea's isSea()
    // answers true through a preloaded stub, and the bundle is the SEA's main script.
    if (b.name === 'esbuild') {
      it('cjs inside a single-executable application: SQUEEZE_EXCITE_BINARY is the fix, not external', () => {
        const outfile = path.join('out', 'cjs-sea.cjs');
        execFileSync(b.bin, b.args('app.cjs', outfile, 'cjs', false), { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        const stub = path.join(app, 'sea-stub.cjs');
        writeFileSync(stub, "const get = process.getBuiltinModule; process.getBuiltinModule = (id) => (id === 'node:sea' || id === 'sea' ? { isSea: () => true } : get(id));\n");
        const childEnv: NodeJS.ProcessEnv = { ...process.env };
        delete childEnv.SQUEEZE_EXCITE_BINARY;
        const r = JSON.parse(execFileSync(process.execPath, ['-r', stub, outfile], { cwd: app, env: childEnv, encoding: 'utf8' })) as AppRun;
        expect(r.code).toBe('ERR_SQEX_LOAD');
        expect(r.error).toMatch(/runs inside a Node single-executable application .*whose require\(\) loads only Node's built-in modules/);
        expect(fixes(r.error)).toMatch(/set SQUEEZE_EXCITE_BINARY to its absolute path/);
        expect(fixes(r.error)).not.toContain('--external:squeeze-excite');
      });
    }

    for (const format of ['cjs', 'esm'] as const) {
      it(`${format}: bundled whole, it fails on first use with advice to mark the package external`, () => {
        const r = bundleAndRun(format, false);
        expect(r.error).not.toMatch(/Dynamic require|is not defined/);
        expect(r.code).toBe('ERR_SQEX_LOAD');
        expect(r.error).toMatch(/this copy of squeeze-excite was bundled into/);
        expect(fixes(r.error)).toContain('--external:squeeze-excite');
        expect(fixes(r.error)).toContain("externals: { 'squeeze-excite': 'commonjs squeeze-excite' }");
        // node_modules, not the package's folder alone, which lacks node-gyp-build (a helper, 2026-12-04).
        expect(fixes(r.error)).toContain("ship the app's node_modules with it (after npm ci --omit=dev");
        expect(fixes(r.error)).not.toMatch(COMPILER_ADVICE);
      });

      it(`${format}: bundled whole with SQUEEZE_EXCITE_BINARY set, it runs`, () => {
        const r = bundleAndRun(format, false, { SQUEEZE_EXCITE_BINARY: prebuild });
        expect(r.error).toBeNull();
        expect(r.binary).toBe(prebuild);
        expect(r.y).toHaveLength(4);
      });

      it(`${format}: with squeeze-excite external, it loads the package's prebuild`, () => {
        const r = bundleAndRun(format, true);
        expect(r.error).toBeNull();
        expect(r.binary).toBe(prebuild);
      });
    }
  });
}

// Node's permission model (--permission; --experimental-permission on Node 20), from an attack
// with hardened flags (2026-11-30): without --allow-addons the advice was "run without
// --no-addons"; with reads limited to the files a caller needs, every op threw Node's own uncoded
// ERR_ACCESS_DENIED from the prebuild search, even with SQUEEZE_EXCITE_BINARY naming a readable
// addon; an unreadable package.json made the loader call the package bundled.
describe.skipIf(PERMISSION_FLAG === null || noAddon !== null)("Node's permission model", () => {
  const flag = PERMISSION_FLAG as string;
  it('without --allow-addons: a LoadError that says to add it', () => {
    const dir = packageCopy();
    withPrebuild(dir);
    const p = probe(dir, {}, [flag, '--allow-fs-read=*']);
    expect(p.errorCode).toBe('ERR_SQEX_LOAD');
    expect(p.error).toContain("Node's permission model is on and does not allow native addons");
    expect(fixes(p.error)).toContain('--allow-addons');
    expect(fixes(p.error)).not.toMatch(/--no-addons|apt-get/);
  });

  it('reads limited to the package code and a named addon: it loads that addon; limited to the code alone: a LoadError naming what was denied', () => {
    const dir = packageCopy();
    withPrebuild(dir);
    const addon = path.join(scratch, `allowed-${counter++}.node`);
    copyFileSync(builtAddon as string, addon);
    const code = [`--allow-fs-read=${path.join(dir, 'dist')}/`, `--allow-fs-read=${path.join(dir, 'package.json')}`, `--allow-fs-read=${path.join(root, 'node_modules')}/`];
    const named = probe(dir, { SQUEEZE_EXCITE_BINARY: addon }, [flag, '--allow-addons', ...code, `--allow-fs-read=${addon}`]);
    expect(named.error).toBeNull();
    expect(named.report.binary).toBe(addon);
    const denied = probe(dir, {}, [flag, '--allow-addons', ...code]);
    expect(denied.errorCode).toBe('ERR_SQEX_LOAD');
    expect(denied.error).toContain("Node's permission model denies reading");
    expect(fixes(denied.error)).toContain(`--allow-fs-read=${dir}`);
    // All that loading reads, named at once (each run names only the first refusal).
    expect(fixes(denied.error)).toContain("Loading reads the package folder, node-gyp-build's folder");
    if (process.platform === 'linux') expect(fixes(denied.error)).toContain('/etc/alpine-release');
    expect(denied.report.bundled).toBeNull();
    expect(denied.report.attempts.some((a) => a.code === 'ERR_ACCESS_DENIED')).toBe(true);
    // A named binary it may not read: the grant of that file, and no word of node-gyp-build, which
    // a named binary does not use.
    const namedDenied = probe(dir, { SQUEEZE_EXCITE_BINARY: addon }, [flag, '--allow-addons', ...code]);
    expect(namedDenied.errorCode).toBe('ERR_SQEX_LOAD');
    expect(fixes(namedDenied.error)).toContain(`--allow-fs-read=${addon}`);
    expect(fixes(namedDenied.error)).not.toContain('node-gyp-build');
  });

  // A newcomer's check (2026-12-02): with the whole package readable and addons allowed, Node 20
  // still refused node-gyp-build's probe of /etc/alpine-release (musl or glibc) as it loaded, and
  // the LoadError blamed the platform and advised a compiler.
  it('a refused read outside the package (node-gyp-build probing /etc/alpine-release) is named, with the flag that allows it', () => {
    const dir = packageCopy();
    withPrebuild(dir);
    const readable = [`--allow-fs-read=${dir}`, `--allow-fs-read=${path.join(root, 'node_modules')}/`];
    const p = probe(dir, {}, [flag, '--allow-addons', ...readable]);
    if (p.error === null) {
      // A Node whose permission model lets that probe answer "no" instead of throwing.
      expect(p.report.kind).toBe('prebuild');
      return;
    }
    expect(p.errorCode).toBe('ERR_SQEX_LOAD');
    const denied = p.report.attempts.find((a) => a.code === 'ERR_ACCESS_DENIED');
    expect(denied?.denied).toBe('/etc/alpine-release');
    expect(p.error).toContain("Node's permission model denies reading /etc/alpine-release");
    expect(fixes(p.error)).toContain(`--allow-fs-read=/etc/alpine-release --allow-fs-read=${dir}`);
    expect(fixes(p.error)).not.toMatch(COMPILER_ADVICE);
    const allowed = probe(dir, {}, [flag, '--allow-addons', ...readable, '--allow-fs-read=/etc/alpine-release']);
    expect(allowed.error).toBeNull();
    expect(allowed.report.kind).toBe('prebuild');
  });

  // A newcomer's check (2026-12-03): in an installed app node-gyp-build sits beside this package
  // (node_modules/node-gyp-build), outside its folder; the fix named the one file denied first, and
  // after that grant the next file of node-gyp-build was denied, one run after another.
  it('a refused read of node-gyp-build beside the package names its folder, and that grant loads', () => {
    const dir = packageCopy();
    withPrebuild(dir);
    const readable = [`--allow-fs-read=${dir}`, '--allow-fs-read=/etc/alpine-release'];
    const p = probe(dir, {}, [flag, '--allow-addons', ...readable]);
    expect(p.errorCode).toBe('ERR_SQEX_LOAD');
    const denied = p.report.attempts.find((a) => a.code === 'ERR_ACCESS_DENIED')?.denied ?? '';
    const ngb = path.join(root, 'node_modules', 'node-gyp-build');
    expect(denied.startsWith(ngb + path.sep)).toBe(true);
    expect(p.error).not.toContain('to tell musl from glibc');
    expect(fixes(p.error)).toContain(`--allow-fs-read=${ngb} --allow-fs-read=${dir}`);
    const allowed = probe(dir, {}, [flag, '--allow-addons', ...readable, `--allow-fs-read=${ngb}`]);
    expect(allowed.error).toBeNull();
    expect(allowed.report.kind).toBe('prebuild');
  });

  it('an unreadable package.json is not taken for a bundle', () => {
    const dir = packageCopy();
    withPrebuild(dir);
    const p = probe(dir, {}, [
      flag,
      '--allow-addons',
      ...['dist', 'prebuilds', 'node_modules'].map((d) => `--allow-fs-read=${path.join(dir, d)}/`),
      `--allow-fs-read=${path.join(root, 'node_modules')}/`,
    ]);
    // Not bundled: the package folder is searched, and what fails is said as a denial (Node's own
    // module resolution then needs that package.json too, to load node-gyp-build).
    expect(p.report.bundled).toBeNull();
    expect(p.error).not.toMatch(/bundled|esbuild|webpack/);
    expect(p.error).toContain("Node's permission model denies reading");
  });
});

// A .node file cut short: see lib/backend/binary-file.ts.
describe.skipIf(noAddon !== null || process.platform === 'win32')('binaries cut short', () => {
  // A .node file cut short (an interrupted download or copy, a full disk) was mapped whole by the
  // OS loader, and the process died with SIGBUS (exit 135), no message (a newcomer's check). It is
  // now refused from its headers before dlopen (lib/backend/binary-file.ts).
  it('a prebuild cut short is refused before dlopen, with the reinstall fix, instead of ending the process', () => {
    const dir = packageCopy();
    const file = withPrebuild(dir);
    const whole = readFileSync(file);
    for (const cut of [4096, 200_000, whole.length - 1]) {
      writeFileSync(file, whole.subarray(0, cut));
      const p = probe(dir); // a SIGBUS here makes execFileSync throw
      expect(p.errorCode).toBe('ERR_SQEX_LOAD');
      expect(p.error).toContain('truncated: its headers place');
      expect(p.error).toContain(`but the file has ${cut} bytes`);
      expect(p.error).toMatch(/prebuilt binary for this platform is there but did not load/);
      expect(fixes(p.error)).toContain('Reinstall the package');
    }
  });

  it('a local build cut short leads the message, with the rebuild fix', () => {
    const dir = packageCopy();
    mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
    writeFileSync(path.join(dir, 'build', 'Release', 'squeeze_excite.node'), readFileSync(builtAddon as string).subarray(0, 100_000));
    const p = probe(dir);
    expect(p.errorCode).toBe('ERR_SQEX_LOAD');
    expect(p.error).toMatch(/: the local build .*squeeze_excite\.node is there but did not load: truncated: /);
    expect(p.error).not.toContain('ships no prebuilt binaries');
    expect(fixes(p.error)).toContain('npm rebuild squeeze-excite --foreground-scripts');
  });
});

// An attack (2026-12-02): once loading failed, every call threw the same LoadError object, so a
// caller's edit (message prefixed, code deleted) reached every later refusal and cuda.status();
// and loadReport() handed out the loader's own report, which a caller could rewrite.
describe('a failed load, and the report, cannot be changed by a caller', () => {
  const root = path.resolve(__dirname, '..');
  const run = (script: string, env: Record<string, string>): unknown => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    if (!('SQUEEZE_EXCITE_BINARY' in env)) delete childEnv.SQUEEZE_EXCITE_BINARY;
    return JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, env: childEnv, encoding: 'utf8' }));
  };
  it('each call throws a new LoadError with the code, whatever was done to the last one', () => {
    const out = run(
      `const m = require('./dist/index.js');
       const errs = [];
       for (let i = 0; i < 3; i++) {
         try { m.ecaForward(new Float32Array(8), [1, 2, 2, 2], { weight: new Float32Array(3) }); } catch (e) { errs.push(e); e.message = 'request ' + i + ': ' + e.message; delete e.code; e.report = null; }
       }
       const last = (() => { try { m.ecaForward(new Float32Array(8), [1, 2, 2, 2], { weight: new Float32Array(3) }); } catch (e) { return e; } })();
       console.log(JSON.stringify({ distinct: errs[0] !== errs[1] && errs[1] !== last, name: last.name, isLoadError: last instanceof m.LoadError, code: last.code, starts: last.message.slice(0, 14), report: last.report !== null && Object.isFrozen(last.report), reason: m.cuda.status().reason.includes('request') }));`,
      { SQUEEZE_EXCITE_BINARY: '/nonexistent.node' },
    );
    expect(out).toEqual({ distinct: true, name: 'LoadError', isLoadError: true, code: 'ERR_SQEX_LOAD', starts: 'squeeze-excite', report: true, reason: false });
  });
  it.skipIf(noAddon !== null)('loadReport() is frozen: cuda.status() keeps the binary it loaded', () => {
    const out = run(
      `const m = require('./dist/index.js');
       const r = m.loadReport();
       const before = r.binary;
       try { r.binary = '/elsewhere.node'; r.attempts.length = 0; r.attempts[0] && (r.attempts[0].file = 'x'); } catch {}
       console.log(JSON.stringify({ frozen: Object.isFrozen(r) && Object.isFrozen(r.attempts), same: m.loadReport().binary === before && m.cuda.status().binary === before, attempts: m.loadReport().attempts.length > 0 }));`,
      {},
    );
    expect(out).toEqual({ frozen: true, same: true, attempts: true });
  });
});

// An attack (2026-12-02): an addon exporting cpuForward alone was taken, and the first call failed
// with an uncoded TypeError ("Cannot read properties of undefined"); cuda.status().reason read
// "native.cudaStatus is not a function". A build of another version is now refused at load.
describe('an addon of another version', () => {
  it('one that lacks exports every call uses is refused, naming them, and the next candidate is tried', () => {
    const dir = packageCopy();
    mkdirSync(path.join(dir, prebuildDir), { recursive: true });
    const file = path.join(dir, prebuildDir, 'squeeze-excite.napi.node');
    writeFileSync(file, 'stands in for a prebuild');
    const { loadWith } = requireCjs(path.join(dir, 'dist', 'backend', 'load.js')) as {
      loadWith(setup: { root: string; requireAddon(f: string): unknown; binaryEnv?: string; cudaBuildEnv?: string; bundled: string | null }): unknown;
    };
    let message = '';
    try {
      loadWith({ root: dir, requireAddon: () => ({ cpuForward() {} }), binaryEnv: undefined, cudaBuildEnv: undefined, bundled: null });
    } catch (err) {
      message = (err as Error).message;
      expect((err as { code?: string }).code).toBe('ERR_SQEX_LOAD');
    }
    expect(message).toContain('loaded, but it lacks info, setThreads, cpuForwardAsync, cudaStatus: a build of another squeeze-excite version');
  });

  // A build with every export but made from other sources (a checkout's build/ after a pull that
  // changed the cfg layout) was taken, and read the new cfg by the old layout: wrong numbers, no
  // error. info() now reports the sources' binding contract and version, and the loader compares.
  const refusal = (info: Record<string, unknown>, libVersion: string | null): { message: string; code: unknown } => {
    const dir = packageCopy();
    mkdirSync(path.join(dir, prebuildDir), { recursive: true });
    writeFileSync(path.join(dir, prebuildDir, 'squeeze-excite.napi.node'), 'stands in for a prebuild');
    const { loadWith } = requireCjs(path.join(dir, 'dist', 'backend', 'load.js')) as {
      loadWith(setup: { root: string; requireAddon(f: string): unknown; binaryEnv?: string; cudaBuildEnv?: string; bundled: string | null; libVersion?: string | null }): unknown;
    };
    const fn = (): void => {};
    const addon = { info: () => info, setThreads: fn, cpuForward: fn, cpuForwardAsync: fn, cudaStatus: fn };
    try {
      loadWith({ root: dir, requireAddon: () => addon, binaryEnv: undefined, cudaBuildEnv: undefined, bundled: null, libVersion });
    } catch (err) {
      return { message: (err as Error).message, code: (err as { code?: unknown }).code };
    }
    return { message: '', code: null };
  };
  it('one built from sources with another binding contract is refused as a stale build', () => {
    for (const [info, had] of [
      [{ version: '0.1.0', contract: BINDING_CONTRACT + 1 }, `binding contract ${BINDING_CONTRACT + 1}`],
      [{ version: '0.1.0' }, 'no binding contract'],
      [{ version: '0.1.0', contract: String(BINDING_CONTRACT) }, 'no binding contract'],
    ] as const) {
      const r = refusal(info, '0.1.0');
      expect(r.code).toBe('ERR_SQEX_LOAD');
      expect(r.message).toContain(`loaded, but it was built from other sources (${had}; this lib/ expects ${BINDING_CONTRACT}): a stale build (rebuild it from these sources)`);
    }
  });
  it("one of another version is refused, naming both; a bundle (no package.json version) does not compare", () => {
    const r = refusal({ version: '0.0.9', contract: BINDING_CONTRACT }, '0.1.0');
    expect(r.code).toBe('ERR_SQEX_LOAD');
    expect(r.message).toContain('loaded, but it is the addon of squeeze-excite 0.0.9, and this lib/ is 0.1.0: a build of another version (rebuild it from this one)');
    expect(refusal({ version: '0.0.9', contract: BINDING_CONTRACT }, null).message).not.toContain('another version');
  });
  it.skipIf(noAddon !== null)("this checkout's addon reports this lib/'s contract and version", () => {
    const info = (requireCjs(builtAddon as string) as { info(): { contract?: number; version: string } }).info();
    const pkg = JSON.parse(readFileSync(path.resolve(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    expect({ contract: info.contract, version: info.version }).toEqual({ contract: BINDING_CONTRACT, version: pkg.version });
  });
});

// Two copies of the package in one process (nested node_modules, a bundle beside an install): each
// works, and a block (or a SafetensorsFile) of one given to the other was refused as "must be an
// SEBlock; received an SEBlock instance" (attacks, 2026-12-04): the refusal now says what it is and
// the fix.
describe.skipIf(noAddon !== null)('two copies of the package in one process', () => {
  it('each runs; a block or a SafetensorsFile of one refused by the other says so, with the fix', () => {
    const other = packageCopy();
    const script = `
      const A = require('./dist/index.js'), B = require(${JSON.stringify(path.join(other, 'dist', 'index.js'))});
      const w = { w1: Float32Array.of(0.5, -0.25, 1, 2), b1: Float32Array.of(0.1), w2: Float32Array.of(1, -1, 0.5, 2), b2: Float32Array.of(0, 0.2, -0.3, 0.4) };
      const x = Float32Array.of(1, -2, 3, 4), shape = [1, 4, 1, 1];
      const a = A.seForward(x, shape, w), b = B.seForward(x, shape, w);
      const block = new A.SEBlock(w);
      let refusal = null;
      try { B.SEBlock.prototype.forward.call(block, x, shape); } catch (e) { refusal = { name: e.name, code: e.code, argument: e.argument, message: e.message }; }
      let fileRefusal = null;
      try { B.findAttentionModules(new A.SafetensorsFile({ tensors: [] }, {})); } catch (e) { fileRefusal = { code: e.code, argument: e.argument, message: e.message }; }
      console.log(JSON.stringify({ distinct: A.SEBlock !== B.SEBlock, same: Array.from(a).join() === Array.from(b).join(), own: Array.from(block.forward(x, shape)).join() === Array.from(a).join(), refusal, fileRefusal }));`;
    const env: NodeJS.ProcessEnv = { ...process.env, SQUEEZE_EXCITE_BINARY: builtAddon as string };
    const r = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, env, encoding: 'utf8' })) as {
      distinct: boolean; same: boolean; own: boolean; refusal: { name: string; code: string; argument: string; message: string } | null;
      fileRefusal: { code: string; argument: string; message: string } | null;
    };
    expect(r).toMatchObject({ distinct: true, same: true, own: true, refusal: { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument: 'this' }, fileRefusal: { code: 'ERR_INVALID_ARG_TYPE', argument: 'source' } });
    const another = (cls: string): RegExp => new RegExp(`received an? ${cls} of another copy of squeeze-excite loaded in this process \\(npm ls squeeze-excite lists the copies\\), which this copy cannot use: pass it to the copy that made it, or install one copy \\(npm dedupe\\)$`);
    expect(r.refusal?.message).toMatch(/^SEBlock\.forward: this must be an SEBlock; /);
    expect(r.refusal?.message).toMatch(another('SEBlock'));
    // The same for a SafetensorsFile (a model-loading library with its own copy; a helper, 2026-12-04).
    expect(r.fileRefusal?.message).toMatch(another('SafetensorsFile'));
  });
});

/** Runs `script` (which prints { first, second, binary }) in a child with this suite's addon named. */
function firstAndSecondCall(script: string): { first: { code?: string; message?: string; result?: number[] }; second: number[]; binary: boolean } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (builtAddon !== null) env.SQUEEZE_EXCITE_BINARY = builtAddon;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, env, encoding: 'utf8' })) as ReturnType<typeof firstAndSecondCall>;
}

// An attack (2026-12-03): the first call of a process made from deep recursion ran out of stack
// inside the load (in dlopen's wrapper), which read as "the local build did not load" and was kept
// for every later call, however much stack it had:
// every later call, at any depth, failed with advice to rebuild. The stack overflow is simulated
// here (dlopen throws V8's RangeError once), as the real one lands at a depth that varies by build.
describe('a load that runs out of stack', () => {
  it.skipIf(noAddon !== null)('is loaded again by a call with more stack: the call that hit it gets ERR_SQEX_LOAD saying so', () => {
    const script = `
      const realDlopen = process.dlopen;
      let calls = 0;
      process.dlopen = function (...args) {
        if (calls++ < 2) throw new RangeError('Maximum call stack size exceeded'); // an op loads up to twice
        return Reflect.apply(realDlopen, this, args);
      };
      const sq = require('./dist/index.js');
      const call = () => Array.from(sq.seForward(new Float32Array([1, 2, 3, 4]), [1, 4, 1, 1], { w1: new Float32Array(16), w2: new Float32Array(16) }, { device: 'cpu' }));
      let first;
      try { first = { result: call() }; } catch (e) { first = { code: e.code, message: e.message }; }
      console.log(JSON.stringify({ first, second: call(), binary: sq.loadReport().binary !== null }));`;
    const out = firstAndSecondCall(script);
    expect(out.first.code).toBe('ERR_SQEX_LOAD');
    expect(out.first.message).toMatch(/Maximum call stack size exceeded.*\(The stack was nearly exhausted during this load: the first call was made from deep recursion\. A later call with more stack left loads again\.\)/s);
    // Zero weights: every gate is sigmoid(0) = 0.5.
    expect(out.second).toEqual([0.5, 1, 1.5, 2]);
    expect(out.binary).toBe(true);
  });
});

describe('a load while a built-in it uses is replaced', () => {
  // Reviews (2026-12-03): the first versions compared built-ins with their values at import, so an
  // app that loads graceful-fs or core-js after this package (they replace fs.closeSync and
  // Array.prototype.push for good) never kept a real failure: every call ran the load again
  // (18-35 ms), threw a plain Error instead of the LoadError, and loadReport() threw.
  it('a real failure is kept when fs and Array.prototype.push were replaced for good before the first call (graceful-fs, core-js)', () => {
    const script = `
      const sq = require('./dist/index.js');
      const fs = require('node:fs');
      const closeSync = fs.closeSync;
      fs.closeSync = function (fd) { return closeSync(fd); };
      const push = Array.prototype.push; // as core-js does on Node 20, for good
      Array.prototype.push = function (...items) { return Reflect.apply(push, this, items); };
      const call = () => { try { sq.seForward(new Float32Array(4), [1, 4, 1, 1], { w1: new Float32Array(16) }); return null; } catch (e) { return { loadError: e instanceof sq.LoadError, code: e.code }; } };
      const first = call(), second = call();
      console.log(JSON.stringify({ first, second, attempts: sq.loadReport().attempts.length }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, env: { ...process.env, SQUEEZE_EXCITE_BINARY: path.join(scratch, 'none.node') }, encoding: 'utf8' })) as {
      first: { loadError: boolean; code: string };
      second: { loadError: boolean; code: string };
      attempts: number;
    };
    expect(out.first).toEqual({ loadError: true, code: 'ERR_SQEX_LOAD' });
    expect(out.second).toEqual({ loadError: true, code: 'ERR_SQEX_LOAD' });
    expect(out.attempts).toBe(1);
  });
  it.skipIf(noAddon !== null)('is loaded again by a call with the built-in restored', () => {
    // Array.prototype.push dropping its arguments during the first call only (an attack, 2026-12-03):
    // the loader's lists stayed empty and "the addon is not built" was kept for the process.
    const script = `
      const sq = require('./dist/index.js');
      const call = () => Array.from(sq.ecaForward(new Float32Array(8).fill(1), [1, 1, 1, 8], { weight: new Float32Array(3) }));
      const push = Array.prototype.push;
      Array.prototype.push = function () { return this.length; };
      let first;
      try { first = { result: call() }; } catch (e) { first = { code: e.code, message: e.message }; }
      Array.prototype.push = push;
      console.log(JSON.stringify({ first, second: call(), binary: sq.loadReport().binary !== null }));`;
    const out = firstAndSecondCall(script);
    // The first call may fail (the loader ran with the broken push); the failure it keeps holds
    // only while that push is there.
    if (out.first.result === undefined) expect(out.first.code).toBe('ERR_SQEX_LOAD');
    expect(out.second).toEqual(new Array(8).fill(0.5));
    expect(out.binary).toBe(true);
  });
});

// An attack (2026-12-03): a checkout linked into a project (`npm install /path/to/checkout` makes a
// symlink, so the package's real path is outside node_modules) under
// --experimental-default-type=module: package.json had no "type", so dist/*.js and bin/*.js were
// read as ES modules ("exports is not defined", uncoded). "type": "commonjs" says what they are.
describe('the package says its .js files are CommonJS', () => {
  // (The flag exists in Node 20-22 only; later Node refuses it as a bad option.)
  const hasFlag = process.allowedNodeEnvironmentFlags.has('--experimental-default-type');
  it.skipIf(noAddon !== null || !hasFlag)(`require works under --experimental-default-type=module${hasFlag ? '' : ' (skipped: this Node has no such flag)'}`, () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (builtAddon !== null) env.SQUEEZE_EXCITE_BINARY = builtAddon;
    const script = path.join(scratch, 'default-type.cjs');
    writeFileSync(script, `const sq = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
      console.log(JSON.stringify(Array.from(sq.ecaForward(new Float32Array(4).fill(1), [1, 4, 1, 1], { weight: new Float32Array(3) }))));`);
    const out = execFileSync(process.execPath, ['--experimental-default-type=module', script], { env, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([0.5, 0.5, 0.5, 0.5]);
    const help = execFileSync(process.execPath, ['--experimental-default-type=module', path.join(root, 'bin', 'squeeze-excite.js'), '--help'], { env, encoding: 'utf8' });
    expect(help).toMatch(/^Usage:/);
  });
});

// An attack (2026-12-03): a relative SQUEEZE_EXCITE_BINARY with the working directory deleted gave
// "ENOENT: no such file or directory, uv_cwd" from every call, with no word of the variable.
describe('a relative SQUEEZE_EXCITE_BINARY without a working directory', () => {
  it.runIf(process.platform === 'linux')('is reported against the variable, with the fix', () => {
    const script = `
      const fs = require('node:fs');
      const gone = fs.mkdtempSync(${JSON.stringify(path.join(scratch, 'gone-'))});
      process.chdir(gone);
      fs.rmdirSync(gone);
      const sq = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
      try { sq.seForward(new Float32Array(4), [1, 4, 1, 1], { w1: new Float32Array(16) }); console.log(JSON.stringify({ ok: true })); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { env: { ...process.env, SQUEEZE_EXCITE_BINARY: 'build/Release/squeeze_excite.node' }, encoding: 'utf8' })) as { code: string; message: string };
    expect(out.code).toBe('ERR_SQEX_LOAD');
    expect(out.message).toMatch(/SQUEEZE_EXCITE_BINARY is a relative path, and the working directory it is relative to could not be read \(ENOENT.*give an absolute path/);
  });
});
