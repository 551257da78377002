// Keeps this shared library mapped until the process exits.
//
// Node unloads an addon (dlclose) when the last environment that loaded it is torn down, e.g.
// when the only worker_threads that use it exit or are terminated. Threads this library started
// or runs on (its CPU pool, libuv pool work still finishing, CUDA callbacks) would then execute
// unmapped code: SIGSEGV at an address in no loaded library. Pinning trades a few MB of mapping
// for that guarantee; static state is never destroyed by an unload either.
#pragma once

namespace sqex::binding {

// Idempotent; never fails loudly (an unpinned module only matters at worker teardown).
void PinModule();

}  // namespace sqex::binding
