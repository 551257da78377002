#!/usr/bin/env bash
# Makes the real `timm` and `safetensors` Python packages importable on a Debian 12 machine that
# has no PyPI (this project's dev/CI VM), for scripts/gen_safetensors_fixture.py --mode timm and
# scripts/gen_timm_models_fixture.py. Where pip works, `pip install timm safetensors` does the same.
#
#   bash scripts/setup-real-timm.sh TIMM_SRC SAFETENSORS_SRC [DEST]
#     TIMM_SRC, SAFETENSORS_SRC: git repositories (a local clone or bare mirror, or a URL) of
#       huggingface/pytorch-image-models and huggingface/safetensors
#     DEST: where the packages go (default ~/.cache/squeeze-excite/real-timm)
#   then, as it prints:  PYTHONPATH=DEST /usr/bin/python3 scripts/gen_timm_models_fixture.py ...
#
# - timm is pure Python: the tree of commit $TIMM_COMMIT, exported with `git archive`. It runs on
#   Debian's python3-torch 1.13 and python3-torchvision 0.14 (+ python3-yaml).
# - safetensors' writer is Rust (pyo3). Its newest releases need crates Debian does not package, so
#   this builds tag v0.2.8 (pyo3 0.17, memmap2 0.5, serde_json 1, libloading 0.7: the versions
#   Debian 12 packages as librust-*-dev) with cargo offline against /usr/share/cargo/registry.
#   The file format is the same; v0.2.8 does not yet pad the header to 8 bytes (padding came in
#   v0.3.3), so its files exercise the reader's copy path for unaligned tensors.
# Writes DEST/SOURCES.json (what was built from what); the generators record it in the fixture's
# provenance when SQEX_PACKAGE_SOURCES points at it. Idempotent; needs root only for apt-get.
set -euo pipefail

TIMM_COMMIT=aa4b5850c1543fa488abf260f18390eda46cf85d   # timm 1.0.29.dev0, 2026-08-08
SAFETENSORS_TAG=v0.2.8

if [ $# -lt 2 ]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
timm_src=$1
st_src=$2
dest=${3:-$HOME/.cache/squeeze-excite/real-timm}

# shellcheck source=apt-ensure.sh
source "$(dirname "$0")/apt-ensure.sh"
packages=(python3-torch python3-torchvision python3-yaml python3-dev cargo librust-pyo3-dev librust-memmap2-dev
  librust-serde-json-dev librust-serde-derive-dev librust-libloading-dev)
apt_missing "${packages[@]}"
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-real-timm: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get install -y -q "${missing[@]}" >&2
fi

# A git directory to read from: the argument itself when it holds the revision, else a bare clone.
git_dir() { # src rev work
  if git -C "$1" rev-parse --verify -q "$2^{commit}" > /dev/null 2>&1; then
    echo "$1"
  else
    rm -rf "$3" && git clone -q --bare "$1" "$3" >&2 && echo "$3"
  fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"

# timm
tg=$(git_dir "$timm_src" "$TIMM_COMMIT" "$work/timm.git")
rm -rf "$dest/timm"
git -C "$tg" archive "$TIMM_COMMIT" timm | tar -x -C "$dest"
timm_version=$(sed -n "s/^__version__ = '\(.*\)'/\1/p" "$dest/timm/version.py")

# safetensors v0.2.8, built offline against Debian's crates
sg=$(git_dir "$st_src" "$SAFETENSORS_TAG" "$work/st.git")
st_commit=$(git -C "$sg" rev-parse "$SAFETENSORS_TAG^{commit}")
mkdir -p "$work/st"
git -C "$sg" archive "$SAFETENSORS_TAG" | tar -x -C "$work/st"
mkdir -p "$work/st/bindings/python/.cargo"
cat > "$work/st/bindings/python/.cargo/config.toml" <<'EOF'
[source.crates-io]
replace-with = "debian"
[source.debian]
directory = "/usr/share/cargo/registry"
[net]
offline = true
EOF
# v0.2.8 names std::ffi::c_uint, stable from Rust 1.64; Debian 12's rustc is 1.63: the same type
# under its older path.
patched=
rust_minor=$(rustc --version | sed -n 's/^rustc 1\.\([0-9]*\).*/\1/p')
if [ "${rust_minor:-0}" -lt 64 ]; then
  sed -i 's/std::ffi::c_uint/std::os::raw::c_uint/' "$work/st/bindings/python/src/lib.rs"
  patched="; src/lib.rs: std::ffi::c_uint -> std::os::raw::c_uint (the same type; rustc < 1.64)"
fi
(cd "$work/st/bindings/python" && PYO3_PYTHON=/usr/bin/python3 CARGO_TARGET_DIR="$work/st-target" cargo build -q --release >&2)
rm -rf "$dest/safetensors"
cp -r "$work/st/bindings/python/py_src/safetensors" "$dest/safetensors"
cp "$work/st-target/release/libsafetensors_rust.so" "$dest/safetensors/safetensors_rust.so"
crates=$(cd "$work/st/bindings/python" && cargo tree -q --offline --prefix none -e normal 2>/dev/null |
  grep -E '^(pyo3|memmap2|serde_json|serde|libloading) v' | sed 's/ (.*)//' | sort -u | paste -sd ' ')
rustc_version=$(rustc --version)

# Check both import and the writer works, with the Python the generators use.
versions=$(PYTHONPATH=$dest /usr/bin/python3 -c "
import tempfile, os, torch, timm, safetensors
from safetensors.torch import save_file, load_file
p = os.path.join(tempfile.mkdtemp(), 't.safetensors')
save_file({'a': torch.arange(6.).reshape(2, 3)}, p)
assert torch.equal(load_file(p)['a'], torch.arange(6.).reshape(2, 3))
os.remove(p); os.rmdir(os.path.dirname(p))
print(timm.__version__, safetensors.__version__, torch.__version__)")

/usr/bin/python3 - "$dest/SOURCES.json" <<EOF
import json, sys
json.dump({
    'timm': 'huggingface/pytorch-image-models@$TIMM_COMMIT (timm $timm_version), git archive of timm/',
    'safetensors': 'huggingface/safetensors $SAFETENSORS_TAG ($st_commit), bindings/python built with cargo offline '
                   'against Debian 12 librust-* crates ($crates; $rustc_version$patched)',
    'torch': 'Debian 12 python3-torch / python3-torchvision',
}, open(sys.argv[1], 'w'), indent=1)
EOF
echo "setup-real-timm: timm, safetensors, torch = $versions in $dest" >&2
echo "export PYTHONPATH=$dest SQEX_PACKAGE_SOURCES=$dest/SOURCES.json"
