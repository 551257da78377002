// Predicates on a caller's value that run none of the caller's code and throw nothing: a plain
// object (of any realm), an Array, a Map.

import { nodeUtil } from './node-builtins.js';
import { ArrayIsArray, MapPrototypeHas, ReflectGetOwnPropertyDescriptor, ReflectGetPrototypeOf } from './primordials.js';

const isArray = ArrayIsArray;
const getPrototypeOf = ReflectGetPrototypeOf;
const getOwnPropertyDescriptor = ReflectGetOwnPropertyDescriptor;
const ObjectPrototype = Object.prototype;
const utilTypes = nodeUtil.types;

/**
 * `check` when it answers true for `yes` and false for `no` (a util.types replaced before this
 * library loaded is not trusted: an attack's () => true made every call throw an uncoded
 * TypeError), else `probe`, which throws and catches to find the answer.
 */
export function trusted(check: unknown, yes: unknown, no: unknown, probe: (v: unknown) => boolean): (v: unknown) => boolean {
  try {
    if (typeof check === 'function') {
      const f = check as (v: unknown) => unknown; // called directly: no argument array a call
      if (f(yes) === true && f(no) === false) return (v) => f(v) === true;
    }
  } catch {
    // a replacement that throws: not trusted
  }
  return probe;
}

const isMapIntrinsic = trusted(utilTypes.isMap, new Map(), new Set(), (v) => {
  try {
    MapPrototypeHas(v, undefined);
    return true;
  } catch {
    return false;
  }
});

// No probe answers this without util.types (a Proxy is built to pass for its target): false then.
const isProxyIntrinsic = trusted(utilTypes.isProxy, new Proxy({}, {}), {}, () => false);

/** A Proxy (util.types.isProxy): only for a refusal's words, so no fallback probe. */
export function isProxyValue(value: unknown): boolean {
  return isProxyIntrinsic(value);
}

const isPromiseIntrinsic = trusted(utilTypes.isPromise, Promise.resolve(), {}, () => false);

/** A native Promise (what an …Async call returns): only for an error's hint, so no fallback probe. */
export function isPromiseValue(value: unknown): boolean {
  return isPromiseIntrinsic(value);
}

/** Array.isArray, captured. */
export function isArrayValue(value: unknown): value is unknown[] {
  try {
    return isArray(value);
  } catch {
    return false; // a revoked Proxy: Array.isArray throws; it is no array to read
  }
}

// Object.prototype of this realm or of another (a vm context, where a caller's `{}` is made): a
// prototype-less object whose own `constructor` is a function named 'Object' whose own
// `prototype` is it. Read through property descriptors, so no getter of the caller's runs.
export function isObjectPrototype(proto: unknown): boolean {
  if (proto === ObjectPrototype) return true;
  if (typeof proto !== 'object' || proto === null || getPrototypeOf(proto) !== null) return false;
  const ctor = getOwnPropertyDescriptor(proto, 'constructor')?.value as unknown;
  if (typeof ctor !== 'function') return false;
  return getOwnPropertyDescriptor(ctor, 'prototype')?.value === proto && getOwnPropertyDescriptor(ctor, 'name')?.value === 'Object';
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  // A revoked Proxy throws from Array.isArray and getPrototypeOf, another Proxy's trap may throw:
  // either way it is not a plain object, and the caller's refusal must carry its code.
  try {
    if (typeof value !== 'object' || value === null || isArray(value)) return false;
    const proto = getPrototypeOf(value) as unknown;
    return proto === null || isObjectPrototype(proto);
  } catch {
    return false;
  }
}

/** A Map of any realm (util.types.isMap, an internal-slot check), never a Proxy of one. */
export function isMapValue(value: unknown): value is Map<unknown, unknown> {
  // util.types.isMap answers without an exception (the probe threw and caught one for every
  // plain-object state dict), and is false for a Proxy of a Map, as the probe was.
  return isMapIntrinsic(value);
}

