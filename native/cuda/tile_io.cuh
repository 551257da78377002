// Moving a tile from global to shared memory (cp.async, 16 B), for both tile shapes: runs of
// whole units (channels in NCHW, positions in NHWC) and NHWC channel tiles (ct).
#pragma once
#include "fused_args.cuh"

namespace sqex {
namespace cuda {

// Copies ne elements at g (any alignment) into the tile area so that smem and global agree
// mod 16 (vector chunks then line up), and returns the shared address of element 0.
template <typename T>
__device__ __forceinline__ const T* load_chunk_issue(unsigned char* area, const T* g, int64_t ne) {
  const int tid = threadIdx.x;
  const int mis = static_cast<int>(reinterpret_cast<uintptr_t>(g) & 15);
  T* s = reinterpret_cast<T*>(area + mis);
  const int64_t nbytes = ne * static_cast<int64_t>(sizeof(T));
  int64_t head = mis ? (16 - mis) : 0;
  if (head > nbytes) head = nbytes;
  const int64_t nvec = (nbytes - head) / 16;
  const int64_t he = head / static_cast<int64_t>(sizeof(T));
  const int64_t tail_start = he + nvec * (16 / static_cast<int64_t>(sizeof(T)));
  const char* gb = reinterpret_cast<const char*>(g) + head;
  unsigned char* sb = area + mis + head;
  for (int64_t k = tid; k < nvec; k += kThreads) cp_async16(sb + 16 * k, gb + 16 * k);
  for (int64_t i = tid; i < he; i += kThreads) s[i] = g[i];
  for (int64_t i = tail_start + tid; i < ne; i += kThreads) s[i] = g[i];
  return s;
}
template <typename T>
__device__ __forceinline__ const T* load_chunk(unsigned char* area, const T* g, int64_t ne) {
  const T* s = load_chunk_issue<T>(area, g, ne);
  cp_async_wait_all();
  __syncthreads();
  return s;
}

// Rows of a strided tile: row r of w elements at src + r * stride into area + r * w (w and
// stride in whole 16-byte vectors, src 16-byte aligned). load_ct_issue is the same loop written
// out: calling this from it (with apply_ct through scale_vec) moved the register allocation of
// the SE/ECA NHWC kernels (ptxas -v, sm_90: SE f16 NHWC spill 108/244 -> 112/244 B, its sample
// groups 8/40 -> 16/56), which no GPU has timed yet.
template <typename T>
__device__ __forceinline__ T* load_rows_issue(unsigned char* area, const T* src, int nrows, int64_t stride,
                                              int w) {
  constexpr int VE = Vec<T>::kN;
  const int vpr = w / VE, total = nrows * vpr;
  T* s = reinterpret_cast<T*>(area);
  for (int k = threadIdx.x; k < total; k += kThreads) {
    const int r = k / vpr, v = k - r * vpr;
    cp_async16(s + r * w + v * VE, src + static_cast<int64_t>(r) * stride + v * VE);
  }
  return s;
}

// ---- NHWC channel tiles (ct): a tile is channels [c0, c0 + w) at every position, held as
// [HW][w] in shared memory. Pooling is then complete per channel (no partials, no extra barrier),
// as in NCHW. The host picks it only when C and w are multiples of the vector width, x/y/residual
// are 16-byte aligned, and each row segment is >= 128 bytes.
template <typename T>
__device__ __forceinline__ const T* load_ct_issue(unsigned char* area, const T* xn, int C, int HW, int64_t c0,
                                                  int w) {
  constexpr int VE = Vec<T>::kN;
  const int vpr = w / VE, total = HW * vpr;
  T* s = reinterpret_cast<T*>(area);
  for (int k = threadIdx.x; k < total; k += kThreads) {
    const int p = k / vpr, v = k - p * vpr;
    cp_async16(s + p * w + v * VE, xn + static_cast<int64_t>(p) * C + c0 + v * VE);
  }
  return s;
}
template <typename T>
__device__ __forceinline__ const T* load_ct(unsigned char* area, const T* xn, int C, int HW, int64_t c0,
                                            int w) {
  const T* s = load_ct_issue<T>(area, xn, C, HW, c0, w);
  cp_async_wait_all();
  __syncthreads();
  return s;
}

// ---- CBAM NCHW position tiles (pt, cbam_pt.cuh): a tile is positions [p0, p0 + w) of every
// channel, held as [C][w] in shared memory, so the spatial maps of its positions are complete in
// one block. The host picks it only when x, y and the residual are 16-byte aligned and H*W and
// w are multiples of the vector width (every row segment is then whole 16-byte vectors).
template <typename T>
__device__ __forceinline__ const T* load_pt(unsigned char* area, const T* xn, int C, int HW, int64_t p0,
                                            int w) {
  const T* s = load_rows_issue<T>(area, xn + p0, C, HW, w);
  cp_async_wait_all();
  __syncthreads();
  return s;
}

}  // namespace cuda
}  // namespace sqex
