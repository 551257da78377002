// Types of bench/ort_peers.mjs, for test/bench-ort-peers.test.ts (the bench itself is plain JS).
// `ort` is the onnxruntime-node module, left untyped: it is not a dependency of the package.

export const PEERS_DIR: string;
export const INSTALL_HINT: string;
export const MAX_REL_ERR: number;

export type Op = 'se' | 'eca' | 'cbam';
export type Layout = 'NCHW' | 'NHWC';
export type Shape4 = [number, number, number, number];
export type Weights = Record<string, Float32Array | undefined>;

export function loadOnnxRuntime():
  | { ort: any; version: string; SyncSession: (new () => any) | null; syncReason: string | null; reason?: undefined }
  | { reason: string; ort?: undefined; version?: undefined; SyncSession?: undefined; syncReason?: undefined };
export function graphFile(op: Op, layout: Layout, k: number | null): { file: string; reason?: undefined } | { reason: string; file?: undefined };
export function makeFeeds(ort: any, op: Op, layout: Layout, shape: Shape4, x: Float32Array, weights: Weights): { k: number | null; feeds: Record<string, any> };
export function maxRelErr(y: ArrayLike<number>, ref: ArrayLike<number>): number;

export interface OrtRunner {
  prepare(
    op: Op,
    layout: Layout,
    shape: Shape4,
    x: Float32Array,
    weights: Weights,
    out: Float32Array,
  ): Promise<{ run: () => Promise<unknown>; runSync: (() => void) | null; reason?: undefined } | { reason: string; run?: undefined; runSync?: undefined }>;
  close(): Promise<void>;
}
export function createOrtRunner(ort: any, opts: { threads: number; SyncSession?: (new () => any) | null }): OrtRunner;

export interface OrtCase {
  op: Op;
  layout: Layout;
  shape: Shape4;
  x: Float32Array;
  weights: Weights;
  ours: Float32Array;
}
export function prepareOrtCase(
  runner: OrtRunner,
  cs: OrtCase,
): Promise<
  | { run: () => Promise<unknown>; runSync: (() => void) | null; maxRelErr: number; y: Float32Array; reason?: undefined }
  | { reason: string; run?: undefined; runSync?: undefined; maxRelErr?: undefined; y?: undefined }
>;
