// `npm test`: the suites in test/ only. Without an include list vitest searches the whole tree and
// follows symlinks, so build caches (e.g. the arm64 root filesystem of scripts/ci-arm64.sh, whose
// /proc link leads back into this checkout) and scratch copies would be run as well.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
  },
});
