// Host side of the passes (two_pass.cuh): plans the chunks, slices and grids from the device's
// occupancy and launches pooling, excitation and the scale passes on the caller's stream.
#pragma once
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "launch_common.cuh"
#include "two_pass.cuh"

namespace sqex {
namespace cuda {

// FC weights from which the excitation runs batched (passes_fc: weight rows over groups of
// samples) instead of one block a sample (two_pass_excite): 2^15 fp32 weights, 128 KB, about what
// one SM reads from L2 in a microsecond (NOTES-cuda.md, "SE in passes with batched FCs").
constexpr int64_t kPassesBatchedFc = int64_t(1) << 15;

// NHWC SE / ECA over samples too large for channel-range tiles, NCHW SE where launch_fused
// prefers it, and CBAM in either layout (two_pass.cuh): three to five launches, no sample
// barriers. Returns false in *taken (and launches nothing) where the path does not apply: C (NHWC)
// or C * H*W (SE NCHW) not a multiple of the vector width, x / y / residual not 16-byte aligned,
// C * H*W >= 2^31, an excitation whose vectors do not fit in shared memory, or batched FCs (over
// kPassesBatchedFc weights) over weights not 16-byte aligned or rows not whole float4s.
template <int OP, typename T, bool NHWC, bool WIDE>
Status launch_two_pass(const OpParams& p, const Weights& w, const Tensors& t, int device, cudaStream_t stream,
                       const DeviceProps& dp, bool* taken) {
  *taken = false;
  constexpr bool kEca = OP == static_cast<int>(Op::ECA);
  constexpr bool kCbam = OP == static_cast<int>(Op::CBAM);
  static_assert(NHWC || !kEca, "NCHW ECA has no two-pass path");
  if (two_pass_knob() == 0) return Status::Ok();
  constexpr int64_t VE = 16 / sizeof(T);
  const int64_t N = p.shape.n, C = p.shape.c, HW = p.shape.hw();
  const bool two_fc = kCbam || (!kEca && p.two_fc);
  const int64_t hidden = kEca ? 0 : (two_fc ? p.hidden : 0);
  const int64_t fc_weights = kEca ? 0 : (two_fc ? 2 * int64_t(p.hidden) * C : C * C);
  // (SE NCHW: samples of whole vectors, its scale pass giving a vector across two planes two gates;
  // CBAM NCHW: element loads in the maps and scale passes where H*W is not whole vectors)
  if ((NHWC ? C % VE : kCbam ? 0 : C * HW % VE) != 0 || !aligned16(t) || C * HW >= (int64_t(1) << 31))
    return Status::Ok();
  const bool vec = NHWC || HW % VE == 0;
  // Batched FCs (passes_fc) over kPassesBatchedFc weights where their float4 rows apply; else,
  // up to 2^17 weights, one block a sample (two_pass_excite); else not this path.
  bool batched = fc_weights > kPassesBatchedFc;
  Status st = Status::Ok();
  // (CBAM's excitation has no conv: one instantiation)
  auto excite = two_pass_excite<OP, kCbam ? false : WIDE>;
  auto fc_hidden = passes_fc<OP, kFcHidden>;
  auto fc_gates = passes_fc<OP, kFcGates>;
  int64_t smem_ex = 0, smem_h = 0, smem_g = 0, gs = 0;
  int occ = 0, occ_h = 0, occ_g = 0;
  if (batched) {
    const auto al = [](const float* q) { return q == nullptr || (reinterpret_cast<uintptr_t>(q) & 15) == 0; };
    // groups of gs samples (CBAM: two vectors a sample), as many as both stages' vectors fit
    const int vps = kCbam ? 2 : 1;
    const int64_t room = dp.smem_optin - 1024;
    const auto smem_of = [&](int64_t g, bool hidden_stage) {
      return hidden_stage ? passes_fc_smem(C, static_cast<int>(g * vps), kCbam)
                          : passes_fc_smem(two_fc ? hidden : C, static_cast<int>(g * vps), kCbam && !two_fc);
    };
    gs = kMaxGrp / vps;
    while (gs > 0 && std::max(two_fc ? smem_of(gs, true) : 0, smem_of(gs, false)) > room) --gs;
    bool ok = gs > 0 && C % 4 == 0 && (!two_fc || hidden % 4 == 0) && al(w.w1) && al(w.w2);
    if (ok) {
      smem_g = smem_of(gs, false);
      st = kernel_occupancy(reinterpret_cast<const void*>(fc_gates), device, dp, smem_g, &occ_g);
      ok = st.ok() && occ_g > 0;
    }
    if (ok && two_fc) {
      smem_h = smem_of(gs, true);
      st = kernel_occupancy(reinterpret_cast<const void*>(fc_hidden), device, dp, smem_h, &occ_h);
      ok = st.ok() && occ_h > 0;
    }
    if (!ok) {
      if (fc_weights > (int64_t(1) << 17)) return Status::Ok();
      batched = false;
      gs = smem_h = smem_g = 0;
      occ_h = occ_g = 0;
    }
  }
  if (!batched) {
    smem_ex = two_pass_excite_smem(static_cast<int>(C), static_cast<int>(hidden), kCbam);
    if (smem_ex > dp.smem_optin - 1024) return Status::Ok();
    st = kernel_occupancy(reinterpret_cast<const void*>(excite), device, dp, smem_ex, &occ);
    if (!st.ok() || occ <= 0) return Status::Ok();  // not this path (never seen): the fused kernel
  }

  const void* pool = NHWC ? reinterpret_cast<const void*>(two_pass_pool<T, kCbam>)
                          : reinterpret_cast<const void*>(passes_pool_nchw<T, kCbam>);
  // (the element-load kernels instantiated for CBAM NCHW only)
  auto maps_k = NHWC ? cbam_passes_maps<T> : vec ? cbam_passes_maps_nchw<T, true> : cbam_passes_maps_nchw<T, !kCbam>;
  auto cbam_scale_k = vec ? cbam_passes_scale<T, NHWC, WIDE, true> : cbam_passes_scale<T, NHWC, WIDE, NHWC || !kCbam>;
  const void* maps = reinterpret_cast<const void*>(maps_k);
  const void* scale = !kCbam ? reinterpret_cast<const void*>(two_pass_scale<T, NHWC>)
                             : reinterpret_cast<const void*>(cbam_scale_k);
  int occ_pool = 0, occ_scale = 0, occ_maps = 0;
  if (!(st = kernel_occupancy(pool, device, dp, 0, &occ_pool)).ok()) return st;
  if (!(st = kernel_occupancy(scale, device, dp, 0, &occ_scale)).ok()) return st;
  if (kCbam && !(st = kernel_occupancy(maps, device, dp, 0, &occ_maps)).ok()) return st;
  if (occ_pool <= 0 || occ_scale <= 0 || (kCbam && occ_maps <= 0)) return Status::Ok();  // (never seen)
  const int64_t res_pool = int64_t(occ_pool) * dp.sm_count;
  const int64_t res_scale = int64_t(occ_scale) * dp.sm_count;
  const int64_t res_maps = int64_t(occ_maps) * dp.sm_count;

  // Pass 1's items. NHWC: (sample, chunk of positions, channel slice), one wave of the resident
  // blocks over the batch (a second, nearly empty wave cost a review's estimate ~3 us at
  // 32x256x56^2 fp16). Slices of at least 8 vectors (128 bytes a position); at most 16 chunks a
  // sample per thread that sums them in the excitation (one block a sample reads all K partials:
  // 196 a thread at 1x256x56^2 before, a review), nor under 8 positions a chunk. NCHW: a warp (or
  // a thread, below 64 positions) a chunk of a channel plane: one chunk a plane (K = 1) where the
  // planes fill the resident warps' first wave, else up to 16 chunks of at least 64 positions (a
  // review: 1x64x112^2 put 8 blocks on a GPU of 132 SMs, each warp over 49 KB).
  int64_t K = 1, ppb = HW, S = 1, cw = C, g_pool = 0;
  if (NHWC) {
    const int64_t per = std::max<int64_t>(1, res_pool / N);  // items a sample
    const int64_t J = C < kThreads ? std::max<int64_t>(1, kThreads / C) : 1;
    S = std::min(std::max<int64_t>(1, C / (8 * VE)), per);
    const int64_t K0 = std::max<int64_t>(1, std::min({per / S, 16 * J, ceil_div(HW, 8)}));
    ppb = ceil_div(HW, K0);
    K = ceil_div(HW, ppb);
    cw = ceil_div(ceil_div(C, S), VE) * VE;
    S = ceil_div(C, cw);
    g_pool = std::min<int64_t>(N * K * S, res_pool);
  } else {
    if (HW >= 128) {
      const int64_t want = std::min<int64_t>({ceil_div(res_pool * kWarps, N * C), 16, HW / 64});
      if (want > 1) {
        ppb = ceil_div(ceil_div(HW, want), VE) * VE;
        K = ceil_div(HW, ppb);
      }
    }
    g_pool = std::min<int64_t>(ceil_div(N * C * K, HW >= 64 ? kWarps : kThreads), res_pool);
  }
  size_t off = 0;
  auto take = [&](int64_t bytes) {
    const size_t o = off;
    off += (static_cast<size_t>(bytes) + 255) & ~size_t(255);
    return o;
  };
  const size_t o_part = take(N * K * C * 8);
  const size_t o_sbuf = take(N * C * 4);
  const size_t o_pmax = kCbam ? take(N * K * C * 4) : 0;
  const size_t o_map = kCbam ? take(N * 2 * HW * 4) : 0;
  const size_t o_hid = batched && two_fc ? take(N * hidden * 8) : 0;
  const size_t o_hidmax = batched && kCbam ? take(N * hidden * 8) : 0;
  unsigned* counters = nullptr;
  float* fbase = nullptr;
  st = workspace(device, stream, 2, off, &counters, &fbase);
  if (!st.ok()) return st;

  FusedArgs a = fused_args_of(p, w, t, kEca ? 0 : static_cast<int>(p.two_fc || kCbam ? p.hidden : C), kCbam);
  char* ws = reinterpret_cast<char*>(fbase);
  a.part = reinterpret_cast<double*>(ws + o_part);
  a.sbuf = reinterpret_cast<float*>(ws + o_sbuf);
  if (kCbam) {
    a.pmax = reinterpret_cast<float*>(ws + o_pmax);
    a.map = reinterpret_cast<float*>(ws + o_map);
  }
  if (batched && two_fc) a.hid = reinterpret_cast<double*>(ws + o_hid);
  if (batched && kCbam) a.hidmax = reinterpret_cast<double*>(ws + o_hidmax);

  // every grid at most the resident blocks (the kernels stride over their items)
  // SE / ECA scale: B blocks a sample, each over vectors b * kThreads + tid strided by B * kThreads.
  // CBAM scale: B bands of P positions a sample (one wave of the resident blocks over the batch,
  // at least 16 positions a band (NCHW: 32, and a multiple of VE where H*W is whole vectors), at most kPassGate), each
  // computing its gates, then scaling.
  int64_t B = std::max<int64_t>(1, std::min<int64_t>(ceil_div(C * HW / VE, kThreads * 4), 1 << 20));
  int64_t P = 0;
  if (kCbam) {
    const int64_t lo = NHWC ? 16 : 32;
    P = std::min<int64_t>(std::max<int64_t>(ceil_div(HW, std::max<int64_t>(1, res_scale / N)), lo), kPassGate);
    if (!NHWC && vec) P = std::min<int64_t>(ceil_div(P, VE) * VE, kPassGate);
    B = ceil_div(HW, P);
  }
  // CBAM's maps. NHWC: L lanes a position (a power of two, <= 32, <= C / VE). NCHW: V position
  // vectors an item (8..kThreads, about one wave of the resident blocks), kThreads / V channel groups.
  int64_t L = 1, V = 0, g_maps = 0;
  if (NHWC) {
    while (L < 32 && 2 * L <= C / VE) L *= 2;
    g_maps = std::min<int64_t>(ceil_div(N * HW, kThreads / L), res_maps);
  } else {
    const int64_t HWv = vec ? HW / VE : HW;
    V = std::min<int64_t>({std::max<int64_t>(ceil_div(N * HWv, std::max<int64_t>(1, res_maps)), 8), kThreads, HWv});
    g_maps = std::min<int64_t>(N * ceil_div(HWv, V), res_maps);
  }
  const int64_t g_ex = std::min<int64_t>(N, int64_t(occ) * dp.sm_count);
  // Batched FCs: items of rows_h hidden rows (rows_g gate rows) for a group, about one wave of the
  // resident blocks over the groups; an item that pools its group's means first (the hidden stage,
  // single-FC SE's gates) takes at least 8 K rows, so that its weights outweigh the K * C partials.
  const int64_t groups = batched ? ceil_div(N, gs) : 0;
  const auto slice_rows = [&](int64_t R, int occ_k, int64_t lo) {
    const int64_t want = ceil_div(R * groups, std::max<int64_t>(1, int64_t(occ_k) * dp.sm_count));
    return std::min(R, std::max(want, std::min(R, lo)));
  };
  const int64_t rows_h = batched && two_fc ? slice_rows(hidden, occ_h, 8 * K) : 0;
  const int64_t rows_g = batched ? slice_rows(C, occ_g, two_fc ? 16 : 8 * K) : 0;
  const int64_t S_h = rows_h ? ceil_div(hidden, rows_h) : 0, S_g = rows_g ? ceil_div(C, rows_g) : 0;
  const int64_t g_fch = std::min<int64_t>(groups * S_h, int64_t(occ_h) * dp.sm_count);
  const int64_t g_fcg = std::min<int64_t>(groups * S_g, int64_t(occ_g) * dp.sm_count);
  const int64_t g_scale = std::min<int64_t>(N * B, res_scale);
#if defined(SQEX_CUEMU)
  if (std::getenv("CUEMU_PLAN"))
    std::fprintf(stderr, "plan: op %d N %lld C %lld HW %lld %s two-pass chunks/sample %lld positions/chunk %lld "
                 "slices %lld channels/slice %lld scale blocks/sample %lld band %lld lanes/position %lld "
                 "vectors/maps item %lld excite smem %lld grids %lld %lld %lld %lld batched %d group %lld "
                 "rows %lld %lld smem %lld %lld grids %lld %lld\n", OP, (long long)N, (long long)C,
                 (long long)HW, NHWC ? "NHWC" : "NCHW", (long long)K, (long long)ppb, (long long)S, (long long)cw,
                 (long long)B, (long long)P, (long long)(kCbam ? L : 0), (long long)V, (long long)smem_ex,
                 (long long)g_pool, (long long)g_ex, (long long)g_maps, (long long)g_scale, int(batched),
                 (long long)gs, (long long)rows_h, (long long)rows_g, (long long)smem_h, (long long)smem_g,
                 (long long)g_fch, (long long)g_fcg);
#endif
  const auto grid = [](int64_t g) { return static_cast<unsigned>(g); };
  // The first kernel waits for the stream's earlier work as any launch; each later one may be
  // scheduled while the one before it finishes (launch_dependent; sm_90 on).
  const bool pdl = dp.cc_major >= 9 && pdl_knob();
  (void)pdl;
  if constexpr (NHWC) {
    auto pool_k = two_pass_pool<T, kCbam>;
    SQEX_LAUNCH(pool_k, grid(g_pool), kThreads, 0, stream, a, static_cast<int>(K), static_cast<int>(ppb),
                static_cast<int>(S), static_cast<int>(cw));
  } else {
    auto pool_k = passes_pool_nchw<T, kCbam>;
    SQEX_LAUNCH(pool_k, grid(g_pool), kThreads, 0, stream, a, static_cast<int>(K), static_cast<int>(ppb));
  }
  SQEX_CUDA_TRY(cudaGetLastError(), "launching the two-pass pooling kernel");
  if (!batched) {
    SQEX_LAUNCH_DEPENDENT(pdl, device, excite, grid(g_ex), kThreads, static_cast<size_t>(smem_ex), stream, a, static_cast<int>(K));
    SQEX_CUDA_TRY(cudaGetLastError(), "launching the two-pass excitation kernel");
  } else {
    if (two_fc) {
      SQEX_LAUNCH_DEPENDENT(pdl, device, fc_hidden, grid(g_fch), kThreads, static_cast<size_t>(smem_h), stream, a, static_cast<int>(K),
                  static_cast<int>(gs), static_cast<int>(S_h), static_cast<int>(rows_h));
      SQEX_CUDA_TRY(cudaGetLastError(), "launching the batched FC kernel");
    }
    SQEX_LAUNCH_DEPENDENT(pdl, device, fc_gates, grid(g_fcg), kThreads, static_cast<size_t>(smem_g), stream, a, static_cast<int>(K),
                static_cast<int>(gs), static_cast<int>(S_g), static_cast<int>(rows_g));
    SQEX_CUDA_TRY(cudaGetLastError(), "launching the batched gate kernel");
  }
  if constexpr (kCbam) {
    auto scale_k = cbam_scale_k;
    SQEX_LAUNCH_DEPENDENT(pdl, device, maps_k, grid(g_maps), kThreads, 0, stream, a, static_cast<int>(NHWC ? L : V));
    SQEX_CUDA_TRY(cudaGetLastError(), "launching the CBAM spatial-map kernel");
    SQEX_LAUNCH_DEPENDENT(pdl, device, scale_k, grid(g_scale), kThreads, 0, stream, a, static_cast<int>(P), static_cast<int>(B));
  } else {
    auto scale_k = two_pass_scale<T, NHWC>;
    SQEX_LAUNCH_DEPENDENT(pdl, device, scale_k, grid(g_scale), kThreads, 0, stream, a, static_cast<int>(B));
  }
  SQEX_CUDA_TRY(cudaGetLastError(), "launching the two-pass scale kernel");
  *taken = true;
  return Status::Ok();
}

}  // namespace cuda
}  // namespace sqex
