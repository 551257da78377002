// The ES-module entry (dist/index.mjs) as Vite transforms it: vitest inlines files outside
// node_modules, as an app's vitest does with server.deps.inline: ['squeeze-excite'] (or vite-node
// with ssr.noExternal). Under Vite's CommonJS interop the default import of dist/index.js is
// `{ default: exports }`, so names destructured from it were all undefined (a helper's test of
// bundlers, 2026-12-03); they are re-exported from the module now. (The default import under that
// interop is Vite's own wrapper, not checked here.)
import { createRequire } from 'node:module';
import { expect, test } from 'vitest';
import * as esm from '../dist/index.mjs';

test('under Vite, every named export of the ES-module entry is defined, as in the CommonJS one', () => {
  const cjs = createRequire(import.meta.url)('../dist/index.js') as Record<string, unknown>;
  const names = Object.keys(cjs).filter((n) => n !== 'default' && n !== '__esModule');
  expect(names.length).toBeGreaterThan(25);
  // (Vite may run its own instance of dist/index.js, so the values need not be the same objects.)
  for (const n of names) expect([n, typeof (esm as Record<string, unknown>)[n]]).toEqual([n, typeof cjs[n]]);
  expect((esm.seForward as (...a: unknown[]) => Float32Array)(new Float32Array(4), [1, 4, 1, 1], { w1: new Float32Array(16) })).toHaveLength(4);
});
