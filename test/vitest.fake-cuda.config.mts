// `npm run test:gpu:fake`: the GPU suites against the emulated CUDA binding (test/fake-cuda.ts).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['test/gpu/**/*.test.ts'],
    setupFiles: ['test/fake-cuda-setup.ts'],
  },
});
