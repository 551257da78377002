#!/usr/bin/env bash
# Builds the real addon (the sources CMakeLists.txt compiles for a CUDA build: native/binding,
# native/cpu, native/cuda's host code and kernels) with g++ against the CPU emulator instead of
# cudart: native/cuda's sources with cuemu.h force-included, linked with cuemu.cpp and
# cuemu_runtime.cpp. The result, <outdir>/squeeze_excite.node, reports info().buildSystem "cuemu"
# and the device name "cuemu (CPU emulation, N SMs)"; the loader never finds it by itself (it is
# outside build/ and prebuilds/), only through SQUEEZE_EXCITE_BINARY.
# Usage: native/dev/cuemu/build_addon.sh [outdir=build-cuemu-addon] [asan]
#   exit 3: no CUDA 12+ headers (as build.sh). JOBS: parallel compiles (default: nproc).
#   Incremental: an object is rebuilt when its source, or any header under native/ or
#   native/dev/cuemu/, is newer than it (or the flags changed).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
OUT=${1:-$ROOT/build-cuemu-addon}
MODE=${2:-}
JOBS=${JOBS:-$(nproc 2> /dev/null || echo 2)}
case "$OUT" in /*) ;; *) OUT=$PWD/$OUT ;; esac
# CUDA 12+ headers (where it looks: cuda_inc.sh)
source "$HERE/cuda_inc.sh"
CUDA_INC=$(cuda_inc) || { echo "cuemu: no CUDA 12+ headers found (set CUDA_INC or CUDA_HOME)" >&2; exit 3; }
NAPI_INC=$(cd "$ROOT" && node -p "require('node-api-headers').include_dir")
ADDON_API_INC=$(cd "$ROOT" && node -p "require('node-addon-api').include_dir" | tr -d '"')
VERSION=$(cd "$ROOT" && node -p "require('./package.json').version")
mkdir -p "$OUT/obj"

COMMON=(-std=c++17 -g -fPIC -pthread -fvisibility=hidden -Wno-attributes)
[ "$MODE" = asan ] && COMMON+=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
DEFS=(-DNAPI_VERSION=8 -DNODE_ADDON_API_DISABLE_DEPRECATED -DNAPI_CPP_EXCEPTIONS -DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
      "-DSQEX_VERSION=\"$VERSION\"" '-DSQEX_BUILD_SYSTEM="cuemu"' -DSQEX_WITH_CUDA=1)
INCS=(-I"$NAPI_INC" -I"$ADDON_API_INC" -I"$ROOT/native/include" -I"$ROOT/native")
# binding and CPU kernels: CMakeLists.txt's own flags (-O3, no FMA contraction)
HOST_FLAGS=("${COMMON[@]}" -O3 -ffp-contract=off "${DEFS[@]}" "${INCS[@]}")
# native/cuda: build.sh's emulator flags (nvcc contracts a*b+c, so -mfma -ffp-contract=fast)
EMU_FLAGS=("${COMMON[@]}" -O2 -mfma -ffp-contract=fast "${DEFS[@]}" -I"$HERE" "${INCS[@]}" -isystem "$CUDA_INC")

# newest header under native/ (and the emulator's): an object older than it is rebuilt
newest_header=$(find "$ROOT/native" \( -name '*.h' -o -name '*.cuh' \) -printf '%T@\n' | sort -n | tail -1)
flags_sig=$(printf '%s\n' "${HOST_FLAGS[@]}" "${EMU_FLAGS[@]}" | md5sum | cut -c1-12)
[ "$(cat "$OUT/obj/.flags" 2> /dev/null)" = "$flags_sig" ] || rm -f "$OUT"/obj/*.o
echo "$flags_sig" > "$OUT/obj/.flags"

srcs=()
for f in "$ROOT"/native/binding/*.cpp "$ROOT"/native/cpu/*.cpp; do srcs+=("host:$f"); done
for f in "$ROOT"/native/cuda/*.cu "$ROOT"/native/cuda/*.cpp; do
  [ "$(basename "$f")" = stub.cpp ] && continue
  srcs+=("emu:$f")
done
srcs+=("plain:$HERE/cuemu.cpp" "plain:$HERE/cuemu_runtime.cpp")

objs=()
rm -f "$OUT/obj/.failed"
for s in "${srcs[@]}"; do
  kind=${s%%:*}
  f=${s#*:}
  rel=${f#"$ROOT"/}
  o="$OUT/obj/$(echo "$rel" | tr '/' '_').o"
  objs+=("$o")
  if [ -f "$o" ] && [ "$o" -nt "$f" ] && \
     [ "$(stat -c %Y "$o")" -ge "${newest_header%.*}" ]; then
    continue
  fi
  case $kind in
    host) cmd=(g++ "${HOST_FLAGS[@]}" -c "$f" -o "$o") ;;
    emu) cmd=(g++ "${EMU_FLAGS[@]}" -x c++ -include "$HERE/cuemu.h" -c "$f" -o "$o") ;;
    plain) cmd=(g++ "${EMU_FLAGS[@]}" -c "$f" -o "$o") ;;
  esac
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  echo "  g++ $rel"
  ( "${cmd[@]}" || { rm -f "$o"; touch "$OUT/obj/.failed"; } ) &
done
wait
[ ! -e "$OUT/obj/.failed" ] || { echo "cuemu addon: a compile failed" >&2; exit 1; }

LINK=("${COMMON[@]}" -shared -o "$OUT/squeeze_excite.node" "${objs[@]}" -ldl)
g++ "${LINK[@]}"
# Every CUDA runtime call the addon makes must be one the emulator defines: an undefined cuda*
# symbol would only fail when node resolves it (dlopen with RTLD_LAZY: at the first call).
undef=$(nm -D --undefined-only "$OUT/squeeze_excite.node" | awk '{print $2}' | grep -E '^_*cuda|^__cuda' || true)
[ -z "$undef" ] || { echo "cuemu addon: CUDA runtime symbols the emulator lacks: $undef" >&2; exit 1; }
echo "built $OUT/squeeze_excite.node (emulated CUDA: cuemu; version $VERSION${MODE:+, $MODE})"
