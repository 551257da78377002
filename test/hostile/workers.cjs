// Only worker_threads load the addon (this thread never does); each starts async forwards and is
// terminated, or calls process.exit(), while they are in flight. Node unloads an addon when the
// last environment that loaded it is gone: the process must survive that (exit 0, no signal).
'use strict';
const { Worker } = require('node:worker_threads');

const WORKERS = Number(process.env.SQEX_HOSTILE_WORKERS || 30);
const CALLS = 4;
const SHAPE = process.env.SQEX_HOSTILE_SHAPE ? JSON.parse(process.env.SQEX_HOSTILE_SHAPE) : [4, 256, 56, 56];
let seed = Number(process.env.SQEX_SEED || 1) >>> 0 || 1;
const rand = () => {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed / 4294967296;
};

const SCRIPT = `
const { parentPort, workerData } = require('node:worker_threads');
const sqex = require(workerData.dist);
const [n, c, h, w] = workerData.shape;
const x = new Float32Array(n * c * h * w).fill(0.5);
const hid = c >> 2;
const ws = { w1: new Float32Array(hid * c).fill(0.01), w2: new Float32Array(c * hid).fill(0.01) };
const pending = [];
for (let i = 0; i < workerData.calls; i++) {
  const op = ['se', 'eca', 'cbam'][i % 3];
  const weights = op === 'eca' ? { weight: new Float32Array(3).fill(0.1) }
    : op === 'cbam' ? { ...ws, spatialWeight: new Float32Array(2 * 7 * 7).fill(0.01) } : ws;
  pending.push(sqex[op + 'ForwardAsync'](x, workerData.shape, weights, { device: 'cpu' }));
}
parentPort.postMessage('started');
if (workerData.exitAfterMs >= 0) setTimeout(() => process.exit(3), workerData.exitAfterMs);
Promise.allSettled(pending).then(() => parentPort.postMessage('settled'));
`;

function run(dist, mode, delay) {
  const worker = new Worker(SCRIPT, {
    eval: true,
    workerData: { dist, shape: SHAPE, calls: CALLS, exitAfterMs: mode === 'exit' ? delay : -1 },
  });
  return new Promise((resolve) => {
    worker.once('message', () => {
      if (mode === 'terminate') setTimeout(() => worker.terminate(), delay);
    });
    worker.once('error', resolve);
    worker.once('exit', resolve);
  });
}

(async () => {
  const dist = process.env.SQEX_DIST;
  const pick = () => [rand() < 0.5 ? 'terminate' : 'exit', Math.floor(rand() * 5)];
  // One at a time: each worker is the addon's only user, so its end unloads the addon (the case
  // that crashed); then a batch at once.
  for (let i = 0; i < WORKERS; i++) await run(dist, ...pick());
  await Promise.all(Array.from({ length: WORKERS }, () => run(dist, ...pick())));
  process.stdout.write(`${JSON.stringify({ ok: true, checks: 2 * WORKERS, failures: [] })}\n`);
})();
