// The CUDA exports (status, device memory, forward calls, benchmark); addon.cpp's Init adds them.
// In a CPU-only build they are still exported, over native/cuda/stub.cpp.
#pragma once
#include <napi.h>

namespace sqex::binding {

// Sets the cuda* functions on exports, in one run: Init calls it where they were listed, so the
// export keys keep their order.
void SetCudaExports(Napi::Env env, Napi::Object exports);

}  // namespace sqex::binding
