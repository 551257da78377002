// Test helpers: seeds, random weights, poisoned buffers, tolerance checks, golden fixtures, and
// an independent fp16/bf16 rounding (so the GPU tests do not trust the library's converters).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { ERROR_SCALE_ULPS, allowedError, errorScaleOf, makeRng, type Rng, type Shape4, type Layout, type Act, type Gate } from './reference.js';

/**
 * fp32 accuracy bound from the brief: max|y - ref| / max|ref| against the float64 reference
 * (expectClose grants more only where float32 cannot do better: reference.ts allowedError).
 */
export const TOL_F32 = 1e-5;

/**
 * A fresh seed per call (fresh random data every run), or SQEX_SEED to replay a failure: every
 * failure message prints the seed it ran with.
 */
export function freshRng(): Rng {
  const env = process.env.SQEX_SEED;
  const seed = env !== undefined && env !== '' ? Number(env) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
  return makeRng(seed);
}

export function seedNote(rng: Rng): string {
  return `seed=${rng.seed} (replay: SQEX_SEED=${rng.seed} npx vitest run -t '<test name>')`;
}

/** A Float32Array of NaN, so any element the kernel forgot to write fails the comparison. */
export function poisoned(n: number): Float32Array {
  return new Float32Array(n).fill(Number.NaN);
}

export function numel(shape: Shape4): number {
  return shape[0] * shape[1] * shape[2] * shape[3];
}

/**
 * The first index where y is not fl32(fl32(x·s) + r) (then the output ReLU), -1 if none: SE with a
 * residual rounds x·s to float32 before adding r, as PyTorch's eager `x * s + r`. scale: the
 * call's own gates (scaleOut, [N][C]). Bit for bit: -0 and +0 differ, NaN meets NaN.
 */
export function residualRoundingMismatch(
  y: ArrayLike<number>, x: ArrayLike<number>, residual: ArrayLike<number>, scale: ArrayLike<number>,
  shape: readonly number[], layout: 'NCHW' | 'NHWC', relu: boolean,
): number {
  const C = shape[1]!;
  const hw = shape[2]! * shape[3]!;
  for (let i = 0; i < y.length; i++) {
    const n = Math.floor(i / (C * hw));
    const c = layout === 'NCHW' ? Math.floor(i / hw) % C : i % C;
    let v = Math.fround(Math.fround(x[i]! * scale[n * C + c]!) + residual[i]!);
    if (relu) v = v < 0 ? 0 : v;
    if (!Object.is(y[i], v)) return i;
  }
  return -1;
}

/**
 * The absolute error allowance of an output that adds a residual: y = x·s + r can cancel (a
 * 1×1×1×1 sample with x·s ≈ −r), and the add is exact only to u·(|x·s| + |r|), as in PyTorch's
 * separate add, so tol·max|r| bounds the error too, not tol·max|y| alone. 0 without a residual.
 */
export function residualTol(residual: ArrayLike<number> | undefined, tol: number = TOL_F32): number {
  let maxR = 0;
  if (residual) for (let i = 0; i < residual.length; i++) maxR = Math.max(maxR, Math.abs(residual[i]!));
  return tol * maxR;
}

/**
 * Asserts max|y - ref| <= allowedError(ref) + absTol and that y has no non-finite element, with
 * the context in the message. allowedError is tol·max|ref|, or a few float32 unit roundoffs of the
 * reference's error scale where float32 arithmetic cannot do better (a hardsigmoid gate just above
 * 0: see errorScaleOf in reference.ts). absTol > 0 is for float16, whose subnormal spacing 2^-24
 * is an absolute error floor (see test/gpu/gpu-common.ts). Returns relErr(y, ref).
 */
export function expectClose(y: ArrayLike<number>, ref: ArrayLike<number>, tol: number, context: string, absTol = 0): number {
  expect(y.length, `length mismatch: ${context}`).toBe(ref.length);
  let bad = -1;
  for (let i = 0; i < y.length; i++)
    if (!Number.isFinite(y[i])) {
      bad = i;
      break;
    }
  expect(bad, `non-finite output at index ${bad} (value ${bad >= 0 ? y[bad] : ''}): ${context}`).toBe(-1);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < y.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(y[i] - ref[i]));
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  const err = maxRef > 0 ? maxDiff / maxRef : maxDiff; // relErr(y, ref): y is all finite here
  const allowed = maxRef > 0 ? allowedError(ref, maxRef, tol) : tol;
  const scale = errorScaleOf(ref);
  const why = allowed > tol * maxRef ? `${ERROR_SCALE_ULPS}·u·error scale ${scale!.toExponential(3)}` : `${tol}·max|ref| ${maxRef.toExponential(3)}`;
  const bound = allowed + absTol;
  expect(maxDiff, `max|y-ref| ${maxDiff.toExponential(3)} > ${why}${absTol > 0 ? ` + ${absTol}` : ''} = ${bound.toExponential(3)} (relErr ${err.toExponential(3)}): ${context}`).toBeLessThanOrEqual(bound);
  return err;
}

/**
 * Asserts that two results of one problem (two layouts, two devices) agree: max|a - b| within
 * twice what each may differ from the float64 reference `ref` (allowedError), which is what both
 * lying within it of ref implies. Neither may be non-finite.
 */
export function expectAgree(a: ArrayLike<number>, b: ArrayLike<number>, ref: ArrayLike<number>, tol: number, context: string): void {
  expect(a.length, `length mismatch: ${context}`).toBe(b.length);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    expect(Number.isFinite(a[i]) && Number.isFinite(b[i]), `non-finite at index ${i} (${a[i]}, ${b[i]}): ${context}`).toBe(true);
    maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  const bound = 2 * (maxRef > 0 ? allowedError(ref, maxRef, tol) : tol);
  expect(maxDiff, `max|a-b| ${maxDiff.toExponential(3)} > ${bound.toExponential(3)}: ${context}`).toBeLessThanOrEqual(bound);
}

/** Bitwise equality of two typed arrays' contents. */
export function bitsEqual(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.byteLength !== b.byteLength) return false;
  return Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  ) === 0;
}

// ---------------------------------------------------------------------------------------------
// Random weights. Scales keep the gates spread over their range (not all saturated), and biases
// large enough to matter.

// Assignable to the library's SEWeights, which takes b2 only with w2 (the single-FC form has one
// bias). The single-FC member's index signature (b1 included) lets tests read `w.w2` / `w.b2` on
// either form and spread the weights into a Record<string, Float32Array>.
export type SEWeights =
  | { w1: Float32Array; b1?: Float32Array; w2: Float32Array; b2?: Float32Array }
  | { w1: Float32Array; [name: string]: Float32Array };
export function randSEWeights(
  rng: Rng,
  C: number,
  hidden: number,
  opt: { twoFc: boolean; b1: boolean; b2: boolean },
): SEWeights {
  if (!opt.twoFc) {
    const w: SEWeights = { w1: rng.normals(C * C, 1.5 / Math.sqrt(C)) };
    if (opt.b1) w.b1 = rng.normals(C, 0.5);
    return w;
  }
  const w: SEWeights = {
    w1: rng.normals(hidden * C, 1.5 / Math.sqrt(C)),
    w2: rng.normals(C * hidden, 1.5 / Math.sqrt(hidden)),
  };
  if (opt.b1) w.b1 = rng.normals(hidden, 0.5);
  if (opt.b2) w.b2 = rng.normals(C, 0.5);
  return w;
}

export interface CBAMWeights {
  w1: Float32Array;
  b1?: Float32Array;
  w2: Float32Array;
  b2?: Float32Array;
  spatialWeight: Float32Array;
  spatialBias?: Float32Array;
}
export function randCBAMWeights(
  rng: Rng,
  C: number,
  hidden: number,
  k: number,
  opt: { b1: boolean; b2: boolean; spatialBias: boolean },
): CBAMWeights {
  const w: CBAMWeights = {
    w1: rng.normals(hidden * C, 1.5 / Math.sqrt(C)),
    w2: rng.normals(C * hidden, 1.5 / Math.sqrt(hidden)),
    spatialWeight: rng.normals(2 * k * k, 1.5 / Math.sqrt(2 * k * k)),
  };
  if (opt.b1) w.b1 = rng.normals(hidden, 0.5);
  if (opt.b2) w.b2 = rng.normals(C, 0.5);
  if (opt.spatialBias) w.spatialBias = rng.normals(1, 0.5);
  return w;
}

export function randECAWeight(rng: Rng, k: number): Float32Array {
  return rng.normals(k, 1.5 / Math.sqrt(k));
}

/** Odd shapes every op is run on: C=1, H=W=1, C=3, 7x13, prime H*W, C not a multiple of 8. */
export const ODD_SHAPES: readonly Shape4[] = [
  [1, 1, 1, 1],
  [2, 1, 5, 3],
  [1, 3, 7, 13],
  [2, 13, 1, 1],
  [3, 5, 7, 11],
  [1, 17, 13, 1],
  [2, 24, 3, 3],
  [1, 40, 5, 5],
  [2, 37, 4, 6],
  [1, 3, 1, 17],
  [2, 9, 11, 13],
  [1, 64, 2, 3],
];

export const LAYOUTS: readonly Layout[] = ['NCHW', 'NHWC'];
export const ACTS: readonly Act[] = ['relu', 'silu'];
export const GATES: readonly Gate[] = ['sigmoid', 'hardsigmoid'];

/** Cartesian product of option lists, as objects. */
export function product<T extends Record<string, readonly unknown[]>>(lists: T): { [K in keyof T]: T[K][number] }[] {
  let out: Record<string, unknown>[] = [{}];
  for (const [key, values] of Object.entries(lists)) {
    const next: Record<string, unknown>[] = [];
    for (const partial of out) for (const v of values) next.push({ ...partial, [key]: v });
    out = next;
  }
  return out as { [K in keyof T]: T[K][number] }[];
}

// ---------------------------------------------------------------------------------------------
// Independent fp16 / bf16 rounding (round to nearest even), for the GPU half-precision tests.

const scratch = new DataView(new ArrayBuffer(4));

export function toF16Bits(v: number): number {
  scratch.setFloat32(0, v);
  const x = scratch.getUint32(0);
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const halfway = 2 ** (shift - 1);
    let r = Math.floor(mant / 2 ** shift);
    const rem = mant - r * 2 ** shift;
    if (rem > halfway || (rem === halfway && r & 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++;
  return sign | r;
}

export function fromF16Bits(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? Number.NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export function toBf16Bits(v: number): number {
  scratch.setFloat32(0, v);
  const x = scratch.getUint32(0);
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  const lsb = (x >>> 16) & 1;
  return ((x + 0x7fff + lsb) >>> 16) & 0xffff;
}

export function fromBf16Bits(b: number): number {
  scratch.setUint32(0, (b << 16) >>> 0);
  return scratch.getFloat32(0);
}

export type HalfDtype = 'float16' | 'bfloat16';
export function halfBits(a: ArrayLike<number>, dtype: HalfDtype): Uint16Array {
  const out = new Uint16Array(a.length);
  const f = dtype === 'float16' ? toF16Bits : toBf16Bits;
  for (let i = 0; i < a.length; i++) out[i] = f(a[i]);
  return out;
}
export function halfToFloat64(bits: Uint16Array, dtype: HalfDtype): Float64Array {
  const out = new Float64Array(bits.length);
  const f = dtype === 'float16' ? fromF16Bits : fromBf16Bits;
  for (let i = 0; i < bits.length; i++) out[i] = f(bits[i]);
  return out;
}
/** Quiet NaN bit pattern of each half type, for poisoning half outputs. */
export const HALF_NAN: Record<HalfDtype, number> = { float16: 0x7e00, bfloat16: 0x7fc0 };

// ---------------------------------------------------------------------------------------------
// Golden fixtures written by scripts/gen_golden.py from the real timm / torchvision modules.

export interface GoldenFixture {
  name: string;
  module: string;
  op: 'se' | 'eca' | 'cbam';
  shape: Shape4;
  options: { activation?: Act; gate?: Gate; outputActivation?: 'none' | 'relu' };
  weights: Record<string, Float32Array>;
  x: Record<Layout, Float32Array>;
  expected: Record<Layout, Float32Array>;
  residual?: Record<Layout, Float32Array>;
  selfCheckRelErr: number;
  versions: Record<string, string>;
}

export const FIXTURE_DIR = fileURLToPath(new URL('./fixtures/', import.meta.url));

function decodeF32(v: { f32: string; length: number }): Float32Array {
  const bytes = Buffer.from(v.f32, 'base64');
  const out = new Float32Array(v.length);
  new Uint8Array(out.buffer).set(bytes);
  if (bytes.length !== v.length * 4) throw new Error(`fixture array: ${bytes.length} bytes for ${v.length} floats`);
  return out;
}

export function loadGoldenFixtures(): GoldenFixture[] {
  const files = readdirSync(FIXTURE_DIR).filter((f) => f.startsWith('golden_') && f.endsWith('.json')).sort();
  return files.map((f) => {
    const raw = JSON.parse(readFileSync(FIXTURE_DIR + f, 'utf8'));
    const both = (o: Record<Layout, { f32: string; length: number }>) => ({
      NCHW: decodeF32(o.NCHW),
      NHWC: decodeF32(o.NHWC),
    });
    const weights: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(raw.weights)) weights[k] = decodeF32(v as { f32: string; length: number });
    return {
      ...raw,
      weights,
      x: both(raw.x),
      expected: both(raw.expected),
      residual: raw.residual ? both(raw.residual) : undefined,
    } as GoldenFixture;
  });
}

export interface EcaKernelTable {
  meta: Record<string, unknown>;
  groups: { gamma: number; beta: number; channels: number[]; k: number[] }[];
}
export function loadEcaKernelTable(): EcaKernelTable {
  return JSON.parse(readFileSync(FIXTURE_DIR + 'eca_kernel_sizes.json', 'utf8'));
}

/**
 * True when every gate value is saturated (exactly 0 or 1 for hardsigmoid, within 1e-15 of 0 or
 * 1 for sigmoid: |v| > ~34.5) and at least a quarter of them are "on" (near 1), so that y is not
 * all ~0 (a float64 sigmoid of -700 is 1e-304 where fp32 gives 0: a meaningless relative error).
 * Used by the |x| ~ 1e4 tests (see test/cpu.se.test.ts for why).
 */
export function saturated(gates: ArrayLike<number>, g: Gate): boolean {
  let on = 0;
  for (let i = 0; i < gates.length; i++) {
    const s = gates[i];
    if (g === 'hardsigmoid' ? s !== 0 && s !== 1 : s > 1e-15 && s < 1 - 1e-15) return false;
    if (s > 0.5) on++;
  }
  return on * 4 >= gates.length;
}

/** The weights object and options a golden fixture maps to, for any of the three functions. */
export function goldenArgs(fx: GoldenFixture, layout: Layout): { weights: Record<string, Float32Array>; options: Record<string, unknown> } {
  const w = fx.weights;
  const options: Record<string, unknown> = { layout, gate: fx.options.gate ?? 'sigmoid' };
  if (fx.op === 'eca') return { weights: { weight: w.weight }, options };
  // single-FC SE (EffectiveSEModule) has no activation
  if (fx.op === 'cbam' || w.w2) options.activation = fx.options.activation ?? 'relu';
  if (fx.op === 'se') {
    if (fx.options.outputActivation) options.outputActivation = fx.options.outputActivation;
    if (fx.residual) options.residual = fx.residual[layout];
  }
  return { weights: { ...w }, options };
}

// ---------------------------------------------------------------------------------------------
// GPU suite gating: the suite name carries the skip reason so a skipped run says why.

export interface GpuGate {
  ok: boolean;
  reason: string;
  title: string;
}
export function gpuGate(status: { available: boolean; reason: string | null; devices: readonly { name: string; computeCapability: string }[] }, what: string): GpuGate {
  if (status.available) {
    const d = status.devices[0];
    return { ok: true, reason: '', title: `${what} on ${d ? `${d.name} (sm ${d.computeCapability})` : 'CUDA'}` };
  }
  const reason = status.reason ?? 'CUDA not available';
  // The default reporter does not list skipped tests by name, so say it in the output as well.
  console.warn(`SKIPPED ${what}: ${reason}`);
  return { ok: false, reason, title: `${what} (skipped: ${reason})` };
}

/**
 * `skip`, after saying so on stderr when true: vitest's default reporter counts skipped tests but
 * does not name them, so a skip's reason would show only with --reporter=verbose (gpuGate does
 * the same for whole GPU suites).
 */
export function noteSkip(skip: boolean, what: string, reason: string): boolean {
  if (skip) console.warn(`SKIPPED ${what}: ${reason}`);
  return skip;
}

/** Whether `tool --version` runs (a tool on PATH that some suites need, e.g. a cross objdump). */
export function onPath(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Node's permission-model flag in this runtime: --permission (Node 22+), --experimental-permission (Node 20), or null. */
export const PERMISSION_FLAG: string | null = process.allowedNodeEnvironmentFlags.has('--permission')
  ? '--permission'
  : process.allowedNodeEnvironmentFlags.has('--experimental-permission')
    ? '--experimental-permission'
    : null;

/**
 * Script text for a child process (node -e): defines capNow(headroomMb), which caps the child's own
 * address space at what it has mapped now plus headroomMb (prlimit on itself; Node versions'
 * baselines differ by ~0.5 GB, which a fixed ulimit -v did not allow for). Out-of-memory tests.
 */
export const CAP_ADDRESS_SPACE_JS = `
      const capNow = (headroomMb) => {
        const line = require('fs').readFileSync('/proc/self/status', 'utf8').split(String.fromCharCode(10)).find((l) => l.startsWith('VmSize:'));
        const kb = Number(line.replace(/[^0-9]/g, ''));
        require('child_process').execFileSync('prlimit', ['--pid', String(process.pid), '--as=' + String((kb + headroomMb * 1024) * 1024)]);
      };`;

/** scripts/sanitize.sh preloads ASan: its quarantine and shadow memory change what some tests can see. */
export const underAsan = /asan/.test(process.env.LD_PRELOAD ?? '');

/** What capNow needs: Linux, prlimit, and no AddressSanitizer preloaded (its shadow memory exceeds any limit). */
export const CAP_ADDRESS_SPACE_NEEDS = 'needs Linux, prlimit, and no AddressSanitizer preloaded (its shadow memory exceeds any address-space limit)';
export function canCapAddressSpace(): boolean {
  return process.platform === 'linux' && onPath('prlimit') && !underAsan;
}
