// Every optional input property taken explicitly as undefined means what its absence means: the
// published types say `key?: T | undefined` (test/types/ok.ts), so under exactOptionalPropertyTypes
// an optional bias read from a state dict (`b1: sd.get('fc1.bias')`) type-checks as it runs. A
// newcomer's check (2026-12-02) found the types refusing what the run time accepted.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { CBAMBlock, ECABlock, SEBlock, cbamForward, cbamForwardAsync, ecaForward, ecaForwardAsync, readSafetensors, seForward, seForwardAsync } from '../dist/index.js';
import { bitsEqual, FIXTURE_DIR, freshRng } from './helpers.js';

const U = undefined;
const shape: [number, number, number, number] = [2, 8, 3, 3];

describe('an explicit undefined is the same as leaving the property out', () => {
  const rng = freshRng();
  const x = rng.normals(2 * 8 * 9, 1);
  const w1 = rng.normals(16, 0.5);
  const w2 = rng.normals(16, 0.5);
  const weight = rng.normals(3, 0.5);
  const spatialWeight = rng.normals(18, 0.3);

  test('the functions, sync and async: every option and the optional weights', async () => {
    const se = { layout: U, activation: U, gate: U, residual: U, outputActivation: U, out: U, scaleOut: U, device: U, deviceIndex: U, stream: U, offload: U };
    expect(bitsEqual(seForward(x, shape, { w1, b1: U, w2, b2: U }, se), seForward(x, shape, { w1, w2 }))).toBe(true);
    expect(bitsEqual(await seForwardAsync(x, shape, { w1, b1: U, w2, b2: U }, se), seForward(x, shape, { w1, w2 }))).toBe(true);
    const single = rng.normals(64, 0.3);
    expect(bitsEqual(seForward(x, shape, { w1: single, b1: U, w2: U, b2: U }), seForward(x, shape, { w1: single }))).toBe(true);
    const eca = { layout: U, gate: U, out: U, scaleOut: U, device: U, deviceIndex: U, stream: U, offload: U };
    expect(bitsEqual(ecaForward(x, shape, { weight }, eca), ecaForward(x, shape, { weight }))).toBe(true);
    expect(bitsEqual(await ecaForwardAsync(x, shape, { weight }, eca), ecaForward(x, shape, { weight }))).toBe(true);
    const cbam = { layout: U, activation: U, gate: U, out: U, device: U, deviceIndex: U, stream: U, offload: U };
    const cw = { w1, b1: U, w2, b2: U, spatialWeight, spatialBias: U };
    expect(bitsEqual(cbamForward(x, shape, cw, cbam), cbamForward(x, shape, { w1, w2, spatialWeight }))).toBe(true);
    expect(bitsEqual(await cbamForwardAsync(x, shape, cw, cbam), cbamForward(x, shape, { w1, w2, spatialWeight }))).toBe(true);
  });

  test('the blocks: constructor and forward options', () => {
    const seBlock = new SEBlock({ w1, b1: U, w2, b2: U }, { layout: U, activation: U, gate: U, outputActivation: U, dtype: U, channels: 8, device: U, deviceIndex: U });
    expect(bitsEqual(seBlock.forward(x, shape, { residual: U, out: U, scaleOut: U, stream: U, offload: U }), seForward(x, shape, { w1, w2 }))).toBe(true);
    const ecaBlock = new ECABlock({ weight }, { layout: U, gate: U, dtype: U, device: U, deviceIndex: U });
    expect(bitsEqual(ecaBlock.forward(x, shape, { out: U, scaleOut: U, stream: U, offload: U }), ecaForward(x, shape, { weight }))).toBe(true);
    const cbamBlock = new CBAMBlock({ w1, w2, spatialWeight, spatialBias: U }, { layout: U, activation: U, gate: U, dtype: U, channels: 8, device: U, deviceIndex: U });
    expect(bitsEqual(cbamBlock.forward(x, shape, { out: U, stream: U, offload: U }), cbamForward(x, shape, { w1, w2, spatialWeight }))).toBe(true);
  });

  test('readSafetensors and fromStateDict options', () => {
    const bytes = readFileSync(FIXTURE_DIR + 'attention_model.safetensors');
    const plain = readSafetensors(bytes);
    const withU = readSafetensors(bytes, { toFloat32: U, names: U });
    expect(Object.keys(withU.tensors)).toEqual(Object.keys(plain.tensors));
    const a = SEBlock.fromStateDict(plain, 'blocks.1.0.se', { kind: 'timm.SqueezeExcite' });
    const b = SEBlock.fromStateDict(plain, 'blocks.1.0.se', { kind: 'timm.SqueezeExcite', bnEps: U, strict: U, device: U, layout: U, activation: U, gate: U, dtype: U });
    const xs = rng.normals(32 * 4, 1);
    expect(bitsEqual(a.forward(xs, [1, 32, 2, 2]), b.forward(xs, [1, 32, 2, 2]))).toBe(true);
  });
});
