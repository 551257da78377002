// The only module that loads the native addon. It tries, in order: an explicit path from
// SQUEEZE_EXCITE_BINARY (only that one, when it is set), a local build (build/Release, build/Debug), then the prebuild that
// node-gyp-build matches for this platform, arch and libc. Where a platform ships several CUDA
// builds (linux-x64: CUDA 13.0 and 11.8, listed in prebuilds/linux-x64/cuda-builds.json), the
// newest one the installed driver supports is chosen (cuda-builds.ts); SQUEEZE_EXCITE_CUDA_BUILD
// names one instead. Each failure is kept, and when nothing
// loads the thrown LoadError lists every attempt and the fix for the failure at hand: a bundled
// copy, addons disabled (--no-addons), a checkout not built yet, a corrupt or too-new prebuild,
// or no binary for this platform (the only case that needs a compiler).

import type * as FsModule from 'node:fs';
import { BINDING_CONTRACT, type NativeBinding } from './contract.js';
import { bufferOf, fileKind } from '../is.js';
import { nodeBuffer, nodeFs, nodeModule, nodeOs, nodePath } from '../node-builtins.js';
import { elfArch, truncatedBinary } from './binary-file.js';
import { CUDA_BUILD_ENV, CUDA_BUILDS_MANIFEST, chooseBuild, namesBuild, type CudaBuildInfo, type FileLoad, readManifest, type ShippedCudaBuild, singleBuild } from './cuda-builds.js';

export type { CudaBuildInfo } from './cuda-builds.js';

// Built-ins through lib/node-builtins.ts (no require(): see there).
const fs = nodeFs;
const os = nodeOs;
const path = nodePath;
const { existsSync, readdirSync, readFileSync, statSync } = fs;
const { arch, platform } = os;

const ADDON_FILE = 'squeeze_excite.node';
const PACKAGE_NAME = 'squeeze-excite';
/** This file (dist/backend/load.js), or null inside an ES-module bundle, which has no __filename. */
const HERE: string | null = typeof __filename === 'string' ? __filename : null;
/** Package root: dist/backend/load.js → ../.. (in a bundle: two levels above the bundle). */
export const PACKAGE_ROOT = HERE ? path.resolve(path.dirname(HERE), '..', '..') : process.cwd();
// A require that works in CommonJS, in a CommonJS bundle and in an ES-module bundle alike; the
// .node files it loads are absolute paths, so its anchor only matters for node-gyp-build.
const nodeRequire = nodeModule.createRequire(HERE ?? path.join(process.cwd(), 'noop.js'));

/**
 * Whether this file runs from its package folder, and the package's version. A bundler (esbuild,
 * webpack, rollup) copies the JavaScript into the app's bundle, away from prebuilds/ and build/,
 * which stay in node_modules; then PACKAGE_ROOT is not a squeeze-excite package (bundled: where
 * to, version: null).
 */
function ownPackage(): { bundled: string | null; version: string | null } {
  if (!HERE) return { bundled: 'an ES-module bundle', version: null };
  try {
    const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
    if (pkg.name === PACKAGE_NAME) return { bundled: null, version: typeof pkg.version === 'string' ? pkg.version : null };
  } catch (err) {
    // No package.json there (or not JSON): bundled. One that cannot be read (the permission
    // model's ERR_ACCESS_DENIED, EACCES) says nothing either way: search the package folder,
    // whose attempts then tell what was denied.
    const code = errorCode(err);
    if (code !== null && code !== 'ENOENT' && code !== 'ENOTDIR') return { bundled: null, version: null };
  }
  return { bundled: HERE, version: null };
}

/** One file the loader tried (LoadReport.attempts), in order: its kind, path, whether it loaded, and why not. */
export interface LoadAttempt {
  /** What was tried: 'env' (SQUEEZE_EXCITE_BINARY), 'local build', 'prebuild', 'source build'. */
  kind: 'env' | 'local build' | 'prebuild' | 'source build';
  /** The file tried, or null when nothing was there to try. */
  file: string | null;
  /** True when it loaded (and is the one in use). */
  ok: boolean;
  /** Why it was not used (null when it loaded). */
  reason: string | null;
  /** The loading Error's code (e.g. ERR_DLOPEN_FAILED, ERR_DLOPEN_DISABLED), when it had one. */
  code?: string | null;
  /** With code ERR_ACCESS_DENIED: the path Node's permission model would not let the loader read, when it said. */
  denied?: string | null;
}

/**
 * What the loader did (loadReport(), LoadError.report): the binary it loaded (or null), from where
 * (SQUEEZE_EXCITE_BINARY, a local build, a prebuild), every attempt with its reason, and the CUDA
 * builds it chose among.
 */
export interface LoadReport {
  /** The .node file that was loaded, or null. */
  binary: string | null;
  /** Where the loaded file came from (see LoadAttempt.kind), or null when nothing loaded. */
  kind: LoadAttempt['kind'] | null;
  /** True when a local build was loaded while a matching prebuild was also present. */
  shadowsPrebuild: boolean;
  /** Every file tried, in order. */
  attempts: LoadAttempt[];
  /** Where this copy was bundled into (a file, or 'an ES-module bundle'); null when it runs from its package folder. */
  bundled: string | null;
  /**
   * The CUDA builds found and which one is in use (cuda.status().builds): every build listed in
   * the platform's cuda-builds.json, or the one binary loaded when it has CUDA compiled in; empty
   * for a CPU-only binary or when nothing loaded.
   */
  cudaBuilds: CudaBuildInfo[];
}

interface NodeGypBuildHelpers {
  parseTuple(name: string): { name: string; platforms: string; architectures: string[] } | undefined;
  matchTuple(platform: string, arch: string): (t: unknown) => boolean;
  compareTuples(a: unknown, b: unknown): number;
  parseTags(file: string): { file: string } | undefined;
  matchTags(runtime: string, abi: string): (t: unknown) => boolean;
  compareTags(runtime: string): (a: unknown, b: unknown) => number;
}

/** Where to look and how to load: the package's own, or a test's (loadWith). */
export interface LoaderSetup {
  /** Package root holding build/ and prebuilds/. */
  root: string;
  /** Loads one .node file (require in production; an emulated binding in tests). */
  requireAddon: (file: string) => unknown;
  /** SQUEEZE_EXCITE_BINARY and SQUEEZE_EXCITE_CUDA_BUILD (undefined: unset). */
  binaryEnv: string | undefined;
  cudaBuildEnv: string | undefined;
  /** Where this copy was bundled into, or null (ownPackage()). */
  bundled: string | null;
  /** This lib/'s version (its package.json), which an addon must report; undefined or null: not compared (a bundle). */
  libVersion?: string | null;
}

let cached: { binding: NativeBinding; report: LoadReport } | null = null;
let cachedFailure: LoadFailure | null = null;

/** The path an ERR_ACCESS_DENIED refused (its `resource`), or null. */
function deniedPath(err: unknown): string | null {
  if (errorCode(err) !== 'ERR_ACCESS_DENIED') return null;
  const resource = (err as { resource?: unknown }).resource;
  return typeof resource === 'string' && resource !== '' ? resource : null;
}

function errorCode(err: unknown): string | null {
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' ? code : null;
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const first = err.message.split('\n')[0] ?? err.message;
    const code = errorCode(err);
    return code ? `${first} (${code})` : first;
  }
  return String(err);
}

interface Prebuilds {
  /** node-gyp-build's pick, or null with the reason. */
  file: string | null;
  reason: string | null;
  /** The CUDA builds of cuda-builds.json that fit this runtime and libc, newest first; [] without a manifest. */
  cudaBuilds: ShippedCudaBuild[];
  /** Why the manifest was not used, when it is there but unusable. */
  manifestProblem: string | null;
  /** The error code when the search itself failed (ERR_ACCESS_DENIED under the permission model). */
  code?: string | null;
  /** The path the permission model refused (LoadAttempt.denied). */
  denied?: string | null;
}

/**
 * The prebuild node-gyp-build would pick for this platform/arch/libc (or why there is none), and
 * the CUDA builds its folder's manifest lists. The manifest is used only when it lists
 * node-gyp-build's own pick, so a platform with another layout keeps the single-file behaviour.
 */
function findPrebuilds(root: string): Prebuilds {
  // Any fs probe may throw (the permission model's ERR_ACCESS_DENIED from existsSync or readdirSync):
  // an attempt that says so, not an uncoded error out of every op.
  try {
    return searchPrebuilds(root);
  } catch (err) {
    return { file: null, reason: `could not search ${path.join(root, 'prebuilds')}: ${describeError(err)}`, cudaBuilds: [], manifestProblem: null, code: errorCode(err), denied: deniedPath(err) };
  }
}

function searchPrebuilds(root: string): Prebuilds {
  const none = (reason: string): Prebuilds => ({ file: null, reason, cudaBuilds: [], manifestProblem: null });
  const dir = path.join(root, 'prebuilds');
  if (!existsSync(dir)) return none(`no prebuilds/ folder in ${root}`);
  let helpers: NodeGypBuildHelpers;
  try {
    helpers = nodeRequire('node-gyp-build') as NodeGypBuildHelpers;
  } catch (err) {
    // Under Node 20's permission model its first line, a probe of /etc/alpine-release (musl or
    // glibc), is refused unless that file may be read (a newcomer's check, 2026-12-02).
    const denied = deniedPath(err);
    const read = denied === null ? '' : ` (it reads ${denied} as it loads, to tell musl from glibc)`;
    return { ...none(`node-gyp-build could not be loaded: ${describeError(err)}${read}`), code: errorCode(err), denied };
  }
  const tuples = readdirSync(dir)
    .map((n) => helpers.parseTuple(n))
    .filter((t) => t !== undefined)
    .filter(helpers.matchTuple(platform(), arch()))
    .sort(helpers.compareTuples);
  const tuple = tuples[0] as { name: string } | undefined;
  const available = readdirSync(dir).join(', ') || 'none';
  if (!tuple) return none(`no prebuild for ${platform()}-${arch()} (available: ${available})`);
  const tupleDir = path.join(dir, tuple.name);
  const fits = helpers.matchTags('node', process.versions.modules);
  const candidates = readdirSync(tupleDir)
    .map((f) => helpers.parseTags(f))
    .filter((t) => t !== undefined)
    .filter(fits)
    .sort(helpers.compareTags('node')) as { file: string }[];
  const winner = candidates[0];
  if (!winner) {
    return none(`prebuilds/${tuple.name} has no file matching this runtime and libc (${readdirSync(tupleDir).join(', ')})`);
  }
  const file = path.join(tupleDir, winner.file);
  const manifest = readManifest(fs, path, tupleDir);
  if (manifest === null) return { file, reason: null, cudaBuilds: [], manifestProblem: null };
  if ('error' in manifest) return { file, reason: null, cudaBuilds: [], manifestProblem: manifest.error };
  // The same runtime and libc tags as node-gyp-build's pick (a musl system skips glibc files).
  const cudaBuilds = manifest.builds.filter((b) => fits(helpers.parseTags(path.basename(b.file))));
  if (!cudaBuilds.some((b) => b.file === file)) {
    return { file, reason: null, cudaBuilds: [], manifestProblem: `prebuilds/${tuple.name}/cuda-builds.json does not list ${winner.file}, node-gyp-build's pick` };
  }
  return { file, reason: null, cudaBuilds, manifestProblem: null };
}

function isBinding(value: unknown): value is NativeBinding {
  return typeof value === 'object' && value !== null && typeof (value as { cpuForward?: unknown }).cpuForward === 'function';
}

/** Exports every call path uses: a build of another version that lacks one failed later with an uncoded TypeError. */
const REQUIRED_EXPORTS = ['info', 'setThreads', 'cpuForward', 'cpuForwardAsync', 'cudaStatus'] as const;

function missingExports(binding: NativeBinding): string[] {
  const b = binding as unknown as Record<string, unknown>;
  return REQUIRED_EXPORTS.filter((k) => typeof b[k] !== 'function');
}

/**
 * Why an addon that loaded was built from other sources than this lib/, or null: another binding
 * contract (a stale build, which would read the cfg by an old layout: wrong numbers, no error),
 * or another version.
 */
function otherSources(binding: NativeBinding, libVersion: string | null): string | null {
  const info: unknown = binding.info();
  const { contract, version } = (typeof info === 'object' && info !== null ? info : {}) as { contract?: unknown; version?: unknown };
  if (contract !== BINDING_CONTRACT) {
    const had = typeof contract === 'number' ? `binding contract ${contract}` : 'no binding contract';
    return `loaded, but it was built from other sources (${had}; this lib/ expects ${BINDING_CONTRACT}): a stale build (rebuild it from these sources)`;
  }
  if (libVersion !== null && version !== libVersion) {
    return `loaded, but it is the addon of squeeze-excite ${String(version)}, and this lib/ is ${libVersion}: a build of another version (rebuild it from this one)`;
  }
  return null;
}

/**
 * Why `file` must not be handed to require(), or null: require() runs a file without the .node
 * extension as JavaScript, opening a FIFO or a device (SQUEEZE_EXCITE_BINARY=/dev/zero) blocks
 * or reads without end, and a binary cut short crashes the process (binary-file.ts).
 */
function notAnAddonFile(file: string): { reason: string; code: string | null } | null {
  let st: FsModule.Stats;
  try {
    st = statSync(file);
  } catch (err) {
    const code = errorCode(err);
    return { reason: code === 'ENOENT' ? 'file does not exist' : describeError(err), code };
  }
  if (!st.isFile()) return { reason: `not a regular file (${fileKind(st)}): a native addon is a .node file`, code: null };
  if (path.extname(file) !== '.node') return { reason: `not a .node file (${path.basename(file)}): require() would run it as JavaScript`, code: null };
  // A binary cut short would be mapped whole and end the process with SIGBUS on first use.
  const cut = truncatedBinary(fs, file);
  if (cut !== null) return { reason: cut, code: null };
  return null;
}

/**
 * A path as one argument of a pasted shell command: quoted when it holds a space or another
 * character the shell would act on (a project in "~/My Projects" broke every `cd` fix). Also
 * scripts/ensure-addon.js's.
 */
export function shellArg(p: string, platform: string = process.platform): string {
  if (platform === 'win32') return /^[A-Za-z0-9_@+=:,./\\-]+$/.test(p) ? p : `"${p}"`; // cmd: no quote can appear in a path
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, "'\\''")}'`;
}

/** existsSync that answers false where the path cannot be probed (the permission model throws). */
function canSee(p: string): boolean {
  try {
    return existsSync(p);
  } catch {
    return false;
  }
}

function tryLoad(setup: LoaderSetup, file: string): FileLoad {
  const refused = notAnAddonFile(file);
  if (refused !== null) return { binding: null, reason: refused.reason, code: refused.code };
  try {
    const mod: unknown = setup.requireAddon(file);
    if (!isBinding(mod)) return { binding: null, reason: 'loaded, but it is not a squeeze-excite addon (no cpuForward export)', code: null };
    const missing = missingExports(mod);
    if (missing.length > 0) {
      return { binding: null, reason: `loaded, but it lacks ${missing.join(', ')}: a build of another squeeze-excite version (rebuild it from this one)`, code: null };
    }
    const other = otherSources(mod, setup.libVersion ?? null);
    if (other !== null) return { binding: null, reason: other, code: null };
    return { binding: mod, reason: null, code: null };
  } catch (err) {
    return { binding: null, reason: describeError(err), code: errorCode(err) };
  }
}

/** The platform's compiler install line, for the cases that build from source. */
function toolchainLine(): string {
  const p = platform();
  if (p === 'linux') return 'Where a compiler is missing, install the build tools: Debian/Ubuntu: sudo apt-get install -y python3 make g++   (Fedora: sudo dnf install python3 make gcc-c++; Alpine: apk add python3 make g++)';
  if (p === 'darwin') return 'Where a compiler is missing, install the build tools: macOS: xcode-select --install';
  if (p === 'win32') return 'Where a compiler is missing, install the build tools: Windows: "Visual Studio Build Tools" with the "Desktop development with C++" workload, and Python 3';
  return `Where a compiler is missing, install the build tools: a C++17 compiler, make and Python 3 for ${p}`;
}

const EXTERNAL_HOWTO =
  'Mark squeeze-excite as external so that the bundle require()s it from node_modules at run time, and ship node_modules/squeeze-excite with the app: ' +
  "esbuild --external:squeeze-excite; webpack externals: { 'squeeze-excite': 'commonjs squeeze-excite' }; rollup/rolldown/Vite SSR: external: ['squeeze-excite'].";

/**
 * What went wrong, in one sentence, and the fixes for that case only. A compiler is suggested
 * only where no shipped binary can fit: no prebuild for this platform or libc, a system older
 * than the prebuild's floor, a package without prebuilds, or a source checkout.
 */
function diagnose(report: LoadReport, root: string): { cause: string; fixes: string[] } {
  const attempts = report.attempts;
  const env = attempts.find((a) => a.kind === 'env' && a.file !== null && !a.ok);
  const noAddonsFlag = process.execArgv.includes('--no-addons') || /(^|\s)--no-addons\b/.test(process.env.NODE_OPTIONS ?? '');
  // Node's permission model (--permission; --experimental-permission on Node 20) blocks addons
  // unless --allow-addons is given, and file reads outside --allow-fs-read.
  const permissionModel = typeof (process as { permission?: unknown }).permission === 'object';
  if (permissionModel && !noAddonsFlag && attempts.some((a) => a.code === 'ERR_DLOPEN_DISABLED')) {
    return {
      cause: "Node's permission model is on and does not allow native addons (ERR_DLOPEN_DISABLED), so no binary can load",
      fixes: [`Add --allow-addons to the node command (or NODE_OPTIONS), and let it read the package: --allow-fs-read=${shellArg(root)}`],
    };
  }
  const denied = attempts.find((a) => a.code === 'ERR_ACCESS_DENIED');
  if (denied) {
    const what = denied.denied ?? denied.file ?? path.join(root, 'prebuilds');
    const inPackage = what === root || what.startsWith(root + path.sep);
    return {
      cause: `Node's permission model denies reading ${what} (ERR_ACCESS_DENIED): ${denied.reason}`,
      fixes: [
        inPackage
          ? `Let node read the package folder: --allow-fs-read=${shellArg(root)} (with --allow-addons), or point SQUEEZE_EXCITE_BINARY at a squeeze_excite.node it may read.`
          : `Let node read ${what} as well as the package folder: --allow-fs-read=${shellArg(what)} --allow-fs-read=${shellArg(root)} (with --allow-addons), or point SQUEEZE_EXCITE_BINARY at a squeeze_excite.node it may read.`,
      ],
    };
  }
  const addonsOff = attempts.some((a) => a.code === 'ERR_DLOPEN_DISABLED') || noAddonsFlag;
  if (addonsOff) {
    return {
      cause: 'native addons are disabled in this process (node --no-addons, ERR_DLOPEN_DISABLED), so no binary can load, whichever is installed',
      fixes: [
        'Run without --no-addons: check the node command line, NODE_OPTIONS, and the execArgv of any Worker that uses squeeze-excite.',
      ],
    };
  }
  if (env) {
    return {
      cause: `SQUEEZE_EXCITE_BINARY names ${JSON.stringify(env.file)}, which did not load (${env.reason}); the loader does not fall back to another binary when one is named`,
      fixes: [
        'Point SQUEEZE_EXCITE_BINARY at a squeeze_excite.node built for this platform (npm run build:native writes build/Release/squeeze_excite.node; a package carries prebuilds/<platform>-<arch>/*.node), or unset it to let the loader choose.',
      ],
    };
  }
  const unmatched = attempts.find((a) => a.kind === 'prebuild' && (a.reason ?? '').startsWith(`${CUDA_BUILD_ENV}=`));
  if (unmatched && !report.bundled) {
    return {
      cause: unmatched.reason as string,
      fixes: [
        `Unset ${CUDA_BUILD_ENV} to let the loader choose, or set it to the CUDA version of a shipped build (cuda.status().builds lists them once it loads).`,
      ],
    };
  }
  if (report.bundled) {
    return {
      cause: `this copy of squeeze-excite was bundled into ${report.bundled}; its native addon (prebuilds/, build/) stays in the package folder, where a bundle cannot find it`,
      fixes: [
        EXTERNAL_HOWTO,
        'Or copy the squeeze_excite.node for the target platform (node_modules/squeeze-excite/prebuilds/<platform>-<arch>/*.node) next to the bundle and set SQUEEZE_EXCITE_BINARY to its path.',
      ],
    };
  }
  const prebuild = attempts.find((a) => a.kind === 'prebuild');
  const checkout = canSee(path.join(root, '.git')) || canSee(path.join(root, 'lib', 'backend', 'load.ts'));
  const fromSource = [
    `Build it from source: cd ${shellArg(root)} && npx node-gyp rebuild   (CPU backend)`,
    `With CMake >= 3.18 (and the CUDA toolkit for the CUDA backend): cd ${shellArg(root)} && node scripts/cmake-build.js`,
  ];
  if (prebuild?.file && !prebuild.ok) {
    // Yarn Plug'n'Play reads packages from zip archives; dlopen cannot open a file inside one
    // ("Not a directory"). package.json asks Yarn to unplug this package (preferUnplugged); a
    // project's dependenciesMeta can still keep it zipped.
    if (/\.zip[\\/]/.test(prebuild.file)) {
      return {
        cause: `Yarn keeps squeeze-excite inside its zip archive (${prebuild.file}), where a native addon cannot be opened: ${prebuild.reason}`,
        fixes: [
          "Let Yarn unplug it: in your package.json, remove dependenciesMeta['squeeze-excite'].unplugged: false (or set it to true), then run yarn install.",
        ],
      };
    }
    if (/GLIBC(XX)?_[\d.]+'? not found/.test(prebuild.reason ?? '')) {
      return {
        cause: `this system's C library is older than the prebuilt binary needs (glibc >= 2.28): ${prebuild.reason}`,
        fixes: [toolchainLine(), ...fromSource],
      };
    }
    // dlopen words another architecture's file as "No such file or directory" (an attack, 2026-12-02).
    const arch = elfArch(fs, prebuild.file);
    const otherArch = arch !== null && arch !== process.arch ? `; the file is built for ${arch}, and this Node runs on ${process.arch}` : '';
    // In a source checkout, a reinstall by rm -rf would delete the repository (an attack, 2026-12-02).
    const reinstall = checkout
      ? [`This is a source checkout: build the addon here (a local build loads ahead of prebuilds/): cd ${shellArg(root)} && npm run build:native   (CPU only: npm run build:native:cpu)`, `Or replace ${prebuild.file} with a good copy (npm run prebuildify writes prebuilds/ for this machine).`]
      : [otherArch ? `Install the package on the machine that runs it (npm install there picks ${process.platform}-${process.arch}'s binary), not a copy made on another one: rm -rf ${shellArg(root)} && npm install` : `Reinstall the package (the file may be damaged): rm -rf ${shellArg(root)} && npm install`];
    return {
      cause: `the prebuilt binary for this platform is there but did not load: ${prebuild.reason}${otherArch}`,
      fixes: [...reinstall, 'If it still fails, report the "Tried:" list above with the output of: node -p "process.versions" and ldd --version'],
    };
  }
  // A local build that is there but does not load (damaged, cut short, built for another Node):
  // lead with it, not with what else is missing.
  const damaged = attempts.find((a) => a.kind === 'local build' && a.file !== null && !a.ok && a.reason !== 'file does not exist');
  if (damaged) {
    const buildDir = path.join(root, 'build');
    return {
      cause: `the local build ${damaged.file} is there but did not load: ${damaged.reason}`,
      fixes: checkout
        ? [`Rebuild it: cd ${shellArg(root)} && rm -rf build && npm run build:native   (CPU only: npm run build:native:cpu)`, toolchainLine()]
        : [`Remove it and rebuild it from source: rm -rf ${shellArg(buildDir)} && npm rebuild squeeze-excite --foreground-scripts   (npm install alone does not rerun the install script)`, ...fromSource],
    };
  }
  if (checkout) {
    return {
      cause: `${root} is a source checkout and its addon is not built (or the build failed)`,
      fixes: [
        `Build it: cd ${shellArg(root)} && npm install   (or npm run build:native; CPU only: npm run build:native:cpu). Needs CMake >= 3.18 and a C++17 compiler; CUDA kernels too when nvcc is found.`,
        toolchainLine(),
      ],
    };
  }
  if (prebuild?.reason && /no prebuilds\/ folder/.test(prebuild.reason)) {
    return {
      cause: 'this copy of squeeze-excite ships no prebuilt binaries (a tarball packed without `npm run prebuildify`, or an install from a git URL)',
      fixes: [
        'Install a tarball that carries them: in a checkout, npm install && npm run prebuildify && npm pack, then npm install <that .tgz>',
        toolchainLine(),
        ...fromSource,
      ],
    };
  }
  return {
    cause: `no prebuilt binary fits ${platform()}-${arch()} with this runtime and libc (${prebuild?.reason ?? 'no prebuild'})`,
    fixes: [toolchainLine(), ...fromSource],
  };
}

/**
 * One load, with the package's own setup by default. Exported for tests, which pass a scratch
 * package root and an emulated requireAddon (test/cuda-builds.test.ts); the library itself only
 * calls it through loadBinding(), once per process.
 */
export function loadWith(setup: LoaderSetup = defaultSetup()): { binding: NativeBinding; report: LoadReport } {
  const { root } = setup;
  const attempts: LoadAttempt[] = [];
  const report: LoadReport = { binary: null, kind: null, shadowsPrebuild: false, attempts, bundled: setup.bundled, cudaBuilds: [] };
  const wanted = setup.cudaBuildEnv?.trim() || null;
  const candidates: { kind: LoadAttempt['kind']; file: string }[] = [];
  const binaryEnv = setup.binaryEnv?.trim();
  if (binaryEnv) candidates.push({ kind: 'env', file: path.resolve(binaryEnv) });
  // A bundle has no package folder to search: only SQUEEZE_EXCITE_BINARY can work there. A
  // SQUEEZE_EXCITE_CUDA_BUILD names a shipped build, which a local build must not shadow.
  if (!report.bundled && wanted === null) {
    for (const sub of ['build/Release', 'build/Debug']) {
      candidates.push({ kind: 'local build', file: path.join(root, sub, ADDON_FILE) });
    }
  }
  // Searched only when needed (after a local build loads, to report shadowsPrebuild, or when none
  // did): a named binary or a local build then loads where the package folder may not be read.
  let searched: Prebuilds | undefined;
  const prebuilds = (): Prebuilds =>
    (searched ??= report.bundled
      ? { file: null, reason: `not searched: bundled into ${report.bundled}, away from the package's prebuilds/`, cudaBuilds: [], manifestProblem: null }
      : findPrebuilds(root));
  for (const c of candidates) {
    const r = tryLoad(setup, c.file);
    attempts.push({ kind: c.kind, file: c.file, ok: r.binding !== null, reason: r.reason, code: r.code });
    // An explicit path that does not load ends the search: falling through to another binary would
    // run (and report, and benchmark) something the caller did not ask for.
    if (!r.binding && c.kind === 'env') throw new LoadError(report, root);
    if (r.binding) {
      report.binary = c.file;
      report.kind = c.kind;
      report.shadowsPrebuild = c.kind === 'local build' && prebuilds().file !== null;
      report.cudaBuilds = singleBuild(r.binding, c.file);
      return { binding: r.binding, report };
    }
  }
  const prebuild = prebuilds();
  if (prebuild.cudaBuilds.length > 0) {
    // Several CUDA builds (or one, listed): the newest the driver supports.
    const choice = chooseBuild(prebuild.cudaBuilds, (file) => tryLoad(setup, file), wanted);
    for (const a of choice.attempts) attempts.push({ kind: 'prebuild', ...a });
    report.cudaBuilds = choice.builds;
    if (choice.chosen) {
      report.binary = choice.chosen.file;
      report.kind = 'prebuild';
      return { binding: choice.chosen.binding, report };
    }
    if (choice.attempts.length === 0) {
      const shipped = prebuild.cudaBuilds.map((b) => b.cudaVersion).join(', ');
      attempts.push({ kind: 'prebuild', file: null, ok: false, reason: `${CUDA_BUILD_ENV}=${wanted} names none of the shipped CUDA builds (${shipped})`, code: null });
    }
  } else if (prebuild.file) {
    const r = tryLoad(setup, prebuild.file);
    const builds = r.binding ? singleBuild(r.binding, prebuild.file) : [];
    // A named CUDA build must be this binary's.
    const mismatch =
      r.binding && wanted !== null && !builds.some((b) => namesBuild(wanted, b.cudaVersion))
        ? `${CUDA_BUILD_ENV}=${wanted} names another CUDA build than this platform's one binary (${builds[0] ? `CUDA ${builds[0].cudaVersion}` : 'CPU only'})`
        : null;
    attempts.push({ kind: 'prebuild', file: prebuild.file, ok: r.binding !== null && mismatch === null, reason: mismatch ?? r.reason, code: r.code });
    // A manifest that is there but unusable: the other CUDA builds are out of reach; say why.
    if (prebuild.manifestProblem) {
      attempts.push({ kind: 'prebuild', file: path.join(path.dirname(prebuild.file), CUDA_BUILDS_MANIFEST), ok: false, reason: `not used: ${prebuild.manifestProblem}`, code: null });
    }
    if (r.binding && mismatch === null) {
      report.binary = prebuild.file;
      report.kind = 'prebuild';
      report.cudaBuilds = builds;
      return { binding: r.binding, report };
    }
  } else {
    // A named CUDA build is looked for among the prebuilds only (local builds were skipped above):
    // say so, or the diagnosis would advise building a checkout that may well be built.
    const reason = wanted !== null && !report.bundled
      ? `${CUDA_BUILD_ENV}=${wanted} selects a shipped prebuild (local builds are not tried), and there is none: ${prebuild.reason}`
      : prebuild.reason;
    attempts.push({ kind: 'prebuild', file: null, ok: false, reason, code: prebuild.code ?? null, denied: prebuild.denied ?? null });
  }
  // The source build's own line, unless a local build's line above already tells its story.
  const localBuildTried = attempts.some((a) => a.kind === 'local build' && a.reason !== 'file does not exist');
  if (!report.bundled && !localBuildTried && wanted === null) {
    const buildDir = path.join(root, 'build');
    attempts.push({
      kind: 'source build',
      file: null,
      ok: false,
      reason: canSee(buildDir)
        ? `build/ exists but holds no ${ADDON_FILE}: the source build failed or did not finish (see the install log)`
        : canSee(path.join(root, '.git'))
          ? 'never ran in this checkout (npm install builds it; so does npm test when nothing loads)'
          : "not built here (no build/ folder): the install script builds from source only when no prebuild fits, and it does not run at all under --ignore-scripts, or under npm 12 unless the project allows it (npm install-scripts approve squeeze-excite)",
      code: null,
    });
  }
  throw new LoadError(report, root);
}

function defaultSetup(): LoaderSetup {
  const own = ownPackage();
  return {
    root: PACKAGE_ROOT,
    requireAddon: (file) => nodeRequire(file),
    binaryEnv: process.env.SQUEEZE_EXCITE_BINARY,
    cudaBuildEnv: process.env[CUDA_BUILD_ENV],
    bundled: own.bundled,
    libVersion: own.version,
  };
}

/**
 * The Error thrown when no binary loads (code ERR_SQEX_LOAD); `report` holds every attempt. The
 * message says what was tried, the cause, and the fixes for that cause.
 */
export class LoadError extends Error {
  /** Always 'ERR_SQEX_LOAD'. */
  readonly code = 'ERR_SQEX_LOAD';
  /** What was tried and why each attempt failed. */
  readonly report: LoadReport;
  /**
   * @param report - the attempts, as loadReport() gives them.
   * @param root - the package folder the fixes name (where `npm rebuild` or node-gyp runs);
   *   default this package's own.
   * @param message - the message already made for this report (a failed load thrown again); by
   *   default made from the report.
   */
  constructor(report: LoadReport, root: string = PACKAGE_ROOT, message?: string) {
    super(message ?? LoadError.describe(report, root));
    this.name = 'LoadError';
    this.report = report;
  }

  /** The message: the target, the cause, what was tried and the fixes. @internal */
  static describe(report: LoadReport, root: string): string {
    const target = `${platform()}-${arch()} (node ${process.versions.node}, abi ${process.versions.modules}, ${libcName()})`;
    const tried = report.attempts.map((a) => `  - ${a.kind}${a.file ? ` ${a.file}` : ''}: ${a.reason ?? 'ok'}`).join('\n');
    const { cause, fixes } = diagnose(report, root);
    return `squeeze-excite: could not load the native addon for ${target}: ${cause}.\nTried:\n${tried}\nTo fix it:\n${fixes.map((f) => `  - ${f}`).join('\n')}`;
  }
}

/** The report frozen, with its attempts and builds: loadReport() and every LoadError share it. */
function freezeReport(report: LoadReport): LoadReport {
  for (const a of report.attempts) Object.freeze(a);
  for (const b of report.cudaBuilds) Object.freeze(b);
  Object.freeze(report.attempts);
  Object.freeze(report.cudaBuilds);
  return Object.freeze(report);
}

/**
 * A failed load, kept for later calls: each throws a new Error of the same message and report, so
 * that what a caller does to one (message prefixed, code deleted) does not reach the next (one
 * shared object grew "request 2: request 1: ..." and lost its code; an attack, 2026-12-02).
 */
interface LoadFailure {
  message: string;
  report: LoadReport | null;
}

function failureError(f: LoadFailure): Error {
  if (f.report === null) return Object.assign(new Error(f.message), { code: 'ERR_SQEX_LOAD' });
  return new LoadError(f.report, PACKAGE_ROOT, f.message); // the message kept: no second diagnosis
}

function libcName(): string {
  if (platform() !== 'linux') return 'no libc tag';
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const glibc = report?.header?.glibcVersionRuntime;
  return glibc ? `glibc ${glibc}` : 'musl or unknown libc';
}

// Captured at load, as Node core's primordials (the buffer getter through lib/is.ts's bufferOf):
// later changes to Buffer or the prototypes do not reach the allocator the addon calls.
// Buffer is the global (no import: see lib/node-builtins.ts).
const NodeBuffer = Buffer;
const allocUnsafeSlow = NodeBuffer.allocUnsafeSlow;
const reflectApply = Reflect.apply;
const NodeArrayBuffer = ArrayBuffer;
// A Buffer holds at most buffer.constants.MAX_LENGTH bytes (4 GiB on Node 20), less than a V8
// ArrayBuffer and than the largest result (2^31 - 1 elements, 8 GiB); past it allocUnsafeSlow
// throws ERR_OUT_OF_RANGE, which the addon would report as out of memory.
const maxBufferBytes = nodeBuffer.constants.MAX_LENGTH;

/**
 * The memory of a result array (a call without `out`): not zero-filled, since the kernel writes
 * every element before the array is returned, which saves a full write pass over it; and a
 * failure is a catchable RangeError (the addon turns it into ERR_SQEX_OUT_OF_MEMORY) where
 * Node-API's own allocation would end the process.
 */
function allocateResult(bytes: number): ArrayBuffer {
  // Larger than a Buffer can be: V8's own (zero-filled) allocation, whose failure is a RangeError too.
  if (bytes > maxBufferBytes) return new NodeArrayBuffer(bytes);
  return bufferOf(reflectApply(allocUnsafeSlow, NodeBuffer, [bytes]) as Buffer) as ArrayBuffer;
}

let loading = false;

/**
 * Loads the addon once; throws LoadError (cached) when nothing loads. Any other failure (a
 * built-in the caller replaced threw inside the load) is thrown as an Error with code
 * 'ERR_SQEX_LOAD' and not cached: the next call loads again.
 */
export function loadBinding(): NativeBinding {
  if (cached) return cached.binding;
  if (cachedFailure) throw failureError(cachedFailure);
  // Asked again from inside the load (code the caller put in path, fs or JSON called this
  // package): refused, so that no second load runs inside the first; the outer call goes on.
  if (loading) {
    throw failureError({
      message: 'squeeze-excite: the native addon was asked for while it was loading (code that replaced a built-in the loader uses, such as path.extname or fs.readdirSync, called this package from inside the load); call again after the first call returns',
      report: null,
    });
  }
  loading = true;
  try {
    const loaded = loadWith();
    loaded.binding.setResultAllocator?.(allocateResult);
    cached = { binding: loaded.binding, report: freezeReport(loaded.report) };
    return cached.binding;
  } catch (err) {
    if (!(err instanceof LoadError)) throw failureError({ message: err instanceof Error ? err.message : String(err), report: null });
    cachedFailure = { message: err.message, report: freezeReport(err.report) };
    throw failureError(cachedFailure);
  } finally {
    loading = false;
  }
}

/**
 * What the loader did: the file loaded and every attempt (loads the addon if not yet loaded).
 * Does not throw a LoadError: when nothing loads, it returns that error's report (binary null).
 *
 * @throws Error with code 'ERR_SQEX_LOAD' when called from inside the first load (e.g. by a
 *   replaced built-in the loader calls), or when the load failed with something other than a
 *   LoadError (that failure is its `cause`; such a failure is not cached, so a later call tries
 *   again).
 */
export function loadReport(): LoadReport {
  try {
    loadBinding();
  } catch (err) {
    if (cachedFailure !== null && cachedFailure.report !== null) return cachedFailure.report;
    throw err;
  }
  return (cached as { report: LoadReport }).report;
}

/** The .node file in use, or null when none loads. */
export function bindingPath(): string | null {
  return loadReport().binary;
}

/** The CUDA builds found and which one is in use (see LoadReport.cudaBuilds); [] when nothing loads. */
export function cudaBuilds(): CudaBuildInfo[] {
  return loadReport().cudaBuilds;
}
