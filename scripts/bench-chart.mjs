#!/usr/bin/env node
// Renders a benchmark JSON as an SVG bar chart: each row's time as a multiple of a same-size copy
// (1.0 = the copy floor). GPU JSON (bench/gpu.mjs): ours (min of launch / graph) and PyTorch's best
// against a device-to-device copy. CPU JSON (bench/run.mjs, kind 'cpu'): ours against a memcpy.
// bench/run.mjs writes the SVG beside each result; this CLI redraws one:
//   node scripts/bench-chart.mjs bench/results/<name>.json [out.svg]
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROW_H = 13, LABEL_W = 250, PLOT_W = 520, TOP = 58, MAX = 6;
const x = (ratio) => LABEL_W + (Math.min(ratio, MAX) / MAX) * PLOT_W;
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
const dtypeTag = (d) => (d === 'float16' ? 'fp16' : d === 'bfloat16' ? 'bf16' : 'fp32');

/** The SVG text for a GPU or CPU benchmark JSON object. */
export function renderSvg(data) {
  const cpu = data.kind === 'cpu';
  const rows = data.rows.filter((r) => !r.error);
  const height = TOP + rows.length * (ROW_H + 3) + 40;
  const parts = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${LABEL_W + PLOT_W + 90}" height="${height}" font-family="monospace" font-size="10">`);
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  if (cpu) {
    parts.push(`<text x="8" y="16" font-size="13" font-weight="bold">squeeze-excite on ${esc(data.cpu)} (${data.cores} cores): time as a multiple of a same-size memcpy</text>`);
    parts.push(`<text x="8" y="32">${esc(data.date.slice(0, 10))}, commit ${esc(data.commit)}, Node ${esc(data.node)}, ${esc(data.simd)} kernels. Lower is better; 1.0 = the memcpy floor. Bars past ${MAX}× are clipped.</text>`);
    parts.push(`<rect x="${LABEL_W}" y="40" width="10" height="8" fill="#1f77b4"/><text x="${LABEL_W + 14}" y="48">squeeze-excite, ${data.threads} pool threads, vs a single-threaded memcpy</text>`);
  } else {
    parts.push(`<text x="8" y="16" font-size="13" font-weight="bold">squeeze-excite vs PyTorch on ${esc(data.gpu)}: time as a multiple of a same-size D2D copy</text>`);
    parts.push(`<text x="8" y="32">${esc(data.date.slice(0, 10))}, commit ${esc(data.commit)}, torch ${esc(data.torch ?? '–')}. Lower is better; 1.0 = the copy floor. Bars past ${MAX}× are clipped.</text>`);
    parts.push(`<rect x="${LABEL_W}" y="40" width="10" height="8" fill="#1f77b4"/><text x="${LABEL_W + 14}" y="48">squeeze-excite (min of launch / graph)</text>`);
    parts.push(`<rect x="${LABEL_W + 270}" y="40" width="10" height="8" fill="#ff7f0e"/><text x="${LABEL_W + 284}" y="48">PyTorch best (eager / graph / compile)</text>`);
  }
  for (const t of [1, 1.15, 2, 3, 4, 5, 6]) {
    parts.push(`<line x1="${x(t)}" y1="${TOP - 4}" x2="${x(t)}" y2="${height - 30}" stroke="${t === 1 ? '#000' : t === 1.15 ? '#2ca02c' : '#ddd'}" stroke-dasharray="${t === 1.15 ? '3,2' : ''}"/>`);
    parts.push(`<text x="${x(t) - 8}" y="${height - 18}">${t}×</text>`);
  }
  rows.forEach((r, i) => {
    const y = TOP + i * (ROW_H + 3);
    const ours = cpu ? r.ratio : Math.min(r.opUs, r.opGraphUs || r.opUs) / r.copyUs;
    const shape = Array.isArray(r.shape) ? r.shape.join('×') : String(r.shape).replaceAll('x', '×');
    const label = `${r.op.toUpperCase()} ${shape} ${dtypeTag(r.dtype)} ${r.layout}`;
    parts.push(`<text x="4" y="${y + 9}">${esc(label)}</text>`);
    parts.push(`<rect x="${LABEL_W}" y="${y}" width="${x(ours) - LABEL_W}" height="${ROW_H / 2}" fill="#1f77b4"/>`);
    parts.push(`<text x="${x(ours) + 3}" y="${y + 6}" font-size="8">${ours.toFixed(2)}</text>`);
    if (r.peer && Number.isFinite(r.peer.bestRatio)) {
      parts.push(`<rect x="${LABEL_W}" y="${y + ROW_H / 2}" width="${x(r.peer.bestRatio) - LABEL_W}" height="${ROW_H / 2}" fill="#ff7f0e"/>`);
      parts.push(`<text x="${x(r.peer.bestRatio) + 3}" y="${y + ROW_H}" font-size="8">${r.peer.bestRatio.toFixed(2)}</text>`);
    }
  });
  parts.push('</svg>');
  return parts.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [input, output = input?.replace(/\.json$/, '.svg')] = process.argv.slice(2);
  if (!input) {
    console.error('usage: node scripts/bench-chart.mjs <bench result .json> [out.svg]');
    process.exit(2);
  }
  const data = JSON.parse(readFileSync(input, 'utf8'));
  writeFileSync(output, renderSvg(data));
  console.log(`wrote ${output} (${data.rows.filter((r) => !r.error).length} rows)`);
}
