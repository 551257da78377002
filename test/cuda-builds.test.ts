// Issue 12: linux-x64 ships a CUDA 13.0 build (drivers R580+) and a CUDA 11.8 build (drivers that
// support CUDA 11.2+: R460 on). The loader must use the newest build the installed driver
// supports, fall back to the next, then to the CPU kernels, and cuda.status().builds must say
// which build loaded and why the others did not.
//
// The loader runs unchanged (lib/backend/load.ts, cuda-builds.ts) on a scratch package holding
// prebuilds/<platform>-<arch>/ with the two files and cuda-builds.json, as `npm run prebuildify`
// lays them out; only loading a file is emulated: each "loads" as the emulated binding of
// test/fake-cuda.ts for that build's CUDA runtime on the emulated driver (device.cpp's
// cuda_status rules), whose CPU work is the real addon's. Drivers: none, R450, R470, R535, R570, R580.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import type { NativeBinding } from '../dist/backend/contract.js';
import type { CudaBuildInfo, LoadReport, LoaderSetup } from '../dist/backend/load.js';
import { DRIVER_BRANCH_CUDA, type DriverBranch, FakeCuda } from './fake-cuda.js';
import { TOL_F32, expectClose, freshRng, poisoned, seedNote } from './helpers.js';
import { refSE, type Shape4 } from './reference.js';

const requireCjs = createRequire(import.meta.url);
const root = path.resolve(__dirname, '..');
const distDir = path.join(root, 'dist') + path.sep;

interface LoadModule {
  loadWith(setup: LoaderSetup): { binding: NativeBinding; report: LoadReport };
  loadBinding(): NativeBinding;
  bindingPath(): string | null;
  cudaBuilds(): CudaBuildInfo[];
  LoadError: new (...args: never[]) => Error;
}
interface IndexModule {
  cuda: { status(): { available: boolean; compiled: boolean; runtimeVersion: string | null; driverVersion: string | null; minDriverVersion: string | null; reason: string | null; binary: string | null; builds: readonly CudaBuildInfo[] } };
  seForward(x: Float32Array, shape: Shape4, w: { w1: Float32Array; w2: Float32Array }, o?: { device?: 'cpu' | 'auto' | 'cuda'; out?: Float32Array }): Float32Array;
}

// The real addon does the CPU work of every emulated build.
const realLoader = requireCjs('../dist/backend/load.js') as LoadModule;
const real = realLoader.loadBinding();
const realPath = realLoader.bindingPath() as string;

const scratch = mkdtempSync(path.join(tmpdir(), 'sqex-cuda-builds-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const tuple = `${process.platform}-${process.arch}`;
const PRIMARY = 'squeeze-excite.glibc.node';
const CUDA11 = 'cuda11/squeeze-excite.glibc.node';
const SHIPPED = [
  { file: PRIMARY, cudaVersion: '13.0', minDriverVersion: '13.0' },
  { file: CUDA11, cudaVersion: '11.8', minDriverVersion: '11.2' },
];

let pkgCount = 0;
/** A scratch package with both builds (placeholder files: loading is emulated) and the manifest. */
function scratchPackage(manifest = true): { dir: string; primary: string; cuda11: string } {
  const dir = path.join(scratch, `pkg${pkgCount++}`);
  const pre = path.join(dir, 'prebuilds', tuple);
  mkdirSync(path.join(pre, 'cuda11'), { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'squeeze-excite', version: '0.0.0' }));
  writeFileSync(path.join(pre, PRIMARY), 'placeholder');
  writeFileSync(path.join(pre, CUDA11), 'placeholder');
  if (manifest) writeFileSync(path.join(pre, 'cuda-builds.json'), JSON.stringify({ builds: SHIPPED }, null, 2));
  return { dir, primary: path.join(pre, PRIMARY), cuda11: path.join(pre, CUDA11) };
}

type Driver = DriverBranch | 'none';
const driverCuda = (d: Driver): string | null => (d === 'none' ? null : DRIVER_BRANCH_CUDA[d]);

interface Emulated {
  setup: LoaderSetup;
  pkg: ReturnType<typeof scratchPackage>;
  /** Files "loaded", in order. */
  loads: string[];
}

/** The loader's setup for a driver: each file loads as its build's emulated binding. */
function emulate(driver: Driver, opts: { cudaBuildEnv?: string; failing?: 'primary' | 'cuda11'; manifest?: boolean; noDevice?: boolean } = {}): Emulated {
  const pkg = scratchPackage(opts.manifest ?? true);
  const loads: string[] = [];
  const runtimeOf = new Map([
    [pkg.primary, '13.0'],
    [pkg.cuda11, '11.8'],
  ]);
  const setup: LoaderSetup = {
    root: pkg.dir,
    requireAddon: (file: string) => {
      loads.push(file);
      if (opts.failing !== undefined && file === (opts.failing === 'primary' ? pkg.primary : pkg.cuda11)) {
        // As dlopen reports a system older than the binary's floor.
        throw Object.assign(new Error(`/lib/x86_64-linux-gnu/libc.so.6: version \`GLIBC_2.99' not found (required by ${file})`), { code: 'ERR_DLOPEN_FAILED' });
      }
      const runtimeVersion = runtimeOf.get(file);
      if (runtimeVersion === undefined) throw new Error(`unexpected load of ${file}`);
      return new FakeCuda(real, { runtimeVersion, driverVersion: driverCuda(driver), noDevice: opts.noDevice }).binding;
    },
    binaryEnv: undefined,
    cudaBuildEnv: opts.cudaBuildEnv,
    bundled: null,
  };
  return { setup, pkg, loads };
}

/** A fresh instance of dist/ (its caches empty) whose loader returns `result`. */
function freshLibrary(result: { binding: NativeBinding; report: LoadReport }): IndexModule {
  for (const key of Object.keys(requireCjs.cache)) {
    if (key.startsWith(distDir) && key.endsWith('.js')) delete requireCjs.cache[key];
  }
  const load = requireCjs('../dist/backend/load.js') as LoadModule;
  load.loadBinding = () => result.binding;
  load.bindingPath = () => result.report.binary;
  load.cudaBuilds = () => result.report.cudaBuilds;
  return requireCjs('../dist/index.js') as IndexModule;
}

interface Expected {
  /** The build in use. */
  binary: 'primary' | 'cuda11';
  available: boolean;
  /** Files the loader loads, in order. */
  loads: ('primary' | 'cuda11')[];
  /** Each build's reason (undefined: none), 13.0 first. */
  reasons: [RegExp | undefined, RegExp | undefined];
}

const CASES: Record<Driver, Expected> = {
  580: { binary: 'primary', available: true, loads: ['primary'], reasons: [undefined, /^not loaded: the CUDA 13\.0 build runs on this driver \(13\.0\) and is newer$/] },
  570: { binary: 'cuda11', available: true, loads: ['primary', 'cuda11'], reasons: [/^CUDA driver 12\.8 is older than the 13\.0 this build needs$/, undefined] },
  535: { binary: 'cuda11', available: true, loads: ['primary', 'cuda11'], reasons: [/^CUDA driver 12\.2 is older than the 13\.0 this build needs$/, undefined] },
  470: { binary: 'cuda11', available: true, loads: ['primary', 'cuda11'], reasons: [/^CUDA driver 11\.4 is older than the 13\.0 this build needs$/, undefined] },
  450: {
    binary: 'primary',
    available: false,
    loads: ['primary'],
    reasons: [/^CUDA driver 11\.0 is older than the 13\.0 this build needs$/, /^not loaded: CUDA driver 11\.0 is older than the 11\.2 this build needs$/],
  },
  none: {
    binary: 'primary',
    available: false,
    loads: ['primary'],
    reasons: [/^no NVIDIA driver is installed/, /^not loaded: no NVIDIA driver is installed, so no CUDA build can run/],
  },
};

const SHAPE: Shape4 = [2, 16, 5, 3];
const HIDDEN = 4;

describe('CUDA build selection by driver (emulated drivers, real loader)', () => {
  for (const [driver, want] of Object.entries(CASES) as [Driver, Expected][]) {
    const label = driver === 'none' ? 'no driver' : `driver R${driver} (CUDA ${driverCuda(driver)})`;
    it(`${label}: uses the ${want.binary === 'primary' ? 'CUDA 13.0' : 'CUDA 11.8'} build${want.available ? '' : ' for the CPU path'}, and builds says why`, () => {
      const em = emulate(driver);
      const file = (w: 'primary' | 'cuda11'): string => (w === 'primary' ? em.pkg.primary : em.pkg.cuda11);
      const loaded = (requireCjs('../dist/backend/load.js') as LoadModule).loadWith(em.setup);
      expect(loaded.report.binary).toBe(file(want.binary));
      expect(loaded.report.kind).toBe('prebuild');
      expect(em.loads).toEqual(want.loads.map(file));
      expect(loaded.report.attempts.filter((a) => a.kind === 'prebuild').map((a) => a.file)).toEqual(want.loads.map(file));

      const builds = loaded.report.cudaBuilds;
      expect(builds.map((b) => [b.cudaVersion, b.minDriverVersion, b.binary])).toEqual([
        ['13.0', '13.0', em.pkg.primary],
        ['11.8', '11.2', em.pkg.cuda11],
      ]);
      expect(builds.map((b) => b.loaded)).toEqual([want.binary === 'primary', want.binary === 'cuda11']);
      for (const [i, re] of want.reasons.entries()) {
        const b = builds[i] as CudaBuildInfo;
        if (re === undefined) expect(b.reason, `builds[${i}].reason`).toBeUndefined();
        else expect(b.reason, `builds[${i}].reason`).toMatch(re);
      }

      // Through the public API: cuda.status() and the ops, on a fresh copy of the library.
      const lib = freshLibrary(loaded);
      const s = lib.cuda.status();
      expect(s.available).toBe(want.available);
      expect(s.compiled).toBe(true);
      expect(s.binary).toBe(file(want.binary));
      expect(s.runtimeVersion).toBe(want.binary === 'primary' ? '13.0' : '11.8');
      expect(s.minDriverVersion).toBe(want.binary === 'primary' ? '13.0' : '11.2');
      expect(s.driverVersion).toBe(driverCuda(driver));
      expect(s.builds).toEqual(builds);
      expect(Object.isFrozen(s.builds) && s.builds.every((b) => Object.isFrozen(b))).toBe(true);
      if (want.available) expect(s.reason).toBeNull();
      else expect(s.reason).toBe(builds.find((b) => b.loaded)?.reason);

      // The CPU path works whatever the driver; 'auto' with a deviceIndex runs on the emulated GPU
      // where CUDA is available (plain 'auto' runs host arrays on the CPU) and on the CPU elsewhere.
      const rng = freshRng();
      const x = rng.normals(SHAPE.reduce((a, b) => a * b, 1));
      const w1 = rng.normals(HIDDEN * SHAPE[1], 0.3);
      const w2 = rng.normals(SHAPE[1] * HIDDEN, 0.3);
      const ref = refSE(x, SHAPE, { w1, w2 }).y;
      for (const opts of [{ device: 'cpu' }, { device: 'auto' }, { device: 'auto', deviceIndex: 0 }] as const) {
        const out = poisoned(x.length);
        lib.seForward(x, SHAPE, { w1, w2 }, { ...opts, out });
        expectClose(out, ref, TOL_F32, `${label}, ${JSON.stringify(opts)}; ${seedNote(rng)}`);
      }
    });
  }

  // A driver but no GPU (a cloud image with the driver preinstalled, a container without devices):
  // the CUDA 13.0 build cannot run on R535, the 11.8 build can but finds no device. The 11.8 build
  // serves the CPU path, so status().reason names the cause that remains, not the driver.
  it('driver R535 without a GPU: the CUDA 11.8 build serves the CPU path, and status().reason says there is no device', () => {
    const em = emulate(535, { noDevice: true });
    const loaded = (requireCjs('../dist/backend/load.js') as LoadModule).loadWith(em.setup);
    expect(loaded.report.binary).toBe(em.pkg.cuda11);
    expect(em.loads).toEqual([em.pkg.primary, em.pkg.cuda11]);
    const builds = loaded.report.cudaBuilds;
    expect(builds.map((b) => b.loaded)).toEqual([false, true]);
    expect(builds[0]?.reason).toBe('no CUDA-capable device is present (the CUDA driver 12.2 found is also older than the 13.0 this build needs)');
    expect(builds[1]?.reason).toMatch(/^no CUDA-capable device is present/);
    const s = freshLibrary(loaded).cuda.status();
    expect(s.available).toBe(false);
    expect(s.runtimeVersion).toBe('11.8');
    expect(s.reason).toMatch(/^no CUDA-capable device is present/);
  });

  it('a build that fails to load is passed over for the next (driver R580, CUDA 13.0 build above the glibc)', () => {
    const em = emulate(580, { failing: 'primary' });
    const loaded = (requireCjs('../dist/backend/load.js') as LoadModule).loadWith(em.setup);
    expect(loaded.report.binary).toBe(em.pkg.cuda11);
    expect(loaded.report.attempts.filter((a) => a.kind === 'prebuild').map((a) => [a.file, a.ok, a.code])).toEqual([
      [em.pkg.primary, false, 'ERR_DLOPEN_FAILED'],
      [em.pkg.cuda11, true, null],
    ]);
    expect(loaded.report.cudaBuilds[0]).toMatchObject({ cudaVersion: '13.0', loaded: false, reason: expect.stringMatching(/^did not load: .*version `GLIBC_2\.99' not found/) });
    expect(loaded.report.cudaBuilds[1]).toMatchObject({ cudaVersion: '11.8', loaded: true });
    expect(loaded.report.cudaBuilds[1]?.reason).toBeUndefined();
  });

  it('SQUEEZE_EXCITE_CUDA_BUILD=11.8 forces the CUDA 11.8 build on a driver that runs both (R580); "11" names it too', () => {
    for (const wanted of ['11.8', '11']) {
      const em = emulate(580, { cudaBuildEnv: wanted });
      const loaded = (requireCjs('../dist/backend/load.js') as LoadModule).loadWith(em.setup);
      expect(loaded.report.binary).toBe(em.pkg.cuda11);
      expect(em.loads).toEqual([em.pkg.cuda11]);
      // Local builds are not tried when a shipped build is named.
      expect(loaded.report.attempts.map((a) => a.kind)).toEqual(['prebuild']);
      expect(loaded.report.cudaBuilds[0]).toMatchObject({ loaded: false, reason: `not loaded: SQUEEZE_EXCITE_CUDA_BUILD=${wanted} names another build` });
      expect(loaded.report.cudaBuilds[1]).toMatchObject({ loaded: true });
      expect(freshLibrary(loaded).cuda.status()).toMatchObject({ available: true, runtimeVersion: '11.8' });
    }
  });

  it('SQUEEZE_EXCITE_CUDA_BUILD naming no shipped build throws a LoadError that says so (nothing is loaded)', () => {
    const em = emulate(580, { cudaBuildEnv: '12' });
    const load = requireCjs('../dist/backend/load.js') as LoadModule;
    let err: (Error & { code?: string; report?: LoadReport }) | null = null;
    try {
      load.loadWith(em.setup);
    } catch (e) {
      err = e as Error & { code?: string; report?: LoadReport };
    }
    expect(err).toBeInstanceOf(load.LoadError);
    expect(err?.code).toBe('ERR_SQEX_LOAD');
    expect(err?.message).toContain('SQUEEZE_EXCITE_CUDA_BUILD=12 names none of the shipped CUDA builds (13.0, 11.8)');
    expect(err?.message).toMatch(/To fix it:\n {2}- Unset SQUEEZE_EXCITE_CUDA_BUILD/);
    expect(err?.message).not.toMatch(/apt-get|node-gyp rebuild/);
    expect(em.loads).toEqual([]);
    expect(err?.report?.cudaBuilds.every((b) => !b.loaded && /names another build/.test(b.reason ?? ''))).toBe(true);
  });

  it("without cuda-builds.json the platform's single prebuild loads as before, and builds lists it alone", () => {
    const em = emulate(535, { manifest: false });
    const loaded = (requireCjs('../dist/backend/load.js') as LoadModule).loadWith(em.setup);
    // node-gyp-build's pick: the top-level file; the cuda11/ folder is no candidate for it.
    expect(loaded.report.binary).toBe(em.pkg.primary);
    expect(em.loads).toEqual([em.pkg.primary]);
    expect(loaded.report.cudaBuilds).toEqual([
      { cudaVersion: '13.0', minDriverVersion: '13.0', binary: em.pkg.primary, loaded: true, reason: 'CUDA driver 12.2 is older than the 13.0 this build needs' },
    ]);
  });

  // A checkout (one CUDA 13.0 build) on a machine with the R535 driver's library and no GPU: a
  // newcomer (2026-11-30) was told to upgrade the driver; the cause is that there is no device.
  it('a single CUDA 13.0 build on R535 without a GPU says there is no device, and that the driver is old too', () => {
    const em = emulate(535, { manifest: false, noDevice: true });
    const loaded = (requireCjs('../dist/backend/load.js') as LoadModule).loadWith(em.setup);
    expect(loaded.report.binary).toBe(em.pkg.primary);
    const s = freshLibrary(loaded).cuda.status();
    expect(s.available).toBe(false);
    expect(s.reason).toBe('no CUDA-capable device is present (the CUDA driver 12.2 found is also older than the 13.0 this build needs)');
  });

  it("node-gyp-build itself picks the CUDA 13.0 file, never the cuda11/ one (the layout keeps plain node-gyp-build users on today's build)", () => {
    const { dir, primary } = scratchPackage();
    const ngb = requireCjs('node-gyp-build') as { path(dir: string): string };
    expect(ngb.path(dir)).toBe(primary);
  });

  it('a damaged manifest is ignored: the single prebuild loads', () => {
    const em = emulate(580);
    writeFileSync(path.join(em.pkg.dir, 'prebuilds', tuple, 'cuda-builds.json'), '{"builds": [ {"file": 1} ]}');
    const loaded = (requireCjs('../dist/backend/load.js') as LoadModule).loadWith(em.setup);
    expect(loaded.report.binary).toBe(em.pkg.primary);
    expect(loaded.report.cudaBuilds.map((b) => b.cudaVersion)).toEqual(['13.0']);
    // The report says the manifest was not used, and why.
    expect(loaded.report.attempts.at(-1)).toMatchObject({ kind: 'prebuild', ok: false, file: path.join(em.pkg.dir, 'prebuilds', tuple, 'cuda-builds.json') });
    expect(loaded.report.attempts.at(-1)?.reason).toMatch(/^not used: .*cuda-builds\.json: an entry is not \{ file, cudaVersion/);
  });

  // An attack (2026-12-02): a FIFO there blocked the first op call for ever, a link to /dev/zero
  // read until the process ran out of memory. Neither is opened for reading now.
  it.runIf(process.platform !== 'win32')('a manifest that is a FIFO or a device is not read: the single prebuild loads', () => {
    for (const kind of ['fifo', 'device'] as const) {
      const em = emulate(580);
      const manifest = path.join(em.pkg.dir, 'prebuilds', tuple, 'cuda-builds.json');
      rmSync(manifest, { force: true });
      if (kind === 'fifo') expect(spawnSync('mkfifo', [manifest]).status).toBe(0);
      else symlinkSync('/dev/zero', manifest);
      const loaded = (requireCjs('../dist/backend/load.js') as LoadModule).loadWith(em.setup);
      expect(loaded.report.binary, kind).toBe(em.pkg.primary);
      expect(loaded.report.attempts.at(-1)?.reason, kind).toMatch(/^not used: .*cuda-builds\.json is not a regular file/);
    }
  });
});

// The real binaries `npm run prebuildify` made (both toolkits installed: scripts/setup-cuda-toolkit-11.sh),
// each loaded by a fresh Node process from a scratch copy of the package, on this machine's real
// driver (or none). Whatever the driver, the choice must follow the rule, and the CPU kernels of
// whichever build is used must compute the reference.
const realManifest = path.join(root, 'prebuilds', tuple, 'cuda-builds.json');
const realBuilds: { cudaVersion: string; minDriverVersion: string }[] = existsSync(realManifest)
  ? (JSON.parse(readFileSync(realManifest, 'utf8')) as { builds: { cudaVersion: string; minDriverVersion: string }[] }).builds
  : [];
const noRealBuilds =
  realBuilds.length < 2
    ? `prebuilds/${tuple}/cuda-builds.json lists ${realBuilds.length} CUDA build(s), so there is nothing of the kind to test here (nothing is wrong; a release build with both toolkits, npm run prebuildify after sudo scripts/setup-cuda-toolkit-11.sh, makes two)`
    : null;
if (noRealBuilds) console.log(`skipped (real prebuilds): ${noRealBuilds}`);

describe.skipIf(noRealBuilds !== null)('the real prebuilds of both toolkits on this machine', () => {
  const PROBE = `
const sqex = require('./dist/index.js');
const [x, w1, w2] = JSON.parse(process.argv[1]).map((a) => new Float32Array(a));
const y = sqex.seForward(x, ${JSON.stringify(SHAPE)}, { w1, w2 }, { device: 'cpu' });
console.log(JSON.stringify({ status: sqex.cuda.status(), y: Array.from(y) }));
`;
  function probe(env: Record<string, string>): { status: ReturnType<IndexModule['cuda']['status']>; y: number[]; x: Float32Array; w1: Float32Array; w2: Float32Array } {
    const dir = path.join(scratch, `real${pkgCount++}`);
    mkdirSync(dir);
    cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true });
    copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
    symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    symlinkSync(path.join(root, 'prebuilds'), path.join(dir, 'prebuilds'));
    const rng = freshRng();
    const x = rng.normals(SHAPE.reduce((a, b) => a * b, 1));
    const w1 = rng.normals(HIDDEN * SHAPE[1], 0.3);
    const w2 = rng.normals(SHAPE[1] * HIDDEN, 0.3);
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete childEnv.SQUEEZE_EXCITE_BINARY;
    if (!('SQUEEZE_EXCITE_CUDA_BUILD' in env)) delete childEnv.SQUEEZE_EXCITE_CUDA_BUILD;
    const arg = JSON.stringify([Array.from(x), Array.from(w1), Array.from(w2)]);
    const out = execFileSync(process.execPath, ['-e', PROBE, arg], { cwd: dir, env: childEnv, encoding: 'utf8' });
    return { ...(JSON.parse(out) as { status: ReturnType<IndexModule['cuda']['status']>; y: number[] }), x, w1, w2 };
  }

  it('the loader follows the rule on the installed driver, and the build in use computes the reference on the CPU', () => {
    const p = probe({});
    const s = p.status;
    console.log(`real prebuilds: driver ${s.driverVersion ?? 'none'}; ${s.builds.map((b) => `CUDA ${b.cudaVersion}: ${b.loaded ? 'loaded' : 'not used'}${b.reason ? ` (${b.reason})` : ''}`).join('; ')}`);
    expect(s.builds.map((b) => [b.cudaVersion, b.minDriverVersion])).toEqual(realBuilds.map((b) => [b.cudaVersion, b.minDriverVersion]));
    const loaded = s.builds.filter((b) => b.loaded);
    expect(loaded).toHaveLength(1);
    expect(s.binary).toBe(loaded[0]?.binary);
    expect(s.runtimeVersion).toBe(loaded[0]?.cudaVersion);
    const fits = (b: CudaBuildInfo): boolean => s.driverVersion !== null && compare(s.driverVersion, b.minDriverVersion) >= 0;
    // The newest build the driver supports, whether or not a GPU is there (a machine with the
    // driver's library and no device reports its version); with no driver, the newest build.
    const pick = s.builds.find(fits) ?? s.builds[0];
    expect(loaded[0]).toBe(pick);
    if (!s.available) expect(s.reason).toBe(loaded[0]?.reason);
    expectClose(p.y, refSE(p.x, SHAPE, { w1: p.w1, w2: p.w2 }).y, TOL_F32, 'real prebuild, CPU');
  });

  it('SQUEEZE_EXCITE_CUDA_BUILD=11.8 loads the real CUDA 11.8 build, and its CPU kernels compute the reference', () => {
    const p = probe({ SQUEEZE_EXCITE_CUDA_BUILD: '11.8' });
    expect(p.status.runtimeVersion).toBe('11.8');
    expect(p.status.minDriverVersion).toBe('11.2');
    expect(p.status.binary).toMatch(/cuda11[/\\]squeeze-excite\.glibc\.node$/);
    expect(p.status.builds.map((b) => b.loaded)).toEqual([false, true]);
    expectClose(p.y, refSE(p.x, SHAPE, { w1: p.w1, w2: p.w2 }).y, TOL_F32, 'real CUDA 11.8 prebuild, CPU');
  });
});

function compare(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am !== bm ? am - bm : an - bn;
}

// `npm run prebuildify` on a machine without the CUDA 11.8 toolkit (CI, most checkouts): the
// second build is skipped with a message saying how to get it, a stale cuda11/ build is removed,
// and the manifest lists the CUDA 13.0 build alone (none for a CPU-only prebuild).
describe.skipIf(process.platform !== 'linux' || process.arch !== 'x64')('scripts/prebuild-cuda11.js without the 11.8 toolkit', () => {
  it('says it skipped the build and how to get it, removes a stale cuda11/ build, lists the prebuild it found', () => {
    const dir = path.join(scratch, `script${pkgCount++}`);
    mkdirSync(path.join(dir, 'scripts'), { recursive: true });
    for (const f of ['prebuild-cuda11.js', 'cuda11-toolkit.js', 'cmake-build.js', 'elf-floor.js']) copyFileSync(path.join(root, 'scripts', f), path.join(dir, 'scripts', f));
    symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    const pre = path.join(dir, 'prebuilds', tuple);
    mkdirSync(path.join(pre, 'cuda11'), { recursive: true });
    copyFileSync(realPath, path.join(pre, PRIMARY));
    writeFileSync(path.join(pre, CUDA11), 'stale');
    const env: NodeJS.ProcessEnv = { ...process.env, SQEX_CUDA11_NVCC: path.join(dir, 'no-such-nvcc') };
    delete env.SQEX_CUDA;
    const out = execFileSync(process.execPath, ['scripts/prebuild-cuda11.js'], { cwd: dir, env, encoding: 'utf8' });
    expect(out).toContain('skipped the CUDA 11.8 build: no CUDA 11.8 nvcc found');
    expect(out).toContain('sudo scripts/setup-cuda-toolkit-11.sh');
    expect(existsSync(path.join(pre, 'cuda11'))).toBe(false);
    const s = real.cudaStatus();
    const manifest = path.join(pre, 'cuda-builds.json');
    if (s.compiled) {
      expect(JSON.parse(readFileSync(manifest, 'utf8'))).toEqual({ builds: [{ file: PRIMARY, cudaVersion: s.runtimeVersion, minDriverVersion: s.minDriverVersion }] });
    } else {
      expect(existsSync(manifest)).toBe(false);
    }
  });
});
