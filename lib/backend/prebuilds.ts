// The prebuild node-gyp-build would pick for this platform, arch and libc, and the CUDA builds its
// folder's manifest lists (prebuilds/<platform>-<arch>/cuda-builds.json).

import { nodeFs, nodeOs, nodePath } from '../node-builtins.js';
import { readManifest, type ShippedCudaBuild } from './cuda-builds.js';
import { ObjectCreate, ObjectKeys } from '../primordials.js';
import { requireDependency } from './package-root.js';
import { deniedPath, describeError, errorCode } from './probe.js';

const fs = nodeFs;
const path = nodePath;
const { existsSync, readdirSync } = fs;
const { arch, platform } = nodeOs;

interface NodeGypBuildHelpers {
  parseTuple(name: string): { name: string; platforms: string; architectures: string[] } | undefined;
  matchTuple(platform: string, arch: string): (t: unknown) => boolean;
  compareTuples(a: unknown, b: unknown): number;
  parseTags(file: string): { file: string } | undefined;
  matchTags(runtime: string, abi: string): (t: unknown) => boolean;
  compareTags(runtime: string): (a: unknown, b: unknown) => number;
}

export interface Prebuilds {
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
export function findPrebuilds(root: string): Prebuilds {
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
    helpers = requireDependency('node-gyp-build') as NodeGypBuildHelpers;
  } catch (err) {
    // Under the permission model: Node 20 refuses its first line, a probe of /etc/alpine-release
    // (musl or glibc), unless that file may be read (a newcomer's check, 2026-12-02); and in an
    // installed app node-gyp-build sits beside this package, outside its folder, so its own files
    // need a grant of their own (another, 2026-12-03).
    const denied = deniedPath(err);
    const read = denied === null
      ? ''
      : denied === '/etc/alpine-release'
        ? ` (it reads ${denied} as it loads, to tell musl from glibc)`
        : ` (loading it reads ${denied})`;
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
    .map((f) => ownTags(helpers.parseTags(f)))
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
  const cudaBuilds = manifest.builds.filter((b) => fits(ownTags(helpers.parseTags(path.basename(b.file)))));
  if (!cudaBuilds.some((b) => b.file === file)) {
    return { file, reason: null, cudaBuilds: [], manifestProblem: `prebuilds/${tuple.name}/cuda-builds.json does not list ${winner.file}, node-gyp-build's pick` };
  }
  return { file, reason: null, cudaBuilds, manifestProblem: null };
}

/**
 * node-gyp-build's parsed tags with a null prototype: it sets only the tags a file name has, and
 * matchTags reads tags.runtime and tags.abi, which a polluted Object.prototype answered for an
 * untagged file (an attack, 2026-12-04: the prebuild that was there reported as "no file matching").
 */
function ownTags<T>(tags: T): T {
  if (typeof tags !== 'object' || tags === null) return tags;
  const copy = ObjectCreate(null) as Record<string, unknown>;
  const keys = ObjectKeys(tags);
  for (let i = 0; i < keys.length; i++) copy[keys[i]!] = (tags as Record<string, unknown>)[keys[i]!];
  return copy as T;
}
