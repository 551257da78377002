# Sourced by the scripts/setup-*.sh installers (Debian/Ubuntu): which packages are missing, and
# installing them as root or through sudo.
#   apt_missing pkg...   sets the array `missing` to the packages dpkg does not list as installed
#   apt_install pkg...   apt-get update, then a non-interactive install without recommends
#   apt_ensure NAME HINT pkg...   the two together; without apt-get, says "NAME: ... HINT" and exits 1
# `sudo` is an array: empty as root, (sudo) otherwise.
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)

apt_missing() {
  missing=()
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
}

apt_install() {
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@"
}

apt_ensure() {
  local name=$1 hint=$2
  shift 2
  if ! command -v apt-get >/dev/null; then
    echo "$name: apt-get not found; $hint" >&2
    exit 1
  fi
  apt_missing "$@"
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}
