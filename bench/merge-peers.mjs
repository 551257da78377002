// Merges the output of a separate bench/torch_peers.py run (JSON lines, e.g. `--modes
// compile,compile_graph`, which costs minutes of compilation the main run cannot spare) into a
// saved GPU results table, and writes its .md/.json/.svg again. Each row's PyTorch best is then the
// best of every mode measured; each mode's ratio stays relative to the copy its own run measured.
//
//   node bench/merge-peers.mjs bench/results/<gpu>-<date>.json peers.jsonl [--note "how it ran"]
//
// Older results JSON without saved header lines take them from the .md beside it.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { renderSvg } from '../scripts/bench-chart.mjs';
import { addPeerRecord, gpuMarkdown, peerKey } from './gpu.mjs';

/**
 * Merges each JSON-lines file of peerFiles into the results at jsonPath and rewrites its .json,
 * .md and .svg. Returns [{ file, gpu, torch, modes, timings, note }] per merged file. Throws when
 * a peer file was measured on another GPU than the table.
 */
export function mergePeers(jsonPath, peerFiles, note = null) {
  const base = jsonPath.slice(0, -'.json'.length);
  const data = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));

  let header = data.header;
  if (!Array.isArray(header)) {
    const md = fs.readFileSync(`${base}.md`, 'utf8').split('\n');
    const table = md.findIndex((l) => l.startsWith('| op |'));
    if (table < 0) throw new Error(`${base}.md: no results table`);
    header = md.slice(0, table);
    while (header.length && header[header.length - 1] === '') header.pop();
  }

  const peers = new Map();
  for (const r of data.rows) if (r.peer) peers.set(peerKey(r), structuredClone(r.peer));
  const merged = [];
  for (const f of peerFiles) {
    let meta = null;
    const modes = new Set();
    let n = 0;
    for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const rec = JSON.parse(line);
      if (rec.gpu) {
        meta = rec;
        continue;
      }
      if (rec.mode && rec.mode !== 'copy' && typeof rec.us === 'number') {
        modes.add(rec.mode);
        n++;
      }
      addPeerRecord(peers, rec);
    }
    if (meta && meta.gpu !== data.gpu) throw new Error(`${f} was measured on ${meta.gpu}, the table on ${data.gpu}`);
    const file = path.basename(f);
    merged.push({ file, gpu: meta?.gpu ?? null, torch: meta?.torch ?? null, modes: [...modes], timings: n, note });
    header.push(`- merged: PyTorch ${meta?.torch ?? '?'} modes ${[...modes].join(',')} from a separate bench/torch_peers.py run (${file}, ${n} timings)${note ? `: ${note}` : ''}`);
  }

  data.header = header;
  data.rows = data.rows.map((r) => ({ ...r, peer: peers.get(peerKey(r)) ?? null }));
  data.peerRuns = [...(data.peerRuns ?? []), ...merged];
  fs.writeFileSync(jsonPath, JSON.stringify(data, null, 1));
  fs.writeFileSync(`${base}.md`, gpuMarkdown(header, data.rows));
  fs.writeFileSync(`${base}.svg`, renderSvg(data));
  return merged;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  let note = null;
  const files = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--note') note = args[++i] ?? '';
    else files.push(args[i]);
  }
  if (files.length < 2 || !files[0].endsWith('.json')) {
    console.error('usage: node bench/merge-peers.mjs <results.json> <peers.jsonl>... [--note TEXT]');
    process.exit(2);
  }
  const merged = mergePeers(files[0], files.slice(1), note);
  console.log(`merged ${merged.map((m) => `${m.timings} timings (${m.modes.join(',')})`).join(', ')} into ${files[0].slice(0, -5)}.{md,json,svg}`);
}
