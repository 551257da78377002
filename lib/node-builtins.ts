// Node's built-in modules, for every file of this package that uses one.
//
// They come through process.getBuiltinModule (Node >= 20.16), not require() or a top-level import
// (which tsc compiles to require()): an app bundled as an ES module (esbuild --format=esm) turns
// every require() in this CommonJS package into a stub that throws 'Dynamic require of "node:v8"
// is not supported' on import, before the loader can say what is wrong. Older Node, where such a
// bundle cannot work anyway, falls back to require(). Each require() names its module literally,
// so bundlers that follow them see which.

import type * as BufferModule from 'node:buffer';
import type * as FsModule from 'node:fs';
import type * as ModuleModule from 'node:module';
import type * as OsModule from 'node:os';
import type * as PathModule from 'node:path';
import type * as PerfHooksModule from 'node:perf_hooks';
import type * as TimersModule from 'node:timers';
import type * as UrlModule from 'node:url';
import type * as UtilModule from 'node:util';
import type * as V8Module from 'node:v8';
import type * as WorkerThreadsModule from 'node:worker_threads';

const getBuiltin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;

export const nodeBuffer = (getBuiltin ? getBuiltin('node:buffer') : require('node:buffer')) as typeof BufferModule;
export const nodeFs = (getBuiltin ? getBuiltin('node:fs') : require('node:fs')) as typeof FsModule;
export const nodeModule = (getBuiltin ? getBuiltin('node:module') : require('node:module')) as typeof ModuleModule;
export const nodeOs = (getBuiltin ? getBuiltin('node:os') : require('node:os')) as typeof OsModule;
export const nodePath = (getBuiltin ? getBuiltin('node:path') : require('node:path')) as typeof PathModule;
export const nodePerfHooks = (getBuiltin ? getBuiltin('node:perf_hooks') : require('node:perf_hooks')) as typeof PerfHooksModule;
export const nodeTimers = (getBuiltin ? getBuiltin('node:timers') : require('node:timers')) as typeof TimersModule;
export const nodeUrl = (getBuiltin ? getBuiltin('node:url') : require('node:url')) as typeof UrlModule;
export const nodeUtil = (getBuiltin ? getBuiltin('node:util') : require('node:util')) as typeof UtilModule;
export const nodeV8 = (getBuiltin ? getBuiltin('node:v8') : require('node:v8')) as typeof V8Module;
export const nodeWorkerThreads = (getBuiltin ? getBuiltin('node:worker_threads') : require('node:worker_threads')) as typeof WorkerThreadsModule;
