// The onnxruntime-node peers of the CPU bench (issue 11; bench/ort_peers.mjs, bench/peers/): a
// bench-only install the package never pulls in, graphs that compute our ops (checked here against
// the float64 reference, independently of our kernels), and the bench's columns. The parts that
// need onnxruntime-node skip with a printed reason when bench/peers/ does not have it
// (`npm run bench:peers:install`); timings belong to `npm run bench`.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import * as api from '../dist/index.js';
import {
  INSTALL_HINT,
  MAX_REL_ERR,
  PEERS_DIR,
  createOrtRunner,
  graphFile,
  loadOnnxRuntime,
  maxRelErr,
  prepareOrtCase,
  type OrtCase,
  type Weights,
} from '../bench/ort_peers.mjs';
import { ODD_SHAPES, TOL_F32, expectClose, freshRng, numel, poisoned, randCBAMWeights, randECAWeight, randSEWeights, seedNote } from './helpers.js';
import { refCBAM, refECA, refSE, type Layout, type Shape4 } from './reference.js';

const root = path.resolve(__dirname, '..');
const peer = loadOnnxRuntime();
const ortMissing = peer.reason ?? null;
if (ortMissing) console.log(`bench-ort-peers: onnxruntime parts skipped: ${ortMissing}`);
const addonMissing = (() => {
  const r = spawnSync(process.execPath, ['-p', "require('./dist/index.js').cuda.status().binary"], { cwd: root, encoding: 'utf8' });
  return r.stdout.trim() === 'null' ? 'no loadable addon in this checkout (npm install builds it)' : null;
})();

const GRAPHS: [op: 'se' | 'eca' | 'cbam', k: number | null][] = [['se', null], ['eca', 3], ['eca', 5], ['eca', 7], ['eca', 9], ['cbam', 7]];

function bench(args: string[]) {
  return spawnSync(process.execPath, ['bench/run.mjs', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
}

describe('onnxruntime-node is a bench-only install', () => {
  it('the package neither depends on it nor locks it; bench/peers/ pins one version and installs it without install scripts', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    for (const field of ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies']) {
      expect(Object.keys(pkg[field] ?? {}).filter((n) => n.startsWith('onnxruntime')), field).toEqual([]);
    }
    expect(readFileSync(path.join(root, 'package-lock.json'), 'utf8')).not.toContain('onnxruntime');
    // The postinstall script only fetches CUDA EP binaries from outside the npm registry; the CPU
    // binary ships in the package.
    expect(pkg.scripts['bench:peers:install']).toBe('npm --prefix bench/peers ci --ignore-scripts --no-audit --no-fund');
    const peers = JSON.parse(readFileSync(path.join(PEERS_DIR, 'package.json'), 'utf8'));
    expect(peers.private).toBe(true);
    const pinned: string = peers.dependencies['onnxruntime-node'];
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    const lock = JSON.parse(readFileSync(path.join(PEERS_DIR, 'package-lock.json'), 'utf8'));
    expect(lock.packages['node_modules/onnxruntime-node'].version).toBe(pinned);
    if (!ortMissing) expect(peer.version).toBe(pinned);
  });

  it.each(GRAPHS)('bench/peers/ holds the %s graph (k = %s) for both layouts, a few KB each', (op, k) => {
    for (const layout of ['NCHW', 'NHWC'] as const) {
      const g = graphFile(op, layout, k);
      expect(g.reason).toBeUndefined();
      expect(statSync(g.file!).size).toBeLessThan(8 << 10);
    }
  });

  it('a kernel size without a graph says how to make one', () => {
    expect(graphFile('eca', 'NCHW', 11).reason).toBe('no graph eca_k11_nchw.onnx (add k to scripts/gen_onnx_peers.py and rerun it)');
  });
});

describe.skipIf(ortMissing === null || addonMissing !== null)(`the bench without onnxruntime-node${ortMissing === null ? ' (skipped: it is installed)' : ''}${addonMissing ? ` (skipped: ${addonMissing})` : ''}`, () => {
  it('prints one line saying why and how to install it, and the table has no onnxruntime columns', () => {
    const r = bench(['--shape', '1x8x2x2', '--op', 'se', '--layout', 'NCHW', '--cpu-only', '--quick', '--no-save']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`onnxruntime-node not installed: ${INSTALL_HINT}\n`);
    expect(r.stdout).toContain(`onnxruntime: no columns, onnxruntime-node not installed: ${INSTALL_HINT}`);
    expect(r.stdout).not.toContain('× faster than onnxruntime');
  }, 240_000);
});

describe.skipIf(ortMissing !== null)(`onnxruntime-node peers${ortMissing ? ` (skipped: ${ortMissing})` : ''}`, () => {
  const runner = ortMissing ? null : createOrtRunner(peer.ort, { threads: 2, SyncSession: peer.SyncSession });
  afterAll(async () => runner?.close());

  async function ort(op: 'se' | 'eca' | 'cbam', layout: Layout, shape: Shape4, x: Float32Array, weights: Weights): Promise<Float32Array> {
    const y = poisoned(x.length);
    const p = await runner!.prepare(op, layout, shape, x, weights, y);
    expect(p.reason).toBeUndefined();
    await p.run!();
    return y;
  }

  // Fresh random data, fp32 accuracy against the float64 reference: the graphs compute our ops.
  // ONNX Runtime's CPU sigmoid (an MLAS approximation) is accurate to ~1.2e-7 absolute, not
  // relative: 2e-4 relative at sigmoid(-8), measured with the SE graph over gate inputs -20..20. So
  // y = x·gate may be off by that much times |x| per gate (two in CBAM) where the gates are small:
  // the bound is max|y − ref| ≤ 1e-5·max|ref| + 3e-7·max|x|, still far below what a wrong graph gives.
  const absTol = (x: Float32Array) => 3e-7 * x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  it.each(['NCHW', 'NHWC'] as const)('every graph matches the float64 reference (%s, odd shapes, with and without biases)', async (layout) => {
    const rng = freshRng();
    for (const shape of ODD_SHAPES) {
      const [, c] = shape;
      const x = rng.normals(numel(shape), 1, 0.3); // the scales of test/cpu.*.test.ts: gates not saturated
      for (const bias of [true, false]) {
        const hidden = rng.int(1, Math.max(2, c));
        const ctx = (what: string) => `${what} ${shape.join('x')} ${layout} bias=${bias} ${seedNote(rng)}`;
        const se = randSEWeights(rng, c, hidden, { twoFc: true, b1: bias, b2: bias });
        expectClose(await ort('se', layout, shape, x, { ...se }), refSE(x, shape, se, { layout }).y, TOL_F32, ctx('se'), absTol(x));
        for (const k of [3, 5, 7, 9]) {
          const weight = randECAWeight(rng, k);
          expectClose(await ort('eca', layout, shape, x, { weight }), refECA(x, shape, { weight }, { layout }).y, TOL_F32, ctx(`eca k=${k}`), absTol(x));
        }
        const cb = randCBAMWeights(rng, c, hidden, 7, { b1: bias, b2: bias, spatialBias: bias });
        expectClose(await ort('cbam', layout, shape, x, { ...cb }), refCBAM(x, shape, cb, { layout }).y, TOL_F32, ctx('cbam'), absTol(x));
      }
    }
  });

  describe.skipIf(addonMissing !== null)(`against our ops${addonMissing ? ` (skipped: ${addonMissing})` : ''}`, () => {
    function cases(): OrtCase[] {
      const rng = freshRng();
      const shape: Shape4 = [2, 24, 5, 7];
      const out: OrtCase[] = [];
      for (const layout of ['NCHW', 'NHWC'] as const) {
        const x = rng.normals(numel(shape), 2);
        const se = randSEWeights(rng, 24, 6, { twoFc: true, b1: true, b2: true });
        const eca = { weight: randECAWeight(rng, 5) };
        const cb = randCBAMWeights(rng, 24, 6, 7, { b1: true, b2: true, spatialBias: true });
        const opts = { layout, device: 'cpu' as const };
        out.push({ op: 'se', layout, shape, x, weights: { ...se }, ours: api.seForward(x, shape, se, opts) });
        out.push({ op: 'eca', layout, shape, x, weights: eca, ours: api.ecaForward(x, shape, eca, opts) });
        out.push({ op: 'cbam', layout, shape, x, weights: { ...cb }, ours: api.cbamForward(x, shape, cb, opts) });
      }
      return out;
    }

    it('prepareOrtCase checks both call paths against ours and hands back the calls the bench times; a kernel size without a graph is skipped with the reason', async () => {
      // The binding's synchronous session is not public API: this pins that the pinned version has it.
      expect(peer.SyncSession, peer.syncReason ?? '').not.toBeNull();
      const cs = cases();
      for (const c of cs) {
        const p = await prepareOrtCase(runner!, c);
        expect(p.reason).toBeUndefined();
        expect(p.maxRelErr).toBeLessThanOrEqual(MAX_REL_ERR);
        expect(p.runSync).toBeTypeOf('function');
        // Each path writes y again: poisoned, then run, then equal to ours within the bound.
        for (const run of [p.run!, p.runSync!]) {
          p.y!.fill(NaN);
          await run();
          expect(p.y!.every((v) => !Number.isNaN(v))).toBe(true);
          expect(maxRelErr(p.y!, c.ours), `${c.op} ${c.layout}`).toBeLessThanOrEqual(MAX_REL_ERR);
        }
      }
      expect(await prepareOrtCase(runner!, { ...cs[1]!, weights: { weight: randECAWeight(freshRng(), 11) } })).toEqual({
        reason: 'no graph eca_k11_nchw.onnx (add k to scripts/gen_onnx_peers.py and rerun it)',
      });
    });

    it('a peer whose output is not ours fails loudly (ERR_SQEX_BENCH_PEER_MISMATCH)', async () => {
      for (const c of cases()) {
        const ours = c.ours.slice();
        ours[ours.length >> 1]! += 1e-3 * Math.max(...ours.map(Math.abs));
        await expect(prepareOrtCase(runner!, { ...c, ours })).rejects.toMatchObject({
          code: 'ERR_SQEX_BENCH_PEER_MISMATCH',
          message: expect.stringContaining(`onnxruntime ${c.op} 2x24x5x7 ${c.layout}: max relative difference to ours`),
        });
      }
    });

    it('npm run bench adds the onnxruntime columns to the CPU table and the JSON', () => {
      const args = ['--shape', '1x16x4x4', '--shape', '2x8x3x5', '--cpu-only', '--quick', '--no-save'];
      const j = bench([...args, '--json']);
      expect(j.status, j.stderr).toBe(0);
      type Row = { op: string; ms: number; ortMs: number; ortSyncMs: number; ortBestMs: number; ortRatio: number; ortMaxRelErr: number };
      const cpu = JSON.parse(j.stdout).cpu as { threads: number; rows: Row[]; onnxruntime: Record<string, unknown> };
      expect(cpu.onnxruntime).toEqual({
        version: peer.version, threads: cpu.threads, maxRelErr: Math.max(...cpu.rows.map((r) => r.ortMaxRelErr)), sync: true, syncReason: null,
      });
      expect(cpu.rows).toHaveLength(2 * 3 * 2);
      for (const row of cpu.rows) {
        expect(row.ortMs).toBeGreaterThan(0);
        expect(row.ortSyncMs).toBeGreaterThan(0);
        expect(row.ortMaxRelErr).toBeLessThanOrEqual(MAX_REL_ERR);
        // onnxruntime's faster path; the ratio is taken before the ms columns are rounded for the JSON.
        expect(row.ortBestMs).toBe(Math.min(row.ortMs, row.ortSyncMs));
        expect(row.ortRatio / (row.ortBestMs / row.ms)).toBeCloseTo(1, 1);
      }
      const t = bench([...args, '--op', 'cbam', '--layout', 'NHWC']);
      expect(t.status, t.stderr).toBe(0);
      expect(t.stdout).toContain(`onnxruntime: onnxruntime-node ${peer.version}, CPU execution provider, intraOpNumThreads`);
      expect(t.stdout).toContain('| × floor | no out ms | × out | after other work ms | × back to back | onnxruntime ms | × faster than onnxruntime |');
      expect(t.stdout).toMatch(/\| cbam \| 2×8×3×5 \| NHWC \| float32 \| 8, k 7 \|( \S+ \|){10} [\d.]+ \| [\d.]+ \|\n/);
      expect(t.stdout).toContain('the native binding\'s synchronous run (JSON: ortMs, ortSyncMs, ortBestMs)');
    }, 240_000);
  });
});
