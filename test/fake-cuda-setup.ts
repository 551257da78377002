// vitest setup file: runs the GPU suites (test/gpu) against the emulated CUDA binding, so that a
// machine without a GPU checks the suites' own logic (not the kernels, which the fake computes
// with the CPU path). Used by `npm run test:gpu:fake`; never by `npm test`.
import { installFakeCuda } from './fake-cuda.js';

installFakeCuda();
