// Async CPU calls that ran on the caller's thread (offload 'auto': the op cost less than staging
// it) settle without a turn of the event loop: their promise is already resolved, and `await` on
// it continues in a microtask. A loop awaiting such calls then never lets timers or I/O run (a
// user's trial, 2026-12-05: 100 awaited SE 8x256x56x56 calls, 181 ms, not one 1 ms timer fired),
// which is not what an `...Async` function promises. So such a call settles after a turn of the
// event loop (setImmediate: timers and I/O that are due run first) when the thread has gone 1 ms
// or more without one of these turns; tiny calls back to back take one turn every 1 ms instead of
// one each (a turn costs a few microseconds, as much as a tiny call).

import { nodePerfHooks, nodeTimers } from './node-builtins.js';
import { ReflectApply } from './primordials.js';

// Captured at load: fake timers installed later (vi.useFakeTimers, sinon) replace the globals.
const setImmediateIntrinsic = nodeTimers.setImmediate;
const performanceObject = nodePerfHooks.performance;
const performanceNow = performanceObject.now;
const PromiseCtor = Promise;

const TURN_EVERY_MS = 1;
let lastTurn = -Infinity;

function nowMs(): number {
  return ReflectApply(performanceNow, performanceObject, []) as number;
}

/**
 * Whether a call settling now should wait for a turn of the event loop first (none for 1 ms or
 * more). Counts as one: the caller then awaits turn().
 */
export function turnDue(): boolean {
  return nowMs() - lastTurn >= TURN_EVERY_MS;
}

/** A promise that resolves after a turn of the event loop (the check phase of the next iteration at the latest). */
export function turn(): Promise<void> {
  return new PromiseCtor<void>((resolve) => {
    setImmediateIntrinsic(() => {
      lastTurn = nowMs();
      resolve();
    });
  });
}
