// The only module that loads the native addon. It tries, in order: an explicit path from
// SQUEEZE_EXCITE_BINARY (only that one, when it is set), a local build (build/Release, build/Debug), then the prebuild that
// node-gyp-build matches for this platform, arch and libc. Where a platform ships several CUDA
// builds (linux-x64: CUDA 13.0 and 11.8, listed in prebuilds/linux-x64/cuda-builds.json), the
// newest one the installed driver supports is chosen (cuda-builds.ts); SQUEEZE_EXCITE_CUDA_BUILD
// names one instead. Each failure is kept, and when nothing
// loads the thrown LoadError lists every attempt and the fix for the failure at hand: a bundled
// copy, addons disabled (--no-addons), a checkout not built yet, a corrupt or too-new prebuild,
// or no binary for this platform (the only case that needs a compiler). The checks of one file
// are addon-file.ts's, the prebuild search prebuilds.ts's, the message diagnose.ts's.

import { typeError } from '../arg-errors.js';
import { nodeFs, nodePath } from '../node-builtins.js';
import { ArrayIsArray, ObjectFreeze, RegExpPrototypeExec, StringCtor, StringPrototypeStartsWith, defineOwn } from '../primordials.js';
import { tryLoad } from './addon-file.js';
import type { NativeBinding } from './contract.js';
import { CUDA_BUILD_ENV, CUDA_BUILDS_MANIFEST, chooseBuild, namesBuild, type CudaBuildInfo, singleBuild } from './cuda-builds.js';
import { describeLoadFailure } from './diagnose.js';
import { ADDON_FILE, PACKAGE_ROOT, nodeRequire, ownPackage } from './package-root.js';
import { findPrebuilds, type Prebuilds } from './prebuilds.js';
import { canSee, describeError, errorCode } from './probe.js';
import { allocateResult } from './result-allocator.js';

export type { CudaBuildInfo } from './cuda-builds.js';
export { PACKAGE_ROOT } from './package-root.js';
export { shellArg } from './diagnose.js';

// Built-ins through lib/node-builtins.ts (no require(): see there).
const path = nodePath;

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
  if (binaryEnv) {
    // A relative path resolves against the working directory, which may be gone (deleted after
    // the process started: uv_cwd's ENOENT, with no word of the variable; an attack, 2026-12-03).
    let file: string;
    try {
      file = path.resolve(binaryEnv);
    } catch (err) {
      attempts.push({ kind: 'env', file: binaryEnv, ok: false, reason: `SQUEEZE_EXCITE_BINARY is a relative path, and the working directory it is relative to could not be read (${describeError(err)}): give an absolute path`, code: errorCode(err) });
      throw new LoadError(report, root);
    }
    candidates.push({ kind: 'env', file });
  }
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
   * @throws TypeError (ERR_INVALID_ARG_TYPE) where `report` is not a load report: this package
   *   throws LoadErrors; code that catches one reads it, and has no reason to make one.
   */
  constructor(report: LoadReport, root: string = PACKAGE_ROOT, message?: string) {
    // A report this package did not make (a caller's object, a Proxy) may throw anywhere in the
    // describing: every such failure is the same coded refusal.
    const expected = 'a load report (as loadReport() gives it, with attempts and cudaBuilds arrays)';
    let text: string;
    try {
      const r = report as { attempts?: unknown; cudaBuilds?: unknown } | null | undefined;
      if (typeof r !== 'object' || r === null || !ArrayIsArray(r.attempts) || !ArrayIsArray(r.cudaBuilds)) throw null;
      text = message ?? LoadError.describe(report, root);
    } catch {
      throw typeError('new LoadError', 'report', expected, report);
    }
    super(text);
    defineOwn(this, 'name', 'LoadError'); // an accessor on Error.prototype.name must not swallow it
    this.report = report;
  }

  /** The message: the target, the cause, what was tried and the fixes (diagnose.ts). @internal */
  static describe(report: LoadReport, root: string): string {
    return describeLoadFailure(report, root);
  }
}

/** The report frozen, with its attempts and builds: loadReport() and every LoadError share it. */
function freezeReport(report: LoadReport): LoadReport {
  // Indexed, with the intrinsic freeze: this runs in the first call's load, after the caller's code.
  for (let i = 0; i < report.attempts.length; i++) ObjectFreeze(report.attempts[i]);
  for (let i = 0; i < report.cudaBuilds.length; i++) ObjectFreeze(report.cudaBuilds[i]);
  ObjectFreeze(report.attempts);
  ObjectFreeze(report.cudaBuilds);
  return ObjectFreeze(report);
}

/**
 * A failed load, kept for later calls: each throws a new Error of the same message and report, so
 * that what a caller does to one (message prefixed, code deleted) does not reach the next (one
 * shared object grew "request 2: request 1: ..." and lost its code; an attack, 2026-12-02).
 */
interface LoadFailure {
  message: string;
  report: LoadReport | null;
  cause?: unknown;
  /** The conditions the failed load ran under (kept failures only): see stillHolds. */
  builtins?: unknown[];
  stackShort?: boolean;
}

function failureError(f: LoadFailure): Error {
  if (f.report === null) {
    const err = new Error(f.message, f.cause === undefined ? undefined : { cause: f.cause });
    defineOwn(err, 'code', 'ERR_SQEX_LOAD');
    return err;
  }
  return new LoadError(f.report, PACKAGE_ROOT, f.message); // the message kept: no second diagnosis
}

let loading = false;

// A failed load is kept with the conditions it ran under, and the load runs again on a later call
// only where those have changed. A first call made from deep recursion ran out of stack inside the
// load (in dlopen's wrapper, a stat, a readdir), which read as "the local build did not load"; an
// Array.prototype.push that dropped its arguments during the first call only left "the addon is
// not built" (with nothing tried). Both were kept for the process, and every later call failed
// with advice to rebuild (an attack, 2026-12-03). Now a later call loads again when it has the
// stack the failed one lacked (STACK_PROBE_FRAMES frames of a small function), or when a built-in
// the loader uses is not the one the failed load used. Compared with the failed load's own values,
// not with those at import: an app that loads graceful-fs or core-js after this package (they
// replace fs.closeSync, Array.prototype.push for good) keeps its failure, as before (reviews,
// 2026-12-03).
const STACK_PROBE_FRAMES = 2000;
const WATCHED: ReadonlyArray<readonly [object, ReadonlyArray<PropertyKey>]> = [
  [Array.prototype, ['push', 'map', 'filter', 'find', 'findIndex', 'some', 'every', 'forEach', 'join', 'includes', 'indexOf', 'slice', 'sort', 'concat', Symbol.iterator]],
  [String.prototype, ['split', 'replace', 'startsWith', 'endsWith', 'includes', 'slice', 'trim', 'indexOf', 'match', 'toLowerCase']],
  [RegExp.prototype, ['exec', 'test', Symbol.replace, Symbol.match, Symbol.split]],
  [JSON, ['parse', 'stringify']],
  [Object, ['keys', 'assign', 'freeze', 'entries']],
  [nodeFs, ['statSync', 'existsSync', 'readdirSync', 'readFileSync', 'openSync', 'readSync', 'closeSync', 'fstatSync']],
  [nodePath, ['join', 'resolve', 'dirname', 'basename', 'extname']],
  [process, ['dlopen']],
];
const THREW: unique symbol = Symbol('threw');

/** The watched built-ins' values now, in order (a getter that throws reads as THREW). */
function builtinsNow(): unknown[] {
  const out: unknown[] = [];
  let n = 0;
  for (let i = 0; i < WATCHED.length; i++) {
    const [o, keys] = WATCHED[i] as readonly [object, ReadonlyArray<PropertyKey>];
    for (let k = 0; k < keys.length; k++) {
      let v: unknown;
      try {
        v = (o as Record<PropertyKey, unknown>)[keys[k] as PropertyKey];
      } catch {
        v = THREW;
      }
      out[n++] = v;
    }
  }
  return out;
}

/** Whether fewer than STACK_PROBE_FRAMES frames fit on the stack from here. */
function stackShort(): boolean {
  const probe = (n: number): number => (n === 0 ? 0 : 1 + probe(n - 1));
  try {
    probe(STACK_PROBE_FRAMES);
    return false;
  } catch {
    return true;
  }
}

/** Whether the watched built-ins are those of `before` (and none throws). */
function sameBuiltins(before: unknown[]): boolean {
  const now = builtinsNow();
  for (let i = 0; i < now.length; i++) if (now[i] !== before[i] || now[i] === THREW) return false;
  return true;
}

/** Whether a kept failure still answers for this call: the same built-ins, and no more stack than it had. */
function stillHolds(f: LoadFailure): boolean {
  if (f.builtins === undefined) return true;
  if (f.stackShort === true && !stackShort()) return false;
  return sameBuiltins(f.builtins);
}

/**
 * Loads the addon once; throws LoadError (cached) when nothing loads. Any other failure (a
 * built-in the caller replaced threw inside the load) is thrown as an Error with code
 * 'ERR_SQEX_LOAD' and not cached: the next call loads again.
 */
export function loadBinding(): NativeBinding {
  if (cached) return cached.binding;
  if (cachedFailure) {
    if (stillHolds(cachedFailure)) throw failureError(cachedFailure);
    cachedFailure = null; // the conditions it failed under have changed: load again
  }
  // Asked again from inside the load (code the caller put in path, fs or JSON called this
  // package): refused, so that no second load runs inside the first; the outer call goes on.
  if (loading) {
    throw failureError({
      message: 'squeeze-excite: the native addon was asked for while it was loading (code that replaced a built-in the loader uses, such as path.extname or fs.readdirSync, called this package from inside the load); call again after the first call returns',
      report: null,
    });
  }
  loading = true;
  let builtins: unknown[] = [];
  try {
    builtins = builtinsNow();
    const loaded = loadWith();
    loaded.binding.setResultAllocator?.(allocateResult);
    cached = { binding: loaded.binding, report: freezeReport(loaded.report) };
    return cached.binding;
  } catch (err) {
    if (!(err instanceof LoadError)) {
      const why = err instanceof Error ? StringCtor(err.message) : StringCtor(err);
      throw failureError({ message: StringPrototypeStartsWith(why, 'squeeze-excite') ? why : `squeeze-excite: loading the native addon failed: ${why} (not kept: the next call loads again)`, report: null, cause: err });
    }
    const short = RegExpPrototypeExec(/Maximum call stack size exceeded/, StringCtor(err.message)) !== null || stackShort();
    const changed = !short && !sameBuiltins(builtins);
    const note = short
      ? '\n(The stack was nearly exhausted during this load: the first call was made from deep recursion. A later call with more stack left loads again.)'
      : changed
        ? '\n(A built-in the loader uses was replaced while it ran: a later call with the built-ins as they were before loads again.)'
        : '';
    cachedFailure = { message: err.message + note, report: freezeReport(err.report), builtins: changed ? [] : builtins, stackShort: short };
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
 *   LoadError (with that failure's message; it is not cached, so a later call tries again).
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
