// The cluster harness links the shipped SE and ECA kernels as its baseline; forward.cpp also names
// cbam_launch, which this stub provides so that cbam.cu (the slowest to compile) stays out.
#include "../../cuda/internal.h"

namespace sqex {
namespace cuda {

Status cbam_launch(const OpParams&, const Weights&, const Tensors&, int, cudaStream_t) {
  return Status::Error(StatusCode::Unsupported, "CBAM is not linked into native/dev/cluster/se_cluster");
}

}  // namespace cuda
}  // namespace sqex
