#!/usr/bin/env node
// Renders a GPU benchmark JSON (bench/gpu.mjs) as an SVG: for each shape, our time and PyTorch's
// best as multiples of a same-size device-to-device copy (1.0 = the copy floor).
// Usage: node scripts/bench-chart.mjs bench/results/<gpu>-<date>.json [out.svg]
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output = input.replace(/\.json$/, '.svg')] = process.argv.slice(2);
const data = JSON.parse(readFileSync(input, 'utf8'));
const rows = data.rows.filter((r) => !r.error);

const ROW_H = 13, LABEL_W = 250, PLOT_W = 520, TOP = 58, MAX = 6;
const x = (ratio) => LABEL_W + (Math.min(ratio, MAX) / MAX) * PLOT_W;
const height = TOP + rows.length * (ROW_H + 3) + 40;
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
const parts = [];
parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${LABEL_W + PLOT_W + 90}" height="${height}" font-family="monospace" font-size="10">`);
parts.push(`<rect width="100%" height="100%" fill="white"/>`);
parts.push(`<text x="8" y="16" font-size="13" font-weight="bold">squeeze-excite vs PyTorch on ${esc(data.gpu)}: time as a multiple of a same-size D2D copy</text>`);
parts.push(`<text x="8" y="32">${esc(data.date.slice(0, 10))}, commit ${esc(data.commit)}, torch ${esc(data.torch ?? '–')}. Lower is better; 1.0 = the copy floor. Bars past ${MAX}× are clipped.</text>`);
parts.push(`<rect x="${LABEL_W}" y="40" width="10" height="8" fill="#1f77b4"/><text x="${LABEL_W + 14}" y="48">squeeze-excite (min of launch / graph)</text>`);
parts.push(`<rect x="${LABEL_W + 270}" y="40" width="10" height="8" fill="#ff7f0e"/><text x="${LABEL_W + 284}" y="48">PyTorch best (eager / graph / compile)</text>`);
for (const t of [1, 1.15, 2, 3, 4, 5, 6]) {
  parts.push(`<line x1="${x(t)}" y1="${TOP - 4}" x2="${x(t)}" y2="${height - 30}" stroke="${t === 1 ? '#000' : t === 1.15 ? '#2ca02c' : '#ddd'}" stroke-dasharray="${t === 1.15 ? '3,2' : ''}"/>`);
  parts.push(`<text x="${x(t) - 8}" y="${height - 18}">${t}×</text>`);
}
rows.forEach((r, i) => {
  const y = TOP + i * (ROW_H + 3);
  const ours = Math.min(r.opUs, r.opGraphUs || r.opUs) / r.copyUs;
  const label = `${r.op.toUpperCase()} ${r.shape.join('×')} ${r.dtype === 'float16' ? 'fp16' : r.dtype === 'bfloat16' ? 'bf16' : 'fp32'} ${r.layout}`;
  parts.push(`<text x="4" y="${y + 9}">${esc(label)}</text>`);
  parts.push(`<rect x="${LABEL_W}" y="${y}" width="${x(ours) - LABEL_W}" height="${ROW_H / 2}" fill="#1f77b4"/>`);
  parts.push(`<text x="${x(ours) + 3}" y="${y + 6}" font-size="8">${ours.toFixed(2)}</text>`);
  if (r.peer && Number.isFinite(r.peer.bestRatio)) {
    parts.push(`<rect x="${LABEL_W}" y="${y + ROW_H / 2}" width="${x(r.peer.bestRatio) - LABEL_W}" height="${ROW_H / 2}" fill="#ff7f0e"/>`);
    parts.push(`<text x="${x(r.peer.bestRatio) + 3}" y="${y + ROW_H}" font-size="8">${r.peer.bestRatio.toFixed(2)}</text>`);
  }
});
parts.push('</svg>');
writeFileSync(output, parts.join('\n'));
console.log(`wrote ${output} (${rows.length} rows)`);
