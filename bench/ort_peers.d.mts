// Types of bench/ort_peers.mjs, for test/bench-ort-peers.test.ts (the bench itself is plain JS).
// `ort` is the onnxruntime-node module, left untyped: it is not a dependency of the package.

export const PEERS_DIR: string;
export const INSTALL_HINT: string;
export const MAX_REL_ERR: number;

export type Op = 'se' | 'eca' | 'cbam';
export type Layout = 'NCHW' | 'NHWC';
export type Shape4 = [number, number, number, number];
export type Weights = Record<string, Float32Array | undefined>;

export function loadOnnxRuntime(): { ort: any; version: string; reason?: undefined } | { reason: string; ort?: undefined; version?: undefined };
export function graphFile(op: Op, layout: Layout, k: number | null): { file: string; reason?: undefined } | { reason: string; file?: undefined };
export function makeFeeds(ort: any, op: Op, layout: Layout, shape: Shape4, x: Float32Array, weights: Weights): { k: number | null; feeds: Record<string, any> };
export function maxRelErr(y: ArrayLike<number>, ref: ArrayLike<number>): number;

export interface OrtRunner {
  prepare(op: Op, layout: Layout, shape: Shape4, x: Float32Array, weights: Weights, out: Float32Array): Promise<{ run: () => Promise<unknown>; reason?: undefined } | { reason: string; run?: undefined }>;
  close(): Promise<void>;
}
export function createOrtRunner(ort: any, opts: { threads: number }): OrtRunner;

export interface OrtCase {
  op: Op;
  layout: Layout;
  shape: Shape4;
  x: Float32Array;
  weights: Weights;
  ours: Float32Array;
  ms: number;
  samples: number;
}
export type OrtRow = { ortMs: number; ortRatio: number; ortMaxRelErr: number; ortSkipped?: undefined } | { ortSkipped: string; ortMs?: undefined; ortRatio?: undefined; ortMaxRelErr?: undefined };
export function runOrtPeers(ort: any, cases: OrtCase[], opts: { threads: number; log?: (msg: string) => void }): Promise<OrtRow[]>;
export function addOrtColumns(
  rows: Record<string, unknown>[],
  cases: OrtCase[],
  opts: { threads: number; log?: (msg: string) => void },
): Promise<{ version: string; threads: number; maxRelErr: number | null } | { reason: string }>;
