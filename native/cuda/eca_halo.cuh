// ECA over channel tiles with no barrier at all (chosen by launch_fused's planner, launch.cuh;
// NCHW, or NHWC channel tiles): a tile pools its own channels and the halo its 1-D conv reads (eca_halo_means,
// eca.cuh), computes its gates and scales, and waits for no other tile. So there are no tickets
// either: tiles go to blocks by grid stride, and nothing of the workspace is touched. A separate
// kernel from fused_kernel so that the latter keeps its register allocation.
#pragma once
#include "apply.cuh"
#include "eca.cuh"
#include "fused_args.cuh"
#include "pool.cuh"
#include "tile_io.cuh"

namespace sqex {
namespace cuda {

template <typename T, bool NHWC>
__global__ void __launch_bounds__(kThreads, kMinBlocks) eca_halo_kernel(const FusedArgs a) {
  constexpr int OP = static_cast<int>(Op::ECA);
  SQEX_DYNAMIC_SMEM(smem);
  const SmemLayout L = smem_layout(OP, a.C, 0, 0);
  float* fx = reinterpret_cast<float*>(smem + a.tile_area);
  double* z_sm = reinterpret_cast<double*>(fx + L.z);
  float* s_sm = fx + L.s;
  float* red = fx + L.red;
  double* dred = reinterpret_cast<double*>(red);  // 3 * kThreads floats: 1.5 * kThreads doubles
  const int64_t unit = NHWC ? a.C : a.HW;
  const int64_t sample_elems = static_cast<int64_t>(a.C) * a.HW;
  const int pad = (a.eca_k - 1) / 2;
  const bool want_scale_out = a.scale_out != nullptr;
  for (int tile = blockIdx.x; tile < a.total_tiles; tile += gridDim.x) {
    const int n = tile / a.T, j = tile - n * a.T;
    const int64_t u0 = static_cast<int64_t>(j) * a.upt;
    const int64_t u1 = min(static_cast<int64_t>(a.C), u0 + a.upt);
    const int64_t hc0 = u0 - pad > 0 ? u0 - pad : int64_t(0);
    const int64_t hc1 = u1 + pad < a.C ? u1 + pad : int64_t(a.C);
    const T* xn = static_cast<const T*>(a.x) + n * sample_elems;
    T* yn = static_cast<T*>(a.y) + n * sample_elems;
    const T* rn = a.res ? static_cast<const T*>(a.res) + n * sample_elems : nullptr;
    // the tile (held: NHWC as [HW][w], NCHW one chunk of whole channels)
    const int w = static_cast<int>(u1 - u0);
    const int64_t ne = (u1 - u0) * unit;
    const T* tile_sm = NHWC ? load_ct_issue<T>(smem, xn, a.C, a.HW, u0, w)
                            : load_chunk_issue<T>(smem, xn + u0 * unit, ne);
    eca_halo_means<T, NHWC>(a, xn, hc0, u0, u1, hc1, z_sm, dred);  // while the copy is in flight
    cp_async_wait_all();
    __syncthreads();
    if constexpr (NHWC) pool_ct<T>(a, tile_sm, n, u0, w, red, z_sm);
    else pool_nchw<false>(a, tile_sm, n, u0, u1, z_sm);
    __syncthreads();
    eca_gates(a, n, u0, u1, z_sm, s_sm, false, want_scale_out);
    __syncthreads();
    if constexpr (NHWC) apply_ct<T>(a, tile_sm, yn, rn, u0, w, s_sm);
    else apply_chunk<OP, T, false>(a, tile_sm, yn + u0 * unit, rn ? rn + u0 * unit : nullptr, ne, u0, s_sm, nullptr, 0);
    __syncthreads();  // the next tile's copy overwrites this one
  }
}

}  // namespace cuda
}  // namespace sqex
