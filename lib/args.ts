// Checks of scalar arguments: shapes, enum strings, option objects, indices, streams.

import type { Shape4 } from './types.js';
import { MAX_ELEMENTS, describe, formatShape, isPlainObject, rangeError, rangeErrorText, typeError } from './is.js';

const SHAPE_EXPECTED = 'an array of 4 positive integers [N, C, H, W]';
const AXES = ['N', 'C', 'H', 'W'] as const;

function axisName(arg: string, i: number): string {
  return `${arg}[${i}] (${AXES[i]})`;
}

/** A frozen copy of a valid [N, C, H, W]; N·C·H·W must be at most 2^31 − 1. */
export function parseShape(fn: string, arg: string, value: unknown): Shape4 {
  if (!Array.isArray(value)) throw typeError(fn, arg, SHAPE_EXPECTED, value);
  if (value.length !== 4) throw rangeError(fn, arg, SHAPE_EXPECTED, value);
  const dims: number[] = [];
  for (let i = 0; i < 4; i++) {
    const d: unknown = value[i];
    // Messages are built only on failure: this runs on every call.
    if (typeof d !== 'number') throw typeError(fn, axisName(arg, i), 'a positive integer', d);
    if (!Number.isInteger(d) || d < 1) throw rangeError(fn, axisName(arg, i), 'a positive integer', d);
    if (d > MAX_ELEMENTS) throw rangeError(fn, axisName(arg, i), `a positive integer at most ${MAX_ELEMENTS}`, d);
    dims.push(d);
  }
  const numel = dims[0]! * dims[1]! * dims[2]! * dims[3]!;
  if (numel > MAX_ELEMENTS) {
    throw rangeErrorText(
      fn,
      arg,
      `${SHAPE_EXPECTED} with at most ${MAX_ELEMENTS} (2^31 − 1) elements per tensor`,
      `${formatShape(dims)} = ${numel} elements`,
    );
  }
  return Object.freeze([dims[0]!, dims[1]!, dims[2]!, dims[3]!] as const);
}

export function numelOf(shape: Shape4): number {
  return shape[0] * shape[1] * shape[2] * shape[3];
}

function quoteList(allowed: readonly string[]): string {
  return allowed.map((a) => `'${a}'`).join(', ');
}

/** An enum string; undefined gives the default. */
export function parseEnum<T extends string>(fn: string, arg: string, value: unknown, allowed: readonly T[], dflt: T): T {
  if (value === undefined) return dflt;
  if (typeof value !== 'string') throw typeError(fn, arg, `one of ${quoteList(allowed)}`, value);
  if (!(allowed as readonly string[]).includes(value)) throw rangeError(fn, arg, `one of ${quoteList(allowed)}`, value);
  return value as T;
}

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * An options (or weights) object: undefined gives {}; anything but a plain object is a
 * TypeError, and so is an own key outside `known` (a misspelt option would otherwise be
 * silently ignored).
 */
export function parseObject(
  fn: string,
  arg: string,
  value: unknown,
  known: readonly string[],
  optional: boolean,
): Readonly<Record<string, unknown>> {
  if (value === undefined && optional) return EMPTY;
  const expected = (): string => `${optional ? 'undefined or ' : ''}a plain object with only the keys ${known.join(', ')}`;
  if (!isPlainObject(value)) throw typeError(fn, arg, expected(), value);
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
    if (!known.includes(key)) {
      throw new TypeError(`${fn}: ${arg} must be ${expected()}; received ${describe(value)} with the unknown key ${JSON.stringify(key)}`);
    }
  }
  return value;
}

/** A non-negative integer index (CUDA device ordinal); undefined stays undefined. */
export function parseIndex(fn: string, arg: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw typeError(fn, arg, 'a non-negative integer', value);
  if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) throw rangeError(fn, arg, 'a non-negative integer', value);
  return value;
}

const MAX_U64 = (1n << 64n) - 1n;

/** A cudaStream_t as a bigint (0n = the legacy default stream); undefined gives 0n. */
export function parseStream(fn: string, arg: string, value: unknown): bigint {
  if (value === undefined) return 0n;
  const expected = 'a bigint cudaStream_t handle in [0n, 2n ** 64n)';
  if (typeof value !== 'bigint') throw typeError(fn, arg, expected, value);
  if (value < 0n || value > MAX_U64) throw rangeError(fn, arg, expected, value);
  return value;
}
