// The only module that loads the native addon. It tries, in order: an explicit path from
// SQUEEZE_EXCITE_BINARY, a local build (build/Release, build/Debug), then the prebuild that
// node-gyp-build matches for this platform, arch and libc. Each failure is kept, and when nothing
// loads the thrown Error lists every attempt, why it failed and how to fix it on this platform.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { arch, platform } from 'node:os';
import path from 'node:path';

import type { NativeBinding } from './contract.js';

const ADDON_FILE = 'squeeze_excite.node';
/** Package root: dist/backend/load.js → ../.. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

export interface LoadAttempt {
  /** What was tried: 'env' (SQUEEZE_EXCITE_BINARY), 'local build', 'prebuild', 'source build'. */
  kind: 'env' | 'local build' | 'prebuild' | 'source build';
  /** The file tried, or null when nothing was there to try. */
  file: string | null;
  ok: boolean;
  /** Why it was not used (null when it loaded). */
  reason: string | null;
}

export interface LoadReport {
  /** The .node file that was loaded, or null. */
  binary: string | null;
  kind: LoadAttempt['kind'] | null;
  /** True when a local build was loaded while a matching prebuild was also present. */
  shadowsPrebuild: boolean;
  attempts: LoadAttempt[];
}

interface NodeGypBuildHelpers {
  parseTuple(name: string): { name: string; platforms: string; architectures: string[] } | undefined;
  matchTuple(platform: string, arch: string): (t: unknown) => boolean;
  compareTuples(a: unknown, b: unknown): number;
  parseTags(file: string): { file: string } | undefined;
  matchTags(runtime: string, abi: string): (t: unknown) => boolean;
  compareTags(runtime: string): (a: unknown, b: unknown) => number;
}

let cached: { binding: NativeBinding; report: LoadReport } | null = null;
let cachedError: Error | null = null;

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const first = err.message.split('\n')[0] ?? err.message;
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${first} (${code})` : first;
  }
  return String(err);
}

/** The prebuild node-gyp-build would pick for this platform/arch/libc, or why there is none. */
function findPrebuild(): { file: string | null; reason: string | null } {
  const dir = path.join(PACKAGE_ROOT, 'prebuilds');
  if (!existsSync(dir)) return { file: null, reason: `no prebuilds/ folder in ${PACKAGE_ROOT}` };
  let helpers: NodeGypBuildHelpers;
  try {
    helpers = require('node-gyp-build') as NodeGypBuildHelpers;
  } catch (err) {
    return { file: null, reason: `node-gyp-build could not be loaded: ${describeError(err)}` };
  }
  const tuples = readdirSync(dir)
    .map((n) => helpers.parseTuple(n))
    .filter((t) => t !== undefined)
    .filter(helpers.matchTuple(platform(), arch()))
    .sort(helpers.compareTuples);
  const tuple = tuples[0] as { name: string } | undefined;
  const available = readdirSync(dir).join(', ') || 'none';
  if (!tuple) return { file: null, reason: `no prebuild for ${platform()}-${arch()} (available: ${available})` };
  const tupleDir = path.join(dir, tuple.name);
  const candidates = readdirSync(tupleDir)
    .map((f) => helpers.parseTags(f))
    .filter((t) => t !== undefined)
    .filter(helpers.matchTags('node', process.versions.modules))
    .sort(helpers.compareTags('node')) as { file: string }[];
  const winner = candidates[0];
  if (!winner) {
    return { file: null, reason: `prebuilds/${tuple.name} has no file matching this runtime and libc (${readdirSync(tupleDir).join(', ')})` };
  }
  return { file: path.join(tupleDir, winner.file), reason: null };
}

function isBinding(value: unknown): value is NativeBinding {
  return typeof value === 'object' && value !== null && typeof (value as { cpuForward?: unknown }).cpuForward === 'function';
}

function tryLoad(file: string): { binding: NativeBinding | null; reason: string | null } {
  try {
    const mod: unknown = require(file);
    if (!isBinding(mod)) return { binding: null, reason: 'loaded, but it is not a squeeze-excite addon (no cpuForward export)' };
    return { binding: mod, reason: null };
  } catch (err) {
    return { binding: null, reason: describeError(err) };
  }
}

function fixCommands(): string[] {
  const p = platform();
  const common = [
    'Install from a published version for a supported platform (linux-x64, linux-arm64, darwin-arm64, darwin-x64, win32-x64); the prebuilt binary needs no compiler.',
    'Or build from source inside the package folder: cd node_modules/squeeze-excite && npx node-gyp rebuild   (CPU backend)',
    'With CMake and the CUDA toolkit: cd node_modules/squeeze-excite && npm run build:native   (adds the CUDA backend)',
  ];
  if (p === 'linux') return ['Debian/Ubuntu: sudo apt-get install -y python3 make g++   (Fedora: sudo dnf install python3 make gcc-c++; Alpine: apk add python3 make g++)', ...common];
  if (p === 'darwin') return ['macOS: xcode-select --install', ...common];
  if (p === 'win32') return ['Windows: install "Visual Studio Build Tools" with the "Desktop development with C++" workload, and Python 3', ...common];
  return [`${p} has no prebuilt binary; a C++17 compiler, make and Python 3 are needed to build from source`, ...common];
}

function loadOnce(): { binding: NativeBinding; report: LoadReport } {
  const attempts: LoadAttempt[] = [];
  const report: LoadReport = { binary: null, kind: null, shadowsPrebuild: false, attempts };
  const envFile = process.env.SQUEEZE_EXCITE_BINARY;
  const candidates: { kind: LoadAttempt['kind']; file: string }[] = [];
  if (envFile) candidates.push({ kind: 'env', file: path.resolve(envFile) });
  for (const sub of ['build/Release', 'build/Debug']) {
    candidates.push({ kind: 'local build', file: path.join(PACKAGE_ROOT, sub, ADDON_FILE) });
  }
  const prebuild = findPrebuild();
  for (const c of candidates) {
    if (!existsSync(c.file)) {
      attempts.push({ kind: c.kind, file: c.file, ok: false, reason: 'file does not exist' });
      continue;
    }
    const r = tryLoad(c.file);
    attempts.push({ kind: c.kind, file: c.file, ok: r.binding !== null, reason: r.reason });
    if (r.binding) {
      report.binary = c.file;
      report.kind = c.kind;
      report.shadowsPrebuild = c.kind === 'local build' && prebuild.file !== null;
      return { binding: r.binding, report };
    }
  }
  if (prebuild.file) {
    const r = tryLoad(prebuild.file);
    attempts.push({ kind: 'prebuild', file: prebuild.file, ok: r.binding !== null, reason: r.reason });
    if (r.binding) {
      report.binary = prebuild.file;
      report.kind = 'prebuild';
      return { binding: r.binding, report };
    }
  } else {
    attempts.push({ kind: 'prebuild', file: null, ok: false, reason: prebuild.reason });
  }
  const buildDir = path.join(PACKAGE_ROOT, 'build');
  attempts.push({
    kind: 'source build',
    file: null,
    ok: false,
    reason: existsSync(buildDir)
      ? `build/ exists but holds no loadable ${ADDON_FILE}: the source build failed (see the install log)`
      : 'never ran: npm 11 does not run a dependency\'s install scripts unless allowed, and no toolchain build was made',
  });
  throw new LoadError(report);
}

/** The Error thrown when no binary loads; `report` holds every attempt. */
export class LoadError extends Error {
  readonly report: LoadReport;
  constructor(report: LoadReport) {
    const target = `${platform()}-${arch()} (node ${process.versions.node}, abi ${process.versions.modules}, ${libcName()})`;
    const tried = report.attempts.map((a) => `  - ${a.kind}${a.file ? ` ${a.file}` : ''}: ${a.reason ?? 'ok'}`).join('\n');
    const fixes = fixCommands().map((f) => `  - ${f}`).join('\n');
    super(
      `squeeze-excite: could not load the native addon for ${target}.\nTried:\n${tried}\nTo fix it:\n${fixes}`,
    );
    this.name = 'LoadError';
    this.report = report;
  }
}

function libcName(): string {
  if (platform() !== 'linux') return 'no libc tag';
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const glibc = report?.header?.glibcVersionRuntime;
  return glibc ? `glibc ${glibc}` : 'musl or unknown libc';
}

/** Loads the addon once; throws LoadError (cached) when nothing loads. */
export function loadBinding(): NativeBinding {
  if (cached) return cached.binding;
  if (cachedError) throw cachedError;
  try {
    cached = loadOnce();
    return cached.binding;
  } catch (err) {
    cachedError = err instanceof Error ? err : new Error(String(err));
    throw cachedError;
  }
}

/** What the loader did: the file loaded and every attempt (loads the addon if not yet loaded). */
export function loadReport(): LoadReport {
  try {
    loadBinding();
  } catch (err) {
    if (err instanceof LoadError) return err.report;
    throw err;
  }
  return (cached as { report: LoadReport }).report;
}

/** The .node file in use, or null when none loads. */
export function bindingPath(): string | null {
  return loadReport().binary;
}

/** package.json version, to compare with the addon's own (a stale local build shows here). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}
