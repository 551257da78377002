// vitest setup file of test/vitest.cuemu.config.mts: the GPU suites run against the real addon
// built over the CPU emulator (native/dev/cuemu/build_addon.sh). Checks that the binary the
// package's loader picked is that one (SQUEEZE_EXCITE_BINARY, info().buildSystem 'cuemu', an
// emulated device), so that a run meant for the emulator never reports a GPU's results. (A plain
// GPU run pointed at the emulated binary is not refused: its suite titles name the device,
// "cuemu (CPU emulation, N SMs)".)
import { cuda } from '../dist/index.js';
import { loadBinding } from '../dist/backend/load.js';

const status = cuda.status();
const built = loadBinding().info().buildSystem;
const device = status.devices[0]?.name ?? '';
if (!process.env.SQUEEZE_EXCITE_BINARY || built !== 'cuemu' || !device.startsWith('cuemu')) {
  throw new Error(
    `test/vitest.cuemu.config.mts runs the GPU suites on the emulated addon only: set SQUEEZE_EXCITE_BINARY to ` +
      `build-cuemu-addon/squeeze_excite.node (native/dev/cuemu/build_addon.sh); loaded ${status.binary} ` +
      `(buildSystem ${built}, device ${device || 'none'}, ${status.reason ?? 'available'})`,
  );
}
