// Host half-precision converters against the independent rounding in helpers.ts: every binary16
// and bfloat16 bit pattern round-trips, and float32 values (random, ties, edges) round to nearest even.
import { describe, expect, test } from 'vitest';
import { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits, seForward } from '../dist/index.js';
import { freshRng, fromBf16Bits, fromF16Bits, seedNote, toBf16Bits, toF16Bits } from './helpers.js';

const isNaNBits16 = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const isNaNBitsBf = (h: number) => (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;

describe('half-precision helpers', () => {
  test('every float16 pattern decodes exactly and re-encodes to itself (NaN stays NaN)', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f = float16BitsToFloat32(all);
    const back = float32ToFloat16Bits(f);
    for (let h = 0; h < 65536; h++) {
      const v = float16BitsToFloat32(h);
      if (isNaNBits16(h)) {
        expect(Number.isNaN(v) && Number.isNaN(f[h]!) && isNaNBits16(back[h]!), `0x${h.toString(16)}`).toBe(true);
        continue;
      }
      if (!Object.is(v, fromF16Bits(h)) || !Object.is(f[h], v) || back[h] !== h || float32ToFloat16Bits(v) !== h) {
        expect.fail(`float16 0x${h.toString(16)}: ${v} vs ${fromF16Bits(h)}, re-encoded 0x${back[h]!.toString(16)}`);
      }
    }
  });

  test('every bfloat16 pattern decodes exactly and re-encodes to itself (NaN stays NaN)', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f = bfloat16BitsToFloat32(all);
    const back = float32ToBfloat16Bits(f);
    for (let h = 0; h < 65536; h++) {
      const v = bfloat16BitsToFloat32(h);
      if (isNaNBitsBf(h)) {
        expect(Number.isNaN(v) && isNaNBitsBf(back[h]!), `0x${h.toString(16)}`).toBe(true);
        continue;
      }
      if (!Object.is(v, fromBf16Bits(h)) || back[h] !== h) expect.fail(`bfloat16 0x${h.toString(16)}`);
    }
  });

  test('float32 -> half rounds to nearest even, like the independent rounding', () => {
    const rng = freshRng();
    const xs = new Float32Array(200000);
    for (let i = 0; i < xs.length; i++) {
      const mag = 2 ** rng.uniform(-30, 20);
      xs[i] = (rng.next() < 0.5 ? -1 : 1) * mag;
    }
    const f16 = float32ToFloat16Bits(xs);
    const bf = float32ToBfloat16Bits(xs);
    for (let i = 0; i < xs.length; i++) {
      if (f16[i] !== toF16Bits(xs[i]!) || bf[i] !== toBf16Bits(xs[i]!)) {
        expect.fail(`x=${xs[i]}: f16 0x${f16[i]!.toString(16)} vs 0x${toF16Bits(xs[i]!).toString(16)}, bf16 0x${bf[i]!.toString(16)} vs 0x${toBf16Bits(xs[i]!).toString(16)} ${seedNote(rng)}`);
      }
    }
  });

  test('ties and edges', () => {
    expect(float32ToFloat16Bits(1)).toBe(0x3c00);
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie, to even
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, to even (up)
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00); // tie between max and 2^16 -> Inf
    expect(float32ToFloat16Bits(-Infinity)).toBe(0xfc00);
    expect(float32ToFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(float32ToFloat16Bits(2 ** -25)).toBe(0x0000); // tie with zero, to even
    expect(float32ToFloat16Bits(-0)).toBe(0x8000);
    expect(isNaNBits16(float32ToFloat16Bits(Number.NaN))).toBe(true);
    expect(float32ToBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(float32ToBfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(isNaNBitsBf(float32ToBfloat16Bits(Number.NaN))).toBe(true);
    expect(float16BitsToFloat32(0x7bff)).toBe(65504);
    expect(bfloat16BitsToFloat32(0x3f80)).toBe(1);
  });
});

// Refusals: every error coded, naming the argument, before any work.
function caught(fn: () => unknown): Error & { code?: string; argument?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string; argument?: string };
  }
  throw new Error('expected a throw');
}

function expectCoded(fn: () => unknown, ctor: typeof TypeError | typeof RangeError, code: string, argument: string, contains?: RegExp): void {
  const e = caught(fn);
  expect(e, e.message).toBeInstanceOf(ctor);
  expect(e.code, e.message).toBe(code);
  expect(e.argument).toBe(argument);
  if (contains !== undefined) expect(e.message).toMatch(contains);
}

describe('half-precision helpers: describing hostile arguments', () => {
  const revoked = () => {
    const r = Proxy.revocable({}, {});
    r.revoke();
    return r.proxy;
  };
  const throwingTraps = () =>
    new Proxy([], {
      getPrototypeOf() {
        throw new Error('trap: getPrototypeOf');
      },
      get() {
        throw new Error('trap: get');
      },
      getOwnPropertyDescriptor() {
        throw new Error('trap: getOwnPropertyDescriptor');
      },
    });
  const throwingObject = () =>
    new Proxy({}, {
      getPrototypeOf() {
        throw new Error('trap: getPrototypeOf');
      },
      get() {
        throw new Error('trap: get');
      },
    });

  test('a revoked Proxy or one whose traps throw is refused with a coded TypeError (never the trap error)', () => {
    for (const make of [revoked, throwingTraps, throwingObject]) {
      for (const f of [float32ToFloat16Bits, float32ToBfloat16Bits] as ((v: unknown) => unknown)[]) {
        expectCoded(() => f(make()), TypeError, 'ERR_INVALID_ARG_TYPE', 'value');
      }
      for (const f of [float16BitsToFloat32, bfloat16BitsToFloat32] as ((v: unknown) => unknown)[]) {
        expectCoded(() => f(make()), TypeError, 'ERR_INVALID_ARG_TYPE', 'bits');
      }
      expectCoded(() => (seForward as (...a: unknown[]) => unknown)(make(), [1, 4, 1, 1], { w1: new Float32Array(4), b1: new Float32Array(1), w2: new Float32Array(4), b2: new Float32Array(4) }), TypeError, 'ERR_INVALID_ARG_TYPE', 'x');
    }
    expect(caught(() => (float32ToFloat16Bits as (v: unknown) => unknown)(revoked())).message).toMatch(/received a Proxy or exotic object/);
  });

  test('messages choose a/an by sound', () => {
    expect(caught(() => (float32ToFloat16Bits as (v: unknown) => unknown)(new Uint16Array(2))).message).toMatch(/received a Uint16Array of length 2/);
    expect(caught(() => (float32ToFloat16Bits as (v: unknown) => unknown)(new Int16Array(2))).message).toMatch(/received an Int16Array of length 2/);
    expect(caught(() => (float32ToFloat16Bits as (v: unknown) => unknown)(new Float64Array(2))).message).toMatch(/received a Float64Array of length 2/);
    expect(caught(() => (float32ToFloat16Bits as (v: unknown) => unknown)(new ArrayBuffer(8))).message).toMatch(/received an ArrayBuffer of 8 bytes/);
  });
});

describe('half-precision helpers: refused arrays and bit patterns', () => {
  const detached = <T extends Float32Array | Uint16Array>(a: T): T => {
    structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
    return a;
  };
  const outOfBounds = <T extends Float32Array | Uint16Array>(Ctor: new (b: ArrayBuffer, o: number, n: number) => T): T => {
    const ab = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(16, { maxByteLength: 32 });
    const v = new Ctor(ab, 8, 2);
    ab.resize(4);
    return v;
  };

  test('a detached or out-of-bounds Float32Array is a coded TypeError naming value', () => {
    for (const f of [float32ToFloat16Bits, float32ToBfloat16Bits]) {
      expectCoded(() => f(detached(new Float32Array(4))), TypeError, 'ERR_INVALID_ARG_TYPE', 'value', /detached/);
      expectCoded(() => f(outOfBounds(Float32Array)), TypeError, 'ERR_INVALID_ARG_TYPE', 'value');
      expect(f(new Float32Array(0))).toEqual(new Uint16Array(0)); // empty is fine
    }
  });

  test('a detached or out-of-bounds Uint16Array is a coded TypeError naming bits', () => {
    for (const f of [float16BitsToFloat32, bfloat16BitsToFloat32]) {
      expectCoded(() => f(detached(new Uint16Array(4))), TypeError, 'ERR_INVALID_ARG_TYPE', 'bits', /detached/);
      expectCoded(() => f(outOfBounds(Uint16Array)), TypeError, 'ERR_INVALID_ARG_TYPE', 'bits');
      expect(f(new Uint16Array(0))).toEqual(new Float32Array(0));
    }
  });

  test('a bit pattern number must be an integer 0..65535 (RangeError), a non-number a TypeError', () => {
    for (const f of [float16BitsToFloat32, bfloat16BitsToFloat32] as ((v: unknown) => number)[]) {
      for (const bad of [Number.NaN, 65536, 1.7, -1, Infinity, -Infinity, 2 ** 32, 0.5]) {
        expectCoded(() => f(bad), RangeError, 'ERR_OUT_OF_RANGE', 'bits');
      }
      for (const bad of ['1', 1n, null, undefined, {}, [1], new Float32Array(1), new Int16Array(1)]) {
        expectCoded(() => f(bad), TypeError, 'ERR_INVALID_ARG_TYPE', 'bits');
      }
      expect(Number.isNaN(f(65535))).toBe(true);
      expect(f(0)).toBe(0);
      expect(Object.is(f(0x8000), -0)).toBe(true);
    }
  });

  // PyTorch 1.13: torch.tensor([bits], dtype=torch.int16).view(torch.float16).float() keeps the
  // sign and the payload (shifted left by 13) of a float16 NaN and sets the quiet bit.
  test('float16 NaN decodes bit-exactly as PyTorch (sign and payload kept, quiet bit set), array and number', () => {
    const torch: [number, number][] = [
      [0x7e00, 0x7fc00000],
      [0xfe00, 0xffc00000],
      [0x7c01, 0x7fc02000],
      [0xfc01, 0xffc02000],
      [0x7d55, 0x7feaa000],
      [0x7fff, 0x7fffe000],
      [0xffff, 0xffffe000],
    ];
    const out = float16BitsToFloat32(Uint16Array.from(torch, ([h]) => h));
    // Stored straight into a Float32Array: an Array of doubles may canonicalize NaN (V8's FixedDoubleArray).
    const numbers = new Float32Array(torch.length);
    torch.forEach(([h], i) => (numbers[i] = float16BitsToFloat32(h)));
    const outBits = new Uint32Array(out.buffer);
    const numberBits = new Uint32Array(numbers.buffer);
    torch.forEach(([h, f], i) => {
      expect(outBits[i]!.toString(16), `array 0x${h.toString(16)}`).toBe(f.toString(16));
      expect(numberBits[i]!.toString(16), `number 0x${h.toString(16)}`).toBe(f.toString(16));
    });
    // every NaN pattern, both paths
    const all = new Uint16Array(65536).map((_, i) => i);
    const allBits = new Uint32Array(float16BitsToFloat32(all).buffer);
    const one = new Float32Array(1);
    const oneBits = new Uint32Array(one.buffer);
    for (let h = 0; h < 65536; h++) {
      if (!isNaNBits16(h)) continue;
      const want = ((((h & 0x8000) << 16) | 0x7fc00000 | ((h & 0x3ff) << 13)) >>> 0).toString(16);
      if (allBits[h]!.toString(16) !== want) expect.fail(`array 0x${h.toString(16)}: ${allBits[h]!.toString(16)} vs ${want}`);
      one[0] = float16BitsToFloat32(h);
      const n = oneBits[0]!.toString(16);
      if (n !== want) expect.fail(`number 0x${h.toString(16)}: ${n} vs ${want}`);
    }
  });

  // PyTorch: bfloat16 -> float32 is the bits shifted left by 16, NaN included (0xff81 -> 0xff810000).
  test('bfloat16 NaN keeps sign and payload (array bit-exact; number path for quiet NaN)', () => {
    const out = new Uint32Array(bfloat16BitsToFloat32(Uint16Array.of(0x7f81, 0xff81, 0x7fc0, 0xffff)).buffer);
    expect([...out].map((b) => b.toString(16))).toEqual(['7f810000', 'ff810000', '7fc00000', 'ffff0000']);
    const nf = new Float32Array(2);
    nf[0] = bfloat16BitsToFloat32(0xffc1);
    nf[1] = bfloat16BitsToFloat32(0x7fff);
    const n = new Uint32Array(nf.buffer);
    expect([...n].map((b) => b.toString(16))).toEqual(['ffc10000', '7fff0000']);
  });
});

// A parity audit against torch 1.13 (2026-12-01): `.half()` writes a NaN as its sign | 0x7e00 in
// every path; float32ToFloat16Bits kept the payload (0x7f802000 -> 0x7e01), 18,396 of 18,430 NaN
// patterns apart. Torch's values for these inputs: /usr/bin/python3, x.view(int32) set, x.half().
test('float32 NaN -> float16 bits as PyTorch writes them: sign | 0x7e00, payload dropped (array and number)', () => {
  const cases: [number, number][] = [[0x7fc00000, 0x7e00], [0xffc00000, 0xfe00], [0x7f802000, 0x7e00], [0xff800001, 0xfe00], [0x7fffffff, 0x7e00], [0x7f800001, 0x7e00]];
  const f = new Float32Array(cases.length);
  const u = new Uint32Array(f.buffer);
  cases.forEach(([bits], i) => (u[i] = bits));
  const out = float32ToFloat16Bits(f);
  expect(Array.from(out, (h) => h.toString(16))).toEqual(cases.map(([, h]) => h.toString(16)));
  expect(float32ToFloat16Bits(Number.NaN)).toBe(0x7e00);
  expect(float32ToFloat16Bits(Number.POSITIVE_INFINITY)).toBe(0x7c00);
  expect(float32ToFloat16Bits(Number.NEGATIVE_INFINITY)).toBe(0xfc00);
});
