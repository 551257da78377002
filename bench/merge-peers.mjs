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
import { addPeerRecord, gpuMarkdown, peerKey, recordKey } from './gpu.mjs';

/**
 * Merges each JSON-lines file of peerFiles into the results at jsonPath and rewrites its .json,
 * .md and .svg. Returns [{ file, gpu, torch, modes, timings, errors, note }] per merged file.
 * Refuses (throws, writing nothing) a peer file without its header line or measured on another
 * GPU, one with no timing of a row in the table, an unparsable line, and a mode a row already has
 * (a merge adds modes; merging the same file twice is refused).
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
  header = [...header];

  const peers = new Map();
  for (const r of data.rows) if (r.peer) peers.set(peerKey(r), structuredClone(r.peer));
  const merged = [];
  for (const f of peerFiles) {
    const file = path.basename(f);
    let meta = null;
    const modes = new Set();
    let timings = 0;
    let errors = 0;
    fs.readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      let rec;
      try {
        rec = JSON.parse(line);
      } catch (e) {
        throw new Error(`${f}:${i + 1}: not a JSON line (${e.message})`);
      }
      if (rec.gpu) {
        meta = rec;
        return;
      }
      if (rec.error && rec.op === undefined) throw new Error(`${f}:${i + 1}: the peer run failed: ${rec.error}`);
      if (rec.error) {
        errors++;
        return;
      }
      if (!rec.mode || rec.mode === 'copy' || typeof rec.us !== 'number') return;
      const key = recordKey(rec);
      if (!data.rows.some((r) => peerKey(r) === key)) return; // a configuration the table does not have
      if (peers.get(key)?.modes?.[rec.mode] !== undefined) {
        throw new Error(`${f}:${i + 1}: ${key.replaceAll('|', ' ')} already has PyTorch mode '${rec.mode}' (a merge adds modes; was this file merged before?)`);
      }
      modes.add(rec.mode);
      timings++;
      addPeerRecord(peers, rec);
    });
    if (meta === null) throw new Error(`${f}: no header line ({"gpu": ...}): not bench/torch_peers.py output`);
    if (meta.gpu !== data.gpu) throw new Error(`${f} was measured on ${meta.gpu}, the table on ${data.gpu}`);
    if (timings === 0) throw new Error(`${f}: no timing of a configuration in the table`);
    merged.push({ file, gpu: meta.gpu, torch: meta.torch ?? null, modes: [...modes], timings, errors, note });
    header.push(`- merged: PyTorch ${meta.torch ?? '?'} modes ${[...modes].join(',')} from a separate bench/torch_peers.py run (${file}, ${timings} timings${errors ? `, ${errors} failed` : ''})${note ? `: ${note}` : ''}`);
  }

  const out = { ...data, header, rows: data.rows.map((r) => ({ ...r, peer: peers.get(peerKey(r)) ?? null })), peerRuns: [...(data.peerRuns ?? []), ...merged] };
  // Everything rendered before anything is written: a failure leaves the three files as they were.
  const files = [
    [jsonPath, JSON.stringify(out, null, 1)],
    [`${base}.md`, gpuMarkdown(header, out.rows)],
    [`${base}.svg`, renderSvg(out)],
  ];
  for (const [p, text] of files) fs.writeFileSync(p, text);
  return merged;
}

const USAGE = 'usage: node bench/merge-peers.mjs <results.json> <peers.jsonl>... [--note TEXT]';

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  let note = null;
  const files = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (a === '--note') {
      if (i + 1 >= args.length) {
        console.error(`--note needs a text\n${USAGE}`);
        process.exit(2);
      }
      note = args[++i];
    } else if (a.startsWith('--note=')) {
      note = a.slice('--note='.length);
    } else if (a.startsWith('-')) {
      console.error(`unknown option ${a}\n${USAGE}`);
      process.exit(2);
    } else {
      files.push(a);
    }
  }
  if (files.length < 2 || !files[0].endsWith('.json')) {
    console.error(USAGE);
    process.exit(2);
  }
  try {
    const merged = mergePeers(files[0], files.slice(1), note);
    console.log(`merged ${merged.map((m) => `${m.timings} timings (${m.modes.join(',')})`).join(', ')} into ${files[0].slice(0, -5)}.{md,json,svg}`);
  } catch (e) {
    console.error(`merge-peers: ${e.message}`);
    process.exit(1);
  }
}
