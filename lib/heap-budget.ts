// How much JS heap a burst of allocation may take without risking V8's fatal out-of-memory, which
// no try/catch can stop (the process ends with exit code 134). The safetensors header reader
// (lib/safetensors-header.ts) asks it before decoding and before JSON.parse.

import { nodeV8, nodeWorkerThreads } from './node-builtins.js';
import { ArrayIsArray, MathMax, MathMin, ObjectHasOwn, ownValue } from './primordials.js';

// Captured at load, as the other built-ins: a replaced v8.getHeapStatistics must not lift the budget.
const heapStatistics = nodeV8.getHeapStatistics;
const heapSpaceStatistics = nodeV8.getHeapSpaceStatistics;

/**
 * Bytes the old generation still has before its limit: the limit less what its spaces hold now.
 * Node 26's V8 reports a total_available_size above the heap limit (113 of 112 MiB with
 * --max-old-space-size=16 and 10 MiB in use), so "free less young" gave 8 MiB where the old
 * generation had 5.7 left, and a header that fitted the budget could end the process (a flaky
 * test, 2026-12-04). v8.getHeapSpaceStatistics fills its list by assignment, which an index
 * accessor on Array.prototype intercepts (a review: a getter answering {space_name:'old_space'}
 * made the budget NaN, and a 60k-tensor header then ended a 16 MB heap): only own entries of the
 * expected types count; anything else falls back to the limit less everything the heap holds
 * (heapUsed, young generation included: the safe side).
 */
function oldGenerationFree(oldLimit: number, heapUsed: number): number {
  const safe = (): number => oldLimit - heapUsed;
  let used = 0;
  try {
    const spaces = heapSpaceStatistics() as unknown[];
    if (!ArrayIsArray(spaces) || spaces.length === 0) return safe();
    for (let i = 0; i < spaces.length; i++) {
      const sp = ObjectHasOwn(spaces, i) ? spaces[i] : undefined;
      if (typeof sp !== 'object' || sp === null) return safe();
      const name = ownValue(sp, 'space_name');
      const size = ownValue(sp, 'space_used_size');
      if (typeof name !== 'string' || typeof size !== 'number' || !(size >= 0)) return safe();
      // every space but the young generation's counts against the old generation's limit
      if (name !== 'new_space' && name !== 'new_large_object_space') used += size;
    }
  } catch {
    return safe();
  }
  return oldLimit - used;
}

// The heap a parsed header may take. V8's heap_size_limit counts the young generation (3
// semi-spaces, 48 MiB under Node's defaults) besides the old space, where a parsed header ends up
// and what runs out: a floor of 64 MiB let a 3 MB header end a process run with
// --max-old-space-size=16 (V8's fatal out-of-memory; an attack, 2026-12-03). Now the least of: a
// quarter of the heap limit, half of the old space's limit, and half of what the heap has free now
// less the young generation (live data counts: 45 MB live in a 64 MB old space ended such a
// process on a 3.7 MB header when only the limits counted; garbage not yet collected counts too,
// which refuses on the safe side; reviews, 2026-12-03). The old space's limit: a Worker's
// resourceLimits where they are plausible, else --max-old-space-size (NODE_OPTIONS, then the
// command line, which wins; whole option tokens only), else the limit less the young generation
// (3 x --max-semi-space-size, or V8's default: defaultSemiSpaceMiB). At least 1 MiB, which any one-tensor header fits.
// V8's largest semi-space when no flag sets one, by V8's major version: heap_size_limit less
// --max-old-space-size, over 3 (two semi-spaces and the new large-object space), measured on
// Node 20.20 / 22.23 (V8 11.3, 12.4: 48 MiB young), 24.22 (V8 13.6: 192) and 26.12 (V8 14.6: 96).
// A V8 not listed takes the largest seen: a young generation assumed too large only makes the old
// space's derived limit smaller (the safe side). Assuming 16 everywhere overstated Node 24's old
// space by 144 MiB, so the budget near heap exhaustion was larger than what was left (a review,
// 2026-12-04).
function defaultSemiSpaceMiB(): number {
  const major = Number(/^(\d+)\./.exec(process.versions.v8)?.[1]);
  if (major <= 12) return 16;
  if (major === 14) return 32;
  return 64;
}

const HEAP_LIMITS: { young: number; old: number } = (() => {
  const MiB = 2 ** 20;
  const limit = heapStatistics().heap_size_limit;
  const rl = (nodeWorkerThreads.resourceLimits ?? {}) as { maxOldGenerationSizeMb?: number; maxYoungGenerationSizeMb?: number };
  const tokens: string[] = [];
  try {
    for (const t of (process.env.NODE_OPTIONS ?? '').split(/\s+/)) tokens.push(t);
    for (const t of process.execArgv) tokens.push(t); // the command line after NODE_OPTIONS: it wins
  } catch {
    // unreadable: the defaults below
  }
  const lastFlag = (name: RegExp): number | null => {
    let v: number | null = null;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i] as string;
      const m = name.exec(t);
      if (m === null) continue;
      const value = m[1] !== undefined ? m[1] : tokens[i + 1];
      if (value !== undefined && /^\d+$/.test(value)) v = Number(value);
    }
    return v;
  };
  // A known old-space limit also gives the young generation's size (the rest of the heap limit):
  // Node 24's V8 gives --max-old-space-size=64 a heap limit of 256 MiB, 192 of them young.
  const plausible = (mb: number | null | undefined): mb is number => typeof mb === 'number' && mb > 0 && mb * MiB <= limit;
  let old: number | null = plausible(rl.maxOldGenerationSizeMb) ? rl.maxOldGenerationSizeMb * MiB : null;
  const flagOld = lastFlag(/^--max[-_]old[-_]space[-_]size(?:=(\d+))?$/);
  if (plausible(flagOld)) old = MathMin(old ?? limit, flagOld * MiB);
  const semi = lastFlag(/^--max[-_]semi[-_]space[-_]size(?:=(\d+))?$/);
  const young = typeof rl.maxYoungGenerationSizeMb === 'number' && rl.maxYoungGenerationSizeMb > 0
    ? rl.maxYoungGenerationSizeMb * MiB
    : old !== null
      ? MathMax(limit - old, 0)
      : 3 * (semi ?? defaultSemiSpaceMiB()) * MiB;
  return { young, old: old ?? MathMax(limit - young, limit / 8) };
})();

/**
 * The JS heap, in bytes, that one large allocation burst (a parsed safetensors header) may take
 * now: the least of a quarter of the heap limit, half of the old space's limit, half of what the
 * heap has free less the young generation, and half of what the old generation has free; at
 * least 1 MiB.
 */
export function heapBudgetBytes(): number {
  const s = heapStatistics();
  const b = MathMin(s.heap_size_limit / 4, HEAP_LIMITS.old / 2, (s.total_available_size - HEAP_LIMITS.young) / 2, oldGenerationFree(HEAP_LIMITS.old, s.used_heap_size) / 2);
  // (not MathMax: a NaN, whatever made it, must give the floor, not NaN, which no cost exceeds)
  return b >= 2 ** 20 ? b : 2 ** 20;
}

/** The young generation's and the old space's limits, in bytes, as heapBudgetBytes takes them (for tests). */
export function heapLimits(): { young: number; old: number } {
  return { young: HEAP_LIMITS.young, old: HEAP_LIMITS.old };
}
