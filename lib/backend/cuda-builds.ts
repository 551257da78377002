// Choosing among the CUDA builds shipped for one platform (issue 12). linux-x64 ships the addon
// twice: built with the newest CUDA toolkit (13.0: needs a driver that supports CUDA 13.0, R580)
// and with CUDA 11.8 (any driver that supports CUDA 11.2 or newer, R460 on: R470, R535, R550,
// R570 ...). prebuilds/<platform>-<arch>/cuda-builds.json lists them, newest first, with the CUDA
// version and the oldest driver each runs on, as `npm run prebuildify` read them from the built
// binaries themselves (scripts/prebuild-cuda11.js). This module holds the choice only; loading a
// file stays in load.ts, which passes its loader in.

import type { NativeBinding, NativeCudaStatus } from './contract.js';
import { JSONParse, JSONStringify } from '../primordials.js';

/** The manifest's name, in each prebuilds/<platform>-<arch>/ folder that ships CUDA builds. */
export const CUDA_BUILDS_MANIFEST = 'cuda-builds.json';

/**
 * Names a shipped build by its CUDA version ("11.8", or a prefix such as "11"): the loader then
 * tries that build only, and ignores local builds (build/Release). SQUEEZE_EXCITE_BINARY, a path,
 * still takes precedence over it.
 */
export const CUDA_BUILD_ENV = 'SQUEEZE_EXCITE_CUDA_BUILD';

/** One shipped CUDA build. */
export interface ShippedCudaBuild {
  /** Absolute path of the .node file. */
  readonly file: string;
  /** CUDA runtime linked into it, e.g. "13.0". */
  readonly cudaVersion: string;
  /** Oldest driver it runs on, as the CUDA version the driver supports (cuda.status().driverVersion's unit). */
  readonly minDriverVersion: string;
}

/**
 * One CUDA build of the addon. linux-x64 ships two: CUDA 13.0 (drivers that support CUDA 13.0:
 * R580 and newer) and CUDA 11.8 (drivers that support CUDA 11.2 or newer: R460 on, e.g. R470,
 * R535, R550, R570). The loader uses the newest one the installed driver supports, falls back to
 * the next, and, when none can use CUDA, runs the CPU kernels of the newest that loads.
 * SQUEEZE_EXCITE_CUDA_BUILD=11.8 (or 13.0; a prefix such as "11" works) forces one.
 */
export interface CudaBuildInfo {
  /** The CUDA runtime linked into the build, e.g. "11.8". */
  readonly cudaVersion: string;
  /**
   * The oldest driver it runs on, as the CUDA version the driver supports (the unit of
   * `driverVersion`): "13.0" is R580 (>= 580.65.06 on Linux), "11.2" is R460 (>= 460.27.03).
   */
  readonly minDriverVersion: string;
  /** Path of its .node file. */
  readonly binary: string;
  /** True for the one build in use (for the CPU kernels too, when none can use CUDA). */
  readonly loaded: boolean;
  /**
   * Why this build was not used ("not loaded: CUDA driver 12.2 is older than the 13.0 this
   * build needs"), or, on the loaded build, why CUDA is not available with it. Absent on a
   * loaded build that runs CUDA.
   */
  readonly reason?: string;
}

/** What loading one file gave. */
export interface FileLoad {
  binding: NativeBinding | null;
  reason: string | null;
  code: string | null;
}

/** One file tried, for the loader's report (LoadAttempt without the kind, which is 'prebuild'). */
export interface BuildAttempt {
  file: string;
  ok: boolean;
  reason: string | null;
  code: string | null;
}

export interface BuildChoice {
  /** The build in use, or null when none loaded. */
  chosen: { binding: NativeBinding; file: string } | null;
  builds: CudaBuildInfo[];
  attempts: BuildAttempt[];
}

const VERSION = /^\d+\.\d+$/;

/** Compares "12.2"-style versions numerically. */
export function compareVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am !== bm ? am - bm : an - bn;
}

/** Whether `wanted` ("11", "11.8") names `cudaVersion` ("11.8"). */
export function namesBuild(wanted: string, cudaVersion: string): boolean {
  return cudaVersion === wanted || cudaVersion.startsWith(`${wanted}.`);
}

/**
 * The file-system calls readManifest makes (node:fs's, or a test's). Spelled out rather than
 * taken from node:fs, so that the package's declarations need no @types/node.
 */
export interface ManifestFs {
  existsSync(path: string): boolean;
  statSync(path: string): { isFile(): boolean; size: number };
  readFileSync(path: string, encoding: 'utf8'): string;
}

/** A manifest lists a few builds: anything larger is not one (and is not read). */
const MAX_MANIFEST_BYTES = 1 << 20;

/**
 * The builds listed in `dir`/cuda-builds.json whose file exists, newest CUDA first; null when
 * there is no manifest. A manifest that cannot be read is reported as `error` (the loader then
 * falls back to node-gyp-build's single pick).
 */
export function readManifest(
  fs: ManifestFs,
  path: { join(...parts: string[]): string },
  dir: string,
): { builds: ShippedCudaBuild[] } | { error: string } | null {
  const file = path.join(dir, CUDA_BUILDS_MANIFEST);
  if (!fs.existsSync(file)) return null;
  let text: string;
  try {
    // A regular file of manifest size only: a FIFO there blocked the first op call for ever, and a
    // link to /dev/zero read until the process ran out of memory (an attack, 2026-12-02).
    const st = fs.statSync(file);
    if (!st.isFile()) return { error: `${file} is not a regular file` };
    if (st.size > MAX_MANIFEST_BYTES) return { error: `${file} has ${st.size} bytes, more than a manifest of builds (at most ${MAX_MANIFEST_BYTES})` };
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    return { error: `${file} could not be read: ${err instanceof Error ? err.message : String(err)}${typeof code === 'string' ? ` (${code})` : ''}` };
  }
  let parsed: unknown;
  try {
    parsed = JSONParse(text);
  } catch (err) {
    return { error: `${file} is not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  const list = (parsed as { builds?: unknown } | null)?.builds;
  if (!Array.isArray(list)) return { error: `${file} has no "builds" array` };
  const builds: ShippedCudaBuild[] = [];
  for (const entry of list as unknown[]) {
    const e = entry as { file?: unknown; cudaVersion?: unknown; minDriverVersion?: unknown } | null;
    if (
      typeof e?.file !== 'string' || e.file.includes('..') ||
      typeof e.cudaVersion !== 'string' || !VERSION.test(e.cudaVersion) ||
      typeof e.minDriverVersion !== 'string' || !VERSION.test(e.minDriverVersion)
    ) {
      return { error: `${file}: an entry is not { file, cudaVersion: "M.m", minDriverVersion: "M.m" }: ${JSONStringify(entry)}` };
    }
    const abs = path.join(dir, e.file);
    if (fs.existsSync(abs)) builds.push({ file: abs, cudaVersion: e.cudaVersion, minDriverVersion: e.minDriverVersion });
  }
  builds.sort((a, b) => compareVersions(b.cudaVersion, a.cudaVersion));
  return { builds };
}

function statusOf(binding: NativeBinding): NativeCudaStatus | string {
  try {
    return binding.cudaStatus();
  } catch (err) {
    return `querying CUDA failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * Picks the newest build that can use CUDA with the installed driver. The first build that loads
 * tells the driver's CUDA version (cudaDriverGetVersion works whatever the runtime); a build whose
 * minDriverVersion is above it is then skipped without being loaded. When no build can use CUDA,
 * the newest loaded build that the driver could run (a driver without a device) serves the CPU
 * path, so that cuda.status().reason gives the cause that remains; else (no driver, a driver
 * older than every build) the newest build that loaded. A build that fails to load (a damaged
 * file, a glibc older than its floor) is passed over for the next one.
 *
 * `wanted` (SQUEEZE_EXCITE_CUDA_BUILD) restricts the choice to the builds it names.
 */
export function chooseBuild(shipped: readonly ShippedCudaBuild[], load: (file: string) => FileLoad, wanted: string | null): BuildChoice {
  const builds: CudaBuildInfo[] = [];
  const attempts: BuildAttempt[] = [];
  // Index into `builds` of each loaded binding, in order, with its status.
  const loaded: { index: number; binding: NativeBinding; status: NativeCudaStatus | string }[] = [];
  let driver: string | null | undefined; // undefined: not known yet; null: no driver
  let winner = -1;
  const report = (b: ShippedCudaBuild, reason?: string): number => {
    builds.push({ cudaVersion: b.cudaVersion, minDriverVersion: b.minDriverVersion, binary: b.file, loaded: false, ...(reason === undefined ? {} : { reason }) });
    return builds.length - 1;
  };
  for (const b of shipped) {
    if (wanted !== null && !namesBuild(wanted, b.cudaVersion)) {
      report(b, `not loaded: ${CUDA_BUILD_ENV}=${wanted} names another build`);
      continue;
    }
    if (winner >= 0) {
      const w = builds[winner] as CudaBuildInfo;
      report(b, `not loaded: the CUDA ${w.cudaVersion} build runs on this driver (${driver ?? 'unknown'}) and is newer`);
      continue;
    }
    if (driver === null) {
      report(b, 'not loaded: no NVIDIA driver is installed, so no CUDA build can run; the build loaded first serves the CPU path');
      continue;
    }
    if (driver !== undefined && compareVersions(driver, b.minDriverVersion) < 0) {
      report(b, `not loaded: CUDA driver ${driver} is older than the ${b.minDriverVersion} this build needs`);
      continue;
    }
    const r = load(b.file);
    attempts.push({ file: b.file, ok: r.binding !== null, reason: r.reason, code: r.code });
    if (r.binding === null) {
      report(b, `did not load: ${r.reason ?? 'unknown error'}`);
      continue;
    }
    const status = statusOf(r.binding);
    const index = report(b);
    loaded.push({ index, binding: r.binding, status });
    if (typeof status === 'string') continue;
    if (status.available) {
      winner = index;
      driver = status.driverVersion;
      continue;
    }
    // Learn the driver: a null driverVersion with a reason naming the driver means none is installed.
    if (status.driverVersion !== null) driver = status.driverVersion;
    else if (/no NVIDIA driver/.test(status.reason ?? '')) driver = null;
  }
  // Without a winner, the newest loaded build that this driver can run (its status then says why
  // CUDA is still unavailable, e.g. no device), else the newest that loaded, serves the CPU path.
  const runnable = (l: (typeof loaded)[number]): boolean =>
    typeof l.status !== 'string' && l.status.driverVersion !== null &&
    compareVersions(l.status.driverVersion, (builds[l.index] as CudaBuildInfo).minDriverVersion) >= 0;
  const use = winner >= 0 ? loaded.find((l) => l.index === winner) : (loaded.find(runnable) ?? loaded[0]);
  // The loaded builds that were not chosen say why CUDA did not run with them.
  for (const l of loaded) {
    const why = typeof l.status === 'string' ? l.status : (l.status.reason ?? 'CUDA is not available (no reason given by the addon)');
    const prev = builds[l.index] as CudaBuildInfo;
    if (l === use) {
      builds[l.index] = { ...prev, loaded: true, ...(l.index === winner ? {} : { reason: why }) };
    } else {
      builds[l.index] = { ...prev, reason: why };
    }
  }
  return { chosen: use ? { binding: use.binding, file: (builds[use.index] as CudaBuildInfo).binary } : null, builds, attempts };
}

/** The builds entry for a single binary (a local build, SQUEEZE_EXCITE_BINARY, a prebuild without a manifest). */
export function singleBuild(binding: NativeBinding, file: string): CudaBuildInfo[] {
  const s = statusOf(binding);
  if (typeof s === 'string') return [];
  if (!s.compiled || s.runtimeVersion === null) return [];
  return [
    {
      cudaVersion: s.runtimeVersion,
      minDriverVersion: s.minDriverVersion ?? s.runtimeVersion,
      binary: file,
      loaded: true,
      ...(s.available ? {} : { reason: s.reason ?? 'CUDA is not available (no reason given by the addon)' }),
    },
  ];
}
