// Loads test/fixtures/attention_model.{safetensors,json} (scripts/gen_safetensors_fixture.py): a
// checkpoint holding SE / ECA / CBAM modules and each module's float64 output on a fixed input.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { CBAMBlock, ECABlock, SEBlock, type SafetensorsFile } from '../dist/index.js';
import { FIXTURE_DIR, TOL_F32, expectClose, poisoned } from './helpers.js';
import type { Layout } from './reference.js';
import type { Shape4 } from './reference.js';

export interface ModelCase {
  prefix: string;
  kind: string;
  block: 'SEBlock' | 'ECABlock' | 'CBAMBlock';
  module: string;
  overrides: Record<string, string>;
  /** tensor names under the prefix (relative) -> shape */
  tensors: Record<string, number[]>;
  shape: Shape4;
  x: Float32Array;
  expected: Float64Array;
  selfCheckRelErr: number;
}

export interface ModelFixture {
  provenance: {
    mode: 'timm';
    real: true;
    sources: Record<string, string> | null;
    writer: string;
    modules: Record<string, string>;
    versions: Record<string, string>;
    safetensorsSha256: string;
    note: string;
  };
  path: string;
  bnEps: number;
  cases: ModelCase[];
  extras: Record<string, { dtype: string; shape: number[]; values: number[] }>;
  distractors: string[];
}

function decode(v: { b64: string; dtype: 'float32' | 'float64'; length: number }): Float32Array | Float64Array {
  const bytes = Buffer.from(v.b64, 'base64');
  const out = v.dtype === 'float32' ? new Float32Array(v.length) : new Float64Array(v.length);
  if (bytes.length !== out.byteLength) throw new Error(`fixture array: ${bytes.length} bytes for ${v.length} ${v.dtype}`);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

export function loadModelFixture(): ModelFixture {
  const raw = JSON.parse(readFileSync(`${FIXTURE_DIR}attention_model.json`, 'utf8'));
  return {
    ...raw,
    path: `${FIXTURE_DIR}${raw.file}`,
    cases: raw.cases.map((c: Record<string, unknown>) => ({
      ...c,
      x: decode(c.x as never) as Float32Array,
      expected: decode(c.expected as never) as Float64Array,
    })),
  };
}

/** NCHW -> NHWC of a logical [N, C, H, W] array. */
export function toNhwc<T extends Float32Array | Float64Array>(a: T, [n, c, h, w]: Shape4): T {
  const out = new (a.constructor as new (len: number) => T)(a.length);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < c; j++)
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[((i * h + y) * w + x) * c + j] = a[((i * c + j) * h + y) * w + x]!;
  return out;
}

/** One attention module inside a whole model of test/fixtures/timm_models (scripts/gen_timm_models_fixture.py). */
export interface TimmModelCase extends ModelCase {
  channels: number;
  /** rd for SE/CBAM, null for ECA. */
  hidden: number | null;
  /** ECA's conv k or CBAM's spatial k, null for SE. */
  kernelSize: number | null;
  gateRange: [number, number];
  gateSaturated: number;
}

export interface TimmModel {
  name: string;
  source: 'timm' | 'torchvision';
  /** The constructor call that made it. */
  call: string;
  path: string;
  sha256: string;
  tensorCount: number;
  /** The precision the checkpoint was saved in. */
  dtype: 'float32' | 'float16' | 'bfloat16';
  cases: TimmModelCase[];
}

export interface TimmModelsFixture {
  provenance: { writer: string; versions: Record<string, string>; sources: Record<string, string> | null; command: string; image: number[] };
  bnEps: number;
  models: TimmModel[];
}

export function loadTimmModelsFixture(): TimmModelsFixture {
  const raw = JSON.parse(readFileSync(`${FIXTURE_DIR}timm_models.json`, 'utf8'));
  return {
    ...raw,
    models: raw.models.map((m: Record<string, unknown>) => ({
      ...m,
      path: `${FIXTURE_DIR}${m.file as string}`,
      cases: (m.cases as Record<string, unknown>[]).map((c) => ({
        ...c,
        x: decode(c.x as never) as Float32Array,
        expected: decode(c.expected as never) as Float64Array,
      })),
    })),
  };
}

const BLOCKS = { SEBlock, ECABlock, CBAMBlock } as const;

/**
 * Loads case c from the checkpoint with fromStateDict on the CPU, runs it on c.x (in `layout`) into a
 * poisoned out, and checks it against c.expected within 1e-5; returns the relative error.
 */
export function runCaseOnCpu(file: SafetensorsFile, c: ModelCase, layout: Layout, bnEps: number, label: string): number {
  const Block = BLOCKS[c.block] as unknown as { fromStateDict(t: unknown, p: string, o: unknown): { forward(x: Float32Array, s: unknown, o: unknown): Float32Array; dispose(): void } };
  const block = Block.fromStateDict(file, c.prefix, { kind: c.kind, ...c.overrides, layout, device: 'cpu', bnEps });
  try {
    const x = layout === 'NCHW' ? c.x : toNhwc(c.x, c.shape);
    const expected = layout === 'NCHW' ? c.expected : toNhwc(c.expected, c.shape);
    const out = poisoned(x.length);
    expect(block.forward(x, c.shape, { out })).toBe(out);
    return expectClose(out, expected, TOL_F32, `${label} ${layout}`);
  } finally {
    block.dispose();
  }
}
