// Vectorised inner loops, written once against a small vector vocabulary and included by
// kernels.cpp once per instruction set, inside that set's namespace (and, for AVX2 and AVX-512,
// inside that set's target(...) region). No include guard on purpose; includes nothing itself.
//
// Expected in the including namespace:
//   vf (W float lanes), vld, vst, vst_nt (aligned streaming store), vfence, vset, vzero, vadd,
//   vmul, vmax (may drop NaN: x86 MAXPS does), vrelu (v < 0 ? 0 : v: keeps a NaN v and -0),
//   vcanon (v, or the quiet NaN 0x7fc00000 where v is NaN), vsel_lo(k, a, b) (lanes [0, k) of a,
//   the rest of b; 0 < k < W);
//   vd (W double lanes): vd_zero, vd_ld, vd_st, vd_addf(a, v) = a + double(v),
//   vd_addf_mem(a, p) = a + double(p[0..W)) (the same sum, converting straight from memory),
//   vd_fmaf(a, v, p) = a + double(v) * p[0..W), vd_sum (sum of the lanes);
//   vh (WH double lanes, one register): vh_zero, vh_set (broadcast), vh_ldf (WH floats converted
//   from memory), vh_ld, vh_st, vh_fma(a, b, c) = a + b * c, vh_sum;
//   sigmoid_rows(v, s, n): s[i] = float(1 / (1 + exp(-v[i]))).
//
// Tails: the main loops take 2W elements a step; with W = 16 (AVX-512) one more W-wide step runs
// before the scalar tail (`W >= 16`, a constant: the narrower tables are unchanged), else H*W = 49
// would leave 17 elements to the scalar loop.
//
// NaN in the maxes (torch.amax propagates it): every max here is taken beside a double sum of
// the same values, and that sum is NaN whenever one of them is NaN (or +Inf meets -Inf). The hot
// loops use the plain vmax; a NaN sum, resolved once per reduction, triggers a rescan of those
// values that returns NaN if one is NaN. Finite data pays nothing; the rescan is exact either way.

static float vlanes_max(vf v) {
  alignas(64) float t[W];
  vst(t, v);
  float m = t[0];
  for (int j = 1; j < W; ++j) m = t[j] > m ? t[j] : m;
  return m;
}

// NaN if one of x[i * stride] * (s ? s[i] : 1), i < n, is NaN; else m (the NaN-blind max).
static float nan_or(float m, const float* x, int64_t n, int64_t stride, const float* s) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = s ? x[i * stride] * s[i] : x[i * stride];
    if (std::isnan(v)) return v;
  }
  return m;
}

static double k_sum(const float* x, int64_t n) {
  vd a0 = vd_zero(), a1 = vd_zero();
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    a0 = vd_addf_mem(a0, x + i);
    a1 = vd_addf_mem(a1, x + i + W);
  }
  if (W >= 16 && i + W <= n) {
    a0 = vd_addf_mem(a0, x + i);
    i += W;
  }
  double total = vd_sum(a0) + vd_sum(a1);
  for (; i < n; ++i) total += x[i];
  return total;
}

static void k_sum_max(const float* x, int64_t n, double* sum_out, float* max_out) {
  vd a0 = vd_zero(), a1 = vd_zero();
  vf m0 = vset(-INFINITY), m1 = m0;
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const vf v0 = vld(x + i), v1 = vld(x + i + W);
    a0 = vd_addf_mem(a0, x + i);
    a1 = vd_addf_mem(a1, x + i + W);
    m0 = vmax(m0, v0);
    m1 = vmax(m1, v1);
  }
  if (W >= 16 && i + W <= n) {
    a0 = vd_addf_mem(a0, x + i);
    m0 = vmax(m0, vld(x + i));
    i += W;
  }
  double total = vd_sum(a0) + vd_sum(a1);
  float mx = vlanes_max(vmax(m0, m1));
  for (; i < n; ++i) {
    total += x[i];
    mx = x[i] > mx ? x[i] : mx;
  }
  *sum_out = total;
  *max_out = std::isnan(total) ? nan_or(mx, x, n, 1, nullptr) : mx;
}

// Channel sums (and maxes) over a tile of pixel rows, the channels in blocks of B vd registers:
// each block's sums stay in registers while the tile's rows pass, so acc is loaded and stored
// once per tile and block instead of once per row. Each channel still adds the rows in order:
// bit-identical to one row at a time. (A vector add here is an FMA by 1: the same rounding.)
constexpr int kAccumBlocks = W == 1 || W >= 16 ? 8 : 4;  // vd per block: 2 registers each
constexpr int64_t kAccumTileBytes = int64_t(128) << 10;  // rows per tile: ~128 KB of x, in L2
// Calls over this much x take the tiles (k_accum_rows, k_accum_max_rows).
constexpr int64_t kAccumTiledOverBytes = int64_t(1) << 20;

template <int B, bool Max>
static inline void accum_block(const float* x, int64_t rows, int64_t ldx, double* acc, float* mx) {
  vd a[B];
  vf m[Max ? B : 1];
  for (int b = 0; b < B; ++b) a[b] = vd_ld(acc + b * W);
  if (Max)
    for (int b = 0; b < B; ++b) m[b] = vld(mx + b * W);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ldx;
    for (int b = 0; b < B; ++b) {
      a[b] = vd_addf_mem(a[b], xr + b * W);
      if (Max) m[b] = vmax(m[b], vld(xr + b * W));
    }
  }
  for (int b = 0; b < B; ++b) vd_st(acc + b * W, a[b]);
  if (Max)
    for (int b = 0; b < B; ++b) vst(mx + b * W, m[b]);
}

// Sums of channels [c0, cc), at most W of them, over the rows in order, as one vector a row: lane
// j is channel c0 + j, and the lanes past cc - c0 load the next floats of x (the next row's) and
// are dropped. A row's W-float load stays inside x's rows (its last float is x[(rows - 1) * ldx +
// cc - 1]); the rows whose load would pass it are added one channel at a time after, continuing
// each channel's order. The same bits as one channel at a time, and one chain of vector adds (a
// row per add's latency) instead of cc - c0 chains run one after the other: NHWC with C < W
// pooled at ~3 cycles a float (SE 8x4x56x56 NHWC 3.5x its NCHW time; NOTES-cpu.md item 66).
static void accum_cols_lanes(const float* x, int64_t rows, int64_t cc, int64_t ldx, int64_t c0, double* acc) {
  const int64_t k = cc - c0;
  alignas(64) double t[W];
  for (int64_t j = 0; j < W; ++j) t[j] = j < k ? acc[c0 + j] : 0.0;
  const int64_t end = rows > 0 ? (rows - 1) * ldx + cc : 0;  // one past x's last float
  const int64_t rv = end >= c0 + W ? std::min(rows, (end - c0 - W) / ldx + 1) : 0;
  vd a = vd_ld(t);
  for (int64_t r = 0; r < rv; ++r) a = vd_addf_mem(a, x + r * ldx + c0);
  vd_st(t, a);
  for (int64_t j = 0; j < k; ++j) {
    double v = t[j];
    for (int64_t r = rv; r < rows; ++r) v += x[r * ldx + c0 + j];
    acc[c0 + j] = v;
  }
}

// Channels [c0, cc) one at a time, each sum (and max) in a register over the rows in order: the
// channels past the last whole vector, for accum_tile and accum_seq, while their rows are in L2.
// Sums of 2 to W channels go through lanes (one channel alone is one chain either way, and its
// W-float loads, split across lines at odd strides, cost more: SE 1x17x224x224 NHWC +18%, a review).
template <bool Max>
static void accum_cols(const float* x, int64_t rows, int64_t cc, int64_t ldx, int64_t c0, double* acc, float* mx) {
  if (!Max && W > 1 && cc - c0 >= 2 && cc - c0 <= W) return accum_cols_lanes(x, rows, cc, ldx, c0, acc);
  for (int64_t c = c0; c < cc; ++c) {
    double a = acc[c];
    float m = Max ? mx[c] : 0.f;
    for (int64_t r = 0; r < rows; ++r) {
      const float v = x[r * ldx + c];
      a += v;
      if (Max) m = v > m ? v : m;
    }
    acc[c] = a;
    if (Max) mx[c] = m;
  }
}

template <bool Max>
static void accum_tile(const float* x, int64_t rows, int64_t cc, int64_t ldx, double* acc, float* mx) {
  int64_t c = 0;
  for (; c + kAccumBlocks * W <= cc; c += kAccumBlocks * W)
    accum_block<kAccumBlocks, Max>(x + c, rows, ldx, acc + c, Max ? mx + c : nullptr);
  const int rest = int((cc - c) / W);  // < kAccumBlocks
  float* mc = Max ? mx + c : nullptr;
  switch (rest) {
    case 7: accum_block<7, Max>(x + c, rows, ldx, acc + c, mc); break;
    case 6: accum_block<6, Max>(x + c, rows, ldx, acc + c, mc); break;
    case 5: accum_block<5, Max>(x + c, rows, ldx, acc + c, mc); break;
    case 4: accum_block<4, Max>(x + c, rows, ldx, acc + c, mc); break;
    case 3: accum_block<3, Max>(x + c, rows, ldx, acc + c, mc); break;
    case 2: accum_block<2, Max>(x + c, rows, ldx, acc + c, mc); break;
    case 1: accum_block<1, Max>(x + c, rows, ldx, acc + c, mc); break;
    default: break;
  }
  accum_cols<Max>(x, rows, cc, ldx, c + int64_t(rest) * W, acc, mx);
}

template <bool Max>
static void accum_tiles(const float* x, int64_t rows, int64_t cc, int64_t ldx, double* acc, float* mx) {
  const int64_t tile = std::max<int64_t>(1, kAccumTileBytes / (cc * int64_t(sizeof(float))));
  for (int64_t r = 0; r < rows; r += tile) accum_tile<Max>(x + r * ldx, std::min(tile, rows - r), cc, ldx, acc, mx);
}

// Channel sums (and maxes) one pixel row at a time, in memory order: the first B vd of channels
// keep their sums (and maxes) in registers (for the whole call, or per row tile when C has a
// partial last vector), the channels past them go through acc (and mx) once per row. The same
// values as the tiles and the four-row pass (each channel adds the rows in order; only a NaN's
// sign may differ, where two NaNs meet in the scalar tail). On AMD Zen 4 the tiles' channel-block
// passes over a row tile (128-512 B at a C*4-byte stride) streamed from DRAM at half this loop's
// rate (NOTES-cpu.md items 41-42).
constexpr int kSeqBlocks = W >= 16 ? 14 : W == 8 ? 6 : 0;    // vd in registers: 2 registers each
constexpr int kSeqBlocksMax = W >= 16 ? 9 : W == 8 ? 4 : 0;  // and a vf of maxes: 3 each

template <int B, bool Max>
static void accum_seq(const float* x, int64_t rows, int64_t cc, int64_t ldx, double* acc, float* mx) {
  // Channels past the last whole vector (cc % W) are summed per row tile afterwards (accum_cols),
  // while the tile is in L2: through acc once per row they were a chain of store-to-load round
  // trips (C = 40: 2.6x the tiles).
  const int64_t cv = cc / W * W;
  const int64_t tile = cv < cc ? std::max<int64_t>(1, kAccumTileBytes / (cc * int64_t(sizeof(float)))) : rows;
  for (int64_t r0 = 0; r0 < rows; r0 += tile) {
    const float* xt = x + r0 * ldx;
    const int64_t n = std::min(tile, rows - r0);
    vd a[B];
    vf m[Max ? B : 1];
    for (int b = 0; b < B; ++b) a[b] = vd_ld(acc + b * W);
    if (Max)
      for (int b = 0; b < B; ++b) m[b] = vld(mx + b * W);
    for (int64_t r = 0; r < n; ++r) {
      const float* xr = xt + r * ldx;
      for (int b = 0; b < B; ++b) {
        a[b] = vd_addf_mem(a[b], xr + b * W);
        if (Max) m[b] = vmax(m[b], vld(xr + b * W));
      }
      for (int64_t c = int64_t(B) * W; c < cv; c += W) {
        vd_st(acc + c, vd_addf_mem(vd_ld(acc + c), xr + c));
        if (Max) vst(mx + c, vmax(vld(mx + c), vld(xr + c)));
      }
    }
    for (int b = 0; b < B; ++b) vd_st(acc + b * W, a[b]);
    if (Max)
      for (int b = 0; b < B; ++b) vst(mx + b * W, m[b]);
    accum_cols<Max>(xt, n, cc, ldx, cv, acc, mx);
  }
}

// accum_seq with nb (1..B) register blocks.
template <int B, bool Max>
static void accum_seq_blocks(int nb, const float* x, int64_t rows, int64_t cc, int64_t ldx, double* acc, float* mx) {
  if constexpr (B > 0) {
    if (nb == B) {
      accum_seq<B, Max>(x, rows, cc, ldx, acc, mx);
    } else {
      accum_seq_blocks<B - 1, Max>(nb, x, rows, cc, ldx, acc, mx);
    }
  }
}

// Whether accum_seq takes the call, and with how many register blocks (0: it does not). Measured
// on Zen 4, one thread, 8 samples, against the tiles and the four-row pass (NOTES-cpu.md item
// 42): up to C = 256 as fast or faster wherever x sits (from DRAM 1.6-3x); sums up to C = 512
// over samples past 1 MB (the tiles' range) on AVX-512 also faster from L3. Past that the
// registers hold too small a share of the channels, and the per-row acc (and mx) traffic cost
// 20-45% where x is in the caches (sums C = 1024, maxes C = 512).
template <bool Max>
static int seq_blocks(int64_t span_bytes, int64_t cc) {
  constexpr int kMax = Max ? kSeqBlocksMax : kSeqBlocks;
  if (kMax == 0 || cc < W) return 0;
  // A partial last vector of sums, per tile and channel afterwards, cost more than the four-row
  // pass gains where it is a large share of few channels (C = 24-120 on AVX-512: 1.4-2.4x).
  if (!Max && cc % W != 0 && cc < 8 * W) return 0;
  // Sums of small samples (the four-row pass's range) on AVX2, whose 6 register blocks hold 48
  // channels: C = 240 was 15% slower from the caches (2x faster from DRAM).
  const bool tiled = span_bytes > kAccumTiledOverBytes;
  const bool take = (cc <= 256 && (Max || W >= 16 || cc <= 128 || tiled)) ||
      (!Max && W >= 16 && cc <= 512 && tiled);
  return take ? int(std::min<int64_t>(kMax, cc / W)) : 0;
}

static void k_accum_rows(const float* x, int64_t rows, int64_t cc, int64_t ldx, double* acc, int64_t span_bytes) {
  if (cc <= 0 || rows <= 0) return;  // (the tiles divide by cc)
  span_bytes = std::max(span_bytes, rows * cc * int64_t(sizeof(float)));
  if (cc < W && cc >= 2) return accum_cols_lanes(x, rows, cc, ldx, 0, acc);
  if (const int nb = seq_blocks<false>(span_bytes, cc)) {
    accum_seq_blocks<kSeqBlocks, false>(nb, x, rows, cc, ldx, acc, nullptr);
    return;
  }
  // In memory order where seq_blocks says so (item 42). Otherwise, over 1 MB: row tiles, sums
  // in registers (accum_tiles): on Zen 5 1.3-1.6x the one-row-at-a-time loop where x sits in L3,
  // the same from DRAM (NOTES-cpu.md item 31; on Zen 4 half its rate from DRAM, items 41-42;
  // four interleaved row streams were 10-25% slower from DRAM, item 15). Up to 1 MB:
  // four rows per pass over acc, a quarter of the acc loads and stores, the same additions in
  // the same order.
  if (span_bytes > kAccumTiledOverBytes) {
    accum_tiles<false>(x, rows, cc, ldx, acc, nullptr);
    return;
  }
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* x0 = x + r * ldx;
    const float* x1 = x0 + ldx;
    const float* x2 = x1 + ldx;
    const float* x3 = x2 + ldx;
    int64_t c = 0;
    for (; c + W <= cc; c += W)
      vd_st(acc + c, vd_addf_mem(vd_addf_mem(vd_addf_mem(vd_addf_mem(vd_ld(acc + c), x0 + c), x1 + c), x2 + c), x3 + c));
    for (; c < cc; ++c) acc[c] = (((acc[c] + double(x0[c])) + double(x1[c])) + double(x2[c])) + double(x3[c]);
  }
  for (; r < rows; ++r) {
    const float* xr = x + r * ldx;
    int64_t c = 0;
    for (; c + 2 * W <= cc; c += 2 * W) {
      vd_st(acc + c, vd_addf_mem(vd_ld(acc + c), xr + c));
      vd_st(acc + c + W, vd_addf_mem(vd_ld(acc + c + W), xr + c + W));
    }
    if (W >= 16 && c + W <= cc) {
      vd_st(acc + c, vd_addf_mem(vd_ld(acc + c), xr + c));
      c += W;
    }
    for (; c < cc; ++c) acc[c] += xr[c];
  }
}

static void k_accum_max_rows(const float* x, int64_t rows, int64_t cc, int64_t ldx, double* acc, float* mx, int64_t span_bytes) {
  if (cc <= 0 || rows <= 0) return;  // (the tiles divide by cc)
  span_bytes = std::max(span_bytes, rows * cc * int64_t(sizeof(float)));
  if (const int nb = seq_blocks<true>(span_bytes, cc)) {
    accum_seq_blocks<kSeqBlocksMax, true>(nb, x, rows, cc, ldx, acc, mx);
  } else if (span_bytes > kAccumTiledOverBytes) {
    accum_tiles<true>(x, rows, cc, ldx, acc, mx);
  } else {
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * ldx;
      int64_t c = 0;
      for (; c + W <= cc; c += W) {
        const vf v = vld(xr + c);
        vd_st(acc + c, vd_addf_mem(vd_ld(acc + c), xr + c));
        vst(mx + c, vmax(vld(mx + c), v));
      }
      for (; c < cc; ++c) {
        acc[c] += xr[c];
        mx[c] = xr[c] > mx[c] ? xr[c] : mx[c];
      }
    }
  }
  // acc[c] is NaN after this call whenever one of this call's x[., c] was: rescan those columns.
  for (int64_t c = 0; c < cc; ++c)
    if (std::isnan(acc[c]) && !std::isnan(mx[c])) mx[c] = nan_or(mx[c], x + c, rows, ldx, nullptr);
}

// One NaN for every NaN output of the output passes (vcanon / canon_f): where two NaNs meet (x's
// and a NaN gate, or x * s's and the residual's or CBAM's spatial gate's), x86 keeps one operand's
// and the compiler picks the operand order per loop, so the head, the vector loops and the tail
// gave different NaN bits, and which loop an element takes follows y's address and the task split
// (a review: SE NHWC 1x40x3x3 alone and as sample 1 of 3 differed in 27 of 360 NaN signs). As
// fc_block's kCanonicalNaN for the gates.
static inline float canon_f(float v) { return v == v ? v : kCanonicalNaNf; }

// Whether p sits on a vector boundary (W floats): streaming stores need it.
static inline bool vec_aligned(const float* p) {
  return (reinterpret_cast<uintptr_t>(p) & (W * sizeof(float) - 1)) == 0;
}

// Streaming (non-temporal) stores: for outputs far larger than the caches, skipping the
// read-for-ownership of y saves a third of the traffic. Stores before y is aligned and the tail
// are ordinary; vfence orders the streamed stores before the task reports completion.
// Ordinary stores are aligned the same way on runs of kPeelMin floats and more: a store that
// splits a cache line costs more than the scalar head (Node's arrays sit 16 bytes off a line, or
// anywhere on one; on a Xeon VM SE 1x240x28x28 ran 45-48 -> 28-37 us; NOTES-cpu.md item 58).
static constexpr int64_t kPeelMin = 8 * W;

// W floats of y at p: v with one NaN (vcanon), streamed when NT (the output passes' store).
template <bool NT>
static inline void put_canon(float* p, vf v) {
  if (NT) {
    vst_nt(p, vcanon(v));
  } else {
    vst(p, vcanon(v));
  }
}

// The row passes, flat. The rows of a call are one contiguous run of rows * cc floats: scalars up
// to the first W-aligned y, then aligned W-wide stores (non-temporal when streaming) whatever C
// and y's offset (Node's large arrays sit 16 bytes off a cache line), then a scalar tail. A
// vector's channels are s[c, c + W) unless it crosses a row end; then its lanes' s (and g) are
// gathered (once a row for C >= W). Per-row alignment left such arrays unstreamed (2.4x the time
// on a Xeon VM's DRAM-bound rows, NOTES-cpu.md item 57) and their ordinary stores splitting
// lines (item 58). Runs under kPeelMin floats skip the head (stores unaligned, never streamed).
// The same products in every loop, and one NaN (canon_f), so an element's bits do not depend on
// the loop it takes. What follows x[i] * s[c] is the pass's Op (SE/ECA's residual and relu,
// CBAM's spatial gate of the element's row): `one` for a scalar, `lanes` for a vector whose row
// gate is gv (the row's, or gathered lane by lane where the vector crosses a row end); kPairs:
// whole vectors two at a time.
template <bool NT, class Op>
static void scale_rows_walk(const float* x, const float* s, float* y, int64_t rows, int64_t cc, const Op& op) {
  const int64_t n = rows * cc;
  int64_t i = 0, c = 0, row = 0;  // element i is (row, c)
  auto one = [&]() {
    y[i] = canon_f(op.one(x[i] * s[c], i, row));
    ++i;
    if (++c == cc) c = 0, ++row;
  };
  if (NT || n >= kPeelMin)  // (a run this short is not worth the scalar head)
    while (i < n && !vec_aligned(y + i)) one();
  alignas(64) float sw[W], gw[W];
  // A vector that crosses a row end takes its lanes' s from s repeated (sp[k] = s[k % cc]: one
  // load) instead of W scalar writes read back as a vector, a store-forwarding stall each time:
  // narrow rows cross in most vectors (ECA NHWC 8x8x56x56 ran 4-7x its NCHW time, SE 1x24x112x112
  // NHWC 2.4x its time with the pattern), wider ones once a row. The channel the next vector
  // starts on: c + W - cc on the next row, or from a table for rows narrower than W. Ops without
  // a row gate (SE, ECA) and C up to kPatternC, where copying s once per call costs little.
  constexpr int64_t kPatternC = 1024;
  alignas(64) float sp[kPatternC + W];
  int8_t next_c[W], rows_on[W];
  const bool pattern = !Op::kRowGate && W > 1 && cc <= kPatternC && n - i >= 2 * W && (cc < 4 * W || n >= 4 * cc);
  if (pattern) {
    for (int64_t k = 0; k < cc; ++k) sp[k] = s[k];
    for (int64_t k = cc; k < cc + W - 1; ++k) sp[k] = sp[k - cc];  // s again, as often as W needs
    for (int64_t k = 0; k < cc && cc < W; ++k) {
      next_c[k] = int8_t((k + W) % cc);
      rows_on[k] = int8_t((k + W) / cc);
    }
  }
  while (n - i >= W) {
    // The whole vectors left in this row (two at a time where the Op takes pairs).
    const int64_t m = std::min(cc - c, n - i) / W;
    const vf gv = op.row_gate(row);
    const float* sr = s + c;
    int64_t j = 0;
    if (Op::kPairs)
      for (; j + 2 * W <= m * W; j += 2 * W) {
        const vf a = op.lanes(vmul(vld(x + i + j), vld(sr + j)), i + j, gv);
        const vf b = op.lanes(vmul(vld(x + i + j + W), vld(sr + j + W)), i + j + W, gv);
        put_canon<NT>(y + i + j, a);
        put_canon<NT>(y + i + j + W, b);
      }
    for (; j < m * W; j += W) put_canon<NT>(y + i + j, op.lanes(vmul(vld(x + i + j), vld(sr + j)), i + j, gv));
    i += j;
    c += j;
    if (c == cc) {
      c = 0;
      ++row;
      continue;
    }
    if (n - i < W) break;
    if (pattern) {  // the vector crosses a row end: its s from the pattern
      put_canon<NT>(y + i, op.lanes(vmul(vld(x + i), vld(sp + c)), i, op.gathered(gw)));
      if (cc >= W) {
        c += W - cc;
        ++row;
      } else {
        row += rows_on[c];
        c = next_c[c];
      }
      i += W;
      continue;
    }
    for (int l = 0; l < W; ++l) {  // the vector crosses a row end
      sw[l] = s[c];
      gw[l] = op.gate_of(row);
      if (++c == cc) c = 0, ++row;
    }
    put_canon<NT>(y + i, op.lanes(vmul(vld(x + i), vld(sw)), i, op.gathered(gw)));
    i += W;
  }
  while (i < n) one();
  if (NT) vfence();
}

// SE's and ECA's output: x * s[c], + the residual r, then relu. Whole vectors two at a time.
template <bool HasR, bool Relu>
struct ResidualReluOp {
  static constexpr bool kPairs = true;
  static constexpr bool kRowGate = false;  // gathered() ignores its lanes
  const float* r;
  float one(float v, int64_t i, int64_t) const {
    if (HasR) v += r[i];
    return Relu ? (v < 0.f ? 0.f : v) : v;
  }
  vf lanes(vf a, int64_t i, vf) const {
    if (HasR) a = vadd(a, vld(r + i));
    return Relu ? vrelu(a) : a;
  }
  vf row_gate(int64_t) const { return vzero(); }
  float gate_of(int64_t) const { return 0.f; }
  vf gathered(const float*) const { return vzero(); }
};

// CBAM's output: (x * s[c]) * g[row], g the spatial gate of the element's position. One vector
// at a time: in pairs its streamed pass ran 13-19% slower with y 16 bytes off a line (AVX2, 8 x
// 256 x 56 x 56; a review of the merged walker) and 9-18% faster aligned; one at a time is what
// it ran before the merge.
struct SpatialGateOp {
  static constexpr bool kPairs = false;
  static constexpr bool kRowGate = true;
  const float* g;
  float one(float v, int64_t, int64_t row) const { return v * g[row]; }
  vf lanes(vf a, int64_t, vf gv) const { return vmul(a, gv); }
  vf row_gate(int64_t row) const { return vset(g[row]); }
  float gate_of(int64_t row) const { return g[row]; }
  vf gathered(const float* gw) const { return vld(gw); }
};

// Calls walk(std::bool_constant<stream>, ResidualReluOp<r != null, relu>{r}): the output passes'
// run-time switches made template arguments, once for the row and the plane passes.
template <class Walk>
static void residual_relu_pick(const float* r, bool relu, bool stream, Walk&& walk) {
  const auto with = [&](const auto& op) {
    if (stream) {
      walk(std::true_type{}, op);
    } else {
      walk(std::false_type{}, op);
    }
  };
  if (r) {
    relu ? with(ResidualReluOp<true, true>{r}) : with(ResidualReluOp<true, false>{r});
  } else {
    relu ? with(ResidualReluOp<false, true>{r}) : with(ResidualReluOp<false, false>{r});
  }
}

static void k_scale_rows(const float* x, const float* s, const float* r, float* y, int64_t rows,
                         int64_t cc, bool relu, bool stream) {
  residual_relu_pick(r, relu, stream, [&](auto nt, const auto& op) { scale_rows_walk<decltype(nt)::value>(x, s, y, rows, cc, op); });
}

// SE's and ECA's NCHW output: y[p, i] = x[p, i] * s[p] (+ r[p, i]) (relu) over `planes`
// contiguous planes of hw floats, walked flat as the row passes are: scalars up to the first
// W-aligned y, then aligned W-wide stores (non-temporal when streaming), a vector that crosses a
// plane end taking s[p] in its first lanes and s[p + 1] in the rest (hw >= W: it reaches no
// further), then a scalar tail. One call per plane aligned nothing under kPeelMin floats (7x7
// planes: every other store split a line) and paid a call and a tail per plane; 2048 planes of 49
// floats ran 15.5 -> 10.6 us flat on a Xeon VM (one thread, in L2; NOTES-cpu.md item 72). Planes
// narrower than W go element by element. The same products in every loop, one NaN (canon_f).
template <bool NT, class Op>
static void scale_planes_walk(const float* x, const float* s, float* y, int64_t planes, int64_t hw, const Op& op) {
  const int64_t n = planes * hw;
  int64_t i = 0, p = 0, o = 0;  // element i is element o of plane p
  auto one = [&]() {
    y[i] = canon_f(op.one(x[i] * s[p], i, p));
    ++i;
    if (++o == hw) o = 0, ++p;
  };
  if (hw >= W) {
    if (NT || n >= kPeelMin)  // (a run this short is not worth the scalar head)
      while (i < n && !vec_aligned(y + i)) one();
    while (n - i >= W) {
      const int64_t left = hw - o;  // of plane p
      if (left < W) {  // the vector crosses into plane p + 1
        const vf vs = vsel_lo(int(left), vset(s[p]), vset(s[p + 1]));
        put_canon<NT>(y + i, op.lanes(vmul(vld(x + i), vs), i, vzero()));
        i += W;
        ++p;
        o = W - left;
        continue;
      }
      const vf vs = vset(s[p]);
      const int64_t m = std::min(left, n - i) / W * W;
      int64_t j = 0;
      for (; j + 2 * W <= m; j += 2 * W) {
        const vf a = op.lanes(vmul(vld(x + i + j), vs), i + j, vzero());
        const vf b = op.lanes(vmul(vld(x + i + j + W), vs), i + j + W, vzero());
        put_canon<NT>(y + i + j, a);
        put_canon<NT>(y + i + j + W, b);
      }
      if (j < m) put_canon<NT>(y + i + j, op.lanes(vmul(vld(x + i + j), vs), i + j, vzero()));
      i += m;
      o += m;
      if (o == hw) o = 0, ++p;
    }
  }
  while (i < n) one();
  if (NT) vfence();
}

static void k_scale_planes(const float* x, const float* s, const float* r, float* y, int64_t planes, int64_t hw,
                           bool relu, bool stream) {
  residual_relu_pick(r, relu, stream, [&](auto nt, const auto& op) { scale_planes_walk<decltype(nt)::value>(x, s, y, planes, hw, op); });
}

// Register-blocked FC: R weight rows x G samples per block, R * G accumulators of WH doubles.
// Each weight vector is converted once and used for G samples, each x vector loaded once and used
// for R rows, so per R * G multiply-adds there are R conversions and G loads (the old per-row
// loop did one load per multiply-add and converted each weight once per 4 samples: it ran at
// ~40% of the fp64 FMA rate). Products and sums in double.

template <int R, int G>
static inline void fc_block(const float* w, const float* b, int64_t k, const double* x, int64_t ldx, double* y,
                            int64_t ldy, int64_t row, int64_t n) {
  vh acc[R][G];
  for (int r = 0; r < R; ++r)
    for (int g = 0; g < G; ++g) acc[r][g] = vh_zero();
  const float* wr = w + row * k;
  const double* xn = x + n * ldx;
  int64_t i = 0;
  for (; i + WH <= k; i += WH) {
    vh wv[R];
    for (int r = 0; r < R; ++r) wv[r] = vh_ldf(wr + r * k + i);
    for (int g = 0; g < G; ++g) {
      const vh xv = vh_ld(xn + g * ldx + i);
      for (int r = 0; r < R; ++r) acc[r][g] = vh_fma(acc[r][g], wv[r], xv);
    }
  }
  for (int r = 0; r < R; ++r) {
    const double bias = b ? double(b[row + r]) : 0.0;
    for (int g = 0; g < G; ++g) {
      double t = vh_sum(acc[r][g]);
      for (int64_t j = i; j < k; ++j) t += double(wr[r * k + j]) * xn[g * ldx + j];
      // One NaN for every NaN result: a dot that meets two different NaNs (x's, and Inf - Inf)
      // keeps whichever the multiply-add's operand order picks, and that order is the register
      // blocking's (G samples at a time), so the bits followed the batch (an attack: a gate's
      // NaN sign flipped with the sample's position in the batch).
      const double v = t + bias;
      y[(n + g) * ldy + row + r] = v == v ? v : kCanonicalNaN;
    }
  }
}

// Rows [r0, r1) for samples [n0, n0 + G): blocks of R rows, then single rows.
template <int R, int G>
static void fc_rows_g(const float* w, const float* b, int64_t k, const double* x, int64_t ldx, double* y,
                      int64_t ldy, int64_t r0, int64_t r1, int64_t n0) {
  int64_t row = r0;
  for (; row + R <= r1; row += R) fc_block<R, G>(w, b, k, x, ldx, y, ldy, row, n0);
  for (; row < r1; ++row) fc_block<1, G>(w, b, k, x, ldx, y, ldy, row, n0);
}

static void k_fc(const float* w, const float* b, int64_t k, const double* x, int64_t ldx, int64_t nb,
                 double* y, int64_t ldy, int64_t r0, int64_t r1) {
  // 8 accumulators (2 per FMA latency x 2 pipes, 16 registers on AVX2); with 32 registers
  // (AVX-512) 4 rows x 4 samples, each converted weight vector used 4 times: 1.25-1.3x the 4 x 2
  // blocks at nb = 8 (NOTES-cpu.md item 23). Every output's own sum runs in the same order
  // whatever the blocking (same bits). Rows in chunks so that a chunk's weights stay in L1/L2
  // while every sample group passes over them.
  const int64_t kChunkRows = std::max<int64_t>(8, (int64_t(16) << 10) / (int64_t(sizeof(float)) * std::max<int64_t>(k, 1)) / 8 * 8);
  for (int64_t c0 = r0; c0 < r1; c0 += kChunkRows) {
    const int64_t c1 = std::min(r1, c0 + kChunkRows);
    int64_t n = 0;
    if (WH >= 8)
      for (; n + 4 <= nb; n += 4) fc_rows_g<4, 4>(w, b, k, x, ldx, y, ldy, c0, c1, n);
    for (; n + 2 <= nb; n += 2) fc_rows_g<4, 2>(w, b, k, x, ldx, y, ldy, c0, c1, n);
    if (n < nb) fc_rows_g<8, 1>(w, b, k, x, ldx, y, ldy, c0, c1, n);
  }
}

static void k_chan_stats_planes(const float* x, const float* s, int64_t cc, int64_t hw, int64_t n,
                                double* mean, double* max) {
  const int64_t kChunk = 256;
  alignas(64) double sum_d[kChunk];
  alignas(64) float max_f[kChunk];
  const double inv_c = 1.0 / double(cc);
  for (int64_t q0 = 0; q0 < n; q0 += kChunk) {
    const int64_t len = std::min(kChunk, n - q0);
    for (int64_t q = 0; q < len; ++q) {
      max_f[q] = -INFINITY;
      sum_d[q] = 0.0;
    }
    // Four channels per pass over the chunk's sums and maxes: a quarter of their loads and
    // stores, the same operations in the same order (bit-identical to one channel at a time).
    int64_t c = 0;
    for (; c + 4 <= cc; c += 4) {
      const float* x0 = x + c * hw + q0;
      const float* x1 = x0 + hw;
      const float* x2 = x1 + hw;
      const float* x3 = x2 + hw;
      const vf s0 = vset(s[c]), s1 = vset(s[c + 1]), s2 = vset(s[c + 2]), s3 = vset(s[c + 3]);
      int64_t q = 0;
      for (; q + W <= len; q += W) {
        const vf v0 = vmul(vld(x0 + q), s0), v1 = vmul(vld(x1 + q), s1), v2 = vmul(vld(x2 + q), s2),
                 v3 = vmul(vld(x3 + q), s3);
        vd_st(sum_d + q, vd_addf(vd_addf(vd_addf(vd_addf(vd_ld(sum_d + q), v0), v1), v2), v3));
        vst(max_f + q, vmax(vmax(vmax(vmax(vld(max_f + q), v0), v1), v2), v3));
      }
      for (; q < len; ++q) {
        const float* xs[4] = {x0, x1, x2, x3};
        for (int j = 0; j < 4; ++j) {
          const float v = xs[j][q] * s[c + j];
          sum_d[q] += v;
          max_f[q] = v > max_f[q] ? v : max_f[q];
        }
      }
    }
    for (; c < cc; ++c) {
      const float* xc = x + c * hw + q0;
      const vf vs = vset(s[c]);
      int64_t q = 0;
      for (; q + W <= len; q += W) {
        const vf v = vmul(vld(xc + q), vs);
        vd_st(sum_d + q, vd_addf(vd_ld(sum_d + q), v));
        vst(max_f + q, vmax(vld(max_f + q), v));
      }
      for (; q < len; ++q) {
        const float v = xc[q] * s[c];
        sum_d[q] += v;
        max_f[q] = v > max_f[q] ? v : max_f[q];
      }
    }
    for (int64_t q = 0; q < len; ++q) {
      mean[q0 + q] = sum_d[q] * inv_c;
      max[q0 + q] = std::isnan(sum_d[q]) ? nan_or(max_f[q], x + q0 + q, cc, hw, s) : max_f[q];
    }
  }
}

static void k_chan_stats_rows(const float* x, const float* s, int64_t cc, int64_t rows, double* mean,
                              double* max) {
  const double inv_c = 1.0 / double(cc);
  for (int64_t row = 0; row < rows; ++row) {
    const float* xr = x + row * cc;
    vd a0 = vd_zero(), a1 = vd_zero();
    vf m0 = vset(-INFINITY), m1 = m0;
    int64_t c = 0;
    for (; c + 2 * W <= cc; c += 2 * W) {
      const vf v0 = vmul(vld(xr + c), vld(s + c)), v1 = vmul(vld(xr + c + W), vld(s + c + W));
      a0 = vd_addf(a0, v0);
      a1 = vd_addf(a1, v1);
      m0 = vmax(m0, v0);
      m1 = vmax(m1, v1);
    }
    if (W >= 16 && c + W <= cc) {
      const vf v0 = vmul(vld(xr + c), vld(s + c));
      a0 = vd_addf(a0, v0);
      m0 = vmax(m0, v0);
      c += W;
    }
    double total = vd_sum(a0) + vd_sum(a1);
    float mx = vlanes_max(vmax(m0, m1));
    for (; c < cc; ++c) {
      const float v = xr[c] * s[c];
      total += v;
      mx = v > mx ? v : mx;
    }
    mean[row] = total * inv_c;
    max[row] = std::isnan(total) ? nan_or(mx, xr, cc, 1, s) : mx;
  }
}

// CBAM's output pass; streaming stores as in scale_planes_walk (outputs of g_stream_min_bytes and more).
template <bool NT>
static void scale_gate_plane_t(const float* x, float s, const float* g, float* y, int64_t n) {
  const vf vs = vset(s);
  int64_t i = 0;
  if (NT || n >= kPeelMin)
    for (; i < n && !vec_aligned(y + i); ++i) y[i] = canon_f((x[i] * s) * g[i]);
  for (; i + W <= n; i += W) {
    const vf v = vmul(vmul(vld(x + i), vs), vld(g + i));
    if (NT) {
      vst_nt(y + i, vcanon(v));
    } else {
      vst(y + i, vcanon(v));
    }
  }
  for (; i < n; ++i) y[i] = canon_f((x[i] * s) * g[i]);
  if (NT) vfence();
}

static void k_scale_gate_plane(const float* x, float s, const float* g, float* y, int64_t n, bool stream) {
  stream ? scale_gate_plane_t<true>(x, s, g, y, n) : scale_gate_plane_t<false>(x, s, g, y, n);
}

static void k_scale_gate_rows(const float* x, const float* s, const float* g, float* y, int64_t rows,
                              int64_t cc, bool stream) {
  const SpatialGateOp op{g};
  stream ? scale_rows_walk<true>(x, s, y, rows, cc, op) : scale_rows_walk<false>(x, s, y, rows, cc, op);
}

static void k_gate_rows(Gate g, const double* v, float* s, int64_t n) {
  if (g == Gate::Sigmoid) {
    sigmoid_rows(v, s, n);
    // the vectorised exp's NaN keeps whichever bits it met: one NaN, as gate_apply's
    for (int64_t i = 0; i < n; ++i) s[i] = canon_f(s[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) s[i] = float(gate_apply(g, v[i]));
  }
}

// CBAM's spatial conv over zero-padded maps, flattened (cbam.cpp): out[j] = sum over ch < 2,
// ky < k, kx < k, in that order, of double(wk[(ch * k + ky) * k + kx]) * p_ch[j + ky * wp + kx],
// for j < n. Four registers of outputs per pass over the 2 k^2 taps, then one, then scalars.
template <int R>
static inline void conv2_block(const double* p0, const double* p1, int64_t wp, const float* wk, int k, double* out) {
  vh a[R];
  for (int r = 0; r < R; ++r) a[r] = vh_zero();
  for (int ch = 0; ch < 2; ++ch) {
    const double* p = ch == 0 ? p0 : p1;
    const float* wc = wk + ch * k * k;
    for (int ky = 0; ky < k; ++ky) {
      for (int kx = 0; kx < k; ++kx) {
        const vh wv = vh_set(double(wc[ky * k + kx]));
        const double* q = p + ky * wp + kx;
        for (int r = 0; r < R; ++r) a[r] = vh_fma(a[r], wv, vh_ld(q + r * WH));
      }
    }
  }
  for (int r = 0; r < R; ++r) vh_st(out + r * WH, a[r]);
}

static void k_conv2_flat(const double* p0, const double* p1, int64_t wp, const float* wk, int k, int64_t n,
                         double* out) {
  int64_t j = 0;
  for (; j + 4 * WH <= n; j += 4 * WH) conv2_block<4>(p0 + j, p1 + j, wp, wk, k, out + j);
  for (; j + WH <= n; j += WH) conv2_block<1>(p0 + j, p1 + j, wp, wk, k, out + j);
  for (; j < n; ++j) {
    double a = 0.0;
    for (int ch = 0; ch < 2; ++ch) {
      const double* p = (ch == 0 ? p0 : p1) + j;
      for (int t = 0; t < k * k; ++t) a += double(wk[ch * k * k + t]) * p[(t / k) * wp + t % k];
    }
    out[j] = a;
  }
}

static const Kernels kTable = {
    kIsaName,       k_sum,     k_sum_max, k_accum_rows,        k_accum_max_rows,   k_scale_planes,
    k_scale_rows,   k_fc,      k_chan_stats_planes, k_chan_stats_rows, k_scale_gate_plane,
    k_scale_gate_rows, k_gate_rows,         k_conv2_flat,
};
