// `npm run test:gpu:cuemu` (scripts/ci-cuemu-addon.sh): the GPU suites against the real addon built
// over the CPU emulator (native/dev/cuemu/build_addon.sh), loaded through SQUEEZE_EXCITE_BINARY.
// test/cuemu-setup.ts refuses to run when the binary loaded is not the emulated one.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['test/gpu/**/*.test.ts'],
    setupFiles: ['test/cuemu-setup.ts'],
    // the emulator runs a kernel's blocks as OS threads and its threads as fibers, on two cores
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
