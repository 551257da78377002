// Results without `out` (Buffer.allocUnsafeSlow, not zero-filled) over the whole option matrix:
// every op, both layouts, odd shapes (C=1, H=W=1, primes), residual / outputActivation /
// scaleOut, single-FC SE, biases, NaN/Inf inputs, sync and async, the blocks, and a worker
// thread. Each no-out result must equal the `out` form (out NaN-poisoned) bit for bit.
//
// Teeth: run with GLIBC_TUNABLES=glibc.malloc.perturb=85:glibc.malloc.tcache_count=0:
// glibc.malloc.mxfast=0, so every malloc'ed block comes back filled with 0xAA bytes (-3.03e-13
// as float32), whatever its size or history; the script probes it (SQEX_EXPECT_PERTURB=1) and
// counts an element a kernel skipped as a bit mismatch. Buffers of 64 bytes or less are V8
// on-heap arrays, zeroed by V8: those sizes have no teeth (and need none).
'use strict';
const { Worker, isMainThread, workerData, parentPort } = require('node:worker_threads');

const DIST = isMainThread ? process.env.SQEX_DIST : workerData.dist;
const sqex = require(DIST);

// xorshift, fill (never zeros) and bit comparison: the hostile scripts' shared helpers.
const { rng, fill, sameBits: sameBitsOf } = require('./common.cjs');
const sameBits = (a, b) => Boolean(a && b) && sameBitsOf(a, b);
const nan = (n) => new Float32Array(n).fill(NaN);
const report = { ok: true, checks: 0, failures: [], perturbed: null, cases: 0 };
function check(cond, what) {
  report.checks++;
  if (!cond) {
    report.ok = false;
    if (report.failures.length < 40) report.failures.push(what);
  }
}

const SHAPES = [
  [1, 1, 1, 1],
  [1, 1, 5, 7],
  [2, 1, 3, 3],
  [1, 3, 1, 1],
  [3, 7, 1, 1],
  [1, 17, 1, 13],
  [2, 13, 7, 11],
  [5, 31, 3, 2],
  [1, 64, 16, 16],
  [2, 3, 37, 41],
  [1, 97, 5, 1],
  [2, 128, 24, 24],
];

function seWeights(c, r, { twoFc, bias }) {
  const h = Math.max(1, c >> 2);
  if (!twoFc) return { w1: fill(new Float32Array(c * c), r, 0.3), ...(bias ? { b1: fill(new Float32Array(c), r) } : {}) };
  return {
    w1: fill(new Float32Array(h * c), r, 0.3),
    w2: fill(new Float32Array(c * h), r, 0.3),
    ...(bias ? { b1: fill(new Float32Array(h), r), b2: fill(new Float32Array(c), r) } : {}),
  };
}
function cbamWeights(c, r, { bias }) {
  const h = Math.max(1, c >> 2);
  return {
    w1: fill(new Float32Array(h * c), r, 0.3),
    w2: fill(new Float32Array(c * h), r, 0.3),
    spatialWeight: fill(new Float32Array(98), r, 0.2),
    ...(bias ? { b1: fill(new Float32Array(h), r), b2: fill(new Float32Array(c), r), spatialBias: new Float32Array([0.3]) } : {}),
  };
}

// [name, op fn, async fn, option sets, weights] for a shape.
function* cases(shape, r) {
  const c = shape[1];
  for (const layout of ['NCHW', 'NHWC']) {
    for (const twoFc of [true, false]) {
      for (const bias of [true, false]) {
        const w = seWeights(c, r, { twoFc, bias });
        for (const activation of ['relu', 'silu']) {
          for (const gate of ['sigmoid', 'hardsigmoid']) {
            for (const residual of [false, true]) {
              for (const outputActivation of ['none', 'relu']) {
                for (const scaleOut of [false, true]) {
                  if (!twoFc && activation === 'silu') continue; // activation unused without w2
                  yield ['se', { layout, activation, gate, residual, outputActivation, scaleOut }, w, `twoFc=${twoFc} bias=${bias}`];
                }
              }
            }
          }
        }
      }
    }
    for (const k of [1, 3, 5]) {
      const w = { weight: fill(new Float32Array(k), r) };
      for (const gate of ['sigmoid', 'hardsigmoid']) {
        for (const scaleOut of [false, true]) yield ['eca', { layout, gate, scaleOut }, w, `k=${k}`];
      }
    }
    for (const bias of [true, false]) {
      const w = cbamWeights(c, r, { bias });
      for (const activation of ['relu', 'silu']) {
        for (const gate of ['sigmoid', 'hardsigmoid']) yield ['cbam', { layout, activation, gate }, w, `bias=${bias}`];
      }
    }
  }
}

const FN = { se: sqex.seForward, eca: sqex.ecaForward, cbam: sqex.cbamForward };
const AFN = { se: sqex.seForwardAsync, eca: sqex.ecaForwardAsync, cbam: sqex.cbamForwardAsync };
const BLOCK = { se: sqex.SEBlock, eca: sqex.ECABlock, cbam: sqex.CBAMBlock };

function callOptions(op, o, residual, n, nc) {
  const opts = { device: 'cpu', layout: o.layout };
  if (op !== 'eca') opts.activation = o.activation;
  opts.gate = o.gate;
  if (op === 'se') {
    if (o.residual) opts.residual = residual;
    opts.outputActivation = o.outputActivation;
  }
  return opts;
}

async function runShape(shape, r, { blocks }) {
  const n = shape[0] * shape[1] * shape[2] * shape[3];
  const nc = shape[0] * shape[1];
  const variants = [
    ['plain', fill(new Float32Array(n), r, 4)],
    [
      'nan-inf',
      (() => {
        const x = fill(new Float32Array(n), r, 4);
        x[0] = NaN;
        if (n > 2) x[n >> 1] = Infinity;
        if (n > 3) x[n - 1] = -Infinity;
        return x;
      })(),
    ],
  ];
  const residual = fill(new Float32Array(n), r, 2);
  for (const [vname, x] of variants) {
    for (const [op, o, w, wnote] of cases(shape, r)) {
      if (vname !== 'plain' && (o.layout === 'NHWC' || (op === 'se' && !o.residual))) continue; // keep the NaN pass short
      report.cases++;
      const what = `${op} ${JSON.stringify(shape)} ${vname} ${wnote} ${JSON.stringify(o)}`;
      const base = callOptions(op, o, residual, n, nc);
      let expected;
      let expectedS;
      try {
        expectedS = o.scaleOut ? nan(nc) : undefined;
        expected = FN[op](x, shape, w, { ...base, out: nan(n), ...(o.scaleOut ? { scaleOut: expectedS } : {}) });
      } catch (err) {
        // A combination the API refuses (e.g. ECA k > C): the no-out form must refuse it alike.
        let code2;
        try {
          FN[op](x, shape, w, base);
        } catch (e2) {
          code2 = e2.code;
        }
        check(err.code && code2 === err.code, `${what}: out form refused ${err.code}, no-out form ${code2}`);
        continue;
      }
      const s1 = o.scaleOut ? nan(nc) : undefined;
      const y = FN[op](x, shape, w, { ...base, ...(o.scaleOut ? { scaleOut: s1 } : {}) });
      check(sameBits(y, expected), `${what} sync`);
      if (o.scaleOut) check(sameBits(s1, expectedS), `${what} sync scaleOut`);
      const s2 = o.scaleOut ? nan(nc) : undefined;
      const ya = await AFN[op](x, shape, w, { ...base, ...(o.scaleOut ? { scaleOut: s2 } : {}) });
      check(sameBits(ya, expected), `${what} async`);
      if (o.scaleOut) check(sameBits(s2, expectedS), `${what} async scaleOut`);
      if (blocks && vname === 'plain') {
        const bopts = { device: 'cpu', layout: o.layout, gate: o.gate };
        if (op !== 'eca') bopts.activation = o.activation;
        if (op === 'se') bopts.outputActivation = o.outputActivation;
        if (op !== 'eca') bopts.channels = shape[1];
        const b = new BLOCK[op](w, bopts);
        const call = op === 'se' && o.residual ? { residual } : {};
        const yb = b.forward(x, shape, call);
        check(sameBits(yb, expected), `${what} block.forward`);
        const yba = await b.forwardAsync(x, shape, call);
        check(sameBits(yba, expected), `${what} block.forwardAsync`);
      }
    }
  }
}

async function main(seed, { blocks, shapes }) {
  const r = rng(seed);
  for (const shape of shapes) await runShape(shape, r, { blocks });
}

if (isMainThread) {
  (async () => {
    const seed = Number(process.env.SQEX_SEED) || 5;
    // Teeth: a fresh 4 KiB block from the allocator is all 0xAA (glibc perturb).
    const probe = Buffer.allocUnsafeSlow(4096);
    let aa = 0;
    for (const b of probe) if (b === 0xaa) aa++;
    report.perturbed = aa === probe.length;
    if (process.env.SQEX_EXPECT_PERTURB) check(report.perturbed, `allocUnsafeSlow not perturbed (${aa}/4096 bytes 0xAA): GLIBC_TUNABLES not in effect`);
    await main(seed, { blocks: true, shapes: SHAPES });
    // The same from a worker thread (its own env, its own registered allocator).
    const wr = await new Promise((resolve, reject) => {
      const wk = new Worker(__filename, { workerData: { dist: DIST, seed: seed + 1 } });
      wk.once('message', resolve);
      wk.once('error', reject);
      wk.once('exit', (code) => code !== 0 && reject(new Error(`worker exit ${code}`)));
    });
    report.checks += wr.checks;
    report.cases += wr.cases;
    for (const f of wr.failures) check(false, `worker: ${f}`);
    process.stdout.write(`${JSON.stringify(report)}\n`);
  })().catch((err) => {
    check(false, `unexpected: ${err && err.stack}`);
    process.stdout.write(`${JSON.stringify(report)}\n`);
  });
} else {
  main(workerData.seed, { blocks: false, shapes: SHAPES.filter((s, i) => i % 3 === 0) })
    .then(() => parentPort.postMessage(report))
    .catch((err) => {
      check(false, `unexpected: ${err && err.stack}`);
      parentPort.postMessage(report);
    });
}
