// Finds the CUDA 11.8 toolkit and a host compiler nvcc 11.8 accepts (GCC <= 11), for the second
// linux-x64 CUDA build (scripts/prebuild-cuda11.js, `npm run build:native:cuda11`).
//   SQEX_CUDA11_NVCC       nvcc to use (else /usr/local/cuda-11.8, /usr/local/cuda-11.*, then
//                          Debian's /usr/bin/nvcc when it is 11.x)
//   SQEX_CUDA11_HOST_CXX   host compiler (else g++-11, g++-10, g++-9, or g++ when it is <= 11)
// 11.8 is the oldest toolkit that compiles for sm_89 and sm_90, which the release list holds.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { nvccVersion } = require('./cmake-build.js');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 ? `${r.stdout}${r.stderr}` : null;
}


/** The GCC major version of a compiler, or null. */
function gccMajor(cxx) {
  const out = run(cxx, ['-dumpfullversion', '-dumpversion']);
  const m = out && /^(\d+)/.exec(out.trim());
  return m ? Number(m[1]) : null;
}

function onPath(cmd) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const f = path.join(dir, cmd);
    if (dir && fs.existsSync(f)) return f;
  }
  return null;
}

/**
 * { nvcc, version, hostCxx, binDir } or { missing: why, looked: [...] }. binDir goes first on
 * PATH during the build: nvcc runs ptxas, fatbinary and nvlink from PATH, and on Debian those of
 * 11.8 live in /usr/bin, behind a newer toolkit's in /usr/local/bin.
 */
function findCuda11Toolkit() {
  const looked = [];
  const candidates = [];
  if (process.env.SQEX_CUDA11_NVCC) candidates.push(process.env.SQEX_CUDA11_NVCC);
  else {
    const local = fs.existsSync('/usr/local') ? fs.readdirSync('/usr/local').filter((d) => /^cuda-11\.\d+$/.test(d)) : [];
    local.sort((a, b) => Number(b.split('.')[1]) - Number(a.split('.')[1]));
    candidates.push(...local.map((d) => `/usr/local/${d}/bin/nvcc`), '/usr/bin/nvcc');
  }
  let nvcc = null;
  let version = null;
  for (const c of candidates) {
    const v = fs.existsSync(c) ? nvccVersion(c) : null;
    looked.push(`${c}: ${v ? `CUDA ${v}` : 'absent'}`);
    if (v === "11.8") {
      nvcc = c;
      version = v;
      break;
    }
  }
  if (!nvcc) return { missing: 'no CUDA 11.8 nvcc found', looked };
  let hostCxx = process.env.SQEX_CUDA11_HOST_CXX || null;
  if (!hostCxx) {
    for (const c of ['g++-11', 'g++-10', 'g++-9', 'g++']) {
      const f = onPath(c);
      const major = f ? gccMajor(f) : null;
      looked.push(`${c}: ${major ? `GCC ${major}` : 'absent'}`);
      if (major !== null && major <= 11) {
        hostCxx = f;
        break;
      }
    }
  }
  if (!hostCxx) return { missing: `CUDA ${version} found (${nvcc}) but no GCC <= 11 for its host compiler`, looked };
  return { nvcc, version, hostCxx, binDir: path.dirname(nvcc), looked };
}

module.exports = { findCuda11Toolkit };

if (require.main === module) {
  const t = findCuda11Toolkit();
  console.log(JSON.stringify(t, null, 2));
  process.exit(t.nvcc ? 0 : 1);
}
