// Where this copy of the package lives: its root (build/, prebuilds/, package.json), whether it
// runs from there or was bundled into an app, and a require() anchored at it.

import { nodeFs, nodeModule, nodePath } from '../node-builtins.js';
import { JSONParse } from '../primordials.js';
import { errorCode } from './probe.js';

const path = nodePath;
const { readFileSync, realpathSync } = nodeFs;

export const ADDON_FILE = 'squeeze_excite.node';
const PACKAGE_NAME = 'squeeze-excite';
/**
 * This file (dist/backend/package-root.js), or null inside a bundle that gives no usable
 * __filename: an ES-module bundle has none, and webpack's `node: { __filename: true }` gives a
 * relative path, which createRequire refused with an uncoded TypeError as the app started (a
 * helper's test of bundlers, 2026-12-03).
 */
const HERE: string | null = typeof __filename === 'string' && path.isAbsolute(__filename) ? __filename : null;
/**
 * The working directory, or the filesystem's root where there is none: process.cwd() throws ENOENT
 * once the directory was deleted, which at module level (an ES-module bundle, no __filename) threw
 * out of the app's import, uncoded and before any call (a helper's test of deployments, 2026-12-04).
 */
function cwdOrRoot(): string {
  try {
    return process.cwd();
  } catch {
    return path.parse(process.execPath).root;
  }
}
// (read once: a working directory deleted between two reads would anchor the two differently)
const CWD: string | null = HERE ? null : cwdOrRoot();
/** Package root: dist/backend/package-root.js → ../.. (in a bundle: two levels above the bundle). */
export const PACKAGE_ROOT = HERE ? path.resolve(path.dirname(HERE), '..', '..') : (CWD as string);
// A require that works in CommonJS, in a CommonJS bundle and in an ES-module bundle alike; the
// .node files it loads are absolute paths, so its anchor only matters for node-gyp-build.
// Typed as a plain function: the .d.ts must not need @types/node (NodeJS.Require).
export const nodeRequire: (id: string) => unknown = nodeModule.createRequire(HERE ?? path.join(CWD as string, 'noop.js'));

/**
 * require(id) of a dependency (node-gyp-build): from this file, then, if not found, from its real
 * path. Under --preserve-symlinks a linked package (pnpm's store, npm link) resolves from the
 * link's folder, where its dependencies are not: pnpm puts them beside the real folder (an
 * attack, 2026-12-04: the LoadError advised shipping node_modules, which were there).
 */
export function requireDependency(id: string): unknown {
  try {
    return nodeRequire(id);
  } catch (err) {
    if (HERE === null || errorCode(err) !== 'MODULE_NOT_FOUND') throw err;
    let real: string;
    try {
      real = realpathSync(HERE);
    } catch {
      throw err;
    }
    if (real === HERE) throw err;
    return nodeModule.createRequire(real)(id);
  }
}

/**
 * Whether this file runs from its package folder, and the package's version. A bundler (esbuild,
 * webpack, rollup) copies the JavaScript into the app's bundle, away from prebuilds/ and build/,
 * which stay in node_modules; then PACKAGE_ROOT is not a squeeze-excite package (bundled: where
 * to, version: null).
 */
export function ownPackage(): { bundled: string | null; version: string | null } {
  if (!HERE) return { bundled: typeof __filename === 'string' ? `an app bundle (its __filename is the relative ${JSON.stringify(__filename)})` : 'an ES-module bundle', version: null };
  try {
    const pkg = JSONParse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
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
