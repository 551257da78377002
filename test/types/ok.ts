// Calls that must type-check (tsc -p test/types). The wrong ones are in errors.ts.
import { CBAMBlock, DeviceTensor, SEBlock, cbamForward, ecaForward, ecaForwardAsync, seForward, seForwardAsync } from '../../dist/index.js';

declare const x: Float32Array;
declare const xd: DeviceTensor;
const shape = [1, 8, 4, 4] as const;
const w1 = new Float32Array(16);
const w2 = new Float32Array(16);

export const a: Float32Array = seForward(x, [1, 8, 4, 4], { w1, w2 }, { layout: 'NHWC', device: 'cpu', activation: 'silu' });
export const b: Promise<Float32Array> = seForwardAsync(x, [1, 8, 4, 4], { w1 }, { gate: 'hardsigmoid', out: x });
export const c: DeviceTensor = seForward(xd, [1, 8, 4, 4], { w1, w2 }, { stream: 0n });
export const d: Float32Array = ecaForward(x, [...shape], { weight: new Float32Array(3) });
export const e: Promise<Float32Array> = ecaForwardAsync(x, [1, 8, 4, 4], { weight: new Float32Array(3) }, { scaleOut: new Float32Array(8) });
export const f: Float32Array = cbamForward(x, [1, 8, 4, 4], { w1, w2, spatialWeight: new Float32Array(98) });
export const g: Float32Array = new SEBlock({ w1, w2 }, { channels: 8 }).forward(x, [1, 8, 4, 4]);
export const h: DeviceTensor = new CBAMBlock({ w1, w2, spatialWeight: new Float32Array(18) }, { channels: 8 }).forward(xd);
export const i: Promise<Float32Array> = seForwardAsync(x, [1, 8, 4, 4], { w1, w2 }, { offload: 'always', out: x });
export const j: Promise<Float32Array> = new SEBlock({ w1, w2 }, { channels: 8 }).forwardAsync(x, [1, 8, 4, 4], { offload: 'auto' });
