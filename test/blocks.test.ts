// SEBlock / ECABlock / CBAMBlock on the CPU equal the functions bitwise, and the reference.
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, test } from 'vitest';
import { CBAMBlock, ECABlock, SEBlock, cbamForward, ecaForward, seForward } from '../dist/index.js';
import { refCBAM, refECA, refSE, type Shape4 } from './reference.js';
import { LAYOUTS, TOL_F32, bitsEqual, expectClose, freshRng, residualTol, numel, poisoned, randCBAMWeights, randECAWeight, randSEWeights, seedNote } from './helpers.js';

describe('blocks on the CPU', () => {
  test.each(LAYOUTS)('forward and forwardAsync equal the functions (%s)', async (layout) => {
    const rng = freshRng();
    const shape: Shape4 = [2, 20, 7, 9];
    const [N, C] = shape;
    const x = rng.normals(numel(shape), 1, 0.3);
    const r = rng.normals(numel(shape));

    const seW = randSEWeights(rng, C, 5, { twoFc: true, b1: true, b2: true });
    const seOpts = { layout, activation: 'silu', gate: 'sigmoid', outputActivation: 'relu' } as const;
    const se = new SEBlock(seW, { ...seOpts, device: 'cpu', channels: C });
    expect(se.backend).toBe('cpu');
    expect(se.channels).toBe(C);
    const o1 = poisoned(x.length);
    const s1 = poisoned(N * C);
    expect(se.forward(x, shape, { residual: r, out: o1, scaleOut: s1 })).toBe(o1);
    const o2 = seForward(x, shape, seW, { ...seOpts, device: 'cpu', residual: r });
    expect(bitsEqual(o1, o2)).toBe(true);
    const ref = refSE(x, shape, seW, { ...seOpts, residual: r });
    expectClose(o1, ref.y, TOL_F32, seedNote(rng), residualTol(r));
    expectClose(s1, ref.scale, TOL_F32, seedNote(rng));
    expect(bitsEqual(await se.forwardAsync(x, shape, { residual: r }), o2)).toBe(true);
    // weights are copied at construction: changing the caller's arrays changes nothing
    seW.w1.fill(0);
    expect(bitsEqual(se.forward(x, shape, { residual: r }), o2)).toBe(true);
    se.dispose();
    expect(se.disposed).toBe(true);
    expect(() => se.forward(x, shape)).toThrow(Error);
    expect(() => se.dispose()).not.toThrow();

    const weight = randECAWeight(rng, 3);
    const eca = new ECABlock({ weight }, { layout, gate: 'hardsigmoid', device: 'cpu' });
    expect(eca.kernelSize).toBe(3);
    const e1 = eca.forward(x, shape);
    expect(bitsEqual(e1, ecaForward(x, shape, { weight }, { layout, gate: 'hardsigmoid', device: 'cpu' }))).toBe(true);
    expectClose(e1, refECA(x, shape, { weight }, { layout, gate: 'hardsigmoid' }).y, TOL_F32, seedNote(rng));
    eca.dispose();

    const cbW = randCBAMWeights(rng, C, 5, 7, { b1: true, b2: false, spatialBias: true });
    const cbam = new CBAMBlock(cbW, { layout, activation: 'relu', gate: 'sigmoid', device: 'cpu', channels: C });
    const c1 = await cbam.forwardAsync(x, shape);
    expect(bitsEqual(c1, cbamForward(x, shape, cbW, { layout, device: 'cpu' }))).toBe(true);
    expectClose(c1, refCBAM(x, shape, cbW, { layout }).y, TOL_F32, seedNote(rng));
    cbam.dispose();
  });
});

// From a newcomer's trial (2026-12-01): toString said only "SEBlock (cpu)".
describe('toString says what the block computes and where', () => {
  test('SE (two FCs, one FC), ECA, CBAM; layout, disposed', () => {
    const rng = freshRng();
    const se = new SEBlock(randSEWeights(rng, 64, 16, { twoFc: true, b1: true, b2: true }) as never, { device: 'cpu', activation: 'silu' });
    expect(String(se)).toBe('SEBlock (C 64, hidden 16, silu/sigmoid, cpu)');
    se.dispose();
    expect(se.toString()).toBe('SEBlock (C 64, hidden 16, silu/sigmoid, cpu, disposed)');
    const one = new SEBlock({ w1: new Float32Array(8 * 8), b1: new Float32Array(8) }, { gate: 'hardsigmoid', outputActivation: 'relu', device: 'cpu' });
    expect(String(one)).toBe('SEBlock (C 8, one FC, hardsigmoid, output relu, cpu)');
    const eca = new ECABlock({ weight: randECAWeight(rng, 5) }, { layout: 'NHWC', device: 'cpu' });
    expect(String(eca)).toBe('ECABlock (k 5, sigmoid, NHWC, cpu)');
    const cbam = new CBAMBlock(randCBAMWeights(rng, 32, 4, 7, { b1: true, b2: true, spatialBias: true }) as never, { device: 'cpu' });
    expect(String(cbam)).toBe('CBAMBlock (C 32, hidden 4, relu/sigmoid, spatial k 7, cpu)');
    for (const b of [one, eca, cbam]) b.dispose();
  });
  // An attack (2026-12-05): console.log(block) printed `SEBlock {}`, even for a disposed block.
  test('console.log and util.inspect show the same, and never throw', () => {
    const se = new SEBlock({ w1: new Float32Array(8), w2: new Float32Array(8) }, { channels: 4, device: 'cpu' });
    expect(inspect(se)).toBe('SEBlock (C 4, hidden 2, relu/sigmoid, cpu)');
    expect(inspect({ block: se })).toContain('SEBlock (C 4, hidden 2, relu/sigmoid, cpu)');
    se.dispose();
    expect(inspect(se)).toBe('SEBlock (C 4, hidden 2, relu/sigmoid, cpu, disposed)');
    expect(inspect(Object.create(ECABlock.prototype))).toBe('an object posing as a block');
  });
});

// A block says what it computes through getters, not only toString (a newcomer found layout,
// gate, activation and hidden readable only from the description).
describe('block getters', () => {
  test('SEBlock: layout, gate, dtype, hidden, activation, outputActivation; single FC has activation null and hidden C', () => {
    const two = new SEBlock({ w1: new Float32Array(16 * 4), b1: new Float32Array(16), w2: new Float32Array(64), b2: new Float32Array(4) }, { layout: 'NHWC', gate: 'hardsigmoid', activation: 'silu', outputActivation: 'relu' });
    expect([two.layout, two.gate, two.dtype, two.hidden, two.activation, two.outputActivation, two.channels]).toEqual(['NHWC', 'hardsigmoid', undefined, 16, 'silu', 'relu', 4]);
    const one = new SEBlock({ w1: new Float32Array(16), b1: new Float32Array(4) });
    expect([one.layout, one.gate, one.hidden, one.activation, one.outputActivation]).toEqual([undefined, 'sigmoid', 4, null, 'none']);
  });
  test('CBAMBlock and ECABlock; a getter of another class is a coded TypeError', () => {
    const c = new CBAMBlock({ w1: new Float32Array(8 * 16), w2: new Float32Array(8 * 16), spatialWeight: new Float32Array(2 * 25) }, { channels: 16, activation: 'silu' });
    expect([c.hidden, c.activation, c.kernelSize, c.gate, c.layout, c.channels]).toEqual([8, 'silu', 5, 'sigmoid', undefined, 16]);
    const e = new ECABlock({ weight: new Float32Array(5) }, { layout: 'NCHW', gate: 'hardsigmoid' });
    expect([e.kernelSize, e.gate, e.layout]).toEqual([5, 'hardsigmoid', 'NCHW']);
    const hidden = Object.getOwnPropertyDescriptor(SEBlock.prototype, 'hidden')!.get!;
    expect(() => hidden.call(c)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', argument: 'this' }));
  });
});

// A block keeps its weights in SharedArrayBuffers (async calls use them in place). Without
// SharedArrayBuffer (node --no-harmony-sharedarraybuffer), or with the global deleted after the
// package loaded, construction threw ERR_SQEX_OUT_OF_MEMORY ("could not allocate the block's copy
// of its weights (0.0 MiB)", a ReferenceError as cause; an attack, 2026-12-03). Now the copies are
// ordinary arrays there, staged by async calls as a caller's are, with the same results.
describe('blocks without SharedArrayBuffer', () => {
  const script = `
    const sq = require(${JSON.stringify(path.resolve(__dirname, '../dist/index.js'))});
    if (process.argv[1] === 'delete') delete globalThis.SharedArrayBuffer;
    const x = new Float32Array(2 * 16 * 5 * 5).map((_, i) => Math.sin(i));
    const w1 = new Float32Array(4 * 16).map((_, i) => Math.cos(i) * 0.1), w2 = new Float32Array(16 * 4).map((_, i) => Math.sin(i * 3) * 0.1);
    const weight = new Float32Array([0.1, 0.2, 0.3]);
    const same = (a, b) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
    (async () => {
      const se = new sq.SEBlock({ w1, w2 }, { channels: 16 }), eca = new sq.ECABlock({ weight });
      const ref = sq.seForward(x, [2, 16, 5, 5], { w1, w2 }), refEca = sq.ecaForward(x, [2, 16, 5, 5], { weight });
      console.log(JSON.stringify([
        typeof SharedArrayBuffer,
        same(ref, se.forward(x, [2, 16, 5, 5])),
        same(ref, await se.forwardAsync(x, [2, 16, 5, 5], { offload: 'always' })),
        same(refEca, await eca.forwardAsync(x, [2, 16, 5, 5], { offload: 'always' })),
      ]));
    })().catch((e) => { console.log(JSON.stringify([e.code, e.message])); });`;
  // (V8 dropped the flag after Node 20's: later Node refuses it as a bad option; the deleted global
  // is the same case there.)
  const noSabFlag = spawnSync(process.execPath, ['--no-harmony-sharedarraybuffer', '-e', '0']).status === 0;
  test.each([
    ...(noSabFlag ? [['node --no-harmony-sharedarraybuffer', ['--no-harmony-sharedarraybuffer'], 'keep'] as const] : []),
    ['the global deleted after the package loaded', [], 'delete'] as const,
  ])('%s: blocks construct and compute as the ops do', (_what, flags, mode) => {
    const out = JSON.parse(execFileSync(process.execPath, [...flags, '-e', script, mode], { encoding: 'utf8' })) as unknown[];
    expect(out).toEqual(['undefined', true, true, true]);
  });
});
