// Host side of the fused kernel: picks the tiling from the device's occupancy, sizes the
// workspace and launches. Included by se.cu, eca.cu and cbam.cu for their own op only.
#pragma once
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cbam_pt.cuh"
#include "eca_halo.cuh"
#include "fused.cuh"
#include "internal.h"
#include "launch_common.cuh"
#include "launch_two_pass.cuh"

namespace sqex {
namespace cuda {

// WIDE: ECA / CBAM with k > kAllTapsK (common.cuh), their kernels' instantiations that run only
// the conv taps on the data.
template <int OP, typename T, bool NHWC, bool WIDE>
Status launch_fused(const OpParams& p, const Weights& w, const Tensors& t, int device,
                    cudaStream_t stream) {
  constexpr bool kCbam = OP == static_cast<int>(Op::CBAM);
  constexpr bool kEca = OP == static_cast<int>(Op::ECA);
  auto kern = fused_kernel<OP, T, NHWC, WIDE>;
  const DeviceProps* dp = nullptr;
  Status st = device_props(device, &dp);
  if (!st.ok()) return st;

  const int64_t N = p.shape.n, C = p.shape.c, HW = p.shape.hw();
  if (N <= 0 || C <= 0 || HW <= 0) return Status::Ok();
  // A limit of these kernels' index arithmetic, not of the call: Unsupported, so that device
  // 'auto' runs it on the CPU (lib/ops/fallback.ts).
  if (N * C * HW > (int64_t(1) << 40) || C > (1 << 24) || HW > (int64_t(1) << 30) || N > (1 << 26))
    return Status::Error(StatusCode::Unsupported,
                         "shape too large for the CUDA kernel: it takes C <= 16777216, H*W <= 1073741824, N <= 67108864 "
                         "and N*C*H*W <= 2^40");
  const int64_t es = sizeof(T);
  const int64_t U = NHWC ? HW : C;          // units per sample
  const int64_t unit = NHWC ? C : HW;       // elements per unit
  const int64_t unit_bytes = unit * es;
  const int hidden = kEca ? 0 : static_cast<int>(p.two_fc || kCbam ? p.hidden : C);

  // Shared memory: a chunk of units plus per-sample vectors. CBAM's spatial gate buffer holds
  // the whole map (NCHW) or the tile's positions (NHWC, bounded by 4096).
  const int64_t g_cap = kCbam ? (NHWC ? std::min<int64_t>(HW, 4096) : HW) : 0;
  const SmemLayout Lmax = smem_layout(OP, static_cast<int>(C), hidden, static_cast<int>(g_cap));
  const int64_t extras = int64_t(Lmax.total) * 4;
  const int64_t min_tile = N >= 4 ? 16384 : 0;
  bool ct = false;
  int64_t T_ = 0, upt = 0, upc = 0, resident = 0, tile_area = 0, g_len = g_cap;
  bool held = true;
  // SE whose FC weights (fp32) are at least an eighth of a sample's bytes, at batch >= 2: the
  // passes with batched FCs (one read of the weights serves a group of samples; NOTES-cuda.md,
  // "SE in passes with batched FCs") before any fused plan. SQEX_TWO_PASS=1 (dev builds): the
  // passes first wherever they apply, whatever the op.
  if constexpr (NHWC || !kEca) {
    const int knob = two_pass_knob();
    const int64_t fc_w = kEca || kCbam ? 0 : (p.two_fc ? 2 * int64_t(p.hidden) * C : C * C);
    if (knob == 1 || (knob != 0 && !kEca && !kCbam && N >= 2 && fc_w * 4 * 8 >= C * HW * es)) {
      bool taken = false;
      st = launch_two_pass<OP, T, NHWC, WIDE>(p, w, t, device, stream, *dp, &taken);
      if (!st.ok() || taken) return st;
    }
  }
  // NHWC SE/ECA with small H*W: channel-range tiles over all positions (complete pooling per
  // tile, no partials and no second barrier). Needs C and the tile width in whole 16-byte
  // vectors, 16-byte aligned x/y/residual, and >= 128-byte row segments (DRAM sectors).
  if (NHWC && !kCbam) {
    const int64_t VE = 16 / es;
    if (C % VE == 0 && aligned16(t)) {
      const int64_t gran = std::min<int64_t>(C, std::max<int64_t>(VE, 128 / es));
      const int64_t ch_bytes = HW * es;
      for (int per_sm : {4, 2}) {
        const int64_t budget = dp->smem_per_sm / per_sm - dp->smem_reserved;
        const int64_t cap = (budget - extras - 16) & ~int64_t(15);
        int64_t upc_ct = cap / ch_bytes;
        upc_ct = upc_ct >= C ? C : upc_ct / gran * gran;
        if (upc_ct < gran) continue;
        const int64_t smem_ct = ((upc_ct * ch_bytes + 16 + 15) & ~int64_t(15)) + extras;
        int occ = 0;
        st = kernel_occupancy(reinterpret_cast<const void*>(kern), device, *dp, smem_ct, &occ);
        if (!st.ok()) return st;
        if (occ <= 0) continue;
        const int64_t res = int64_t(occ) * dp->sm_count;
        const int64_t lim = std::max<int64_t>(1, res / 2);
        // as below: spread over the resident blocks, capped by what one tile holds, but at
        // least C / limit channels (deadlock margin)
        int64_t u = std::min(std::max(ceil_div(N * C, res), ceil_div(min_tile, ch_bytes)), upc_ct);
        u = std::max({u, ceil_div(C, lim), int64_t(1)});
        u = std::min(ceil_div(u, gran) * gran, C);
        if (u > upc_ct) continue;
        ct = true;
        upt = upc = u;
        T_ = ceil_div(C, u);
        resident = res;
        tile_area = (u * ch_bytes + 16 + 15) & ~int64_t(15);
        break;
      }
    }
  }
  // CBAM NCHW whose channel plus the H*W-float gate buffer exceeds shared memory (fp32 from
  // H*W ~ 28K) may still run as position tiles (below, their buffers hold <= 4096 positions):
  // the channel plan's refusal waits for that search.
  if constexpr (NHWC || kCbam) {
    if (!ct) {
      bool taken = false;
      st = launch_two_pass<OP, T, NHWC, WIDE>(p, w, t, device, stream, *dp, &taken);
      if (!st.ok() || taken) return st;
    }
  }
  Status ch_refusal = Status::Ok();
  int64_t tile_cap = 0;
  if (!ct) {
    // Prefer 4 blocks per SM (tiles staggered in time keep HBM busy while others wait at
    // barriers); fall back to 2 or 1 when a unit plus the per-sample buffers does not fit.
    for (int per_sm : {4, 2, 1}) {
      const int64_t budget = per_sm == 1 ? dp->smem_optin - 64 : dp->smem_per_sm / per_sm - dp->smem_reserved;
      tile_cap = (budget - extras - 16) & ~int64_t(15);
      if (tile_cap >= unit_bytes) break;
    }
    if (tile_cap < unit_bytes) {
      ch_refusal = Status::Error(StatusCode::Unsupported,
                                 "shape too large for the CUDA kernel: one " +
                                     std::string(NHWC ? "position" : "channel") + " (" +
                                     std::to_string(unit_bytes) + " bytes) plus per-sample buffers (" +
                                     std::to_string(extras) + " bytes) exceed shared memory");
      if (!kCbam || NHWC) return ch_refusal;
    }
  }
  if (!ct && ch_refusal.ok()) {
    upc = std::min<int64_t>(U, tile_cap / unit_bytes);
    if (kCbam && NHWC) upc = std::min(upc, g_cap);
    const int64_t smem_max = ((upc * unit_bytes + 16 + 15) & ~int64_t(15)) + extras;
    int occ = 0;
    st = kernel_occupancy(reinterpret_cast<const void*>(kern), device, *dp, smem_max, &occ);
    if (!st.ok()) return st;
    if (occ <= 0)
      return Status::Error(StatusCode::Internal, "fused kernel cannot be resident on this device");
    resident = int64_t(occ) * dp->sm_count;
    const int64_t limit = std::max<int64_t>(1, resident / 2);  // tiles per sample, deadlock margin
    // Spread the work over every resident block; from batch 4 up, not below 16 KB tiles (fewer
    // blocks per sample to meet at each barrier; measured: 32x2048x7x7 fp16 NHWC SE 56 -> 44 us,
    // while batch 1 got slower with it).
    upt = std::min(std::max(ceil_div(N * U, resident), ceil_div(min_tile, unit_bytes)), upc);
    upt = std::max(upt, ceil_div(U, limit));
    upt = std::max<int64_t>(upt, 1);
    T_ = ceil_div(U, upt);
    held = upt <= upc;
    if (kCbam && NHWC) {
      g_len = upt;
      if (g_len > g_cap)
        return Status::Error(StatusCode::Unsupported,
                             "shape too large for the CUDA CBAM kernel (NHWC, too many positions per tile)");
    }
    tile_area = ((std::min(upt, upc) * unit_bytes + 16 + 15) & ~int64_t(15));
  }
  // SE sample groups (see se_group_tile): with a large two-FC excitation each sample re-reads
  // 2*hidden*C*4 bytes of weights from L2 (2 MB at C = 2048); G samples per barrier domain share
  // one read. Same bytes per tile (per-sample width / G), so the same tiles in flight.
  int64_t grp = 1, slot = 0, groups = N;
  const void* group_kern = nullptr;
  if constexpr (OP == static_cast<int>(Op::SE))
    group_kern = reinterpret_cast<const void*>(se_group_kernel<T, NHWC>);
  // Measured (H100, v6): a win at batch 128 (128x2048x7x7: 1.2-1.8x), a loss at batch 32
  // for most shapes (the group barrier has G times the participants; one wave there, so the
  // chain latency, not L2 traffic, is the limit): only from batch 64 and weights >= 2x a sample.
  if (group_kern && p.two_fc && held && (!NHWC || ct) && N >= 64 &&
      2 * int64_t(hidden) * C * 4 >= 2 * C * HW * es && C % 4 == 0 && hidden % 4 == 0 &&
      (reinterpret_cast<uintptr_t>(w.w1) & 15) == 0 && (reinterpret_cast<uintptr_t>(w.w2) & 15) == 0) {
    const int64_t gran = ct ? std::min<int64_t>(C, std::max<int64_t>(16 / es, 128 / es)) : 1;
    const int64_t c4 = (C + 3) & ~int64_t(3);
    for (int64_t G : {int64_t(4), int64_t(2)}) {
      if (G > N) continue;
      int64_t ug = ct ? ceil_div(ceil_div(upt, G), gran) * gran : ceil_div(upt, G);
      bool ok = false;
      int64_t sl = 0, res_g = 0;
      for (int tries = 0; tries < 8 && ug > 0; ++tries, ug -= gran) {
        if (G * ug > c4) continue;                        // gates of the group in s_sm
        if (ceil_div(C, ug) > std::max<int64_t>(1, resident / 2)) break;  // deadlock margin
        sl = ct ? ((ug * HW * es + 15) & ~int64_t(15)) : ((ug * unit_bytes + 16 + 15) & ~int64_t(15));
        const SmemLayout Lg = smem_layout(OP, static_cast<int>(C), hidden, 0, static_cast<int>(G));
        const int64_t smem_g = G * sl + int64_t(Lg.total) * 4;
        int occ = 0;
        st = kernel_occupancy(group_kern, device, *dp, smem_g, &occ);
        if (!st.ok()) { st = Status::Ok(); break; }  // too large: no grouping at this G
        res_g = int64_t(occ) * dp->sm_count;
        if (res_g >= resident) { ok = true; break; }   // no occupancy lost
      }
      if (!ok) continue;
      grp = G;
      slot = sl;
      upt = ug;
      T_ = ceil_div(C, ug);
      groups = ceil_div(N, G);
      tile_area = G * sl;
      break;
    }
  }
  // ECA over channel tiles (NCHW, NHWC ct): each tile pools the +-pad neighbour channels its
  // conv reads instead of meeting the sample's other tiles at barrier A (eca_halo_kernel), when
  // those extra reads are small: at most half the tile's channels (so the halo lies in the two
  // neighbouring tiles) and at most a quarter of its bytes or 8 KB, counted in 32-byte sectors
  // (NHWC: each position's halo on each side is at least one sector); and the tile is held in
  // shared memory (one chunk: the halo kernel has no chunked path). Never when y overlaps x: the
  // barrier is what keeps a tile from reading neighbour channels that their own tile has already
  // scaled in place.
  bool eca_halo = false;
  const uintptr_t x_lo = reinterpret_cast<uintptr_t>(t.x), y_lo = reinterpret_cast<uintptr_t>(t.y);
  const uintptr_t bytes = static_cast<uintptr_t>(N * C * HW * es);
  // (not WIDE: the halo kernel has one instantiation, the every-tap loop, which 2 * pad <= upt
  // keeps to k <= 2 * upt + 1)
  if (kEca && !WIDE && (!NHWC || ct) && (x_lo + bytes <= y_lo || y_lo + bytes <= x_lo)) {
    const int64_t pad = (p.eca_k - 1) / 2;
    const int64_t halo_bytes = NHWC ? 2 * HW * 32 * ceil_div(pad * es, 32) : 2 * pad * HW * es;
    const int64_t tile_bytes = upt * HW * es;
    eca_halo = held && 2 * pad <= upt && (4 * halo_bytes <= tile_bytes || halo_bytes <= 8192);
    // NHWC only when the batch's tiles are no more than the SMs (batch 1): measured on the H200
    // (2026-12-04, bench/results/NVIDIA-H200-2026-12-04T1133), every NHWC row that took the halo
    // at batch 32 or 128 (C 1152 and 2048 at 7^2, 192-2048 tiles) ran 5-58% slower than with the
    // barrier, though its halo adds 12-25% to the reads; at batch 1 (32-64 tiles) 9-16% faster.
    if (NHWC && N * T_ > dp->sm_count) eca_halo = false;
    // A batch whose tiles all fit in one wave of resident blocks (batch 1 at 56^2: one channel a
    // tile) is latency-bound: there the barrier costs more than reading a halo as large as the
    // tile (NOTES-cuda.md, "ECA without barrier A", the batch-1 widening). Such NCHW tiles are
    // widened to 2 * pad channels when that still fits in shared memory.
    bool widen = !eca_halo && !NHWC && held && N * T_ <= resident && std::max<int64_t>(upt, 2 * pad) <= upc;
#if defined(SQEX_CUEMU)
    // the emulator's override (native/dev/cuemu): CUEMU_ECA_HALO=0 never (and no widening), 1
    // wherever legal
    const char* f = std::getenv("CUEMU_ECA_HALO");
    if (f && (f[0] == '0' || f[0] == '1') && f[1] == '\0') {
      eca_halo = f[0] == '1' && held && 2 * pad <= upt;
      widen = widen && f[0] == '1' && !eca_halo;
    }
#endif
    if (widen) {
      upt = std::max<int64_t>(upt, 2 * pad);
      T_ = ceil_div(C, upt);
      tile_area = (upt * unit_bytes + 16 + 15) & ~int64_t(15);
      eca_halo = true;
    }
  }
  // CBAM NCHW over position tiles (cbam_pt_kernel) instead of channel tiles, when that moves
  // fewer auxiliary bytes through the workspace: channel tiles write and re-read per-position
  // partial sums and maxes (2 * H*W floats a tile) and share the spatial gate (H*W floats,
  // read by every tile); position tiles write and re-read per-channel partials (8 + 4 bytes a
  // channel a tile) and read the means back. The barriers are A, A2, D (+ B, + C) against A, D,
  // E, F (+ B). Needs 16-byte aligned x, y, residual and H*W a multiple of the vector width.
  bool pt = false;
  if constexpr (kCbam && !NHWC) {
    const void* pt_kern = reinterpret_cast<const void*>(cbam_pt_kernel<T, WIDE>);
    const int64_t VE = 16 / es;
    int force = -1;  // -1: the planner's choice
#if defined(SQEX_CUEMU) || defined(SQEX_DEV_KNOBS)
    // the emulator's and the kernel harness's override (native/dev: cuemu, cuda_build.sh, and
    // the addon built over the emulator; never in a release addon): SQEX_CBAM_PT=0 never, 1
    // wherever legal, to time and check both paths
    const char* f = std::getenv("SQEX_CBAM_PT");
    if (f && (f[0] == '0' || f[0] == '1') && f[1] == '\0') force = f[0] - '0';
#endif
    if (force != 0 && aligned16(t) && HW % VE == 0) {
      const int64_t pos_bytes = C * es;  // one position of every channel
      auto pt_smem = [&](int64_t u) {
        return ((u * pos_bytes + 15) & ~int64_t(15)) +
               int64_t(smem_layout(OP, static_cast<int>(C), hidden, static_cast<int>(u)).total) * 4;
      };
      const int64_t u_top = std::min<int64_t>(HW, 4096) / VE * VE;  // g_sm holds the tile's positions
      for (int per_sm : {4, 2, 1}) {
        const int64_t budget = per_sm == 1 ? dp->smem_optin - 64 : dp->smem_per_sm / per_sm - dp->smem_reserved;
        // largest u (a multiple of VE) whose tile and buffers fit: the g buffer grows with u
        int64_t lo = 0, hi = u_top / VE;
        while (lo < hi) {
          const int64_t mid = (lo + hi + 1) / 2;
          if (pt_smem(mid * VE) <= budget) lo = mid; else hi = mid - 1;
        }
        const int64_t upc_pt = lo * VE;
        if (upc_pt < VE) continue;
        int occ = 0;
        st = kernel_occupancy(pt_kern, device, *dp, pt_smem(upc_pt), &occ);
        if (!st.ok()) {  // not seen: the channel tiles, if they can
          st = Status::Ok();
          break;
        }
        if (occ <= 0) continue;
        const int64_t res = int64_t(occ) * dp->sm_count;
        const int64_t lim = std::max<int64_t>(1, res / 2);
        int64_t u = std::min(std::max(ceil_div(N * HW, res), ceil_div(min_tile, pos_bytes)), upc_pt);
        u = std::max({u, ceil_div(HW, lim), int64_t(1)});
        u = ceil_div(u, VE) * VE;
        if (u > upc_pt) continue;
        const int64_t T_pt = ceil_div(HW, u);
        const int64_t ch_aux = T_ * 16 * HW + (T_ + 1) * HW * 4;
        const int64_t pt_aux = T_pt * C * 36;
        if (force == 1 || !ch_refusal.ok() || pt_aux < ch_aux) {
          pt = true;
          T_ = T_pt;
          upt = upc = u;
          held = true;
          resident = res;
          tile_area = (u * pos_bytes + 15) & ~int64_t(15);
          g_len = u;
        }
        break;
      }
    }
  }
  if (!ch_refusal.ok() && !pt) return ch_refusal;
  const SmemLayout L = smem_layout(OP, static_cast<int>(C), hidden, static_cast<int>(g_len), static_cast<int>(grp));
  const int64_t smem = tile_area + int64_t(L.total) * 4;

  FusedArgs a = fused_args_of(p, w, t, hidden, kCbam);
  a.T = static_cast<int>(T_);
  a.upt = static_cast<int>(upt);
  a.upc = static_cast<int>(held ? upt : upc);
  a.total_tiles = static_cast<int>(groups * T_);
  a.fc1_blocks = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(T_, hidden)));
  a.grp = static_cast<int>(grp);
  a.slot = static_cast<int>(slot);

  // A first FC of <= 8192 weights (32 KB) is cheaper to repeat in every block than to share
  // through a barrier (~1-2 us per barrier at batch 1).
  a.fc1_local = (!kEca && (kCbam || p.two_fc) && int64_t(hidden) * C <= 8192) ? 1 : 0;
  int64_t s_work = 0;
  if (OP == static_cast<int>(Op::SE)) s_work = C * (p.two_fc ? hidden : C);
  if (kCbam) s_work = 2 * C * hidden;
  a.s_local = ((!NHWC && !pt) || kEca || s_work <= 8192) ? 1 : 0;
  a.s_blocks = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(T_, ceil_div(C, 8))));
  const uintptr_t xa = reinterpret_cast<uintptr_t>(t.x) & 15;
  a.vec_ok = ((reinterpret_cast<uintptr_t>(t.y) & 15) == xa) &&
             (t.residual == nullptr || (reinterpret_cast<uintptr_t>(t.residual) & 15) == xa);
  a.tile_area = static_cast<int>(tile_area);
  a.ct = ct ? 1 : 0;
  a.g_len = static_cast<int>(g_len);

  const size_t sm = static_cast<size_t>(smem);
  auto print_plan = [&](int64_t grid) {
#if defined(SQEX_CUEMU)
    if (std::getenv("CUEMU_PLAN"))  // the emulator's view of the plan (native/dev/cuemu)
      std::fprintf(stderr, "plan: op %d N %lld C %lld HW %lld %s tiles/sample %lld units/tile %lld units/chunk %lld "
                   "held %d ct %d grp %lld grid %lld resident %lld smem %lld eca_halo %d cbam_pt %d\n", OP, (long long)N,
                   (long long)C, (long long)HW, NHWC ? "NHWC" : "NCHW", (long long)T_, (long long)upt, (long long)upc,
                   int(held), int(ct), (long long)grp, (long long)grid, (long long)resident, (long long)smem,
                   int(eca_halo), int(pt));
#else
    (void)grid;
#endif
  };
  if constexpr (kEca && !WIDE) {
    if (eca_halo) {
      // no barriers and no workspace: a plain grid-stride launch (eca_halo.cuh)
      auto halo_kern = eca_halo_kernel<T, NHWC>;
      int occ = 0;
      st = kernel_occupancy(reinterpret_cast<const void*>(halo_kern), device, *dp, smem, &occ);
      if (!st.ok()) return st;
      if (occ > 0) {
        const int64_t grid = std::min<int64_t>(N * T_, int64_t(occ) * dp->sm_count);
        print_plan(grid);
        SQEX_LAUNCH(halo_kern, static_cast<unsigned>(grid), kThreads, sm, stream, a);
        SQEX_CUDA_TRY(cudaGetLastError(), "launching the ECA halo kernel");
        return Status::Ok();
      }
      eca_halo = false;  // not resident at this size (never seen): the barrier kernel below
    }
  }

  // workspace: float and double arrays, each 256-byte aligned (means, channel partial sums and
  // hidden layers are fp64, see FusedArgs)
  size_t off = 0;
  auto take = [&](int64_t nelems, bool need, size_t elem_bytes = 4) -> size_t {
    if (!need) return SIZE_MAX;
    const size_t o = off;
    off += (static_cast<size_t>(nelems) * elem_bytes + 255) & ~size_t(255);
    return o;
  };
  const size_t o_zmean = take(N * C, true, 8);
  const size_t o_zmax = take(N * C, kCbam);
  const size_t o_part = take(N * T_ * C, (NHWC && !ct) || pt, 8);
  const size_t o_pmax = take(N * T_ * C, (NHWC && kCbam) || pt);
  const size_t o_hid = take(N * std::max(hidden, 1), !kEca, 8);
  const size_t o_hidmax = take(N * std::max(hidden, 1), kCbam, 8);
  const size_t o_sbuf = take(N * C, (NHWC || pt) && !a.s_local);
  const size_t o_spart = take(N * T_ * 2 * HW, kCbam && !NHWC && !pt);
  const size_t o_map = take(N * 2 * HW, kCbam);
  const size_t o_gbuf = take(N * HW, kCbam && !NHWC && !pt);
  unsigned* counters = nullptr;
  float* fbase = nullptr;
  st = workspace(device, stream, static_cast<size_t>(N) + 2, off, &counters, &fbase);
  if (!st.ok()) return st;
  auto at = [&](size_t o) -> float* {
    return o == SIZE_MAX ? nullptr : reinterpret_cast<float*>(reinterpret_cast<char*>(fbase) + o);
  };
  auto at_d = [&](size_t o) -> double* { return reinterpret_cast<double*>(at(o)); };
  a.ticket = counters;
  a.cnt = counters + 2;
  a.zmean = at_d(o_zmean);
  a.zmax = at(o_zmax);
  a.part = at_d(o_part);
  a.pmax = at(o_pmax);
  a.hid = at_d(o_hid);
  a.hidmax = at_d(o_hidmax);
  a.sbuf = at(o_sbuf);
  a.spart = at(o_spart);
  a.map = at(o_map);
  a.gbuf = at(o_gbuf);

  const int64_t grid = std::min<int64_t>(groups * T_, resident);
  const unsigned g = static_cast<unsigned>(grid);
  print_plan(grid);
  if constexpr (OP == static_cast<int>(Op::SE)) {
    auto group_kern = se_group_kernel<T, NHWC>;
    if (grp > 1)
      SQEX_LAUNCH(group_kern, g, kThreads, sm, stream, a);
    else
      SQEX_LAUNCH(kern, g, kThreads, sm, stream, a);
  } else if constexpr (kCbam && !NHWC) {
    auto pt_kernel = cbam_pt_kernel<T, WIDE>;
    if (pt)
      SQEX_LAUNCH(pt_kernel, g, kThreads, sm, stream, a);
    else
      SQEX_LAUNCH(kern, g, kThreads, sm, stream, a);
  } else {
    SQEX_LAUNCH(kern, g, kThreads, sm, stream, a);
  }
  SQEX_CUDA_TRY(cudaGetLastError(), "launching the fused kernel");
  return Status::Ok();
}

// Dispatch on storage type and layout.
template <int OP, bool WIDE>
Status launch_dtype_layout(const OpParams& p, const Weights& w, const Tensors& t, int device,
                           cudaStream_t stream) {
  const bool nhwc = p.layout == Layout::NHWC;
  switch (p.dtype) {
    case DType::F32:
      return nhwc ? launch_fused<OP, float, true, WIDE>(p, w, t, device, stream)
                  : launch_fused<OP, float, false, WIDE>(p, w, t, device, stream);
    case DType::F16:
      return nhwc ? launch_fused<OP, __half, true, WIDE>(p, w, t, device, stream)
                  : launch_fused<OP, __half, false, WIDE>(p, w, t, device, stream);
    case DType::BF16:
      return nhwc ? launch_fused<OP, __nv_bfloat16, true, WIDE>(p, w, t, device, stream)
                  : launch_fused<OP, __nv_bfloat16, false, WIDE>(p, w, t, device, stream);
  }
  return Status::Error(StatusCode::InvalidArgument, "unknown dtype");
}

// ... and on the conv's width: ECA / CBAM kernels wider than kAllTapsK take the WIDE kernels.
template <int OP>
Status launch_dtype(const OpParams& p, const Weights& w, const Tensors& t, int device,
                    cudaStream_t stream) {
  if constexpr (OP == static_cast<int>(Op::SE)) {
    return launch_dtype_layout<OP, false>(p, w, t, device, stream);
  } else {
    const int k = OP == static_cast<int>(Op::ECA) ? p.eca_k : p.spatial_k;
    return k > kAllTapsK ? launch_dtype_layout<OP, true>(p, w, t, device, stream)
                         : launch_dtype_layout<OP, false>(p, w, t, device, stream);
  }
}

// The workspace's fp64 hidden layers (o_hid, o_hidmax: up to 16 x hidden bytes a sample) are the
// one part of it that a sample's own size does not bound: SE with C = 1, H = W = 1, hidden = 16384
// at N = 8192 asked for 1 GB of device memory for 32 KB of x. A batch whose hidden layers would
// pass this size runs as consecutive launches over sample ranges on the same stream, exactly as
// consecutive calls would (samples are independent; the workspace is reused in stream order).
// Real networks stay below it (hidden 4096 at batch 1024 is 64 MB): for them nothing changes.
constexpr int64_t kHiddenWorkspaceBytes = int64_t(64) << 20;

template <int OP>
Status launch_op(const OpParams& p, const Weights& w, const Tensors& t, int device,
                 cudaStream_t stream) {
  const int64_t N = p.shape.n, C = p.shape.c, HW = p.shape.hw();
  const int64_t hidden = OP == static_cast<int>(Op::ECA) ? 0 : std::max<int64_t>(p.hidden, C);
  const int64_t per_sample = 16 * std::max<int64_t>(hidden, 1);
  int64_t chunk = std::max<int64_t>(1, kHiddenWorkspaceBytes / per_sample);
  if (N <= chunk || C <= 0 || HW <= 0) return launch_dtype<OP>(p, w, t, device, stream);
  // Whole 16-sample steps keep every chunk's pointers as aligned as the first one's, so each
  // launch takes the same path (the vectorised and channel-tile paths need 16-byte alignment).
  if (chunk >= 16) chunk &= ~int64_t(15);
  const int64_t es = p.dtype == DType::F32 ? 4 : 2;
  const int64_t sample_bytes = C * HW * es;
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    OpParams q = p;
    q.shape.n = std::min(chunk, N - n0);
    Tensors u = t;
    const int64_t off = n0 * sample_bytes;
    u.x = static_cast<const char*>(t.x) + off;
    u.residual = t.residual ? static_cast<const char*>(t.residual) + off : nullptr;
    u.y = static_cast<char*>(t.y) + off;
    u.scale_out = t.scale_out ? t.scale_out + n0 * C : nullptr;
    const Status st = launch_dtype<OP>(q, w, u, device, stream);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

}  // namespace cuda
}  // namespace sqex
