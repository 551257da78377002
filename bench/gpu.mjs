// GPU half of `npm run bench` (bench/run.mjs imports it when CUDA is available).
// For every shape × op × dtype × layout it calls the addon's cudaBenchmark: the fused op against a
// same-size device-to-device cudaMemcpy measured in the same call with CUDA events (median of
// per-launch times; also the per-op time when the launches are replayed as a CUDA graph), on random
// inputs rotated among enough sets to defeat the L2. Then, when python3 with torch is present, it
// runs bench/torch_peers.py on the same shapes (PyTorch eager and CUDA-graph replay by default;
// set SQEX_PEER_MODES=eager,graph,compile,compile_graph to add torch.compile, which is slow to
// build). bench/run.mjs writes the table as <out>/<gpu>-<date>.{md,json,svg}.
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { renderSvg } from '../scripts/bench-chart.mjs';
import { xorshiftFiller } from './random.mjs';

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));

const SHAPES = [
  [32, 256, 56, 56],
  [32, 512, 28, 28],
  [32, 1024, 14, 14],
  [32, 2048, 7, 7],
  [32, 96, 112, 112],
  [32, 1152, 7, 7],
  [128, 256, 56, 56],
  [128, 2048, 7, 7],
  [1, 256, 56, 56],
  [1, 2048, 7, 7],
];
const QUICK_SHAPES = [
  [32, 256, 56, 56],
  [32, 2048, 7, 7],
  [1, 256, 56, 56],
  [1, 2048, 7, 7],
];
const OPS = ['se', 'eca', 'cbam'];
const DTYPES = ['float32', 'float16'];
const LAYOUTS = ['NCHW', 'NHWC'];
const shapeText = (s) => s.join('x');

// Same settings as native/dev/cuda_check_bench.cu and bench/torch_peers.py:
// SE hidden = max(8, C/16), ReLU, sigmoid, biases; ECA k = 3 (C < 512) else 5;
// CBAM hidden = max(8, C/16), ReLU, sigmoid, 7×7 spatial conv, spatial bias 0.25.
function weightsFor(op, c, seed) {
  const rnd = xorshiftFiller(seed);
  const hidden = Math.max(8, Math.floor(c / 16));
  if (op === 'eca') {
    const k = c < 512 ? 3 : 5;
    return { hidden: 0, k, hw: [null, null, null, null, rnd(k, 1)] };
  }
  const w1 = rnd(hidden * c, 2 / Math.sqrt(c));
  const b1 = rnd(hidden, 0.5);
  const w2 = rnd(c * hidden, 2 / Math.sqrt(hidden));
  const b2 = rnd(c, 0.5);
  if (op === 'se') return { hidden, k: 0, hw: [w1, b1, w2, b2, null] };
  return { hidden, k: 7, hw: [w1, b1, w2, b2, rnd(2 * 7 * 7, 0.3)] };
}

function makeCfg(contract, op, [n, c, h, w], dtype, layout, hidden, k) {
  const { CFG, OP_CODE, LAYOUT_CODE, ACT_CODE, GATE_CODE, OUT_ACT_CODE, DTYPE_CODE } = contract;
  const cfg = new Float64Array(CFG.length);
  cfg[CFG.op] = OP_CODE[op];
  cfg[CFG.n] = n;
  cfg[CFG.c] = c;
  cfg[CFG.h] = h;
  cfg[CFG.w] = w;
  cfg[CFG.layout] = LAYOUT_CODE[layout];
  cfg[CFG.hidden] = hidden;
  cfg[CFG.twoFc] = op === 'eca' ? 0 : 1;
  cfg[CFG.act] = ACT_CODE.relu;
  cfg[CFG.gate] = GATE_CODE.sigmoid;
  cfg[CFG.outAct] = OUT_ACT_CODE.none;
  cfg[CFG.ecaK] = op === 'eca' ? k : 0;
  cfg[CFG.spatialK] = op === 'cbam' ? k : 0;
  cfg[CFG.spatialBias] = op === 'cbam' ? 0.25 : 0;
  cfg[CFG.dtype] = DTYPE_CODE[dtype];
  cfg[CFG.device] = 0;
  return cfg;
}

const key = (op, [n, c, h, w], dtype, layout) => `${op}|${n}x${c}x${h}x${w}|${dtype}|${layout}`;

function hasTorch() {
  const r = spawnSync('python3', ['-c', 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 3)'], {
    stdio: 'ignore',
    timeout: 120_000,
  });
  return r.status === 0;
}

/**
 * Adds one timed line of bench/torch_peers.py (a mode's per-op µs for one op/shape/dtype/layout)
 * to peers (Map by key), keeping every mode's time and the best. Copy lines, errors and the
 * header line are ignored. Runs of different modes merge: each mode's ratio is to the copy its
 * own run measured, and the best mode's copy is the one kept.
 */
export function addPeerRecord(peers, rec) {
  if (rec.error || rec.mode === 'copy' || typeof rec.us !== 'number') return;
  const k = recordKey(rec);
  const p = peers.get(k) ?? { bestUs: Infinity, bestMode: null, bestRatio: null, copyUs: rec.copy_us, modes: {} };
  p.modes[rec.mode] = rec.us;
  if (rec.us < p.bestUs) {
    p.bestUs = rec.us;
    p.bestMode = rec.mode;
    p.bestRatio = rec.ratio;
    p.copyUs = rec.copy_us;
  }
  peers.set(k, p);
}

/** The peer entry of a saved row's key (rows of a results JSON carry op, shape, dtype, layout). */
export const peerKey = (r) => key(r.op, r.shape, r.dtype, r.layout);
/** The same key for a line of bench/torch_peers.py (op, n, c, h, w, dtype, layout). */
export const recordKey = (rec) => key(rec.op, [rec.n, rec.c, rec.h, rec.w], rec.dtype, rec.layout);

// Runs bench/torch_peers.py and returns { key -> { bestUs, bestMode, bestRatio, copyUs, modes } }.
function runPeers({ quick, log, shapes, ops, dtypes, layouts }) {
  const modes = process.env.SQEX_PEER_MODES || 'eager,graph';
  const args = [path.join(HERE, 'torch_peers.py'), '--modes', modes, '--ops', ops.join(','), '--dtypes', dtypes.join(','), '--layouts', layouts.join(',')];
  if (shapes) args.push('--shapes', shapes.map(shapeText).join(','));
  else if (quick) args.push('--quick');
  log(`GPU bench: PyTorch peers (${modes}) via python3 ${args.slice(1).join(' ')}`);
  return new Promise((resolve) => {
    const child = spawn('python3', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const peers = new Map();
    let meta = null;
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        let rec;
        try {
          rec = JSON.parse(line);
        } catch {
          continue;
        }
        if (rec.gpu) {
          meta = rec;
          continue;
        }
        addPeerRecord(peers, rec);
      }
    });
    child.stderr.on('data', (d) => {
      const s = String(d).trim();
      if (s) log(`  torch_peers: ${s.split('\n').slice(-1)[0]}`);
    });
    child.on('error', (e) => {
      log(`GPU bench: could not run torch_peers.py: ${e.message}`);
      resolve({ peers, meta });
    });
    child.on('close', (code) => {
      if (code !== 0) log(`GPU bench: torch_peers.py exited with ${code}`);
      resolve({ peers, meta });
    });
  });
}

function gitCommit() {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: HERE, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

const fmt = (v, d = 2) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '–');

/**
 * Runs the GPU table. shapes ([N, C, H, W][]) replaces the built-in shapes; ops, dtypes and
 * layouts choose (null: the defaults). save(base, { md, json, svg }), when given, writes the
 * results; stamp names them. Returns { gpu, date, commit, driver, torch, rows, markdown }.
 */
export async function runGpuBench({
  quick = false, log = (m) => process.stderr.write(`${m}\n`), shapes: shapeList = null, ops: opList = null,
  dtypes: dtypeList = null, layouts: layoutList = null, save = null, stamp = new Date().toISOString().slice(0, 10),
} = {}) {
  require('../dist/index.js');
  const binding = require('../dist/backend/load.js').loadBinding();
  const contract = require('../dist/backend/contract.js');
  const status = binding.cudaStatus();
  if (!status.available) {
    log(`GPU bench skipped: ${status.reason}`);
    return { gpu: null, rows: [], markdown: null };
  }
  const dev = status.devices[0];
  const shapes = shapeList ?? (quick ? QUICK_SHAPES : SHAPES);
  const ops = opList ?? OPS;
  const dtypes = dtypeList ?? DTYPES;
  const layouts = layoutList ?? LAYOUTS;
  const iters = quick ? 20 : 50;
  const rows = [];
  log(`GPU bench on ${dev.name} (${dev.multiprocessors} SMs): ${shapes.length} shapes × ${ops.length} ops × ${dtypes.length} dtypes × ${layouts.length} layouts`);
  for (const op of ops) {
    for (const shape of shapes) {
      const { hidden, k, hw } = weightsFor(op, shape[1], 12345 + shape[1]);
      for (const dtype of dtypes) {
        for (const layout of layouts) {
          const cfg = makeCfg(contract, op, shape, dtype, layout, hidden, k);
          const its = shape[0] === 1 ? iters * 4 : iters;
          try {
            const r = binding.cudaBenchmark(cfg, hw, its);
            rows.push({ op, shape, dtype, layout, ...r, ratio: r.opUs / r.copyUs });
            log(`  ${op.padEnd(4)} ${shape.join('x').padEnd(14)} ${dtype.padEnd(7)} ${layout}  ${fmt(r.opUs)} µs (graph ${fmt(r.opGraphUs)})  copy ${fmt(r.copyUs)} µs  ×${fmt(r.opUs / r.copyUs, 3)}`);
          } catch (e) {
            rows.push({ op, shape, dtype, layout, error: e.message });
            log(`  ${op} ${shape.join('x')} ${dtype} ${layout}: ERROR ${e.message}`);
          }
        }
      }
    }
  }

  let peers = new Map();
  let peerMeta = null;
  if (process.env.SQEX_NO_PEERS) {
    log('GPU bench: PyTorch peers skipped (SQEX_NO_PEERS)');
  } else if (hasTorch()) {
    ({ peers, meta: peerMeta } = await runPeers({ quick, log, shapes: shapeList, ops, dtypes, layouts }));
  } else {
    log('GPU bench: python3 with CUDA-enabled torch not found; PyTorch peers skipped');
  }

  const gpuSlug = dev.name.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');
  const lines = [];
  lines.push(`# squeeze-excite GPU benchmark: ${dev.name}`, '');
  lines.push(`- date: ${new Date().toISOString()}`);
  lines.push(`- GPU: ${dev.name}, compute capability ${dev.computeCapability}, ${dev.multiprocessors} SMs, L2 ${(dev.l2Bytes / 2 ** 20).toFixed(0)} MiB`);
  lines.push(`- driver ${status.driverVersion}, runtime ${status.runtimeVersion}; commit ${gitCommit()}`);
  lines.push(`- ours: addon cudaBenchmark, ${iters} launches per shape (×4 at batch 1), median of per-launch CUDA-event times; graph = per-op time of the launches replayed as a CUDA graph; copy = same-size D2D cudaMemcpy in the same call; ratio = op / copy (floor 1.0 = one read + one write)`);
  lines.push(`- settings: SE hidden = max(8, C/16), ReLU, sigmoid, biases; ECA k = 3 (C < 512) else 5; CBAM hidden = max(8, C/16), ReLU, sigmoid, 7×7, bias`);
  if (peerMeta) {
    lines.push(`- PyTorch ${peerMeta.torch} peers (bench/torch_peers.py, modes ${process.env.SQEX_PEER_MODES || 'eager,graph'}): best mode's per-op time and its ratio to the copy PyTorch measured in its own run (NHWC = channels_last)`);
  } else {
    lines.push('- PyTorch peers: not run (no python3 with CUDA torch)');
  }
  // The machine-readable copy is what scripts/bench-chart.mjs draws (the SVG in bench/README.md); its
  // header lines let bench/merge-peers.mjs render the table again with more peer modes.
  const json = {
    date: new Date().toISOString(), gpu: dev.name, commit: gitCommit(), driver: status.driverVersion, torch: peerMeta?.torch ?? null,
    header: lines,
    rows: rows.map((r) => ({ ...r, peer: peers.get(peerKey(r)) ?? null })),
  };
  const markdown = gpuMarkdown(lines, json.rows);
  if (save) save(`${gpuSlug}-${stamp}`, { md: markdown, json: JSON.stringify(json, null, 1), svg: renderSvg(json) });
  return { ...json, markdown };
}

/** The results table: the header lines, then one row per measured config (rows carry .peer). */
export function gpuMarkdown(header, rows) {
  const lines = [...header];
  lines.push('', '| op | N,C,H,W | dtype | layout | ours µs | ours graph µs | copy µs | ratio | PyTorch best µs (mode) | PyTorch ratio | speedup |', '|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const p = r.peer;
    if (r.error) {
      lines.push(`| ${r.op} | ${r.shape.join(',')} | ${r.dtype} | ${r.layout} | error: ${r.error} | | | | | | |`);
      continue;
    }
    const ours = Math.min(r.opUs, r.opGraphUs);
    lines.push(
      `| ${r.op} | ${r.shape.join(',')} | ${r.dtype} | ${r.layout} | ${fmt(r.opUs)} | ${fmt(r.opGraphUs)} | ${fmt(r.copyUs)} | ${fmt(r.ratio, 3)} | ${p ? `${fmt(p.bestUs)} (${p.bestMode})` : '–'} | ${p ? fmt(p.bestRatio, 3) : '–'} | ${p ? fmt(p.bestUs / ours, 2) + '×' : '–'} |`,
    );
  }
  lines.push('', 'speedup = PyTorch best µs / min(ours, ours graph) µs (both per-op times; graph replay on both sides removes launch gaps).', '');
  return lines.join('\n');
}
