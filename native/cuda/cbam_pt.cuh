// CBAM over NCHW position tiles (chosen by launch_fused's planner, launch.cuh): a tile is
// positions [p0, p0 + w) of all C channels of a sample, held as [C][w] in shared memory. The
// channel tiles of fused_kernel hold whole channels, so each of them wrote per-position partial
// sums and maxes of x*s for every position of the sample (2 * H*W floats a tile: at 32x96x112^2,
// 96 one-channel tiles wrote and re-read ~2x the sample's bytes) and met at three barriers (D, E,
// F) to reduce them, convolve and share the gate. A position tile has every channel of its
// positions, so its maps are complete locally; only the conv's halo rows come from the
// neighbouring tiles, through the workspace and one barrier (D). The channel statistics are per
// tile partials reduced after barrier A, as NHWC position tiles do. Phases per tile:
//   load [C][w] -> per-channel partial sum/max -> A -> channel means/maxes (split over the
//   sample's tiles) -> A2 -> FC1 (local, or split + B) -> gates (local, or split + C) -> maps of
//   the tile's positions -> D -> k x k conv of its positions -> scale and write.
// A separate kernel from fused_kernel so that the latter keeps its register allocation.
#pragma once
#include "block_reduce.cuh"
#include "fused.cuh"
#include "sample_barrier.cuh"

namespace sqex {
namespace cuda {

// WIDE: spatial k > kAllTapsK (common.cuh).
template <typename T, bool WIDE = false>
__global__ void __launch_bounds__(kThreads, kMinBlocks) cbam_pt_kernel(const FusedArgs a) {
  constexpr int OP = static_cast<int>(Op::CBAM);
  constexpr int kDotUnroll = 4;  // FC row dots, as fused_kernel's CBAM (unroll 1 or 2 spilled no less)
  SQEX_DYNAMIC_SMEM(smem);
  __shared__ int s_tile;
  const SmemLayout L = smem_layout(OP, a.C, a.hidden, a.g_len);
  float* fx = reinterpret_cast<float*>(smem + a.tile_area);
  double* z_sm = reinterpret_cast<double*>(fx + L.z);
  float* zmax_sm = fx + L.zmax;
  double* hid_sm = reinterpret_cast<double*>(fx + L.hid);
  double* hidmax_sm = reinterpret_cast<double*>(fx + L.hidmax);
  float* s_sm = fx + L.s;  // s and g over z/zmax (ordering: smem_layout, fused_args.cuh)
  float* g_sm = fx + L.g;
  float* red = fx + L.red;
  double* scratch = reinterpret_cast<double*>(red);
  const int C = a.C;
  const int64_t HW = a.HW;
  const int64_t sample_elems = static_cast<int64_t>(C) * HW;
  const int Tn = a.T;

  for (;;) {
    const int tile = next_tile(a, s_tile);
    if (tile >= a.total_tiles) break;
    const int n = tile / Tn, j = tile - n * Tn;
    const int64_t p0 = static_cast<int64_t>(j) * a.upt;
    const int w = static_cast<int>(min(HW, p0 + a.upt) - p0);
    unsigned* cnt = a.cnt + n;
    int phase = 0;
    const T* xn = static_cast<const T*>(a.x) + n * sample_elems;
    T* yn = static_cast<T*>(a.y) + n * sample_elems;
    const T* rn = a.res ? static_cast<const T*>(a.res) + n * sample_elems : nullptr;
    const int64_t nb = static_cast<int64_t>(n) * C;

    // ---- the tile, and its channel partials
    const T* tile_sm = load_pt<T>(smem, xn, C, static_cast<int>(HW), p0, w);
    pool_pt<T>(tile_sm, C, w, a.part + (nb * Tn + static_cast<int64_t>(j) * C),
               a.pmax + (nb * Tn + static_cast<int64_t>(j) * C));
    sample_sync(cnt, phase, Tn);  // A: every tile's partials of n are in
    {
      int64_t c0, c1;
      split_range(C, Tn, j, c0, c1);
      block_strided_reduce<true>(a.part + nb * Tn, a.pmax + nb * Tn, C, Tn, c0, c1, scratch,
                                 red + 2 * kThreads, [&](int64_t c, double sum, float mx) {
                                   __stcg(a.zmean + nb + c, sum / HW);
                                   __stcg(a.zmax + nb + c, mx);
                                 });
    }
    sample_sync(cnt, phase, Tn);  // A2: means and maxes of n are in

    // ---- channel gate: the shared MLP of both descriptors, then all C gates of n
    fc1_for_sample<kDotUnroll>(a, n, j, z_sm, zmax_sm, hid_sm, hidmax_sm, scratch, cnt, phase);
    __syncthreads();  // z/zmax dead from here: s is written over them
    gates_for_sample<OP, kDotUnroll>(a, n, j, z_sm, zmax_sm, hid_sm, hidmax_sm, s_sm, false, scratch, cnt,
                                     phase);
    __syncthreads();

    // ---- spatial gate: maps of the tile's positions, then the conv over them and the halo
    float* map_n = a.map + static_cast<int64_t>(n) * 2 * HW;
    cbam_pt_maps<T>(tile_sm, C, HW, p0, w, s_sm, map_n, red);
    sample_sync(cnt, phase, Tn);  // D: the maps of n are in (the halo rows are other tiles')
    cbam_gate_range<WIDE>(a, map_n, p0, p0 + w, red, [&](int64_t p, float g) { g_sm[p - p0] = g; });
    pad_nan_fixup<WIDE>(a, p0, p0 + w, reinterpret_cast<int*>(red), [&](int64_t p, float g) { g_sm[p - p0] = g; });

    // ---- scale and write
    apply_pt<T>(a, tile_sm, yn, rn, p0, w, s_sm, g_sm);
    sample_depart(cnt, phase, Tn);  // its __syncthreads also guards the next tile's copy
  }
  release_tickets(a);
}

}  // namespace cuda
}  // namespace sqex
