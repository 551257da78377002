// bench/merge-peers.mjs: a separate PyTorch peer run (torch.compile modes) merged into a saved GPU
// results table. In-process (no child node: this suite also runs where node cannot exec itself).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { mergePeers } from '../bench/merge-peers.mjs';

const scratch = mkdtempSync(path.join(tmpdir(), 'sqex-merge-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const row = (op: string, n: number, opUs: number, peer: unknown) => ({
  op, shape: [n, 64, 8, 8], dtype: 'float32', layout: 'NCHW', opUs, opGraphUs: opUs - 1, copyUs: 4, ratio: opUs / 4, bytes: n * 64 * 64 * 4, peer,
});
const peerLine = (op: string, n: number, mode: string, us: number, copyUs: number) =>
  JSON.stringify({ op, n, c: 64, h: 8, w: 8, dtype: 'float32', layout: 'NCHW', mode, us, copy_us: copyUs, ratio: us / copyUs });

describe('bench/merge-peers.mjs', () => {
  it('keeps every mode, takes the best with its own run\'s copy, and rewrites .md/.json/.svg', () => {
    const json = path.join(scratch, 'GPU-X.json');
    const eager = { bestUs: 30, bestMode: 'graph', bestRatio: 30 / 5, copyUs: 5, modes: { eager: 40, graph: 30 } };
    writeFileSync(json, JSON.stringify({ date: '2026-11-30T00:00:00Z', gpu: 'GPU X', commit: 'abc1234', driver: '13.0', torch: '9.9', rows: [row('se', 1, 10, eager), row('eca', 2, 12, null)] }));
    writeFileSync(path.join(scratch, 'GPU-X.md'), '# table\n\n- date: d\n\n| op | N,C,H,W |\n|---|---|\n');
    const jsonl = path.join(scratch, 'compile.jsonl');
    writeFileSync(jsonl, [
      JSON.stringify({ gpu: 'GPU X', torch: '9.9' }),
      JSON.stringify({ op: 'se', n: 1, c: 64, h: 8, w: 8, dtype: 'float32', layout: 'NCHW', mode: 'copy', us: 6, copy_us: 6 }),
      peerLine('se', 1, 'compile', 35, 6),
      peerLine('se', 1, 'compile_graph', 9, 6),
      peerLine('eca', 2, 'compile', 20, 4),
      JSON.stringify({ op: 'eca', n: 2, c: 64, h: 8, w: 8, dtype: 'float32', layout: 'NCHW', mode: 'compile_graph', error: 'boom' }),
    ].join('\n'));
    const merged = mergePeers(json, [jsonl], 'a note');
    expect(merged).toEqual([{ file: 'compile.jsonl', gpu: 'GPU X', torch: '9.9', modes: ['compile', 'compile_graph'], timings: 3, errors: 1, note: 'a note' }]);
    const out = JSON.parse(readFileSync(json, 'utf8'));
    expect(out.rows[0].peer).toEqual({ bestUs: 9, bestMode: 'compile_graph', bestRatio: 1.5, copyUs: 6, modes: { eager: 40, graph: 30, compile: 35, compile_graph: 9 } });
    expect(out.rows[1].peer).toEqual({ bestUs: 20, bestMode: 'compile', bestRatio: 5, copyUs: 4, modes: { compile: 20 } });
    expect(out.header).toEqual(['# table', '', '- date: d', '- merged: PyTorch 9.9 modes compile,compile_graph from a separate bench/torch_peers.py run (compile.jsonl, 3 timings, 1 failed): a note']);
    const md = readFileSync(path.join(scratch, 'GPU-X.md'), 'utf8');
    // speedup = PyTorch best / min(ours, ours graph) = 9 / 9
    expect(md).toContain('| se | 1,64,8,8 | float32 | NCHW | 10.00 | 9.00 | 4.00 | 2.500 | 9.00 (compile_graph) | 1.500 | 1.00× |');
    expect(md).toContain('| eca | 2,64,8,8 | float32 | NCHW | 12.00 | 11.00 | 4.00 | 3.000 | 20.00 (compile) | 5.000 | 1.82× |');
    expect(readFileSync(path.join(scratch, 'GPU-X.svg'), 'utf8')).toMatch(/^<svg[^]*squeeze-excite vs PyTorch on GPU X/);
  });

  it('refuses, writing nothing: a mode the row already has (so a second merge of one file), a failed run, no header line, no timing of a table row, a bad line', () => {
    const json = path.join(scratch, 'GPU-W.json');
    const peer = { bestUs: 30, bestMode: 'graph', bestRatio: 6, copyUs: 5, modes: { eager: 40, graph: 30 } };
    const before = JSON.stringify({ date: '2026-11-30T00:00:00Z', gpu: 'GPU W', commit: 'abc1234', header: ['# t'], rows: [row('se', 1, 10, peer)] });
    writeFileSync(json, before);
    const meta = JSON.stringify({ gpu: 'GPU W', torch: '1' });
    const cases: [string, string, RegExp][] = [
      ['dup.jsonl', `${meta}\n${peerLine('se', 1, 'graph', 50, 4)}\n`, /already has PyTorch mode 'graph'/],
      ['failed.jsonl', `${JSON.stringify({ error: 'CUDA is not available to PyTorch' })}\n`, /the peer run failed: CUDA is not available/],
      ['nometa.jsonl', `${peerLine('se', 1, 'compile', 5, 4)}\n`, /no header line/],
      ['other-rows.jsonl', `${meta}\n${peerLine('eca', 8, 'compile', 5, 4)}\n`, /no timing of a configuration in the table/],
      ['garbage.jsonl', `${meta}\nWARNING: something\n`, /garbage\.jsonl:2: not a JSON line/],
    ];
    for (const [name, text, want] of cases) {
      const f = path.join(scratch, name);
      writeFileSync(f, text);
      expect(() => mergePeers(json, [f]), name).toThrow(want);
      expect(readFileSync(json, 'utf8'), name).toBe(before);
    }
    const ok = path.join(scratch, 'ok.jsonl');
    writeFileSync(ok, `${meta}\n${peerLine('se', 1, 'compile', 5, 4)}\n`);
    mergePeers(json, [ok]);
    expect(() => mergePeers(json, [ok]), 'the same file again').toThrow(/already has PyTorch mode 'compile'/);
  });

  it('refuses a peer run from another GPU and writes nothing', () => {
    const json = path.join(scratch, 'GPU-Y.json');
    const before = JSON.stringify({ date: '2026-11-30T00:00:00Z', gpu: 'GPU Y', commit: 'abc1234', header: ['# t'], rows: [row('se', 1, 10, null)] });
    writeFileSync(json, before);
    const jsonl = path.join(scratch, 'other.jsonl');
    writeFileSync(jsonl, `${JSON.stringify({ gpu: 'GPU Z', torch: '1' })}\n${peerLine('se', 1, 'compile', 5, 4)}\n`);
    expect(() => mergePeers(json, [jsonl])).toThrow(/measured on GPU Z, the table on GPU Y/);
    expect(readFileSync(json, 'utf8')).toBe(before);
  });
});
