// The passes: NHWC SE and ECA over large samples, SE with large FCs, and CBAM's four passes in
// either layout (launch.cuh's launch_fused decides; NOTES-cuda.md, "NHWC SE/ECA in two passes",
// "CBAM in passes", "SE in passes with batched FCs"): plain launches instead of the persistent
// fused kernel.
//   1. two_pass_pool: per-channel partial sums (CBAM: and maxes) of each chunk of positions,
//      part[n][k][c] (fp64), a block a (chunk, channel slice); NCHW (SE, CBAM): passes_pool_nchw,
//      a warp a chunk of a channel plane;
//   2. two_pass_excite: one block per sample sums its chunks' partials in chunk order, then the
//      op's excitation (se.cuh / eca.cuh / cbam.cuh, the fused kernel's own steps) into sbuf[n][c];
//      passes_fc instead where the FC weights are large: slices of weight rows over groups of samples;
//   3. SE / ECA: two_pass_scale, y = x * s[n][c] (+ residual), optional ReLU, 16-byte vectors.
//      CBAM: cbam_passes_maps(_nchw), the spatial maps of x * s; then cbam_passes_scale, bands of
//      positions computing their spatial gates and y = x * (s[c] * g[p]).
// x is read twice (CBAM three times; the later reads partly from L2: each pass takes the samples
// in the reverse of the previous one's order), but no block waits at a sample barrier while it
// holds a tile: the fused kernel's tiles meet their sample's other tiles two to five times.
// Deterministic: fixed chunking per launch shape and fixed reduction orders, no float atomics.
// Needs C (NHWC) or C * H*W (SE NCHW) a multiple of the vector width (CBAM NCHW: none; its maps
// and scale passes load elements where H*W is not whole vectors), 16-byte aligned x, y and
// residual, and C * H*W < 2^31.
// Every grid is at most the resident blocks, each striding over its work items (so the emulator,
// which runs every block at once, takes them too).
// One header a pass: passes_pool.cuh (1), passes_excite.cuh (2), passes_scale.cuh (3, SE / ECA),
// cbam_passes.cuh (CBAM's 3 and 4); their launcher is launch_two_pass.cuh's launch_two_pass.
#pragma once
#include "cbam_passes.cuh"
#include "passes_excite.cuh"
#include "passes_pool.cuh"
#include "passes_scale.cuh"
