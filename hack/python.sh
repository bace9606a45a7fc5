#!/usr/bin/env bash
# A Python 3.13 for the ansible-core releases that need Python >= 3.12 on the controller (2.20, 2.21), on a
# Debian 12 machine whose own python3 is 3.11. CPython 3.13.5 is built once from Debian trixie's source package
# (its orig tarball, checked against the sha256 below, which trixie's python3.13_3.13.5-2.dsc lists) into a cache
# outside the checkout, with build dependencies from the machine's own bookworm packages: nothing from trixie is
# installed into the system. Debian's own patches (debian/patches) are not applied: they adapt CPython to Debian's
# system layout (dist-packages, multiarch paths), which a private prefix does not have.
# Prints the python3.13 program's path on stdout; progress and timing go to stderr. Safe to run again and at once
# from several shells: a lock serialises builds, and a stamp written last marks a finished one.
set -euo pipefail

version=3.13.5
orig=python3.13_$version.orig.tar.xz
orig_sha256=93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640
# No PGO or LTO: the build runs once per machine, and at -j2 the profile run would more than double its time.
configure_flags=(--without-ensurepip --disable-test-modules)
key=$(printf '%s\n' "$version" "$orig_sha256" "${configure_flags[*]}" | sha256sum | cut -c1-16)
cache=${MESHBRIDGE_PYTHON_CACHE:-$HOME/.cache/meshbridge-lab}
prefix=$cache/python-$version-$key
python=$prefix/bin/python3.13
stamp=$prefix/.built

if [[ -e $stamp ]]; then
  echo "$python"
  exit 0
fi

# The Debian mirror the machine's apt uses (deb822 or one-line sources), else Debian's own redirector.
mirror=${MESHBRIDGE_DEBIAN_MIRROR:-$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
  grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ' || true)}
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}

# Only the headers of the modules the collection's tools use (ssl, ctypes for cffi, compression, sqlite3, uuid,
# readline for an interactive shell); CPython quietly leaves out a module whose library is missing, hence the
# import check after the build.
build_packages=(build-essential pkg-config curl xz-utils libssl-dev libffi-dev zlib1g-dev libbz2-dev liblzma-dev
  libsqlite3-dev uuid-dev libreadline-dev libncurses-dev)

mkdir -p "$cache"
exec 9>"$cache/python-$version-$key.lock"
flock 9
if [[ -e $stamp ]]; then # another shell built it while this one waited
  echo "$python"
  exit 0
fi

missing=()
for pkg in "${build_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "python.sh: installing build dependencies from the system's Debian release: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

sources=$cache/sources
mkdir -p "$sources"
# stdout carries only the program's path: sha256sum's verdicts go elsewhere.
if ! echo "$orig_sha256  $sources/$orig" | sha256sum -c --quiet >/dev/null 2>&1; then
  echo "python.sh: downloading $mirror/pool/main/p/python3.13/$orig" >&2
  curl -fsS -o "$sources/$orig.partial" "$mirror/pool/main/p/python3.13/$orig"
  echo "$orig_sha256  $sources/$orig.partial" | sha256sum -c --quiet >&2
  mv "$sources/$orig.partial" "$sources/$orig"
fi

started=$SECONDS
work=$prefix.build
rm -rf "$work" "$prefix"
mkdir -p "$work"
tar -xJf "$sources/$orig" -C "$work" --strip-components=1
cd "$work"
echo "python.sh: building CPython $version into $prefix (about 4 minutes on 2 cores)" >&2
./configure -q --prefix="$prefix" "${configure_flags[@]}" >&2
make -s -j"$(nproc)" >"$work.log" 2>&1 || { tail -n 40 "$work.log" >&2; exit 1; }
make -s install >>"$work.log" 2>&1 || { tail -n 40 "$work.log" >&2; exit 1; }
"$python" -c 'import bz2, ctypes, hashlib, lzma, readline, sqlite3, ssl, uuid, venv, zlib' ||
  { echo "python.sh: the build lacks a module above; see $work.log" >&2; exit 1; }
# venv needs pip's wheel from ensurepip, which the build installs even without running it.
"$python" -c 'import ensurepip; ensurepip.version()' >/dev/null
cd "$cache"
rm -rf "$work" "$work.log"
touch "$stamp"
echo "python.sh: built CPython $version in $((SECONDS - started)) s" >&2
echo "$python"
