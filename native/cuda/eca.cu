// ECA on CUDA: the fused persistent kernel (fused.cuh) instantiated for ECA only.
#include "launch.cuh"

namespace sqex {
namespace cuda {

Status eca_launch(const OpParams& p, const Weights& w, const Tensors& t, int device,
                 cudaStream_t stream) {
  return launch_op<static_cast<int>(Op::ECA)>(p, w, t, device, stream);
}

}  // namespace cuda
}  // namespace sqex
