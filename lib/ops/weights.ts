// Weight checks: the Float32Array / DeviceTensor weights of SE, ECA and CBAM against the sizes
// they fix, and the SharedArrayBuffer copies blocks keep.

import { numelOf } from '../args.js';
import { isDeviceTensor } from '../device-tensor.js';
import { allocateSharedFloat32 } from '../alloc.js';
import { codedError, rangeError, rangeErrorText, typeError } from '../arg-errors.js';
import { fixedLengthView, isDetached, isFloat32Array, lengthOf } from '../typed-arrays.js';
import { NumberIsInteger, TypedArrayPrototypeSet, WeakMapCtor, WeakMapPrototypeGet, WeakMapPrototypeSet } from '../primordials.js';
import type { HostWeightSet, WeightSet, WeightValue } from './spec.js';

/** Elements of a weight operand. */
export function weightLength(w: WeightValue): number {
  return isDeviceTensor(w) ? numelOf(w.shape) : lengthOf(w);
}

/** How a message names a weight of `length` elements, in the kind the caller passed. */
export function weightText(value: WeightValue | null, length: number): string {
  return isDeviceTensor(value) ? `a float32 DeviceTensor of ${length} elements` : `a Float32Array of length ${length}`;
}

/**
 * A required or optional weight (undefined → null when optional): a Float32Array, or with
 * acceptDevice also a DeviceTensor (checked further by resolveDeviceWeights).
 */
export function weightArray(fn: string, arg: string, value: unknown, optional: boolean, acceptDevice = false): WeightValue | null {
  if (value === undefined && optional) return null;
  if (isDeviceTensor(value)) {
    if (acceptDevice) return value;
    const why = 'DeviceTensor weights are taken only by the functions, with a DeviceTensor x';
    throw typeError(fn, arg, `a Float32Array${optional ? ' or undefined' : ''} (${why})`, value);
  }
  const kinds = acceptDevice ? 'a Float32Array or a float32 DeviceTensor' : 'a Float32Array';
  const expected = optional ? `${kinds} or undefined` : kinds;
  if (!isFloat32Array(value)) throw typeError(fn, arg, expected, value);
  if (isDetached(value)) throw typeError(fn, arg, 'a Float32Array that is not detached', value);
  // Read once: every later length check, and the addon, see this view's length, whatever another
  // thread does to a growable buffer meanwhile (fixedLengthView).
  return fixedLengthView(value);
}

/** A weight that is always a host array (CBAM's spatialBias: passed by value). */
export function hostWeightArray(fn: string, arg: string, value: unknown, optional: boolean, why: string): Float32Array | null {
  if (value === undefined && optional) return null;
  if (!isFloat32Array(value)) throw typeError(fn, arg, `a Float32Array${optional ? ' or undefined' : ''} (${why})`, value);
  if (isDetached(value)) throw typeError(fn, arg, 'a Float32Array that is not detached', value);
  return fixedLengthView(value);
}

/** why: where `length` comes from, built only for the message. */
export function expectLength(fn: string, arg: string, value: WeightValue | null, length: number, why: () => string): void {
  if (value !== null && weightLength(value) !== length) {
    throw rangeError(fn, arg, `${weightText(value, length)} (${why()})`, value);
  }
}

/** A positive integer option such as channels (blocks). */
export function positiveInt(fn: string, arg: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw typeError(fn, arg, 'a positive integer', value);
  if (!NumberIsInteger(value) || value < 1 || value > 0x7fffffff) throw rangeError(fn, arg, 'a positive integer', value);
  return value;
}

/** The most hidden units the addon takes (a 32-bit signed count). */
const MAX_HIDDEN = 2 ** 31 - 1;

/**
 * The [hidden, C] / [C, hidden] MLP of SE (two FC) and CBAM. c may be unknown (blocks): then b2,
 * b1 or `channels` fix it.
 */
export function validateMlp(
  fn: string,
  w: Readonly<Record<string, unknown>>,
  cKnown: number | undefined,
  channels: number | undefined,
  acceptDevice: boolean,
): { c: number; hidden: number; w1: WeightValue; b1: WeightValue | null; w2: WeightValue; b2: WeightValue | null } {
  const w1 = weightArray(fn, 'weights.w1', w.w1, false, acceptDevice)!;
  const b1 = weightArray(fn, 'weights.b1', w.b1, true, acceptDevice);
  const w2 = weightArray(fn, 'weights.w2', w.w2, false, acceptDevice)!;
  const b2 = weightArray(fn, 'weights.b2', w.b2, true, acceptDevice);
  const w1Len = weightLength(w1);
  const b1Len = b1 === null ? 0 : weightLength(b1);
  const w2Len = weightLength(w2);
  const b2Len = b2 === null ? 0 : weightLength(b2);
  try {
    return checkMlp(fn, cKnown, channels, w1, b1, w2, b2, w1Len, b1Len, w2Len, b2Len);
  } catch (err) {
    // A bias passed empty is present (and refused for any C), not absent.
    rememberFit(err, (c) => {
      const hidden = w1Len / c;
      return NumberIsInteger(hidden) && hidden >= 1 && (b1 === null || b1Len === hidden) && w2Len === c * hidden && (b2 === null || b2Len === c);
    });
    throw err;
  }
}

/** For each refusal of weights whose sizes depend on C: which C they would fit (weightsFitC). */
const refusedFits = new WeakMapCtor<object, (c: number) => boolean>();

/** Records, for the refusal `err` of C-sized weights, the test of which C they would fit. */
export function rememberFit(err: unknown, fits: (c: number) => boolean): void {
  if (typeof err === 'object' && err !== null) WeakMapPrototypeSet(refusedFits, err, fits);
}

/**
 * Whether the weights refused with `err` would fit C = c (SE's and CBAM's MLP: w1 [hidden, c], w2
 * [c, hidden], b1 / b2 where given; single-FC SE: w1 [c, c], b1 [c]); false for any other error. For
 * the refusal's hint that the shape may be in memory order (lib/ops/run.ts withLayoutHint).
 */
export function weightsFitC(err: unknown, c: number): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const fits = WeakMapPrototypeGet(refusedFits, err) as ((c: number) => boolean) | undefined;
  return fits !== undefined && fits(c);
}

function checkMlp(
  fn: string,
  cKnown: number | undefined,
  channels: number | undefined,
  w1: WeightValue,
  b1: WeightValue | null,
  w2: WeightValue,
  b2: WeightValue | null,
  w1Len: number,
  b1Len: number,
  w2Len: number,
  b2Len: number,
): { c: number; hidden: number; w1: WeightValue; b1: WeightValue | null; w2: WeightValue; b2: WeightValue | null } {
  // The C that b2, or else w1 over b1, fixes (undefined: neither does).
  const impliedC = b2 !== null ? b2Len : b1Len > 0 && w1Len % b1Len === 0 ? w1Len / b1Len : undefined;
  // A block's `channels` that the weights contradict is named itself (an audit found the message
  // blaming a right weight: b2 of the weights' C against a wrong channels).
  if (cKnown === undefined && channels !== undefined) {
    if (impliedC !== undefined && impliedC !== channels) {
      const from = b2 !== null ? 'the length of weights.b2' : `weights.w1's length / weights.b1's length = ${w1Len} / ${b1Len}`;
      // Both biases are two witnesses; one could itself be the wrong one.
      const orBias = b1 !== null && b2 !== null ? '' : `; or ${b2 !== null ? 'weights.b2' : 'weights.b1'} has the wrong length`;
      throw rangeError(fn, 'options.channels', `${impliedC} (${from}), or omitted${orBias}`, channels);
    }
    if (w1Len % channels !== 0) {
      throw rangeError(fn, 'options.channels', `a divisor of weights.w1's length ${w1Len} (w1 is [hidden, C])`, channels);
    }
  }
  // A call's C (from its shape) that the weights contradict. Both biases agreeing with w1 and w2
  // on another C are two independent witnesses: name the shape (a newcomer's C = 32 shape with a
  // C = 64 block's weights was told b1 had the wrong length, for a hidden derived from the wrong
  // C). One bias alone, or biases that fit the shape swapped, could be the wrong one (a reviewer's
  // fc1.bias passed as b2 was blamed on the shape): the weight is named below, and its message
  // says which C the weights would fit (otherC).
  const swapped = cKnown !== undefined && b1 !== null && b2 !== null && b1Len === cKnown && b2Len * cKnown === w1Len;
  const otherC = cKnown !== undefined && impliedC !== undefined && impliedC !== cKnown && !swapped && fitsC(impliedC, w1Len, b1Len, w2Len) ? impliedC : undefined;
  if (otherC !== undefined && b1 !== null && b2 !== null) {
    throw rangeErrorText(
      fn,
      'shape[1] (C)',
      `${otherC}, the C the weights are for (weights.b2 has ${otherC} elements, and w1, b1 and w2 agree)`,
      `${cKnown}. Either the shape is wrong (it is [N, C, H, W] in every layout) or these are another block's weights`,
    );
  }
  // Appended to a weight's refusal: what else may be wrong.
  const also = (): string =>
    swapped
      ? '; weights.b1 and weights.b2 look swapped (b1 has C elements, b2 hidden)'
      : otherC !== undefined
        ? `; or shape[1] (C) = ${cKnown} is wrong: these weights fit C = ${otherC}`
        : '';
  const c = cKnown ?? channels ?? impliedC;
  if (c === undefined) {
    throw rangeError(
      fn,
      'options.channels',
      'given when weights.b1 and weights.b2 are both omitted (w1 [hidden, C] and w2 [C, hidden] alone do not fix C)',
      channels,
    );
  }
  if (c < 1) throw rangeError(fn, 'weights.b2', `${b2 !== null && isDeviceTensor(b2) ? 'a float32 DeviceTensor' : 'a Float32Array'} of C ≥ 1 elements`, b2);
  // hidden from w1 when it divides; else from b1 or w2, so the w1 message can name the size.
  let hidden = w1Len % c === 0 ? w1Len / c : 0;
  if (hidden === 0) {
    if (b1Len > 0) hidden = b1Len;
    else if (w2Len % c === 0 && w2Len > 0) hidden = w2Len / c;
    if (hidden === 0) {
      const kind = isDeviceTensor(w1) ? 'a float32 DeviceTensor' : 'a Float32Array';
      throw rangeError(fn, 'weights.w1', `${kind} [hidden, C] whose length is a positive multiple of C = ${c}`, w1);
    }
    throw rangeError(fn, 'weights.w1', `${weightText(w1, hidden * c)} (hidden × C = ${hidden} × ${c}${also()})`, w1);
  }
  // The addon takes hidden as a 32-bit count (an attack reached its internal cfg check with
  // C = 1 and w1 of 2^31 elements).
  if (hidden > MAX_HIDDEN) {
    throw rangeErrorText(fn, 'weights.w1', `[hidden, C] with hidden ≤ ${MAX_HIDDEN} (2^31 - 1)`, `${w1Len} elements: hidden = ${hidden} for C = ${c}`);
  }
  expectLength(fn, 'weights.b1', b1, hidden, () => `hidden = ${hidden}, from w1 [hidden, C] = ${w1Len} / ${c}${also()}`);
  expectLength(fn, 'weights.w2', w2, c * hidden, () => {
    // which of the two is wrong cannot be told: say what each implies (a newcomer's w1, read one
    // float per byte, was 4x long and the message blamed the right w2 alone)
    const other = w2 !== null && w2Len % c === 0 && w2Len > 0 ? `; w2's length implies hidden = ${w2Len / c}, so w1 or w2 is wrong` : '';
    return `C × hidden = ${c} × ${hidden}, hidden from weights.w1's length ${w1Len} / C${other}${also()}`;
  });
  expectLength(fn, 'weights.b2', b2, c, () => `C = ${c}${also()}`);
  return { c, hidden, w1, b1, w2, b2 };
}

/** Whether w1 [hidden, C], b1 [hidden] (0: absent) and w2 [C, hidden] fit one hidden for this C. */
function fitsC(c: number, w1Len: number, b1Len: number, w2Len: number): boolean {
  if (c < 1 || w1Len % c !== 0) return false;
  const hidden = w1Len / c;
  return hidden >= 1 && (b1Len === 0 || b1Len === hidden) && w2Len === c * hidden;
}

/**
 * Copies of host weights for blocks (so later writes by the caller do not change them). The
 * copies live in SharedArrayBuffers, which cannot be detached or shrunk, so async calls use them
 * in place instead of staging a copy per call (native/binding/host_staging.h). Blocks validate
 * with acceptDevice false, so a DeviceTensor here is a bug in lib/.
 */
export function copyWeights(ws: WeightSet): HostWeightSet {
  const copy = (a: WeightValue | null): Float32Array | null => {
    if (a === null) return null;
    if (isDeviceTensor(a)) throw codedError('squeeze-excite (internal): a block was given DeviceTensor weights', 'ERR_SQEX_INTERNAL');
    const n = lengthOf(a);
    const c = allocateSharedFloat32(n, "the block's copy of its weights");
    TypedArrayPrototypeSet(c, a);
    return c;
  };
  const s = ws.slots;
  return { ...ws, slots: [copy(s[0]), copy(s[1]), copy(s[2]), copy(s[3]), copy(s[4])] };
}
