// `npm test`: the suites in test/ only. Without an include list vitest searches the whole tree and
// follows symlinks, so build caches (e.g. the arm64 root filesystem of scripts/ci-arm64.sh, whose
// /proc link leads back into this checkout) and scratch copies would be run as well.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // vitest's 5 s default failed a bench-spawning test on a busy 2-core machine (3 to 14 s there,
    // 1.5 s idle); tests that need longer say so themselves.
    testTimeout: 60_000,
  },
});
