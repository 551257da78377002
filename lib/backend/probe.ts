// Probing files and wording failures for the loader's report: an Error's code, the path Node's
// permission model denied, its first line; existsSync that cannot throw.

import { nodeFs } from '../node-builtins.js';

const { existsSync } = nodeFs;

/** The path an ERR_ACCESS_DENIED refused (its `resource`), or null. */
export function deniedPath(err: unknown): string | null {
  if (errorCode(err) !== 'ERR_ACCESS_DENIED') return null;
  const resource = (err as { resource?: unknown }).resource;
  return typeof resource === 'string' && resource !== '' ? resource : null;
}

export function errorCode(err: unknown): string | null {
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' ? code : null;
}

export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const first = err.message.split('\n')[0] ?? err.message;
    const code = errorCode(err);
    return code ? `${first} (${code})` : first;
  }
  return String(err);
}

/** existsSync that answers false where the path cannot be probed (the permission model throws). */
export function canSee(p: string): boolean {
  try {
    return existsSync(p);
  } catch {
    return false;
  }
}
