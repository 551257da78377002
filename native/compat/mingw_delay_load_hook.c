// win32 built with mingw-w64 (CMakeLists.txt, MINGW): the Node-API functions are delay-loaded from
// "node.exe" (dlltool --output-delaylib), and this hook hands the delay-load helper the module
// that really exports them: node.dll where an embedder has one, else the running executable. So
// the addon loads in a renamed node.exe or an embedder, as MSVC builds do with cmake-js's
// win_delay_load_hook.cc (MSVC-only, hence this copy of its logic for GCC).
#if defined(_WIN32) && defined(__MINGW32__)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <delayimp.h>

static FARPROC WINAPI sqex_load_exe_hook(unsigned event, PDelayLoadInfo info) {
  if (event != dliNotePreLoadLibrary || lstrcmpiA(info->szDll, "node.exe") != 0) return NULL;
  HMODULE node = GetModuleHandleA("node.dll");
  return (FARPROC)(node ? node : GetModuleHandleA(NULL));
}

PfnDliHook __pfnDliNotifyHook2 = sqex_load_exe_hook;
#endif
