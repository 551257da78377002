// Instantiates kernels_impl.h once per instruction set and picks the best one at run time.
// x86-64: SSE2 (baseline, always), AVX2+FMA and AVX-512 (F, DQ, VL, BW) (GCC/Clang only, each
// behind a target region and __builtin_cpu_supports). arm64: NEON. Anything else: scalar.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "common.h"

// x86-64 always has SSE2; 32-bit x86 only when the compiler targets it.
// SQEX_CPU_SCALAR_ONLY (testing): build the portable scalar table alone.
#if defined(SQEX_CPU_SCALAR_ONLY)
#elif defined(__x86_64__) || defined(_M_X64) || (defined(__i386__) && defined(__SSE2__)) || \
    (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#define SQEX_X86 1
#include <immintrin.h>
#endif
#if (defined(__aarch64__) || defined(_M_ARM64)) && !defined(SQEX_CPU_SCALAR_ONLY)
#define SQEX_NEON 1
#include <arm_neon.h>
#endif
#if SQEX_X86 && (defined(__GNUC__) || defined(__clang__))
#define SQEX_HAVE_AVX2 1
#endif

namespace sqex {
namespace cpu {

namespace isa_scalar {
typedef float vf;
static const int W = 1;
static const char* const kIsaName = "scalar";
static inline vf vld(const float* p) { return *p; }
static inline void vst(float* p, vf v) { *p = v; }
static inline void vst_nt(float* p, vf v) { *p = v; }
static inline void vfence() {}
static inline vf vset(float s) { return s; }
static inline vf vzero() { return 0.f; }
static inline vf vadd(vf a, vf b) { return a + b; }
static inline vf vmul(vf a, vf b) { return a * b; }
static inline vf vmax(vf a, vf b) { return a > b ? a : b; }
static inline vf vrelu(vf v) { return v < 0.f ? 0.f : v; }
static inline vf vcanon(vf v) { return v == v ? v : kCanonicalNaNf; }
static inline vf vsel_lo(int k, vf a, vf b) { return k > 0 ? a : b; }
typedef double vd;
static inline vd vd_zero() { return 0.0; }
static inline vd vd_ld(const double* p) { return *p; }
static inline void vd_st(double* p, vd v) { *p = v; }
static inline vd vd_addf(vd a, vf v) { return a + double(v); }
static inline vd vd_fmaf(vd a, vf v, const double* p) { return a + double(v) * p[0]; }
static inline vd vd_addf_mem(vd a, const float* p) { return a + double(*p); }
static inline double vd_sum(vd a) { return a; }
typedef double vh;
static const int WH = 1;
static inline vh vh_zero() { return 0.0; }
static inline vh vh_ldf(const float* p) { return double(*p); }
static inline vh vh_ld(const double* p) { return *p; }
static inline vh vh_set(double v) { return v; }
static inline void vh_st(double* p, vh v) { *p = v; }
static inline vh vh_fma(vh a, vh b, vh c) { return a + b * c; }
static inline double vh_sum(vh a) { return a; }
// s[i] = float(1 / (1 + exp(-v[i]))), as gate_apply.
static inline void sigmoid_rows(const double* v, float* s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) s[i] = float(gate_apply(Gate::Sigmoid, v[i]));
}
#include "kernels_impl.h"
}  // namespace isa_scalar

#if SQEX_X86
namespace isa_sse2 {
typedef __m128 vf;
static const int W = 4;
static const char* const kIsaName = "sse2";
static inline vf vld(const float* p) { return _mm_loadu_ps(p); }
static inline void vst(float* p, vf v) { _mm_storeu_ps(p, v); }
static inline void vst_nt(float* p, vf v) { _mm_stream_ps(p, v); }
static inline void vfence() { _mm_sfence(); }
static inline vf vset(float s) { return _mm_set1_ps(s); }
static inline vf vzero() { return _mm_setzero_ps(); }
static inline vf vadd(vf a, vf b) { return _mm_add_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm_mul_ps(a, b); }
static inline vf vmax(vf a, vf b) { return _mm_max_ps(a, b); }
// MAXPS returns its second operand when either is NaN: max(0, v) keeps a NaN v.
static inline vf vrelu(vf v) { return _mm_max_ps(_mm_setzero_ps(), v); }
static inline vf vcanon(vf v) {
  const __m128 nan = _mm_cmpunord_ps(v, v);
  return _mm_or_ps(_mm_and_ps(nan, _mm_set1_ps(kCanonicalNaNf)), _mm_andnot_ps(nan, v));
}
// Lanes [0, k) from a, the rest from b.
static inline vf vsel_lo(int k, vf a, vf b) {
  const __m128 lo = _mm_castsi128_ps(_mm_cmplt_epi32(_mm_setr_epi32(0, 1, 2, 3), _mm_set1_epi32(k)));
  return _mm_or_ps(_mm_and_ps(lo, a), _mm_andnot_ps(lo, b));
}
struct vd {
  __m128d lo, hi;
};
static inline vd vd_zero() { return {_mm_setzero_pd(), _mm_setzero_pd()}; }
static inline vd vd_ld(const double* p) { return {_mm_loadu_pd(p), _mm_loadu_pd(p + 2)}; }
static inline void vd_st(double* p, vd v) {
  _mm_storeu_pd(p, v.lo);
  _mm_storeu_pd(p + 2, v.hi);
}
static inline vd vd_addf(vd a, vf v) {
  return {_mm_add_pd(a.lo, _mm_cvtps_pd(v)), _mm_add_pd(a.hi, _mm_cvtps_pd(_mm_movehl_ps(v, v)))};
}
static inline vd vd_addf_mem(vd a, const float* p) { return vd_addf(a, vld(p)); }
static inline vd vd_fmaf(vd a, vf v, const double* p) {
  return {_mm_add_pd(a.lo, _mm_mul_pd(_mm_cvtps_pd(v), _mm_loadu_pd(p))),
          _mm_add_pd(a.hi, _mm_mul_pd(_mm_cvtps_pd(_mm_movehl_ps(v, v)), _mm_loadu_pd(p + 2)))};
}
static inline double vd_sum(vd a) {
  __m128d s = _mm_add_pd(a.lo, a.hi);
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
typedef __m128d vh;
static const int WH = 2;
static inline vh vh_zero() { return _mm_setzero_pd(); }
static inline vh vh_ldf(const float* p) {
  return _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
static inline vh vh_ld(const double* p) { return _mm_loadu_pd(p); }
static inline vh vh_set(double v) { return _mm_set1_pd(v); }
static inline void vh_st(double* p, vh v) { _mm_storeu_pd(p, v); }
static inline vh vh_fma(vh a, vh b, vh c) { return _mm_add_pd(a, _mm_mul_pd(b, c)); }
static inline double vh_sum(vh a) { return _mm_cvtsd_f64(_mm_add_sd(a, _mm_unpackhi_pd(a, a))); }
// s[i] = float(1 / (1 + exp(-v[i]))), as gate_apply.
static inline void sigmoid_rows(const double* v, float* s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) s[i] = float(gate_apply(Gate::Sigmoid, v[i]));
}
#include "kernels_impl.h"
}  // namespace isa_sse2
#endif

#if SQEX_HAVE_AVX2
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace isa_avx2 {
typedef __m256 vf;
static const int W = 8;
static const char* const kIsaName = "avx2";
static inline vf vld(const float* p) { return _mm256_loadu_ps(p); }
static inline void vst(float* p, vf v) { _mm256_storeu_ps(p, v); }
static inline void vst_nt(float* p, vf v) { _mm256_stream_ps(p, v); }
static inline void vfence() { _mm_sfence(); }
static inline vf vset(float s) { return _mm256_set1_ps(s); }
static inline vf vzero() { return _mm256_setzero_ps(); }
static inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
// VMAXPS returns its second operand when either is NaN: max(0, v) keeps a NaN v.
static inline vf vrelu(vf v) { return _mm256_max_ps(_mm256_setzero_ps(), v); }
static inline vf vcanon(vf v) {
  return _mm256_blendv_ps(v, _mm256_set1_ps(kCanonicalNaNf), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}
static inline vf vsel_lo(int k, vf a, vf b) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_blendv_ps(b, a, _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(k), lane)));
}
struct vd {
  __m256d lo, hi;
};
static inline vd vd_zero() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }
static inline vd vd_ld(const double* p) { return {_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)}; }
static inline void vd_st(double* p, vd v) {
  _mm256_storeu_pd(p, v.lo);
  _mm256_storeu_pd(p + 4, v.hi);
}
static inline vd vd_addf(vd a, vf v) {
  const __m256d one = _mm256_set1_pd(1.0);
  return {_mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), one, a.lo),
          _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), one, a.hi)};
}
// The conversions straight from memory (no 256-bit load + extract) and the add as an FMA by 1
// (the same correctly rounded a + v, on the FMA pipes beside the conversions): 1.4-1.5x the
// summing rate of vd_addf(a, vld(p)) on L2-resident data (NOTES-cpu.md item 14).
static inline vd vd_addf_mem(vd a, const float* p) {
  const __m256d one = _mm256_set1_pd(1.0);
  return {_mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(p)), one, a.lo),
          _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(p + 4)), one, a.hi)};
}
static inline vd vd_fmaf(vd a, vf v, const double* p) {
  return {_mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), _mm256_loadu_pd(p), a.lo),
          _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), _mm256_loadu_pd(p + 4), a.hi)};
}
static inline double vd_sum(vd a) {
  __m256d d = _mm256_add_pd(a.lo, a.hi);
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(d), _mm256_extractf128_pd(d, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
typedef __m256d vh;
static const int WH = 4;
static inline vh vh_zero() { return _mm256_setzero_pd(); }
// VCVTPS2PD from memory: no 128-bit extract of a loaded 256-bit register.
static inline vh vh_ldf(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
static inline vh vh_ld(const double* p) { return _mm256_loadu_pd(p); }
static inline vh vh_set(double v) { return _mm256_set1_pd(v); }
static inline void vh_st(double* p, vh v) { _mm256_storeu_pd(p, v); }
static inline vh vh_fma(vh a, vh b, vh c) { return _mm256_fmadd_pd(b, c, a); }
static inline double vh_sum(vh a) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
// s[i] = float(1 / (1 + exp(-v[i]))) four lanes at a time: glibc's exp costs ~3 ns a call, 16K
// gates a call for SE 8x2048x7x7. exp(t) = 2^k * p(r), k = round(t / ln 2), r = t - k ln 2
// (two-part ln 2), p the degree-11 Taylor polynomial (|r| <= 0.35: truncation < 2e-16 relative).
// Same results as the scalar path to ~1 ulp of double, i.e. the same float gate but for rare
// rounding ties. t is clamped to [-708, 708] for the arithmetic (2^k stays a normal double);
// t > 708 gives exp = inf, so s = 0 (sigmoid(-inf) = 0; below -708 the true s is < 1e-307);
// t < -708 gives s = 1 to double precision. A NaN t passes the clamp (MINPD/MAXPD return their
// second operand, t) and the polynomial: s = NaN, as torch.sigmoid(NaN).
// The last n % 4 values go through the same lanes (padded), not through gate_apply: the two can
// round to different floats, and which rows are the tail depends on the FC's row split, i.e. on
// the thread count and the batch (a parity audit found a gate 1 ulp apart between N = 1 and 16).
static inline void sigmoid4(const double* v, float* s) {
  const __m256d log2e = _mm256_set1_pd(1.4426950408889634), ln2_hi = _mm256_set1_pd(6.93147180369123816490e-01),
                ln2_lo = _mm256_set1_pd(1.90821492927058770002e-10), hi = _mm256_set1_pd(708.0),
                lo = _mm256_set1_pd(-708.0), one = _mm256_set1_pd(1.0), inf = _mm256_set1_pd(INFINITY);
  static const double c[12] = {1.0,         1.0,          1.0 / 2,       1.0 / 6,        1.0 / 24,        1.0 / 120,
                               1.0 / 720,   1.0 / 5040,   1.0 / 40320,   1.0 / 362880,   1.0 / 3628800,   1.0 / 39916800};
  const __m256d t0 = _mm256_sub_pd(_mm256_setzero_pd(), _mm256_loadu_pd(v));  // -v
  const __m256d t = _mm256_max_pd(lo, _mm256_min_pd(hi, t0));
  const __m256d k = _mm256_round_pd(_mm256_mul_pd(t, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256d r = _mm256_fnmadd_pd(k, ln2_lo, _mm256_fnmadd_pd(k, ln2_hi, t));
  __m256d p = _mm256_set1_pd(c[11]);
  for (int j = 10; j >= 0; --j) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(c[j]));
  // 2^k from the exponent bits; k in [-1022, 1022] after the clamp (a NaN k gives garbage
  // bits, but p is already NaN).
  const __m128i k32 = _mm256_cvtpd_epi32(k);
  const __m256i bits = _mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(k32), _mm256_set1_epi64x(1023)), 52);
  __m256d e = _mm256_mul_pd(p, _mm256_castsi256_pd(bits));
  e = _mm256_blendv_pd(e, inf, _mm256_cmp_pd(t0, hi, _CMP_GT_OQ));
  const __m256d sv = _mm256_div_pd(one, _mm256_add_pd(one, e));
  _mm_storeu_ps(s, _mm256_cvtpd_ps(sv));
}
static void sigmoid_rows(const double* v, float* s, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) sigmoid4(v + i, s + i);
  if (i < n) {
    double tv[4] = {0.0, 0.0, 0.0, 0.0};
    float ts[4];
    for (int64_t j = i; j < n; ++j) tv[j - i] = v[j];
    sigmoid4(tv, ts);
    for (int64_t j = i; j < n; ++j) s[j] = ts[j - i];
  }
}
#include "kernels_impl.h"
}  // namespace isa_avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

#if SQEX_HAVE_AVX2
// AVX-512 (F, DQ, VL): 16 float / 8 double lanes. On cores with full-width 512-bit units (Zen 5
// server, Intel server cores) the float -> double conversions and the fp64 FMAs that bound the
// pooling sums and the excitation FCs go through twice the lanes per instruction.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")
// GCC 12 reports the self-initialised __Y of _mm512_undefined_ps (avx512fintrin.h) as "used
// uninitialized" wherever it is inlined here (-Wall, as node-gyp builds): a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace isa_avx512 {
typedef __m512 vf;
static const int W = 16;
static const char* const kIsaName = "avx512";
static inline vf vld(const float* p) { return _mm512_loadu_ps(p); }
static inline void vst(float* p, vf v) { _mm512_storeu_ps(p, v); }
static inline void vst_nt(float* p, vf v) { _mm512_stream_ps(p, v); }
static inline void vfence() { _mm_sfence(); }
static inline vf vset(float s) { return _mm512_set1_ps(s); }
static inline vf vzero() { return _mm512_setzero_ps(); }
static inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
// VMAXPS returns its second operand when either is NaN: max(0, v) keeps a NaN v.
static inline vf vrelu(vf v) { return _mm512_max_ps(_mm512_setzero_ps(), v); }
static inline vf vcanon(vf v) {
  return _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_set1_ps(kCanonicalNaNf));
}
static inline vf vsel_lo(int k, vf a, vf b) {
  return _mm512_mask_blend_ps(static_cast<__mmask16>((1u << k) - 1u), b, a);
}
struct vd {
  __m512d lo, hi;
};
static inline vd vd_zero() { return {_mm512_setzero_pd(), _mm512_setzero_pd()}; }
static inline vd vd_ld(const double* p) { return {_mm512_loadu_pd(p), _mm512_loadu_pd(p + 8)}; }
static inline void vd_st(double* p, vd v) {
  _mm512_storeu_pd(p, v.lo);
  _mm512_storeu_pd(p + 8, v.hi);
}
// Adds as FMAs by 1 (one rounding of a + v, as VADDPD), converting from memory where it can: as
// the AVX2 table (NOTES-cpu.md item 14).
static inline vd vd_addf(vd a, vf v) {
  const __m512d one = _mm512_set1_pd(1.0);
  return {_mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), one, a.lo),
          _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)), one, a.hi)};
}
static inline vd vd_addf_mem(vd a, const float* p) {
  const __m512d one = _mm512_set1_pd(1.0);
  return {_mm512_fmadd_pd(_mm512_cvtps_pd(_mm256_loadu_ps(p)), one, a.lo),
          _mm512_fmadd_pd(_mm512_cvtps_pd(_mm256_loadu_ps(p + 8)), one, a.hi)};
}
static inline vd vd_fmaf(vd a, vf v, const double* p) {
  return {_mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), _mm512_loadu_pd(p), a.lo),
          _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)), _mm512_loadu_pd(p + 8), a.hi)};
}
static inline double vh_sum(__m512d a) {
  const __m256d d = _mm256_add_pd(_mm512_castpd512_pd256(a), _mm512_extractf64x4_pd(a, 1));
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(d), _mm256_extractf128_pd(d, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
static inline double vd_sum(vd a) { return vh_sum(_mm512_add_pd(a.lo, a.hi)); }
typedef __m512d vh;
static const int WH = 8;
static inline vh vh_zero() { return _mm512_setzero_pd(); }
// VCVTPS2PD from memory (8 floats).
static inline vh vh_ldf(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
static inline vh vh_ld(const double* p) { return _mm512_loadu_pd(p); }
static inline vh vh_set(double v) { return _mm512_set1_pd(v); }
static inline void vh_st(double* p, vh v) { _mm512_storeu_pd(p, v); }
static inline vh vh_fma(vh a, vh b, vh c) { return _mm512_fmadd_pd(b, c, a); }
// The AVX2 gate loop (the same float gates bit for bit; 16K gates a call at most).
static inline void sigmoid_rows(const double* v, float* s, int64_t n) { isa_avx2::sigmoid_rows(v, s, n); }
#include "kernels_impl.h"
}  // namespace isa_avx512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif
#endif

#if SQEX_NEON
namespace isa_neon {
typedef float32x4_t vf;
static const int W = 4;
static const char* const kIsaName = "neon";
static inline vf vld(const float* p) { return vld1q_f32(p); }
static inline void vst(float* p, vf v) { vst1q_f32(p, v); }
static inline void vst_nt(float* p, vf v) { vst1q_f32(p, v); }
static inline void vfence() {}
static inline vf vset(float s) { return vdupq_n_f32(s); }
static inline vf vzero() { return vdupq_n_f32(0.f); }
static inline vf vadd(vf a, vf b) { return vaddq_f32(a, b); }
static inline vf vmul(vf a, vf b) { return vmulq_f32(a, b); }
static inline vf vmax(vf a, vf b) { return vmaxq_f32(a, b); }
// v < 0 ? 0 : v, as the scalar loops and x86's max(0, v): keeps a NaN v and -0 (FMAX would turn
// -0 into +0, so the sign of a relu'd -0 followed which elements took the vector loop).
static inline vf vrelu(vf v) {
  const float32x4_t z = vdupq_n_f32(0.f);
  return vbslq_f32(vcltq_f32(v, z), z, v);
}
static inline vf vcanon(vf v) { return vbslq_f32(vceqq_f32(v, v), v, vdupq_n_f32(kCanonicalNaNf)); }
static inline vf vsel_lo(int k, vf a, vf b) {
  static const uint32_t kLane[4] = {0, 1, 2, 3};
  return vbslq_f32(vcltq_u32(vld1q_u32(kLane), vdupq_n_u32(uint32_t(k))), a, b);
}
struct vd {
  float64x2_t lo, hi;
};
static inline vd vd_zero() { return {vdupq_n_f64(0.0), vdupq_n_f64(0.0)}; }
static inline vd vd_ld(const double* p) { return {vld1q_f64(p), vld1q_f64(p + 2)}; }
static inline void vd_st(double* p, vd v) {
  vst1q_f64(p, v.lo);
  vst1q_f64(p + 2, v.hi);
}
static inline vd vd_addf(vd a, vf v) {
  return {vaddq_f64(a.lo, vcvt_f64_f32(vget_low_f32(v))), vaddq_f64(a.hi, vcvt_f64_f32(vget_high_f32(v)))};
}
static inline vd vd_addf_mem(vd a, const float* p) { return vd_addf(a, vld(p)); }
static inline vd vd_fmaf(vd a, vf v, const double* p) {
  return {vfmaq_f64(a.lo, vcvt_f64_f32(vget_low_f32(v)), vld1q_f64(p)),
          vfmaq_f64(a.hi, vcvt_f64_f32(vget_high_f32(v)), vld1q_f64(p + 2))};
}
static inline double vd_sum(vd a) { return vaddvq_f64(vaddq_f64(a.lo, a.hi)); }
typedef float64x2_t vh;
static const int WH = 2;
static inline vh vh_zero() { return vdupq_n_f64(0.0); }
static inline vh vh_ldf(const float* p) { return vcvt_f64_f32(vld1_f32(p)); }
static inline vh vh_ld(const double* p) { return vld1q_f64(p); }
static inline vh vh_set(double v) { return vdupq_n_f64(v); }
static inline void vh_st(double* p, vh v) { vst1q_f64(p, v); }
static inline vh vh_fma(vh a, vh b, vh c) { return vfmaq_f64(a, b, c); }
static inline double vh_sum(vh a) { return vaddvq_f64(a); }
// s[i] = float(1 / (1 + exp(-v[i]))), as gate_apply.
static inline void sigmoid_rows(const double* v, float* s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) s[i] = float(gate_apply(Gate::Sigmoid, v[i]));
}
#include "kernels_impl.h"
}  // namespace isa_neon
#endif

const Kernels* kernels_scalar() { return &isa_scalar::kTable; }

const Kernels* kernels_sse2() {
#if SQEX_X86
  return &isa_sse2::kTable;
#else
  return nullptr;
#endif
}

const Kernels* kernels_avx2() {
#if SQEX_HAVE_AVX2
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok ? &isa_avx2::kTable : nullptr;
#else
  return nullptr;
#endif
}

const Kernels* kernels_avx512() {
#if SQEX_HAVE_AVX2
  // libgcc's and compiler-rt's checks include the OS enabling the ZMM state (XCR0).
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
                         kernels_avx2() != nullptr;
  // CBAM's output passes (y = x * s * g; memory bound) stay on the AVX2 loops: with x and y 16
  // bytes off a cache line (a plain malloc), every 64-byte access split a line, and streaming 38
  // MB the AVX-512 scale_rows took 2.2 ms against AVX2's 1.5 (aligned: 1.64 vs 1.55); in cache they
  // ran the same (NOTES-cpu.md item 26). Since the row passes align their stores (item 58), the
  // AVX-512 scale_rows (SE/ECA NHWC) is the faster one on a Xeon VM (SE 8x240x28x28 NHWC 590-650
  // -> 460-510 us, 1x1024x14x14 86-93 -> 64-71), while CBAM's scale_gate_rows measured 3-10%
  // slower there, so only scale_rows moved. The NCHW scale keeps AVX-512: its streaming path
  // aligns each channel's stores, and there whole-line stores measured faster (SE 8x256x56x56 one
  // thread 1.37-1.49 vs 1.68-1.78 ms). Element-wise: the same bits either way.
  static const Kernels table = [] {
    Kernels k = isa_avx512::kTable;
    k.scale_gate_plane = isa_avx2::kTable.scale_gate_plane;
    k.scale_gate_rows = isa_avx2::kTable.scale_gate_rows;
    return k;
  }();
  return ok ? &table : nullptr;
#else
  return nullptr;
#endif
}

const Kernels* kernels_neon() {
#if SQEX_NEON
  return &isa_neon::kTable;
#else
  return nullptr;
#endif
}

namespace {
const Kernels* best_kernels() {
  if (const Kernels* k = kernels_avx512()) return k;
  if (const Kernels* k = kernels_avx2()) return k;
  if (const Kernels* k = kernels_neon()) return k;
  if (const Kernels* k = kernels_sse2()) return k;
  return kernels_scalar();
}
std::atomic<const Kernels*> g_forced{nullptr};
}  // namespace

const Kernels& kernels() {
  if (const Kernels* f = g_forced.load(std::memory_order_relaxed)) return *f;
  static const Kernels* const best = best_kernels();
  return *best;
}

void force_kernels(const Kernels* k) { g_forced.store(k, std::memory_order_relaxed); }

}  // namespace cpu
}  // namespace sqex
