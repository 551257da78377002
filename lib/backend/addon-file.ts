// Whether one file is a squeeze-excite addon built from these sources, before and after require():
// a regular .node file whose headers fit inside it, exporting every call path, of this binding
// contract and version.

import type * as FsModule from 'node:fs';
import { fileKind } from '../describe.js';
import { nodeFs, nodePath } from '../node-builtins.js';
import { truncatedBinary } from './binary-file.js';
import { BINDING_CONTRACT, type NativeBinding } from './contract.js';
import type { FileLoad } from './cuda-builds.js';
import type { LoaderSetup } from './load.js';
import { describeError, errorCode } from './probe.js';

const fs = nodeFs;
const path = nodePath;
const { statSync } = fs;

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

/** Loads `file` with setup.requireAddon when it passes every check; the binding, or why not. */
export function tryLoad(setup: LoaderSetup, file: string): FileLoad {
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
