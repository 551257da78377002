// Differential fuzzer, Node half: generate random configs + inputs, run the addon on the CPU,
// write cases (inputs + addon outputs) to a JSON file for scripts/torch-parity/ref.py.
// Usage: node scripts/torch-parity/gen_and_run.js OUT.json COUNT SEED
'use strict';
const fs = require('fs');
const path = require('path');
const sq = require(path.join(__dirname, '..', '..'));

const [, , outFile = 'cases.json', countArg = '3000', seedArg = '1'] = process.argv;
const COUNT = +countArg;

// mulberry32
let seed = (+seedArg >>> 0) || 1;
function rnd() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
const ri = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
const chance = (p) => rnd() < p;
function randn() {
  const u = 1 - rnd(), v = rnd();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

const SPECIALS = [NaN, Infinity, -Infinity, -0.0, 0.0, 1e30, -1e30, 3e38, -3e38, 1e-40, -1e-40, 1.4e-45, 1e-38, 1e20, -1e20, 65504, 3.4028234663852886e38];
const BIG = [1e30, -1e30, 3e38, -3e38, 3.4028234663852886e38, -3.4028234663852886e38, 1e20];
const SUB = [1e-40, -1e-40, 1.4e-45, -1.4e-45, 5e-39, 1e-38];

function b64(a) {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

// style: 'clean' | 'special' | 'big' | 'sub' | 'negzero'
function fillArray(len, scale, style, pSpecial) {
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) a[i] = randn() * scale;
  if (style === 'clean') return a;
  if (style === 'big') {
    for (let i = 0; i < len; i++) if (chance(0.5)) a[i] = pick(BIG) * (chance(0.5) ? 1 : rnd());
  } else if (style === 'sub') {
    for (let i = 0; i < len; i++) if (chance(0.6)) a[i] = pick(SUB) * (chance(0.7) ? 1 : rnd());
  } else if (style === 'negzero') {
    for (let i = 0; i < len; i++) if (chance(0.5)) a[i] = chance(0.5) ? -0.0 : 0.0;
  }
  if (chance(pSpecial)) {
    const k = ri(1, Math.min(3, len));
    for (let j = 0; j < k; j++) a[ri(0, len - 1)] = pick(SPECIALS);
  }
  return a;
}

function genCase(id) {
  const op = pick(['se', 'se', 'eca', 'cbam', 'cbam']);
  const layout = pick(['NCHW', 'NHWC']);
  const N = ri(1, 4);
  const C = pick([1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 17, 31, 32]);
  const H = pick([1, 1, 2, 3, 4, 5, 7, 8]);
  const W = pick([1, 1, 2, 3, 4, 6, 9]);
  const styleAll = pick(['clean', 'clean', 'special', 'special', 'special', 'big', 'sub', 'negzero']);
  const pSp = styleAll === 'clean' ? 0 : 0.35;
  // per-array style: mostly the case's, sometimes clean
  const st = () => (styleAll === 'clean' ? 'clean' : chance(0.7) ? styleAll : 'clean');
  const cfg = { id, op, layout, shape: [N, C, H, W], style: styleAll };
  const wts = {};
  const opts = { layout, device: 'cpu' };
  const nel = N * C * H * W;
  const x = fillArray(nel, chance(0.2) ? 5 : 1, st(), pSp);
  let residual = null;
  if (op === 'se' || op === 'cbam') {
    const twoFc = op === 'cbam' ? true : chance(0.75);
    const hidden = twoFc ? ri(1, Math.max(1, Math.min(2 * C, 8))) : C;
    cfg.twoFc = twoFc; cfg.hidden = hidden;
    wts.w1 = fillArray(hidden * C, 1.5 / Math.sqrt(C), st(), pSp);
    if (chance(0.6)) wts.b1 = fillArray(hidden, 0.5, st(), pSp);
    if (twoFc) {
      wts.w2 = fillArray(C * hidden, 1.5 / Math.sqrt(hidden), st(), pSp);
      if (chance(0.6)) wts.b2 = fillArray(C, 0.5, st(), pSp);
    }
    if (twoFc) opts.activation = pick(['relu', 'silu']);
    opts.gate = pick(['sigmoid', 'hardsigmoid']);
  }
  if (op === 'se') {
    if (chance(0.4)) residual = fillArray(nel, 1, st(), pSp);
    opts.outputActivation = pick(['none', 'relu']);
  }
  if (op === 'eca') {
    const k = pick([1, 1, 3, 3, 5, 7, 9]);
    cfg.k = k;
    wts.weight = fillArray(k, 0.7, st(), pSp);
    opts.gate = pick(['sigmoid', 'hardsigmoid']);
  }
  if (op === 'cbam') {
    const k = pick([1, 3, 3, 5, 7]);
    cfg.k = k;
    wts.spatialWeight = fillArray(2 * k * k, 1.0 / k, st(), pSp);
    if (chance(0.6)) wts.spatialBias = fillArray(1, 0.3, st(), pSp);
  }
  // Optionally push some gates towards saturation to exercise exact-zero gates (signed zeros).
  if (chance(0.1)) {
    for (const key of ['b2', 'b1']) if (wts[key]) { wts[key] = wts[key].map(() => -50); break; }
  }
  return { cfg, x, residual, wts, opts };
}

function runAddon(c) {
  const { cfg, x, residual, wts, opts } = c;
  const o = { ...opts };
  const xin = Float32Array.from(x);
  let y, scale = null, err = null;
  try {
    if (cfg.op === 'se') {
      if (residual) o.residual = Float32Array.from(residual);
      scale = new Float32Array(cfg.shape[0] * cfg.shape[1]);
      o.scaleOut = scale;
      y = sq.seForward(xin, cfg.shape, wts, o);
    } else if (cfg.op === 'eca') {
      scale = new Float32Array(cfg.shape[0] * cfg.shape[1]);
      o.scaleOut = scale;
      y = sq.ecaForward(xin, cfg.shape, wts, o);
    } else {
      y = sq.cbamForward(xin, cfg.shape, wts, o);
    }
  } catch (e) {
    err = String(e && e.message);
  }
  return { y, scale, err };
}

const t0 = Date.now();
const out = [];
for (let i = 0; i < COUNT; i++) {
  const c = genCase(i);
  const r = runAddon(c);
  const rec = { ...c.cfg, opts: { ...c.opts }, x: b64(c.x) };
  delete rec.opts.device;
  if (c.residual) rec.residual = b64(c.residual);
  rec.w = {};
  for (const [k, v] of Object.entries(c.wts)) rec.w[k] = b64(v);
  if (r.err) rec.err = r.err;
  else {
    rec.y = b64(r.y);
    if (r.scale) rec.scale = b64(r.scale);
  }
  out.push(rec);
}
fs.writeFileSync(outFile, JSON.stringify(out));
console.error(`wrote ${out.length} cases (${out.filter((r) => r.err).length} errors) in ${Date.now() - t0} ms`);
