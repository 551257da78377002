// SE on CUDA: the fused persistent kernel (fused.cuh) instantiated for SE only.
#include "launch.cuh"

namespace sqex {
namespace cuda {

Status se_launch(const OpParams& p, const Weights& w, const Tensors& t, int device,
                 cudaStream_t stream) {
  return launch_op<static_cast<int>(Op::SE)>(p, w, t, device, stream);
}

}  // namespace cuda
}  // namespace sqex
