// Built instead of the CUDA sources when the addon is compiled without CUDA: every entry
// point reports Unsupported, and cuda_status says why.
#include "sqex/cuda_api.h"

namespace sqex {
namespace {
const char kNoCuda[] = "squeeze-excite was built without CUDA";
Status unsupported() { return Status::Error(StatusCode::Unsupported, kNoCuda); }
}  // namespace

CudaStatusInfo cuda_status() {
  CudaStatusInfo info;
  info.compiled = false;
  info.available = false;
  info.reason = kNoCuda;
  return info;
}
Status cuda_forward(const OpParams&, const Weights&, const Tensors&, int, void*) { return unsupported(); }
Status cuda_forward_host(const OpParams&, const Weights&, const Tensors&, int, void*) {
  return unsupported();
}
Status cuda_forward_host_weights(const OpParams&, const Weights&, const Tensors&, int, void*) {
  return unsupported();
}
Status cuda_alloc(int, size_t, void** ptr) {
  if (ptr) *ptr = nullptr;
  return unsupported();
}
Status cuda_free(int, void*) { return unsupported(); }
Status cuda_upload(int, void*, const void*, size_t, void*) { return unsupported(); }
Status cuda_download(int, void*, const void*, size_t, void*) { return unsupported(); }
Status cuda_download_begin(int, void*, const void*, size_t, void*, CudaPendingDownload*) { return unsupported(); }
Status cuda_download_finish(const CudaPendingDownload&, void*) { return unsupported(); }
Status cuda_stream_synchronize(int, void*) { return unsupported(); }
Status cuda_mem_info(int, size_t* free_bytes, size_t* total_bytes) {
  if (free_bytes) *free_bytes = 0;
  if (total_bytes) *total_bytes = 0;
  return unsupported();
}
Status cuda_benchmark(const OpParams&, const Weights&, int, int, CudaBenchResult*) { return unsupported(); }

}  // namespace sqex
