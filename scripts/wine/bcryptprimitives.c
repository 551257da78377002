// A stand-in for Windows' bcryptprimitives.dll, which wine 8.0 (Debian 12) lacks: Rust binaries
// since Rust 1.78 import ProcessPrng from it, among them the win32-x64 bindings of rolldown and
// lightningcss that vitest loads. scripts/ci-win32.sh builds this into its wine prefix's
// system32 (x86_64-w64-mingw32-gcc -shared); the addon itself does not import it. ProcessPrng
// fills a buffer from the system RNG, as BCryptGenRandom does.
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size) {
  while (size > 0) {
    ULONG n = size > 0x40000000 ? 0x40000000 : (ULONG)size;  // BCryptGenRandom takes a ULONG
    if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG))) return FALSE;
    data += n;
    size -= n;
  }
  return TRUE;
}
