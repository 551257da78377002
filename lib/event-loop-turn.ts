// Async CPU calls that ran on the caller's thread (offload 'auto': the op cost less than staging
// it) settle without a turn of the event loop: their promise is already resolved, and `await` on
// it goes on in a microtask. A loop awaiting such calls then never let timers or I/O run (a user's
// trial, 2026-12-05: 100 awaited SE 8x256x56x56 calls, 181 ms, not one 1 ms timer fired), which is
// not what an `...Async` function promises. So once such calls have held this thread for 1 ms in
// all since the last of these turns, the one settling waits for a turn of the event loop
// (setImmediate: timers and I/O that are due run first). Tiny calls pay one turn for every 1 ms of
// their work, not one each; staged calls settle from libuv, after a turn already, and take none
// (a review: counting wall time instead gave every staged call, and every call made from its own
// timer, a turn of its own, +8 us each).

import { nodePerfHooks, nodeTimers } from './node-builtins.js';
import { ReflectApply } from './primordials.js';

// Captured at load: fake timers installed later (vi.useFakeTimers, sinon) replace the globals.
const setImmediateIntrinsic = nodeTimers.setImmediate;
const performanceObject = nodePerfHooks.performance;
const performanceNow = performanceObject.now;
const PromiseCtor = Promise;

const TURN_AFTER_MS = 1;
// Milliseconds calls run on this thread have taken since the last turn (per thread: each Worker
// loads its own copy of lib/).
let heldMs = 0;

/** Milliseconds since an arbitrary origin (performance.now, captured at load). */
export function nowMs(): number {
  return ReflectApply(performanceNow, performanceObject, []) as number;
}

/** Counts `ms` of a call that ran on this thread. */
export function heldThread(ms: number): void {
  heldMs += ms;
}

/** Whether a call that ran on this thread should wait for a turn of the event loop before it settles. */
export function turnDue(): boolean {
  return heldMs >= TURN_AFTER_MS;
}

/** A promise that resolves after a turn of the event loop (the check phase of the next iteration at the latest). */
export function turn(): Promise<void> {
  return new PromiseCtor<void>((resolve) => {
    setImmediateIntrinsic(() => {
      heldMs = 0;
      resolve();
    });
  });
}
