// Why nothing loaded, in one sentence, and the fixes for that case only (LoadError's message).

import { nodeFs, nodeOs, nodePath } from '../node-builtins.js';
import { elfArch } from './binary-file.js';
import { CUDA_BUILD_ENV } from './cuda-builds.js';
import type { LoadReport } from './load.js';
import { canSee } from './probe.js';

const fs = nodeFs;
const path = nodePath;
const { arch, platform } = nodeOs;

/**
 * A path as one argument of a pasted shell command: quoted when it holds a space or another
 * character the shell would act on (a project in "~/My Projects" broke every `cd` fix). Also
 * scripts/ensure-addon.js's.
 */
export function shellArg(p: string, platform: string = process.platform): string {
  if (platform === 'win32') return /^[A-Za-z0-9_@+=:,./\\-]+$/.test(p) ? p : `"${p}"`; // cmd: no quote can appear in a path
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, "'\\''")}'`;
}

/** Whether the package folder is used where it is (linked, vendored) rather than installed under a node_modules folder. */
function usedInPlace(root: string): boolean {
  let real = root;
  try {
    real = fs.realpathSync(root);
  } catch {
    // as given
  }
  return !real.split(/[\\/]/).includes('node_modules');
}

/** The platform's compiler install line, for the cases that build from source. */
function toolchainLine(): string {
  const p = platform();
  if (p === 'linux') return 'Where a compiler is missing, install the build tools: Debian/Ubuntu: sudo apt-get install -y python3 make g++   (Fedora: sudo dnf install python3 make gcc-c++; Alpine: apk add python3 make g++)';
  if (p === 'darwin') return 'Where a compiler is missing, install the build tools: macOS: xcode-select --install';
  if (p === 'win32') return 'Where a compiler is missing, install the build tools: Windows: "Visual Studio Build Tools" with the "Desktop development with C++" workload, and Python 3';
  return `Where a compiler is missing, install the build tools: a C++17 compiler, make and Python 3 for ${p}`;
}

// How the addon's files are named: a local build, and the prebuilds (node-gyp-build's tags: libc,
// and the CUDA toolkit of a second CUDA build).
const ADDON_FILE = 'a squeeze-excite addon file (.node)';
const PREBUILD_FILES = 'prebuilds/<platform>-<arch>/squeeze-excite.<tags>.node, e.g. prebuilds/linux-x64/squeeze-excite.glibc.node';

// Ship node_modules, not the package's folder alone: the loader needs node-gyp-build beside it (the
// folder alone met a second LoadError; a helper's test of deployments, 2026-12-04).
const EXTERNAL_HOWTO =
  "Mark squeeze-excite as external so that the bundle require()s it from node_modules at run time, and ship the app's node_modules with it (after npm ci --omit=dev; the squeeze-excite folder alone lacks node-gyp-build, which picks the prebuild): " +
  "esbuild --external:squeeze-excite; webpack externals: { 'squeeze-excite': 'commonjs squeeze-excite' }; rollup/rolldown/Vite SSR: external: ['squeeze-excite'].";
// Where a package keeps its addon: a prebuild, or a source install's build.
const ADDON_FILES_IN_PACKAGE = `node_modules/squeeze-excite/${PREBUILD_FILES}; or build/Release/squeeze_excite.node where it was built from source`;

/**
 * Whether this process is a Node single-executable application, whose require() loads only
 * built-in modules: no node_modules beside it can help (node:sea, Node >= 20.12).
 */
function inSingleExecutable(): boolean {
  try {
    // process.getBuiltinModule came in Node 20.16 / 22.3, node:sea in 20.12 / 21.7: require() in
    // between (a review), and in an ES-module bundle, whose require() may be a stub that throws.
    const getBuiltin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
    const sea = (getBuiltin ? getBuiltin('node:sea') : require('node:sea')) as { isSea?: () => boolean } | undefined;
    return sea?.isSea?.() === true;
  } catch {
    return false;
  }
}

/**
 * What went wrong, in one sentence, and the fixes for that case only. A compiler is suggested
 * only where no shipped binary can fit: no prebuild for this platform or libc, a system older
 * than the prebuild's floor, a package without prebuilds, or a source checkout.
 */
function diagnose(report: LoadReport, root: string): { cause: string; fixes: string[] } {
  const attempts = report.attempts;
  const env = attempts.find((a) => a.kind === 'env' && a.file !== null && !a.ok);
  const noAddonsFlag = process.execArgv.includes('--no-addons') || /(^|\s)--no-addons\b/.test(process.env.NODE_OPTIONS ?? '');
  // Node's permission model (--permission; --experimental-permission on Node 20) blocks addons
  // unless --allow-addons is given, and file reads outside --allow-fs-read.
  const permissionModel = typeof (process as { permission?: unknown }).permission === 'object';
  if (permissionModel && !noAddonsFlag && attempts.some((a) => a.code === 'ERR_DLOPEN_DISABLED')) {
    return {
      cause: "Node's permission model is on and does not allow native addons (ERR_DLOPEN_DISABLED), so no binary can load",
      fixes: [`Add --allow-addons to the node command (or NODE_OPTIONS), and let it read the package: --allow-fs-read=${shellArg(root)}`],
    };
  }
  const denied = attempts.find((a) => a.code === 'ERR_ACCESS_DENIED');
  if (denied) {
    const what = denied.denied ?? denied.file ?? path.join(root, 'prebuilds');
    const inPackage = what === root || what.startsWith(root + path.sep);
    // A file of another package (node-gyp-build, beside this one in an installed app): grant its
    // folder, which it reads file after file, not the one file denied first.
    const grant = packageFolderOf(what) ?? what;
    const whose = grant === what ? what : `${grant} (the package of ${what})`;
    return {
      cause: `Node's permission model denies reading ${what} (ERR_ACCESS_DENIED): ${denied.reason}`,
      fixes: [
        inPackage
          ? `Let node read the package folder: --allow-fs-read=${shellArg(root)} (with --allow-addons), or point SQUEEZE_EXCITE_BINARY at ${ADDON_FILE} it may read.`
          : `Let node read ${whose} as well as the package folder: --allow-fs-read=${shellArg(grant)} --allow-fs-read=${shellArg(root)} (with --allow-addons), or point SQUEEZE_EXCITE_BINARY at ${ADDON_FILE} it may read.`,
        // Each run names the first refusal only: say once all that loading reads (a helper's
        // test, 2026-12-04, needed three runs to find them). Not for a named binary, which is
        // loaded without node-gyp-build.
        ...(denied.kind === 'env'
          ? []
          : [`Loading reads the package folder, node-gyp-build's folder (in an installed app, beside the package in node_modules)${platform() === 'linux' ? ' and /etc/alpine-release (node-gyp-build tells musl from glibc by it)' : ''}: grant them together (README, "Troubleshooting").`]),
      ],
    };
  }
  const addonsOff = attempts.some((a) => a.code === 'ERR_DLOPEN_DISABLED') || noAddonsFlag;
  if (addonsOff) {
    return {
      cause: 'native addons are disabled in this process (node --no-addons, ERR_DLOPEN_DISABLED), so no binary can load, whichever is installed',
      fixes: [
        'Run without --no-addons: check the node command line, NODE_OPTIONS, and the execArgv of any Worker that uses squeeze-excite.',
      ],
    };
  }
  if (env) {
    return {
      cause: `SQUEEZE_EXCITE_BINARY names ${JSON.stringify(env.file)}, which did not load (${env.reason}); the loader does not fall back to another binary when one is named`,
      fixes: [
        `Point SQUEEZE_EXCITE_BINARY at ${ADDON_FILE} built for this platform (npm run build:native writes build/Release/squeeze_excite.node; a package carries ${PREBUILD_FILES}), or unset it to let the loader choose.`,
      ],
    };
  }
  const unmatched = attempts.find((a) => a.kind === 'prebuild' && (a.reason ?? '').startsWith(`${CUDA_BUILD_ENV}=`));
  if (unmatched && !report.bundled) {
    return {
      cause: unmatched.reason as string,
      fixes: [
        `Unset ${CUDA_BUILD_ENV} to let the loader choose, or set it to the CUDA version of a shipped build (cuda.status().builds lists them once it loads).`,
      ],
    };
  }
  if (report.bundled) {
    // A SEA's require() loads built-in modules only: "external" cannot work there (a helper's test
    // of deployments, 2026-12-04, built one as advised and met ERR_UNKNOWN_BUILTIN_MODULE).
    if (inSingleExecutable()) {
      return {
        cause: `this copy of squeeze-excite runs inside a Node single-executable application (bundled into ${report.bundled}), whose require() loads only Node's built-in modules, so its native addon cannot be found or required from node_modules`,
        fixes: [
          `Ship the addon file for the target platform (${ADDON_FILES_IN_PACKAGE}) beside the executable and set SQUEEZE_EXCITE_BINARY to its absolute path, in the environment or from the app before its first call into squeeze-excite (README, "Bundlers").`,
        ],
      };
    }
    return {
      cause: `this copy of squeeze-excite was bundled into ${report.bundled}; its native addon (prebuilds/, build/) stays in the package folder, where a bundle cannot find it`,
      fixes: [
        EXTERNAL_HOWTO,
        `Or copy the addon file for the target platform (${ADDON_FILES_IN_PACKAGE}) next to the bundle and set SQUEEZE_EXCITE_BINARY to its absolute path.`,
      ],
    };
  }
  const prebuild = attempts.find((a) => a.kind === 'prebuild');
  const checkout = canSee(path.join(root, '.git')) || canSee(path.join(root, 'lib', 'backend', 'load.ts'));
  const fromSource = [
    `Build it from source: cd ${shellArg(root)} && npx node-gyp rebuild   (CPU backend)`,
    `With CMake >= 3.18 (and the CUDA toolkit for the CUDA backend): cd ${shellArg(root)} && node scripts/cmake-build.js`,
  ];
  if (prebuild?.file && !prebuild.ok) {
    // Yarn Plug'n'Play reads packages from zip archives; dlopen cannot open a file inside one
    // ("Not a directory"). package.json asks Yarn to unplug this package (preferUnplugged); a
    // project's dependenciesMeta can still keep it zipped.
    if (/\.zip[\\/]/.test(prebuild.file)) {
      return {
        cause: `Yarn keeps squeeze-excite inside its zip archive (${prebuild.file}), where a native addon cannot be opened: ${prebuild.reason}`,
        fixes: [
          "Let Yarn unplug it: in your package.json, remove dependenciesMeta['squeeze-excite'].unplugged: false (or set it to true), then run yarn install.",
        ],
      };
    }
    if (/GLIBC(XX)?_[\d.]+'? not found/.test(prebuild.reason ?? '')) {
      return {
        cause: `this system's C library is older than the prebuilt binary needs (glibc >= 2.28): ${prebuild.reason}`,
        fixes: [toolchainLine(), ...fromSource],
      };
    }
    // The file is there but this user may not read it: a Docker COPY with a restrictive umask and a
    // non-root USER, or an install as root; a reinstall by the same user would fail the same way
    // (a helper's test of deployments, 2026-12-03).
    // Only when the denied file is the prebuild itself (dlopen: "<file>: cannot open shared object
    // file: Permission denied"), not a library it needs or an SELinux denial (a review).
    if ((prebuild.reason ?? '').includes(`${prebuild.file}: cannot open shared object file: Permission denied`)) {
      return {
        cause: `the prebuilt binary for this platform is there, but this process may not read it: ${prebuild.reason}`,
        fixes: [makeReadable(root)],
      };
    }
    // dlopen words another architecture's file as "No such file or directory" (an attack, 2026-12-02).
    const arch = elfArch(fs, prebuild.file);
    const otherArch = arch !== null && arch !== process.arch ? `; the file is built for ${arch}, and this Node runs on ${process.arch}` : '';
    // In a source checkout, a reinstall by rm -rf would delete the repository (an attack, 2026-12-02).
    const reinstall = checkout
      ? [`This is a source checkout: build the addon here (a local build loads ahead of prebuilds/): cd ${shellArg(root)} && npm run build:native   (CPU only: npm run build:native:cpu)`, `Or replace ${prebuild.file} with a good copy (npm run prebuildify writes prebuilds/ for this machine).`]
      : [otherArch ? `Install the package on the machine that runs it (npm install there picks ${process.platform}-${process.arch}'s binary), not a copy made on another one: rm -rf ${shellArg(root)} && npm install` : `Reinstall the package (the file may be damaged): rm -rf ${shellArg(root)} && npm install`];
    return {
      cause: `the prebuilt binary for this platform is there but did not load: ${prebuild.reason}${otherArch}`,
      fixes: [...reinstall, 'If it still fails, report the "Tried:" list above with the output of: node -p "process.versions" and ldd --version'],
    };
  }
  // So for prebuilds/ or its platform folder: a compiler's build would meet the same modes (a
  // helper's test of deployments, 2026-12-04, got build-tool advice for a folder of mode 700).
  if (prebuild && (prebuild.code === 'EACCES' || prebuild.code === 'EPERM')) {
    // node-gyp-build's own files (beside the package in node_modules) may be the ones denied: the
    // package's chmod would not reach them (a review, 2026-12-04).
    const dependency = /^node-gyp-build could not be loaded/.test(prebuild.reason ?? '');
    // Its folder, from the path in Node's message ("EACCES: permission denied, open '<file>'").
    const file = /'([^']+)'/.exec(prebuild.reason ?? '')?.[1];
    const folder = file === undefined ? null : packageFolderOf(file);
    return dependency
      ? {
          cause: `node-gyp-build, which picks the prebuilt binary, is there but this process may not read it: ${prebuild.reason}`,
          fixes: [makeReadable(folder ?? 'node_modules/node-gyp-build', 'node-gyp-build')],
        }
      : {
          cause: `the prebuilt binaries' folder is there, but this process may not search it: ${prebuild.reason}`,
          fixes: [makeReadable(root)],
        };
  }
  // A local build that is there but does not load (damaged, cut short, built for another Node):
  // lead with it, not with what else is missing.
  const damaged = attempts.find((a) => a.kind === 'local build' && a.file !== null && !a.ok && a.reason !== 'file does not exist');
  if (damaged) {
    const buildDir = path.join(root, 'build');
    return {
      cause: `the local build ${damaged.file} is there but did not load: ${damaged.reason}`,
      fixes: checkout
        ? [`Rebuild it: cd ${shellArg(root)} && rm -rf build && npm run build:native   (CPU only: npm run build:native:cpu)`, toolchainLine()]
        : [`Remove it and rebuild it from source: rm -rf ${shellArg(buildDir)} && npm rebuild squeeze-excite --foreground-scripts   (npm install alone does not rerun the install script)`, ...fromSource],
    };
  }
  // node-gyp-build (a dependency) picks the prebuild; without it beside the package (the package
  // folder shipped alone, a link into a store that lacks it) the prebuilds are there but unsearched.
  // Not a compiler's job (a helper's test of deployments, 2026-12-03).
  if (!checkout && prebuild?.reason && /node-gyp-build could not be loaded: Cannot find module/.test(prebuild.reason)) {
    const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    return {
      cause: `node-gyp-build, the dependency that picks the prebuilt binary for this platform, is not installed where squeeze-excite can require it (${prebuild.reason})`,
      fixes: [
        ...(usedInPlace(root)
          ? [
              // npm links a folder dependency (`npm install ./vendor/squeeze-excite`, `file:`)
              // and installs none of that folder's own dependencies (a helper's test, 2026-12-04).
              `${root} is used in place (a linked or vendored folder, not a copy under node_modules), and npm does not install a linked folder's dependencies: install them there (cd ${shellArg(root)} && npm install --omit=dev --ignore-scripts), or install the folder as a copy (npm install --install-links <folder>).`,
            ]
          : []),
        'Ship the package with its dependencies: run npm ci --omit=dev (or npm install --omit=dev) in the app, and copy its whole node_modules, not the squeeze-excite folder alone.',
        `Or name the binary, which needs no node-gyp-build: SQUEEZE_EXCITE_BINARY=<the .node file for this platform in ${dir}>`,
      ],
    };
  }
  if (checkout) {
    return {
      cause: `${root} is a source checkout and its addon is not built (or the build failed)`,
      fixes: [
        `Build it: cd ${shellArg(root)} && npm install   (or npm run build:native; CPU only: npm run build:native:cpu). Needs CMake >= 3.18 and a C++17 compiler; CUDA kernels too when nvcc is found.`,
        toolchainLine(),
      ],
    };
  }
  if (prebuild?.reason && /no prebuilds\/ folder/.test(prebuild.reason)) {
    return {
      cause: 'this copy of squeeze-excite ships no prebuilt binaries (a tarball packed without `npm run prebuildify`, or an install from a git URL)',
      fixes: [
        'Install a tarball that carries them: in a checkout, npm install && npm run prebuildify && npm pack, then npm install <that .tgz>',
        toolchainLine(),
        ...fromSource,
      ],
    };
  }
  return {
    cause: `no prebuilt binary fits ${platform()}-${arch()} with this runtime and libc (${prebuild?.reason ?? 'no prebuild'})`,
    fixes: [toolchainLine(), ...fromSource],
  };
}

function libcName(): string {
  if (platform() !== 'linux') return 'no libc tag';
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const glibc = report?.header?.glibcVersionRuntime;
  return glibc ? `glibc ${glibc}` : 'musl or unknown libc';
}

/** LoadError's message: the target, the cause, what was tried and the fixes. */
export function describeLoadFailure(report: LoadReport, root: string): string {
  const target = `${platform()}-${arch()} (node ${process.versions.node}, abi ${process.versions.modules}, ${libcName()})`;
  const tried = report.attempts.map((a) => `  - ${a.kind}${a.file ? ` ${a.file}` : ''}: ${a.reason ?? 'ok'}`).join('\n');
  const { cause, fixes } = diagnose(report, root);
  return `squeeze-excite: could not load the native addon for ${target}: ${cause}.\nTried:\n${tried}\nTo fix it:\n${fixes.map((f) => `  - ${f}`).join('\n')}`;
}

/** The folder of the package under node_modules that holds `file` (scoped or not), or null. */
function packageFolderOf(file: string): string | null {
  return /^(.*[\\/]node_modules[\\/](?:@[^\\/]+[\\/])?[^\\/]+)[\\/]/.exec(file)?.[1] ?? null;
}

/** The fix for package files this user may not read (a Docker COPY with a restrictive umask). */
function makeReadable(root: string, what = 'the package'): string {
  return `Make ${what} readable (and its folders searchable) by the user that runs node: chmod -R a+rX ${shellArg(root)}   (or install it as that user, or with a umask that leaves files readable, e.g. umask 022)`;
}
