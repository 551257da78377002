// The floating-point control state the CPU kernels compute under: the default one, whatever the
// calling thread's. A library built with -Ofast (crtfastmath.o's constructor) sets flush-to-zero
// and denormals-are-zero on the thread that loads it, and code may change the rounding mode: the
// caller's share of a job then followed that state and the pool workers' shares did not, so one
// call's bits depended on which thread pooled which sample (an attack, 2026-12-04: 6 different
// gate vectors in 20 identical calls). PyTorch computes under the default state unless told
// otherwise (torch.set_flush_denormal), and so do these kernels: subnormals kept, round to
// nearest even, every exception masked.
#pragma once

#include <cstdint>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#include <xmmintrin.h>
#define SQEX_FP_ENV_X86 1
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#define SQEX_FP_ENV_ARM64 1
#endif

namespace sqex {
namespace cpu {

#if defined(SQEX_FP_ENV_X86)
// MXCSR: exceptions masked (bits 7-12), round to nearest (13-14 = 0), no FTZ (15), no DAZ (6).
// The status flags (0-5) are the thread's own business: set and restored as they were.
constexpr uint32_t kFpControlMask = 0xFFC0u, kFpDefault = 0x1F80u;
inline uint32_t fp_state() { return _mm_getcsr(); }
inline void fp_set_state(uint32_t v) { _mm_setcsr(v); }
#elif defined(SQEX_FP_ENV_ARM64)
// FPCR: round to nearest (RMode 22-23 = 0), no FZ (24), no FZ16 (19), no default NaN (25), no
// alternative half precision (26), AH/FIZ (1, 0) off: 0, what a process starts with.
constexpr uint64_t kFpControlMask = ~uint64_t(0), kFpDefault = 0;
inline uint64_t fp_state() {
  uint64_t v;
  __asm__ __volatile__("mrs %0, fpcr" : "=r"(v));
  return v;
}
inline void fp_set_state(uint64_t v) { __asm__ __volatile__("msr fpcr, %0" : : "r"(v)); }
#endif

// Puts the default control state on this thread for the life of a scope, and the thread's own
// back at its end. A few cycles when the state is already the default (the usual case).
class DefaultFpEnv {
 public:
#if defined(SQEX_FP_ENV_X86) || defined(SQEX_FP_ENV_ARM64)
  DefaultFpEnv() : saved_(fp_state()), changed_((saved_ & kFpControlMask) != kFpDefault) {
    if (changed_) fp_set_state((saved_ & ~kFpControlMask) | kFpDefault);
  }
  ~DefaultFpEnv() {
    if (changed_) fp_set_state(saved_);
  }
#else
  DefaultFpEnv() = default;
#endif
  DefaultFpEnv(const DefaultFpEnv&) = delete;
  DefaultFpEnv& operator=(const DefaultFpEnv&) = delete;

 private:
#if defined(SQEX_FP_ENV_X86)
  uint32_t saved_;
  bool changed_;
#elif defined(SQEX_FP_ENV_ARM64)
  uint64_t saved_;
  bool changed_;
#endif
};

}  // namespace cpu
}  // namespace sqex
