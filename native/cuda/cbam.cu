// CBAM on CUDA: the fused persistent kernel (fused.cuh) instantiated for CBAM only.
#include "launch.cuh"

namespace sqex {
namespace cuda {

Status cbam_launch(const OpParams& p, const Weights& w, const Tensors& t, int device,
                 cudaStream_t stream) {
  return launch_op<static_cast<int>(Op::CBAM)>(p, w, t, device, stream);
}

}  // namespace cuda
}  // namespace sqex
