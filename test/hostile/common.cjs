// Shared by the hostile scripts: each runs in its own child process (a crash must be a failed
// test, not a dead runner) and prints one JSON line {ok, checks, failures} on success.
'use strict';
const sqex = require(process.env.SQEX_DIST);

// xorshift32, seeded: never zeros.
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296 - 0.5;
  };
}

function fill(arr, r, scale = 1) {
  for (let i = 0; i < arr.length; i++) arr[i] = r() * scale || 0.25;
  return arr;
}

// Weights for each op at channels c (hidden c/4), as fresh arrays (optionally on a given buffer kind).
function weightsFor(op, c, r, alloc = (n) => new Float32Array(n)) {
  const h = Math.max(1, c >> 2);
  if (op === 'se') return { w1: fill(alloc(h * c), r, 0.2), b1: fill(alloc(h), r), w2: fill(alloc(c * h), r, 0.2), b2: fill(alloc(c), r) };
  if (op === 'eca') return { weight: fill(alloc(5), r) };
  return { w1: fill(alloc(h * c), r, 0.2), w2: fill(alloc(c * h), r, 0.2), spatialWeight: fill(alloc(2 * 7 * 7), r, 0.2) };
}

const fns = { se: sqex.seForward, eca: sqex.ecaForward, cbam: sqex.cbamForward };
const autoAsyncFns = { se: sqex.seForwardAsync, eca: sqex.ecaForwardAsync, cbam: sqex.cbamForwardAsync };
// What these scripts attack is the staged path of async host calls (native/binding/host_staging.h):
// offload 'always' keeps every call on it, including those that the default ('auto') runs on the
// calling thread because staging would cost more than the op. (Options here are plain objects.)
const stagedAsyncFns = Object.fromEntries(
  Object.entries(autoAsyncFns).map(([op, f]) => [op, (x, shape, w, opts) => f(x, shape, w, { ...opts, offload: 'always' })]),
);

const report = { ok: true, checks: 0, failures: [] };
function check(cond, what) {
  report.checks++;
  if (!cond) {
    report.ok = false;
    report.failures.push(what);
  }
}
function sameBits(a, b) {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
  return true;
}
function done() {
  process.stdout.write(`${JSON.stringify(report)}\n`);
}
function transfer(buf) {
  return structuredClone(buf, { transfer: [buf] });
}
const gc = typeof global.gc === 'function' ? global.gc : () => {};

// Unrelated live arrays, allocated right after an attack on a call in flight: where a stale pointer
// would write. Returns the check to run once the call has settled.
const BYSTANDER = 1234.5;
function bystanders(elems, count = 8) {
  const arrays = Array.from({ length: count }, () => new Float32Array(elems).fill(BYSTANDER));
  return (label) => {
    for (const b of arrays) check(b.every((v) => v === BYSTANDER), `${label}: an unrelated array changed`);
  };
}

// Promise hooks (v8.promiseHooks.onInit, async_hooks init) that strike once, at the k-th promise
// made while a call is being made: `during(k, strike, call)` makes the call so armed and returns
// what it returned; `fired` says whether the strike ran (k was within the call's own promises), and
// `most` is the most promises one call made. Callers strike k = 1, 2, ... until a strike no longer
// fires (strikeEach): a fixed bound missed the ninth promise a call makes where CUDA is available
// (the first GPU run, 2026-12-04).
function promiseStrikes() {
  const state = { counting: false, count: 0, strike: null, armedAt: 0, most: 0, fired: false };
  const onPromise = () => {
    if (!state.counting) return;
    if (++state.count === state.armedAt && state.strike !== null) {
      const f = state.strike;
      state.strike = null;
      state.fired = true;
      f();
    }
  };
  const kinds = {
    promiseHooks: () => require('node:v8').promiseHooks.onInit(onPromise),
    async_hooks: () => {
      const h = require('node:async_hooks').createHook({ init: (id, type) => type === 'PROMISE' && onPromise() });
      h.enable();
      return () => h.disable();
    },
  };
  const during = (k, strike, call) => {
    Object.assign(state, { count: 0, armedAt: k, strike, counting: true, fired: false });
    try {
      return call();
    } finally {
      state.counting = false; // only promises the call itself made
      state.strike = null;
      state.most = Math.max(state.most, state.count);
    }
  };
  // Calls one(k) (which makes its call through `during`) for k = 1, 2, ... until a strike no
  // longer fires past the most promises any call of the series made: every promise, then one
  // past them. A call that made fewer promises than an earlier one does not end the series early
  // (a review). Refuses to go past `cap`, and a series whose first strike never fired. For the
  // runner, the report counts the calls struck (strikePoints) and the most promises a call made
  // (mostPromises).
  report.strikePoints = 0;
  report.mostPromises = 0;
  const strikeEach = async (label, one, cap = 64) => {
    let most = 0;
    for (let k = 1; k <= cap; k++) {
      await one(k);
      report.strikePoints++;
      report.mostPromises = Math.max(report.mostPromises, state.count);
      most = Math.max(most, state.count);
      if (k === 1) check(state.fired, `${label}: the strike at the call's first promise never fired`);
      if (!state.fired && k > most) return;
    }
    check(false, `${label}: strikes still fired at promise ${cap}`);
  };
  return { kinds, during, state, strikeEach };
}

// A promise's outcome, { result } or { error }.
async function outcome(p) {
  try {
    return { result: await p };
  } catch (error) {
    return { error };
  }
}

// Linux: this process's address space now, and a cap on it `slack` bytes above (RLIMIT_AS through
// util-linux prlimit on our own pid; stdio ignored: no pipe for Node to read once it holds). Only
// for scripts whose test probed that the cap is enforced (test/hostile-run.ts memoryCap).
function vmSize() {
  return Number(/VmSize:\s+(\d+) kB/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
}
function capAddressSpace(slack) {
  const limit = vmSize() + slack;
  require('node:child_process').execFileSync('prlimit', ['--pid', String(process.pid), `--as=${limit}:`], { stdio: 'ignore' });
  return limit;
}

// The memory cgroup a script runs in (SQEX_CGROUP_DIR, made by test/hostile-run.ts memoryCgroup;
// cgroup v2's files or v1's): the bytes it uses now, and its limit, set outright or to `left`
// bytes over what it uses.
function memoryCgroupFiles(dir = process.env.SQEX_CGROUP_DIR) {
  const fs = require('node:fs');
  const path = require('node:path');
  const v2 = fs.existsSync(path.join(dir, 'memory.max'));
  const limitFile = path.join(dir, v2 ? 'memory.max' : 'memory.limit_in_bytes');
  const usage = () => Number(fs.readFileSync(path.join(dir, v2 ? 'memory.current' : 'memory.usage_in_bytes'), 'utf8'));
  return {
    v2,
    usage,
    setLimit: (bytes) => fs.writeFileSync(limitFile, String(bytes)),
    leave: (left) => fs.writeFileSync(limitFile, String(usage() + left)),
  };
}

module.exports = { sqex, rng, fill, weightsFor, fns, stagedAsyncFns, autoAsyncFns, check, sameBits, done, transfer, gc, bystanders, outcome, promiseStrikes, report, capAddressSpace, memoryCgroupFiles };
