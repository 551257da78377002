#!/usr/bin/env node
// `npm run bench [-- flags]`: the CPU table (each op against a same-size memcpy), and the GPU
// table (against a same-size device-to-device copy, with PyTorch peers when torch is there)
// whenever CUDA is available; the CPU table has onnxruntime-node columns when bench/peers/ has it
// installed (bench/ort_peers.mjs). Progress goes to stderr; the tables (or, with --json, one JSON
// object) go to stdout. Results are written to bench/results/local/ (ignored by git) unless --out
// or --no-save says otherwise. `npm run bench -- --help` lists the flags.
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { renderSvg } from '../scripts/bench-chart.mjs';
import { MAIN_THREAD_JIT, ensureMainThreadJit } from './main-thread-jit.mjs';

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));

ensureMainThreadJit(import.meta.url);
const ROOT = path.resolve(HERE, '..');
const DEFAULT_OUT = path.join('bench', 'results', 'local');

const OPS = ['se', 'eca', 'cbam'];
const DTYPES = ['float32', 'float16', 'bfloat16'];
const LAYOUTS = ['NCHW', 'NHWC'];
const DEVICES = ['cpu', 'cuda'];

const USAGE = `Usage: npm run bench -- [flags]        (or: node bench/run.mjs [flags])

Times each op against a same-size copy: the CPU table always (a memcpy), the GPU table when CUDA
is available (a device-to-device cudaMemcpy; PyTorch peers when python3 with CUDA torch is found).
The CPU table also times onnxruntime-node (CPU execution provider) on the same rows when it is
installed in bench/peers/ (npm run bench:peers:install: a bench-only install, not a dependency).
Progress goes to stderr, the tables to stdout.

Flags:
  -h, --help              print this and exit
  --shape NxCxHxW         a shape to time, e.g. --shape 4x128x32x32 (repeatable; replaces the
                          built-in SE-ResNet-50 / EfficientNet shapes)
  --op se|eca|cbam        ops to time (repeatable or comma-separated; default: all; without
                          --shape the CPU table times ECA and CBAM on 8x256x56x56 only)
  --dtype float32|float16|bfloat16
                          GPU storage types (repeatable; default float32,float16); the CPU
                          takes float32 only
  --layout NCHW|NHWC      layouts (repeatable; default both)
  --device cpu|cuda       one table only (default: the CPU, then CUDA when available);
                          --cpu-only and --gpu-only are the same as --device cpu / cuda
  --quick                 fewer shapes and iterations (a smoke run)
  --contended             time every CPU row also while a busy-loop child process holds one
                          core (in the same rounds as its idle calls); prints each row's ratio
                          to its idle time (Linux and macOS: the loop is stopped between stints)
  --contended-pinned      the same with the busy loop pinned to the last CPU (taskset)
  --json                  print one JSON object (rows and written files) instead of tables
  --out DIR               write results to DIR (default ${DEFAULT_OUT}/, ignored by git;
                          --out bench/results to update the committed results)
  --no-save               write no files

Each run writes <out>/cpu-<host>-<date>.{md,json,svg} and, on a GPU,
<out>/<gpu>-<date>.{md,json,svg}; the paths are printed at the end.
CUDA settings: SQEX_PEER_MODES=eager,graph,compile,compile_graph adds torch.compile peers.`;

class UsageError extends Error {}

function list(values, allowed, flag) {
  const out = (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  for (const v of out) {
    if (!allowed.includes(v)) throw new UsageError(`${flag} ${v}: expected one of ${allowed.join(', ')}`);
  }
  return out.length ? [...new Set(out)] : null;
}

function parseShape(text) {
  const m = /^(\d+)x(\d+)x(\d+)x(\d+)$/i.exec(text.trim());
  const shape = m ? m.slice(1).map(Number) : null;
  if (!shape || shape.some((d) => !Number.isSafeInteger(d) || d < 1)) {
    throw new UsageError(`--shape ${text}: expected NxCxHxW with four positive integers, e.g. 4x128x32x32`);
  }
  if (shape.reduce((a, b) => a * b, 1) > 2 ** 31 - 1) throw new UsageError(`--shape ${text}: more than 2^31 - 1 elements`);
  return shape;
}

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: 'boolean', short: 'h' },
      shape: { type: 'string', multiple: true },
      op: { type: 'string', multiple: true },
      dtype: { type: 'string', multiple: true },
      layout: { type: 'string', multiple: true },
      device: { type: 'string', multiple: true },
      'cpu-only': { type: 'boolean' },
      'gpu-only': { type: 'boolean' },
      quick: { type: 'boolean' },
      contended: { type: 'boolean' },
      'contended-pinned': { type: 'boolean' },
      json: { type: 'boolean' },
      out: { type: 'string' },
      'no-save': { type: 'boolean' },
    },
  });
  let devices = list(values.device, DEVICES, '--device');
  if (values['cpu-only'] || values['gpu-only']) {
    if (devices || (values['cpu-only'] && values['gpu-only'])) throw new UsageError('give one of --device, --cpu-only, --gpu-only');
    devices = [values['cpu-only'] ? 'cpu' : 'cuda'];
  }
  const opts = {
    help: values.help ?? false,
    shapes: values.shape ? values.shape.map(parseShape) : null,
    ops: list(values.op, OPS, '--op'),
    dtypes: list(values.dtype, DTYPES, '--dtype'),
    layouts: list(values.layout, LAYOUTS, '--layout'),
    devices: devices ?? ['cpu', 'cuda'],
    explicitDevice: devices !== null,
    quick: values.quick ?? false,
    contended: values['contended-pinned'] ? 'pinned' : values.contended ? 'unpinned' : null,
    json: values.json ?? false,
    save: !values['no-save'],
    out: path.resolve(ROOT, values.out ?? DEFAULT_OUT),
  };
  if (values['no-save'] && values.out) throw new UsageError('--out and --no-save contradict each other');
  if (opts.contended && process.platform === 'win32') throw new UsageError('--contended needs SIGSTOP and SIGCONT to pause the busy loop between stints (Linux or macOS)');
  if (opts.devices.length === 1 && opts.devices[0] === 'cpu' && opts.dtypes && !opts.dtypes.includes('float32')) {
    throw new UsageError(`--device cpu with --dtype ${opts.dtypes.join(',')}: the CPU takes float32 only`);
  }
  return opts;
}

let opts;
try {
  opts = parseCli(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError) && !String(err.code).startsWith('ERR_PARSE_ARGS')) throw err;
  process.stderr.write(`bench: ${err.message}\n\n${USAGE}\n`);
  process.exit(2);
}
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}

const log = (msg) => process.stderr.write(`${msg}\n`);
const { cuda } = require('../dist/index.js');
const { loadBinding } = require('../dist/backend/load.js');

// The commit, and whether the tree differs from it: tracked changes, and untracked files in what
// a build or the bench reads (the same paths git would add).
function commit() {
  try {
    const sha = execSync('git rev-parse --short HEAD', { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execSync('git status --porcelain --untracked-files=all -- native lib bench scripts CMakeLists.txt package.json tsconfig.json', { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return dirty ? `${sha} (with uncommitted changes)` : sha;
  } catch {
    return 'unknown';
  }
}

// Which addon file ran and when it was built (npm run bench brings build/ and dist/ up to date first).
function addonInfo() {
  try {
    const file = require('../dist/index.js').loadReport().binary;
    return file ? `${path.relative(ROOT, file) || file} (built ${statSync(file).mtime.toISOString().slice(0, 16)}Z)` : 'none';
  } catch {
    return 'unknown';
  }
}

// 2026-11-29T2347: a run per minute keeps its own files. A later run into the same folder in the
// same minute (a CPU-only run takes less) is 2026-11-29T2347-2, -3…, chosen once for all of its
// files (CPU, GPU and overhead tables share it), which are written only if new (flag 'wx': a
// concurrent run that took the name first makes this one fail, not overwrite).
const stamp = runStamp(new Date().toISOString().slice(0, 16).replace(':', ''));
function runStamp(minute) {
  let names = [];
  try {
    names = readdirSync(opts.out);
  } catch {
    // no folder yet: nothing taken
  }
  const taken = (s) => names.some((name) => name.includes(`-${s}.`));
  let s = minute;
  for (let i = 2; taken(s); i++) s = `${minute}-${i}`;
  return s;
}
const written = [];
function save(base, contents) {
  mkdirSync(opts.out, { recursive: true });
  for (const [ext, text] of Object.entries(contents)) {
    const file = path.join(opts.out, `${base}.${ext}`);
    writeFileSync(file, text, { flag: 'wx' });
    written.push(path.relative(process.cwd(), file) || file);
  }
}

// The CPU table's line on its onnxruntime-node columns (bench/ort_peers.mjs), or why there are none.
function ortHeader(o) {
  if (!o || o.reason) return `onnxruntime: no columns, ${o?.reason ?? 'not run'}`;
  return `onnxruntime: onnxruntime-node ${o.version}, CPU execution provider, intraOpNumThreads ${o.threads} (our pool's thread count), ` +
    'graphs bench/peers/*.onnx (scripts/gen_onnx_peers.py) fed the same x and weights as ours, y into a pre-allocated tensor as ours into out' +
    `${o.maxRelErr === null ? '' : `, outputs within ${o.maxRelErr.toPrecision(2)} of ours (max |Δ| / max |y|)`}, timed in the same rounds as our row. ` +
    (o.sync
      ? 'onnxruntime ms = the faster of two medians: `await session.run(feeds, fetches)` (the public API: the graph runs inside a setImmediate) and the native binding\'s synchronous run (JSON: ortMs, ortSyncMs, ortBestMs); '
      : `onnxruntime ms = median of \`await session.run(feeds, fetches)\` (the public API: the graph runs inside a setImmediate; the synchronous binding was not timed: ${o.syncReason}); `) +
    'ms = median of our synchronous call; × faster than onnxruntime = onnxruntime ms / ms.';
}

// The machine as the JSON records it (Linux: /proc/cpuinfo and sysfs; elsewhere what os gives).
function machineInfo() {
  const read = (file) => {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch {
      return null;
    }
  };
  const info = { cpu: os.cpus()[0]?.model ?? 'unknown CPU', cores: os.cpus().length, cpuid: null, caches: null, thp: null };
  const cpuinfo = read('/proc/cpuinfo');
  if (cpuinfo) {
    const first = cpuinfo.split('\n\n')[0];
    const field = (name) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(first)?.[1] ?? null;
    info.cpuid = { vendor: field('vendor_id'), family: field('cpu family'), model: field('model'), stepping: field('stepping'), microcode: field('microcode') };
  }
  const caches = [];
  for (let i = 0; i < 8; i++) {
    const dir = `/sys/devices/system/cpu/cpu0/cache/index${i}`;
    const size = read(`${dir}/size`);
    if (size === null) break;
    caches.push(`L${read(`${dir}/level`)} ${read(`${dir}/type`)} ${size}`);
  }
  if (caches.length) info.caches = caches;
  const selected = (file) => /\[(\w+)\]/.exec(read(file) ?? '')?.[1] ?? null;
  const thp = selected('/sys/kernel/mm/transparent_hugepage/enabled');
  if (thp) info.thp = { enabled: thp, defrag: selected('/sys/kernel/mm/transparent_hugepage/defrag') };
  return info;
}

function cpuTable(meta, rows) {
  const g = (v) => (v / 1e9).toFixed(0);
  const r = meta.rates;
  const contended = rows.some((row) => row.contendedMs !== undefined);
  const ort = rows.some((row) => row.ortMs !== undefined);
  const num = (v, d) => (v === null || v === undefined ? 'n/a' : v.toFixed(d));
  const m = meta.machine;
  const sizeName = (b) => (b >= 1 << 20 ? `${+(b / 2 ** 20).toFixed(1)}M` : `${+(b / 1024).toFixed(0)}K`);
  const weightsOf = (row) => (row.op === 'se' ? `${row.hidden}` : row.op === 'eca' ? `k ${row.k}` : `${row.hidden}, k ${row.k}`);
  const lines = [
    `CPU: ${meta.cpu}${m.cpuid ? ` (${m.cpuid.vendor} family ${m.cpuid.family} model ${m.cpuid.model} stepping ${m.cpuid.stepping})` : ''}, ${meta.cores} cores, ${meta.threads} pool threads, ${meta.simd} kernels${m.caches ? `; caches ${m.caches.join(', ')}` : ''}; ` +
      `load average ${meta.loadavg.start.map((v) => v.toFixed(2)).join(' ')} at the start, ${meta.loadavg.end.map((v) => v.toFixed(2)).join(' ')} at the end; ` +
      `transparent huge pages ${m.thp ? `${m.thp.enabled} (defrag ${m.thp.defrag})` : 'n/a'}; GLIBC_TUNABLES ${meta.glibcTunables ?? 'unset'}; ` +
      `Node ${meta.node} (V8 ${MAIN_THREAD_JIT}: JavaScript compiled on the main thread, in the untimed warm-up); commit ${meta.commit}; addon ${meta.addon}; ${meta.date.slice(0, 10)}${meta.quick ? ' (--quick)' : ''}`,
    'Each row is timed in rounds, each round a stint of each column\'s calls (the memcpy, the op with out, the op without out, the op after other work' +
      `${contended ? ', the op beside the busy loop' : ''}${ort ? ', onnxruntime (then 100 ms of rest: its workers spin ~50 ms after a run)' : ''}), the first call of a stint dropped.`,
    'Ratio = op time / single-threaded memcpy of the same bytes (dst.set(src)), measured in the same run; GB/s counts one read of x and one write of y. hidden / k: the excitation\'s width (SE, CBAM) and the conv\'s k (ECA taps, CBAM k×k).',
    r
      ? `Floor = x read + y written at the copy rate of x's size + weights read once at the read rate of their size + the multiply-adds (SE: 2·hidden·C a sample; CBAM: twice that, for its two descriptors, + 2·k² a pixel; ECA: k·C) at the fp32 FMA rate (the machine's fastest; our FCs accumulate in fp64, at half of it), rates measured in this run at each row's own sizes (native/dev/cpu_rates.cpp, best of 1..${r.fma64.length} threads; ${meta.quick ? 'one set of probes, before the rows' : 'best of two sets of probes, before and after the rows'}): copy ${r.copy.map((t) => t.map(g).join('/')).join(' | ')} GB/s and read ${r.read.map((t) => t.map(g).join('/')).join(' | ')} GB/s at ${r.sizes.map(sizeName).join('/')} per thread count; FMA fp64 ${r.fma64.map(g).join(' | ')}, fp32 ${r.fma32.map(g).join(' | ')} G/s.${r.fma32.length > 1 && r.fma32[r.fma32.length - 1] < 1.5 * r.fma32[0] ? ' Warning: the FMA rate did not scale past one thread in any probe (other work held the cores), so the floors of compute- and cache-bound rows are too high.' : ''}`
      : `Floor: ${meta.floorSkipped ?? 'not measured'}`,
    'No out = the default call form, which returns a new array each call (page faults of fresh memory and the garbage collections of the arrays included); no out ms = its mean over the calls (total time / calls), × out = that / the out form\'s mean in the same rounds (JSON: newMedianMs, outMeanMs).',
    `After other work = the op with out, each call after ${meta.gapMs} ms of busy work on the calling thread (untimed; the layers between two blocks of a network), by which time the pool's workers have gone to sleep; after other work ms = median, × back to back = that / ms.`,
    ...(contended ? [`Contended: the op again in each round while a busy-loop process (${meta.contended.busyLoop}) holds a core (stopped between the stints, continued 5 ms before each); it ran ${meta.contended.busyShare === null ? 'n/a' : `${(100 * meta.contended.busyShare).toFixed(0)}%`} of those stints' wall time. contended ms = median; × idle = contended ms / ms (JSON: the p90s, contendedP90Ms and contendedP90Ratio).`] : []),
    ortHeader(meta.onnxruntime),
    '',
    `| op | shape (N×C×H×W) | layout | dtype | hidden / k | ms | GB/s | memcpy ms | ratio | floor ms | × floor | no out ms | × out | after other work ms | × back to back |${contended ? ' contended ms | × idle |' : ''}${ort ? ' onnxruntime ms | × faster than onnxruntime |' : ''}`,
    `| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${contended ? ' ---: | ---: |' : ''}${ort ? ' ---: | ---: |' : ''}`,
    ...rows.map((row) => `| ${row.op} | ${row.shape.replaceAll('x', '×')} | ${row.layout} | ${row.dtype} | ${weightsOf(row)} | ${row.ms.toFixed(3)} | ${row.gbps.toFixed(1)} | ${row.copyMs.toFixed(3)} | ${row.ratio.toFixed(2)} | ${row.floorMs === null ? 'n/a' : row.floorMs < 0.01 ? row.floorMs.toPrecision(2) : row.floorMs.toFixed(3)} | ${num(row.floorRatio, 2)} | ${num(row.newMs, 3)} | ${num(row.newRatio, 2)} | ${num(row.gapMs, 3)} | ${num(row.gapRatio, 2)} |` +
      (contended ? ` ${num(row.contendedMs, 3)} | ${num(row.contendedRatio, 2)} |` : '') +
      (ort ? ` ${row.ortBestMs === undefined ? 'n/a' : row.ortBestMs.toFixed(3)} | ${num(row.ortRatio, 2)} |` : '')),
  ];
  return lines.join('\n');
}

const result = { cpu: null, gpu: null, overhead: null, files: written };
const runCpu = opts.devices.includes('cpu') && (!opts.dtypes || opts.dtypes.includes('float32'));
if (opts.devices.includes('cpu') && !runCpu) log(`CPU table skipped: the CPU takes float32 only (--dtype ${opts.dtypes.join(',')})`);
if (runCpu) {
  const { runCpuBench } = await import('./cpu.mjs');
  log('CPU table: each op against a same-size memcpy');
  const loadStart = os.loadavg();
  const { rows, rates, contended, onnxruntime, gapMs } = await runCpuBench({
    quick: opts.quick, log, shapes: opts.shapes, ops: opts.ops, layouts: opts.layouts, contended: opts.contended,
  });
  const info = loadBinding().info();
  const machine = machineInfo();
  const meta = {
    kind: 'cpu',
    date: new Date().toISOString(),
    cpu: machine.cpu,
    cores: machine.cores,
    machine,
    loadavg: { start: loadStart, end: os.loadavg() },
    glibcTunables: process.env.GLIBC_TUNABLES ?? null,
    addon: addonInfo(),
    threads: info.threads,
    simd: info.simd,
    node: process.version,
    commit: commit(),
    quick: opts.quick,
    rates,
    contended,
    onnxruntime,
    gapMs, // the busy work before each call of the after-other-work column
  };
  result.cpu = { ...meta, rows };
  let table = cpuTable(meta, rows);
  // What async calls pay for memory safety (staging copies): a fixed table of its own, only in an
  // unfiltered run (bench/async.mjs; native/binding/host_staging.h).
  if (!opts.shapes && !opts.ops && !opts.layouts) {
    const { runAsyncBench, asyncTable } = await import('./async.mjs');
    log('async vs sync: SE fp32 NCHW on the CPU, with and without out, and SharedArrayBuffer operands');
    const asyncRows = await runAsyncBench({ reps: opts.quick ? 5 : 15 });
    result.cpu.async = asyncRows;
    table += `\n\n### Async calls over host arrays (median µs; "blocks": time until the call returns its promise)\n\n${asyncTable(asyncRows)}`;
  }
  if (!opts.json) console.log(`\n## CPU\n\n${table}\n`);
  if (opts.save) {
    save(`cpu-${os.hostname().replace(/[^\w.-]/g, '_')}-${stamp}`, {
      md: `# CPU benchmark\n\n${table}\n`,
      json: `${JSON.stringify(result.cpu, null, 1)}\n`,
      svg: renderSvg(result.cpu),
    });
  }
}
if (opts.devices.includes('cuda')) {
  const status = cuda.status();
  if (status.available) {
    const { runGpuBench } = await import('./gpu.mjs');
    const gpu = await runGpuBench({
      quick: opts.quick, log, shapes: opts.shapes, ops: opts.ops, dtypes: opts.dtypes, layouts: opts.layouts,
      // Names the files; gpu.mjs writes them when save is set.
      save: opts.save ? (base, contents) => save(base, contents) : null, stamp,
    });
    result.gpu = gpu;
    if (!opts.json && gpu.markdown) console.log(`\n## GPU\n\n${gpu.markdown}\n`);
    // The host-overhead table is a fixed measurement of its own: only in an unfiltered run.
    if (!opts.shapes && !opts.ops && !opts.dtypes && !opts.layouts) {
      const { runOverheadBench } = await import('./overhead.mjs');
      const rows = await runOverheadBench({ log });
      result.overhead = rows;
      const md = [
        '## Host overhead per call (resident DeviceTensors; bench/overhead.mjs)',
        '',
        'host = the calling thread\'s time per call: bursts of 100 calls that start on an empty launch queue, median (p10-p90) of 40 bursts.',
        'steady = 10k back-to-back calls: once the launch queue is full each call waits for the GPU, so this is max(host, GPU time per op).',
        '',
        '| call | shape | dtype | host µs (p10-p90) | steady µs per call | incl. final sync |',
        '| --- | --- | --- | ---: | ---: | ---: |',
        ...rows.map((r) => `| ${r.what} | ${r.shape.replaceAll('x', '×')} | ${r.dtype} | ${r.hostUs.toFixed(2)} (${r.hostP10Us.toFixed(2)}-${r.hostP90Us.toFixed(2)}) | ${r.enqueueUs.toFixed(2)} | ${r.withSyncUs.toFixed(2)} |`),
      ].join('\n');
      if (!opts.json) console.log(`\n${md}\n`);
      if (opts.save) save(`gpu-overhead-${stamp}`, { md: `${md}\n`, json: JSON.stringify({ date: new Date().toISOString(), stamp, rows }, null, 1) });
    }
  } else if (opts.explicitDevice) {
    process.stderr.write(`bench: --device cuda, but CUDA is not available: ${status.reason}\n`);
    process.exit(1);
  } else {
    log(`GPU table skipped: ${status.reason}`);
  }
}
if (opts.json) console.log(JSON.stringify(result, null, 1));
log(written.length ? `results written to ${path.relative(process.cwd(), opts.out) || '.'}/:\n  ${written.join('\n  ')}` : 'results: not written (--no-save)');
