// Loads test/fixtures/attention_model.{safetensors,json} (scripts/gen_safetensors_fixture.py): a
// checkpoint holding SE / ECA / CBAM modules and each module's float64 output on a fixed input.
import { readFileSync } from 'node:fs';
import { FIXTURE_DIR } from './helpers.js';
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
