// The bench CLI (issue 9): --help and bad flags run nothing; the shape/op/layout/device flags
// choose the rows; results land where --out says, as .md, .json and .svg. Only the CLI's
// behaviour is checked here (one tiny shape, --quick); timings belong to `npm run bench`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { floorMs, rateAt, type Rates } from '../bench/cpu.mjs';

const root = path.resolve(__dirname, '..');
let scratch = '';
beforeAll(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'sqex-bench-'));
});
afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function bench(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bench/run.mjs', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const addonMissing = (() => {
  const r = spawnSync(process.execPath, ['-p', "require('./dist/index.js').cuda.status().binary"], { cwd: root, encoding: 'utf8' });
  return r.stdout.trim() === 'null' ? 'no loadable addon in this checkout (npm install builds it)' : null;
})();

describe('npm run bench flags', () => {
  it('--help prints the usage with every flag and exits 0 without running or writing anything', () => {
    const out = path.join(scratch, 'help');
    const r = bench(['--help', '--out', out]);
    expect(r.status).toBe(0);
    for (const flag of ['--shape NxCxHxW', '--op', '--dtype', '--layout', '--device', '--json', '--no-save', '--out', '--quick', '--contended', '--contended-pinned']) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stderr).toBe('');
    expect(existsSync(out)).toBe(false);
  });

  it.each([
    [['--bogus'], "Unknown option '--bogus'"],
    [['--shape', '4x128x32'], '--shape 4x128x32: expected NxCxHxW'],
    [['--op', 'bn'], '--op bn: expected one of se, eca, cbam'],
    [['--layout', 'nchw'], '--layout nchw: expected one of NCHW, NHWC'],
    [['--device', 'cpu', '--dtype', 'float16'], 'the CPU takes float32 only'],
    [['--out', 'x', '--no-save'], '--out and --no-save contradict each other'],
  ])('%j is refused with the reason and the usage (exit 2)', (args, reason) => {
    const r = bench(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(reason);
    expect(r.stderr).toContain('Usage: npm run bench');
    expect(r.stdout).toBe('');
  });

  describe.skipIf(addonMissing !== null)(`a CPU run${addonMissing ? ` (skipped: ${addonMissing})` : ''}`, () => {
    it('--shape/--op/--layout/--device choose the rows; --json prints them; --out gets .md, .json and .svg', () => {
      const out = path.join(scratch, 'run');
      const r = bench(['--shape', '1x16x4x4', '--shape', '2x8x3x5', '--op', 'se', '--op', 'eca', '--layout', 'NHWC', '--device', 'cpu', '--quick', '--json', '--out', out]);
      expect(r.status, r.stderr).toBe(0);
      const result = JSON.parse(r.stdout) as { cpu: { kind: string; rows: { op: string; shape: string; layout: string; dtype: string; ratio: number }[] }; gpu: unknown; files: string[] };
      expect(result.cpu.rows.map((row) => `${row.op} ${row.shape} ${row.layout} ${row.dtype}`)).toEqual([
        'se 1x16x4x4 NHWC float32',
        'eca 1x16x4x4 NHWC float32',
        'se 2x8x3x5 NHWC float32',
        'eca 2x8x3x5 NHWC float32',
      ]);
      for (const row of result.cpu.rows) expect(row.ratio).toBeGreaterThan(0);
      expect(result.gpu).toBeNull();
      expect(result.files.map((f) => path.extname(f)).sort()).toEqual(['.json', '.md', '.svg']);
      for (const f of result.files) expect(path.resolve(root, f).startsWith(out)).toBe(true);
      const svg = readFileSync(path.resolve(root, result.files.find((f) => f.endsWith('.svg'))!), 'utf8');
      expect(svg).toMatch(/^<svg /);
      expect(svg).toContain('SE 2×8×3×5 fp32 NHWC');
      expect(r.stderr).toContain(`results written to`);
    }, 240_000);

    it('--contended times every row also beside a busy-loop process, in the same rounds; rows carry the floor from rates measured in the run', () => {
      const r = bench(['--shape', '1x8x4x4', '--op', 'se', '--layout', 'NCHW', '--device', 'cpu', '--quick', '--contended', '--json', '--no-save']);
      expect(r.status, r.stderr).toBe(0);
      type Row = {
        op: string; ms: number; msP90: number; floorMs: number | null; floorRatio: number | null; contendedMs: number; contendedRatio: number;
        contendedP90Ms: number; contendedP90Ratio: number; newMs: number; outMeanMs: number; newRatio: number; gapMs: number; gapRatio: number;
        hidden: number; k: null;
      };
      const result = JSON.parse(r.stdout) as {
        cpu: { rows: Row[]; rates: { fma64: number[]; fma32: number[]; copy: number[][]; sizes: number[] } | null; contended: { busyLoop: string; busyShare: number | null } };
      };
      expect(result.cpu.contended.busyLoop).toMatch(/^unpinned/);
      expect(r.stderr).toContain('contended stints: a busy-loop process (unpinned) holds a core during them');
      // The loop's CPU time over the wall time it was let run (Linux): it did run, at most a core.
      if (process.platform === 'linux') {
        expect(result.cpu.contended.busyShare).toBeGreaterThan(0);
        expect(result.cpu.contended.busyShare).toBeLessThan(1.2);
      }
      expect(result.cpu.rows).toHaveLength(1);
      const [row] = result.cpu.rows;
      expect(row.contendedMs).toBeGreaterThan(0);
      // Ratios are taken before the ms columns are rounded for the JSON.
      expect(row.contendedRatio / (row.contendedMs / row.ms)).toBeCloseTo(1, 1);
      expect(row.contendedP90Ratio / (row.contendedP90Ms / row.msP90)).toBeCloseTo(1, 1);
      // × out is a ratio of means (the garbage collections of the new arrays count).
      expect(row.newRatio / (row.newMs / row.outMeanMs)).toBeCloseTo(1, 1);
      // The op after 0.5 ms of other work on the calling thread, a median over its own calls.
      expect(row.gapMs).toBeGreaterThan(0);
      expect(row.gapRatio / (row.gapMs / row.ms)).toBeCloseTo(1, 1);
      expect([row.hidden, row.k]).toEqual([8, null]);
      // The floor needs a C++ compiler for the rate probe; without one the column is null and
      // stderr says why.
      if (result.cpu.rates) {
        expect(result.cpu.rates.fma64.every((v) => v > 0)).toBe(true);
        expect(row.floorMs).toBeGreaterThan(0);
        expect(row.floorRatio! / (row.ms / row.floorMs!)).toBeCloseTo(1, 1);
      } else {
        expect(row.floorMs).toBeNull();
        expect(r.stderr).toContain('floor column skipped');
      }
    }, 240_000);

    it('a second run into the same folder keeps the first run\'s files (same minute: -2)', () => {
      const out = path.join(scratch, 'twice');
      const args = ['--shape', '1x8x2x2', '--op', 'se', '--layout', 'NCHW', '--device', 'cpu', '--quick', '--json', '--out', out];
      const first = bench(args);
      expect(first.status, first.stderr).toBe(0);
      const before = (JSON.parse(first.stdout) as { files: string[] }).files.map((f) => path.resolve(root, f));
      const saved = before.map((f) => readFileSync(f, 'utf8'));
      const second = bench(args);
      expect(second.status, second.stderr).toBe(0);
      const after = (JSON.parse(second.stdout) as { files: string[] }).files.map((f) => path.resolve(root, f));
      expect(after).toHaveLength(3);
      for (const f of after) expect(before).not.toContain(f);
      expect(before.map((f) => readFileSync(f, 'utf8'))).toEqual(saved);
      // Same minute: the stamp gains -2; across a minute boundary the stamps differ anyway.
      const stem = (f: string) => path.basename(f).replace(/\.(md|json|svg)$/, '');
      if (stem(after[0]).startsWith(stem(before[0]))) expect(stem(after[0])).toBe(`${stem(before[0])}-2`);
      for (const f of after) expect(stem(f)).toBe(stem(after[0]));
    }, 240_000);

    it('--no-save writes nothing and says so', () => {
      const r = bench(['--shape', '1x8x2x2', '--op', 'se', '--layout', 'NCHW', '--device', 'cpu', '--quick', '--no-save']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('| se | 1×8×2×2 | NCHW | float32 |');
      expect(r.stderr).toContain('results: not written (--no-save)');
    }, 240_000);
  });
});

describe('the CPU floor column (issue 11: x read and y written, weights read once, multiply-adds at the FMA rate)', () => {
  // Rates per thread count (1, 2) at three probed sizes; the bench takes the best thread count.
  const rates: Rates = {
    sizes: [65536, 1_000_000, 4 << 20],
    copy: [[40e9, 20e9, 10e9], [60e9, 30e9, 12e9]],
    read: [[50e9, 25e9, 11e9], [70e9, 35e9, 13e9]],
    fma64: [1e9, 2e9],
    fma32: [2e9, 4e9],
  };

  it('a size is read at its own probe when probed, else at the next probe up (the largest past them all)', () => {
    expect(rateAt(rates, 'copy', 1_000_000)).toBe(30e9);
    expect(rateAt(rates, 'copy', 1_000_004)).toBe(12e9);
    expect(rateAt(rates, 'read', 100)).toBe(70e9);
    expect(rateAt(rates, 'read', 1 << 30)).toBe(13e9);
  });

  it('SE: x copied at x\'s rate, both FCs\' weights read once for the batch, 2·hidden·C multiply-adds a sample at the fp32 rate', () => {
    const cs = { op: 'se', batch: 2, c: 64, h: 4, w: 4, hidden: 8, k: null } as const;
    const xBytes = 2 * 64 * 16 * 4; // 8 KiB: the 64 KiB probe
    const weightBytes = (2 * 8 * 64 + 8 + 64) * 4;
    const expected = (2 * xBytes) / 60e9 + weightBytes / 70e9 + (2 * 8 * 64 * 2) / 4e9;
    expect(floorMs(rates, cs)).toBeCloseTo(expected * 1e3, 12);
  });

  it('CBAM: the shared MLP twice (average and max descriptors) and the k×k conv over the two maps; ECA: k·C', () => {
    const cb = { op: 'cbam', batch: 1, c: 256, h: 56, w: 56, hidden: 16, k: 7 } as const;
    const xBytes = 256 * 56 * 56 * 4; // 3.2 MB: the 4 MiB probe
    const weightBytes = (2 * 16 * 256 + 16 + 256 + 2 * 49 + 1) * 4;
    const macs = 2 * (2 * 16 * 256) + 2 * 49 * 56 * 56;
    expect(floorMs(rates, cb)).toBeCloseTo(((2 * xBytes) / 12e9 + weightBytes / 70e9 + macs / 4e9) * 1e3, 12);
    const eca = { op: 'eca', batch: 8, c: 256, h: 56, w: 56, hidden: null, k: 5 } as const;
    expect(floorMs(rates, eca)).toBeCloseTo(((2 * 8 * xBytes) / 12e9 + (5 * 256 * 8) / 4e9) * 1e3, 12);
  });
});
