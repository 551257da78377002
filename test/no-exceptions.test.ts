// Ordinary calls throw and catch no exception inside the library (test/hostile/no-exceptions.cjs):
// a caught exception captures a stack trace, microseconds each, and an exception-driven type probe
// once tripled the cost of a small call. Deterministic, unlike a timing: the inspector counts them.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect, test } from 'vitest';

test('no exception is thrown inside the library by ordinary calls (sync, async, blocks; plain, shared and resizable buffers)', () => {
  const dist = path.resolve(__dirname, '..', 'dist', 'index.js');
  const out = execFileSync(process.execPath, [path.join(__dirname, 'hostile', 'no-exceptions.cjs')], { env: { ...process.env, SQEX_DIST: dist }, encoding: 'utf8' });
  const result = JSON.parse(out) as Record<string, string[]>;
  expect(Object.keys(result).length).toBe(15);
  for (const [name, where] of Object.entries(result)) expect(where, name).toEqual([]);
});

// util.types replaced before the library loads (an attack): () => true made every call throw V8's
// uncoded TypeError from a SharedArrayBuffer getter on an ArrayBuffer. Such a replacement is not
// trusted; the library falls back to probing, and answers as before.
test.each(['() => true', '() => false', '() => { throw new Error("replaced") }'])('util.types.isSharedArrayBuffer and isMap replaced by %s before the library loads: calls still right', (fn) => {
  const dist = path.resolve(__dirname, '..', 'dist', 'index.js');
  const script = `
    const util = require('node:util');
    util.types.isSharedArrayBuffer = ${fn};
    util.types.isMap = ${fn};
    const sq = require(${JSON.stringify(dist)});
    const C = 8, x = new Float32Array(C * 4).fill(1), w = { w1: new Float32Array(2 * C).fill(0.1), b1: new Float32Array(2), w2: new Float32Array(C * 2).fill(0.1), b2: new Float32Array(C) };
    const a = sq.seForward(x, [1, C, 2, 2], w);
    const sab = new Float32Array(new SharedArrayBuffer(x.byteLength)); sab.set(x);
    const b = sq.seForward(sab, [1, C, 2, 2], w);
    const t = (shape, data) => ({ shape, data });
    const rec = { 'fc1.weight': t([2, C], w.w1), 'fc1.bias': t([2], w.b1), 'fc2.weight': t([C, 2], w.w2), 'fc2.bias': t([C], w.b2) };
    const m = sq.attentionWeightsFromStateDict(new Map(Object.entries(rec)), '', { kind: 'timm.SEModule' });
    const r = sq.attentionWeightsFromStateDict(rec, '', { kind: 'timm.SEModule' });
    console.log(JSON.stringify({ same: a.every((v, i) => v === b[i]), y0: a[0], map: m.channels, rec: r.channels }));
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { same: boolean; y0: number; map: number; rec: number };
  // hidden = relu(0.1 · 8 · 1) = 0.8 twice; the gate sigmoid(2 · 0.1 · 0.8) = sigmoid(0.16); C = 8.
  expect(out).toEqual({ same: true, y0: expect.closeTo(1 / (1 + Math.exp(-0.16)), 6), map: 8, rec: 8 });
});
