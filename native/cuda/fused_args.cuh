// The fused kernel's arguments (FusedArgs, filled by launch.cuh's planner) and the layout of its
// shared memory after the tile area.
#pragma once
#include <type_traits>

#include "common.cuh"

namespace sqex {
namespace cuda {

// Pooling: fp32 runs of pool_run<T>() elements, fp64 across runs. fp32 storage adds every
// element in fp64 (v7): at |x| ~ 1e4 a fp32 run of 16 is off by ~1e-3, ~2e-5 in a 7x7 mean,
// which alone moved unsaturated gates by 7-9e-5 (numpy model of the kernel, NOTES v7).
// fp16/bf16 (looser bound, 2x the elements per byte) keep the runs of 16.
template <typename T> __host__ __device__ constexpr int pool_run() {
  return std::is_same<T, float>::value ? 1 : 16;
}

struct FusedArgs {
  const void* x;
  const void* res;
  void* y;
  float* scale_out;
  const float* w1;
  const float* b1;
  const float* w2;
  const float* b2;
  const float* aux;
  int N, C, H, W, HW, hidden;
  int act, gate, out_relu, two_fc, eca_k, sk;
  float sbias;
  // tiling
  int T;            // tiles per sample
  int upt;          // units per tile
  int upc;          // units per shared-memory chunk
  int total_tiles;  // N * T
  int fc1_blocks;   // blocks of a sample sharing the first FC (SE two-FC, CBAM)
  int fc1_local;    // first FC small: every block computes all of it (no barrier)
  int ct;           // NHWC, SE/ECA, small H*W: tiles are channel ranges over all positions
  int s_local;      // NHWC: every block computes all C gates itself (cheap excitation)
  int s_blocks;     // NHWC, !s_local: blocks sharing the gate computation
  int vec_ok;       // x, y, residual share their alignment mod 16: 16-byte path in apply
  int tile_area;    // bytes of shared memory reserved for a chunk (+16 alignment slack)
  int g_len;        // CBAM: floats of the spatial-gate buffer in shared memory
  int grp;          // SE sample groups: samples per barrier domain (1 = off), see se_group_tile
  int slot;         // grp > 1: bytes of the tile area per sample of the group
  // workspace (device), see plan in launch.cuh
  unsigned* cnt;     // [N] per-sample barrier counters
  unsigned* ticket;  // [2] next tile, blocks done
  // means, channel partial sums and hidden layers are fp64 end to end (v7: their fp32 rounding
  // moved unsaturated gates by up to 9e-5 at |x| ~ 1e4); maxes are exact in fp32.
  double* zmean;     // [N][C]
  float* zmax;       // [N][C] (CBAM)
  double* part;      // NHWC [N][T][C] partial sums
  float* pmax;       // NHWC CBAM [N][T][C] partial maxes
  double* hid;       // [N][hidden]
  double* hidmax;    // CBAM [N][hidden]
  float* sbuf;       // [N][C]
  float* spart;      // CBAM NCHW [N][T][2][HW]
  float* map;        // CBAM [N][2][HW] (mean map, max map)
  float* gbuf;       // CBAM NCHW [N][HW]
};

// Shared memory after the tile area, offsets in floats. z, hid, hidmax hold doubles (2 floats
// each); CBAM's zmax holds floats (a max of fp32 values is exact in fp32; FC1 converts each
// element to double, exactly).
// CBAM: s and g lie over z/zmax, which are dead once FC1 is done; the region is the larger of
// the two uses. Ordering (fused_kernel, fused.cuh): within a tile, every read of z/zmax is in
// load_z or fc1_rows, and a __syncthreads separates fc1_rows from the first write of s (the one
// closing the excitation block when fc1_local; sample_arrive's in barrier B otherwise), which
// comes from cbam_gates, or from the sbuf copy after barrier C; g is written later still, in
// cbam_spatial. Across tiles, the next tile's load_z (after barrier A) follows sample_depart's and
// next_tile's __syncthreads, which follow every read of s and g (cbam_spatial, apply_chunk). The
// same holds in NCHW and NHWC, fc1_local or not, s_local or not (z/zmax are read only by FC1).
// SE and ECA keep separate z and s: single-FC SE and ECA read z while they write s.
struct SmemLayout {
  int z, zmax, hid, hidmax, s, g, red, total;
};
__host__ __device__ inline SmemLayout smem_layout(int op, int C, int hidden, int g_len, int grp = 1) {
  // every vector starts on a 16-byte boundary (float4 reads in apply_chunk and of zmax, double2
  // reads in the FC dots)
  auto r4 = [](int v) { return (v + 3) & ~3; };
  SmemLayout L;
  int o = 0;
  const bool cbam = op == static_cast<int>(Op::CBAM);
  L.z = o;
  o += 2 * r4(C);
  L.zmax = o;
  if (cbam) {
    o += r4(C);
    L.s = 0;      // over z
    L.g = r4(C);  // over the rest of z and zmax, and past them when g_len > 2 * r4(C)
    // = max(3 * r4(C), r4(C) + r4(g_len)); written this way, ptxas allocates the CBAM kernels
    // with no spill where HEAD had none (sm_80-90; other forms spilled in f32 NHWC at sm_80)
    o = r4(C) + (r4(g_len) > 2 * r4(C) ? r4(g_len) : 2 * r4(C));
    L.hid = o;
    o += 2 * r4(hidden) * grp;
    L.hidmax = o;
    o += 2 * r4(hidden);
  } else {
    L.hid = o;
    o += (op == static_cast<int>(Op::ECA)) ? 0 : 2 * r4(hidden) * grp;
    L.hidmax = o;
    L.s = o;
    o += r4(C);
    L.g = o;
  }
  L.red = o;  // kThreads doubles + kThreads floats (pooling); CBAM: also the conv halo
  o += cbam ? (3 * kThreads > kHalo ? 3 * kThreads : kHalo) : 3 * kThreads;
  L.total = o;
  return L;
}

}  // namespace cuda
}  // namespace sqex
