// NaN / ±Inf problems for the NaN suites (test/cpu.nan.test.ts, test/cpu.nan-torch.test.ts,
// test/gpu/nan.cuda.test.ts): random finite data (never zeros) with NaN, +Inf or -Inf put at
// random logical positions of x, the residual, a weight or a bias, or a whole channel set to ±Inf;
// and the PyTorch fixtures written by scripts/gen_nan_fixture.py.
import { readdirSync, readFileSync } from 'node:fs';
import { FIXTURE_DIR, numel, randCBAMWeights, randECAWeight, randSEWeights } from './helpers.js';
import { nchwToNhwc, refCBAM, refECA, refSE, type Act, type Gate, type Layout, type RefResult, type Rng, type Shape4 } from './reference.js';

export type OpName = 'se' | 'eca' | 'cbam';
export const NON_FINITE = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY] as const;

/** Where the non-finite values go. */
export type Target =
  | 'x' // 1-3 elements of x: NaN, +Inf or -Inf
  | 'x-inf' // 1-2 elements of x: ±Inf only (the patterns NaN would hide)
  | 'channel' // every element of one (n, c): +Inf or -Inf
  | 'residual' // 1-3 elements of the residual
  | 'w1'
  | 'b1'
  | 'w2'
  | 'b2'
  | 'weight' // ECA's conv taps (often on the zero padding)
  | 'spatialWeight'; // CBAM's k×k taps (often on the zero padding)

export interface NanCase {
  op: OpName;
  activation?: Act; // SE two-FC and CBAM
  gate: Gate;
  twoFc?: boolean; // SE
  biases: boolean; // SE/CBAM b1, b2 (CBAM also a spatial bias)
  residual?: boolean; // SE
  outRelu?: boolean; // SE
  k?: number; // ECA taps / CBAM spatial kernel
}

export interface NanProblem {
  c: NanCase;
  target: Target;
  shape: Shape4;
  x: Float32Array; // NCHW
  residual?: Float32Array; // NCHW
  weights: Record<string, Float32Array>;
  /** the op's API options other than layout, device, out, scaleOut, residual */
  options: Record<string, unknown>;
  label: string;
}

export function targetsFor(c: NanCase): Target[] {
  const t: Target[] = ['x', 'x-inf', 'channel'];
  if (c.op === 'eca') return [...t, 'weight'];
  t.push('w1');
  if (c.biases) t.push('b1');
  if (c.op === 'cbam' || c.twoFc) t.push('w2');
  if (c.biases && (c.op === 'cbam' || c.twoFc)) t.push('b2');
  if (c.op === 'cbam') t.push('spatialWeight');
  if (c.residual) t.push('residual');
  return t;
}

function setRandom(rng: Rng, a: Float32Array, count: number, values: readonly number[]): string {
  const put: string[] = [];
  for (let i = 0; i < count; i++) {
    const at = rng.int(0, a.length - 1);
    a[at] = rng.pick(values);
    put.push(`${at}=${a[at]}`);
  }
  return put.join(',');
}

/** A problem of case c with non-finite values at `target`, finite data drawn from rng. */
export function makeNanProblem(rng: Rng, c: NanCase, shape: Shape4, target: Target): NanProblem {
  const [N, C, H, W] = shape;
  const n = numel(shape);
  const x = rng.normals(n, 1, 0.3);
  const residual = c.op === 'se' && c.residual ? rng.normals(n, 1) : undefined;
  let weights: Record<string, Float32Array>;
  const options: Record<string, unknown> = { gate: c.gate };
  if (c.op === 'se') {
    const hidden = c.twoFc ? rng.int(1, Math.max(2, C)) : C;
    weights = { ...randSEWeights(rng, C, hidden, { twoFc: !!c.twoFc, b1: c.biases, b2: c.biases && !!c.twoFc }) };
    if (c.twoFc) options.activation = c.activation;
    options.outputActivation = c.outRelu ? 'relu' : 'none';
  } else if (c.op === 'eca') {
    weights = { weight: randECAWeight(rng, c.k ?? 3) };
  } else {
    const hidden = rng.int(1, Math.max(2, C));
    weights = { ...randCBAMWeights(rng, C, hidden, c.k ?? 7, { b1: c.biases, b2: c.biases, spatialBias: c.biases }) };
    options.activation = c.activation;
  }
  let what: string;
  if (target === 'x') what = setRandom(rng, x, rng.int(1, 3), NON_FINITE);
  else if (target === 'x-inf') what = setRandom(rng, x, rng.int(1, 2), NON_FINITE.slice(1));
  else if (target === 'channel') {
    const nn = rng.int(0, N - 1);
    const cc = rng.int(0, C - 1);
    const v = rng.pick(NON_FINITE.slice(1));
    x.fill(v, (nn * C + cc) * H * W, (nn * C + cc + 1) * H * W);
    what = `n=${nn} c=${cc} all ${v}`;
  } else if (target === 'residual') what = setRandom(rng, residual!, rng.int(1, 3), NON_FINITE);
  else what = setRandom(rng, weights[target], 1, NON_FINITE);
  const label = `${caseLabel(c)} shape=${shape} ${target}: ${what}`;
  return { c, target, shape, x, residual, weights, options, label };
}

export function caseLabel(c: NanCase): string {
  return [
    c.op.toUpperCase(),
    c.op === 'se' ? (c.twoFc ? 'two-FC' : 'single-FC') : '',
    c.activation && (c.op === 'cbam' || c.twoFc) ? c.activation : '',
    c.gate,
    c.biases ? '+biases' : '-biases',
    c.residual ? 'residual' : '',
    c.outRelu ? 'out-relu' : '',
    c.k !== undefined ? `k=${c.k}` : '',
  ]
    .filter(Boolean)
    .join(' ');
}

/** x (and the residual) in `layout`, and the options object for the forward call (no out/device). */
export function argsFor(p: NanProblem, layout: Layout): { x: Float32Array; options: Record<string, unknown> } {
  const conv = (a: Float32Array) => (layout === 'NCHW' ? a : nchwToNhwc(a, p.shape));
  const options: Record<string, unknown> = { ...p.options, layout };
  if (p.residual) options.residual = conv(p.residual);
  return { x: conv(p.x), options };
}

/** The float64 reference of p in `layout`. */
export function refFor(p: NanProblem, layout: Layout): RefResult {
  const { x, options } = argsFor(p, layout);
  const o = options as { layout: Layout; activation?: Act; gate?: Gate; residual?: Float32Array; outputActivation?: 'none' | 'relu' };
  if (p.c.op === 'se') return refSE(x, p.shape, p.weights as never, o);
  if (p.c.op === 'eca') return refECA(x, p.shape, { weight: p.weights.weight }, o);
  return refCBAM(x, p.shape, p.weights as never, o);
}

// ---------------------------------------------------------------------------------------------
// PyTorch fixtures (scripts/gen_nan_fixture.py): NCHW arrays, float64 and float32 module outputs.

export interface NanFixture {
  name: string;
  module: string;
  op: OpName;
  shape: Shape4;
  options: { activation?: Act; gate?: Gate; outputActivation?: 'none' | 'relu' };
  note: string;
  weights: Record<string, Float32Array>;
  x: Float32Array;
  residual?: Float32Array;
  expected: { float64: Float32Array; float32: Float32Array };
  scale?: { float64: Float32Array; float32: Float32Array };
  /** float32 torch put NaN and ±Inf exactly where float64 torch did */
  f32MatchesF64: boolean;
  versions: Record<string, string>;
}

function decodeF32(v: { f32: string; length: number }): Float32Array {
  const bytes = Buffer.from(v.f32, 'base64');
  if (bytes.length !== v.length * 4) throw new Error(`fixture array: ${bytes.length} bytes for ${v.length} floats`);
  const out = new Float32Array(v.length);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

export function loadNanFixtures(): NanFixture[] {
  const files = readdirSync(FIXTURE_DIR).filter((f) => f.startsWith('nan-') && f.endsWith('.json')).sort();
  return files.map((f) => {
    const raw = JSON.parse(readFileSync(FIXTURE_DIR + f, 'utf8'));
    const weights: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(raw.weights)) weights[k] = decodeF32(v as { f32: string; length: number });
    const pair = (o: { float64: { f32: string; length: number }; float32: { f32: string; length: number } }) => ({
      float64: decodeF32(o.float64),
      float32: decodeF32(o.float32),
    });
    return {
      ...raw,
      weights,
      x: decodeF32(raw.x),
      residual: raw.residual ? decodeF32(raw.residual) : undefined,
      expected: pair(raw.expected),
      scale: raw.scale ? pair(raw.scale) : undefined,
    } as NanFixture;
  });
}

/** A fixture as a NanProblem (its NCHW data, weights and options). */
export function fixtureProblem(fx: NanFixture): NanProblem {
  const options: Record<string, unknown> = { gate: fx.options.gate ?? 'sigmoid' };
  const twoFc = fx.op === 'cbam' || (fx.op === 'se' && fx.weights.w2 !== undefined);
  if (twoFc) options.activation = fx.options.activation ?? 'relu';
  if (fx.op === 'se' && fx.options.outputActivation) options.outputActivation = fx.options.outputActivation;
  const c: NanCase = { op: fx.op, gate: fx.options.gate ?? 'sigmoid', biases: fx.weights.b1 !== undefined, twoFc };
  return { c, target: 'x', shape: fx.shape, x: fx.x, residual: fx.residual, weights: fx.weights, options, label: fx.name };
}
