/* Binds the addon's references to glibc symbols that glibc 2.34 moved into libc.so.6 (from
 * libpthread, libdl and librt) to their original symbol versions, so that one linux-x64 or
 * linux-arm64 binary built on a new distribution (Debian 12, glibc 2.36) loads on glibc 2.28
 * (the floor of Node 20's own official binaries: RHEL 8, Ubuntu 20.04, Debian 10/11, Amazon
 * Linux 2023). Without this, every such symbol is required at version GLIBC_2.34 and the addon
 * fails to load anywhere older ("version `GLIBC_2.34' not found").
 *
 * How: CMakeLists.txt links with -Wl,--wrap=NAME for every SQEX_COMPAT line below (it reads this
 * file), which sends every undefined reference to NAME, ours and those inside libcudart_static.a
 * and the static libstdc++ alike, to __wrap_NAME: a tail jump to NAME at the old version. The
 * old versions are still exported by new glibc (as compatibility symbols of libc.so.6), and
 * older glibc finds them in libpthread/libdl/librt, which are loaded in every Node process there
 * (the node executable links them) and which the addon also lists as DT_NEEDED. A tail jump
 * leaves every argument register as the caller set it, so one stub fits every signature.
 *
 * On glibc >= 2.34 each old version is the same function as the current one (same address), but
 * for exp (below) and pthread_kill: the old pthread_kill returns ESRCH for a thread that has ended
 * but is not yet joined, as every glibc before 2.34 did; nothing here signals such a thread.
 *
 * exp: glibc 2.29 gave exp a new version (no SVID error handling); exp@GLIBC_2.2.5 is the same
 * function for every finite, infinite and NaN input (only errno/matherr handling differs).
 * __libc_single_threaded (glibc 2.32, read by libstdc++'s reference counts): a local definition
 * that always says "more than one thread", which is what libstdc++ assumes without it.
 *
 * The test in test/elf-floor.test.ts fails when a new reference above GLIBC_2.28 appears: add a
 * line here with the symbol's oldest version (objdump -T /lib/x86_64-linux-gnu/libc.so.6).
 */
#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))

#if defined(__x86_64__)
#define SQEX_COMPAT(name, x86_version)                         \
  .symver sqex_glibc_old_##name, name@x86_version;             \
  .globl __wrap_##name;                                        \
  .hidden __wrap_##name;                                       \
  .type __wrap_##name, @function;                              \
  __wrap_##name:                                               \
  jmp sqex_glibc_old_##name@PLT;                               \
  .size __wrap_##name, . - __wrap_##name
#else
/* aarch64's first glibc release (2.17) is the version of every symbol below. */
#define SQEX_COMPAT(name, x86_version)                         \
  .symver sqex_glibc_old_##name, name@GLIBC_2.17;              \
  .globl __wrap_##name;                                        \
  .hidden __wrap_##name;                                       \
  .type __wrap_##name, %function;                              \
  __wrap_##name:                                               \
  b sqex_glibc_old_##name;                                     \
  .size __wrap_##name, . - __wrap_##name
#endif

  .text
  .p2align 4
/* libdl */
SQEX_COMPAT(dladdr, GLIBC_2.2.5)
SQEX_COMPAT(dlclose, GLIBC_2.2.5)
SQEX_COMPAT(dlerror, GLIBC_2.2.5)
SQEX_COMPAT(dlmopen, GLIBC_2.3.4)
SQEX_COMPAT(dlopen, GLIBC_2.2.5)
SQEX_COMPAT(dlsym, GLIBC_2.2.5)
SQEX_COMPAT(dlvsym, GLIBC_2.2.5)
/* libpthread */
SQEX_COMPAT(pthread_condattr_setpshared, GLIBC_2.2.5)
SQEX_COMPAT(pthread_create, GLIBC_2.2.5)
SQEX_COMPAT(pthread_detach, GLIBC_2.2.5)
SQEX_COMPAT(pthread_getspecific, GLIBC_2.2.5)
SQEX_COMPAT(pthread_join, GLIBC_2.2.5)
SQEX_COMPAT(pthread_key_create, GLIBC_2.2.5)
SQEX_COMPAT(pthread_key_delete, GLIBC_2.2.5)
SQEX_COMPAT(pthread_kill, GLIBC_2.2.5)
SQEX_COMPAT(pthread_mutex_trylock, GLIBC_2.2.5)
SQEX_COMPAT(pthread_mutexattr_destroy, GLIBC_2.2.5)
SQEX_COMPAT(pthread_mutexattr_init, GLIBC_2.2.5)
SQEX_COMPAT(pthread_mutexattr_setpshared, GLIBC_2.2.5)
SQEX_COMPAT(pthread_mutexattr_settype, GLIBC_2.2.5)
SQEX_COMPAT(pthread_once, GLIBC_2.2.5)
SQEX_COMPAT(pthread_rwlock_destroy, GLIBC_2.2.5)
SQEX_COMPAT(pthread_rwlock_init, GLIBC_2.2.5)
SQEX_COMPAT(pthread_rwlock_rdlock, GLIBC_2.2.5)
SQEX_COMPAT(pthread_rwlock_timedrdlock, GLIBC_2.2.5)
SQEX_COMPAT(pthread_rwlock_timedwrlock, GLIBC_2.2.5)
SQEX_COMPAT(pthread_rwlock_tryrdlock, GLIBC_2.2.5)
SQEX_COMPAT(pthread_rwlock_trywrlock, GLIBC_2.2.5)
SQEX_COMPAT(pthread_rwlock_unlock, GLIBC_2.2.5)
SQEX_COMPAT(pthread_rwlock_wrlock, GLIBC_2.2.5)
SQEX_COMPAT(pthread_rwlockattr_destroy, GLIBC_2.2.5)
SQEX_COMPAT(pthread_rwlockattr_init, GLIBC_2.2.5)
SQEX_COMPAT(pthread_rwlockattr_setpshared, GLIBC_2.2.5)
SQEX_COMPAT(pthread_setspecific, GLIBC_2.2.5)
SQEX_COMPAT(pthread_spin_destroy, GLIBC_2.2.5)
SQEX_COMPAT(pthread_spin_init, GLIBC_2.2.5)
SQEX_COMPAT(pthread_spin_lock, GLIBC_2.2.5)
SQEX_COMPAT(pthread_spin_trylock, GLIBC_2.2.5)
SQEX_COMPAT(pthread_spin_unlock, GLIBC_2.2.5)
SQEX_COMPAT(sem_destroy, GLIBC_2.2.5)
SQEX_COMPAT(sem_init, GLIBC_2.2.5)
SQEX_COMPAT(sem_post, GLIBC_2.2.5)
SQEX_COMPAT(sem_timedwait, GLIBC_2.2.5)
SQEX_COMPAT(sem_trywait, GLIBC_2.2.5)
SQEX_COMPAT(sem_wait, GLIBC_2.2.5)
/* librt */
SQEX_COMPAT(shm_open, GLIBC_2.2.5)
SQEX_COMPAT(shm_unlink, GLIBC_2.2.5)
/* libm */
SQEX_COMPAT(exp, GLIBC_2.2.5)

  .bss
  .globl __libc_single_threaded
  .hidden __libc_single_threaded
  .type __libc_single_threaded, %object
  .size __libc_single_threaded, 1
__libc_single_threaded:
  .zero 1

#endif

/* No executable stack. */
#if defined(__linux__)
  .section .note.GNU-stack, "", %progbits
#endif
