// `await` without the caller's code: it reads the awaited promise's `constructor`, and when that is
// not the intrinsic Promise (a getter or a value a caller put on Promise.prototype) it settles
// through the promise's `then`, which the caller may have replaced too (a review, 2026-12-04: a
// call then rejected uncoded while the addon still wrote its output, and held tensors were let go
// early). Every promise lib/ awaits gets an own `constructor` of the Promise captured at load.

import { isPromiseValue } from './is.js';
import { defineOwn } from './primordials.js';

const PromiseCtor = Promise;

/** `value`, given an own `constructor` of the intrinsic Promise when it is a promise; what lib/ awaits. */
export function awaitable<T>(value: T): T {
  if (isPromiseValue(value)) defineOwn(value as object, 'constructor', PromiseCtor);
  return value;
}
