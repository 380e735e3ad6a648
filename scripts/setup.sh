#!/usr/bin/env bash
# One idempotent set-up step: brings a fresh Debian 12 machine to a working build.
#   - Debian packages: orthanc, orthanc-dev, dcmtk, cmake, g++, libuv1-dev, libc-ares2
#   - libnode108 + libnode-dev, extracted into a private prefix (.deps/libnode), because
#     apt refuses libnode108 next to nodesource's "nodejs" package
#   - node-acorn, node-cjs-module-lexer, node-undici extracted into / (libnode loads them
#     from /usr/share/nodejs at start)
#   - npm dependencies (npm ci), then the plugin build.
# Re-running it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PREFIX="${LIBNODE_PREFIX:-$ROOT/.deps/libnode}"
APT_PACKAGES=(orthanc orthanc-dev dcmtk cmake g++ libuv1-dev libc-ares2 nlohmann-json3-dev python3-azure-storage)
LIBNODE_DEBS=(libnode108 libnode-dev)
SHARED_JS_DEBS=(node-acorn node-cjs-module-lexer node-undici)
SHARED_JS_DIRS=(/usr/share/nodejs/acorn /usr/share/nodejs/cjs-module-lexer /usr/share/nodejs/undici)

log() { printf '[setup] %s\n' "$*"; }

missing_apt=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing_apt+=("$p")
done
missing_shared=()
for i in "${!SHARED_JS_DIRS[@]}"; do
  [ -e "${SHARED_JS_DIRS[$i]}" ] || missing_shared+=("${SHARED_JS_DEBS[$i]}")
done

if [ "$(id -u)" != 0 ] && { [ ${#missing_apt[@]} -gt 0 ] || [ ${#missing_shared[@]} -gt 0 ]; }; then
  echo "[setup] These steps need root. Run them, then run this script again:" >&2
  echo "  sudo apt-get update" >&2
  [ ${#missing_apt[@]} -gt 0 ] && echo "  sudo apt-get install -y --no-install-recommends ${missing_apt[*]}" >&2
  if [ ${#missing_shared[@]} -gt 0 ]; then
    echo "  (cd \$(mktemp -d) && apt-get download ${missing_shared[*]} && for f in *.deb; do sudo dpkg -x \"\$f\" /; done)" >&2
  fi
  exit 1
fi

apt_updated=0
apt_update_once() { [ $apt_updated = 1 ] || { log "apt-get update"; apt-get update -qq; apt_updated=1; }; }

if [ ${#missing_apt[@]} -gt 0 ]; then
  apt_update_once
  log "apt-get install ${missing_apt[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >/dev/null
fi

download_debs() { # $1 = target dir, rest = package names
  local dir=$1; shift
  mkdir -p "$dir"
  ( cd "$dir" && apt-get download "$@" 2>/dev/null ) || { apt_update_once; ( cd "$dir" && apt-get download "$@" ); }
}

if [ ${#missing_shared[@]} -gt 0 ]; then
  tmp=$(mktemp -d)
  download_debs "$tmp" "${missing_shared[@]}"
  for f in "$tmp"/*.deb; do log "extracting $(basename "$f") into /"; dpkg -x "$f" /; done
  rm -rf "$tmp"
fi

if [ ! -e "$PREFIX/usr/lib/x86_64-linux-gnu/libnode.so.108" ] || [ ! -e "$PREFIX/usr/include/node/node.h" ]; then
  tmp=$(mktemp -d)
  download_debs "$tmp" "${LIBNODE_DEBS[@]}"
  mkdir -p "$PREFIX"
  for f in "$tmp"/*.deb; do log "extracting $(basename "$f") into $PREFIX"; dpkg -x "$f" "$PREFIX"; done
  rm -rf "$tmp"
fi
# libnode-dev ships the unversioned link; make sure it exists for the linker.
[ -e "$PREFIX/usr/lib/x86_64-linux-gnu/libnode.so" ] || ln -s libnode.so.108 "$PREFIX/usr/lib/x86_64-linux-gnu/libnode.so"

lock_hash=$(sha256sum package-lock.json | cut -c1-64)
if [ ! -f node_modules/.setup-lock-hash ] || [ "$(cat node_modules/.setup-lock-hash)" != "$lock_hash" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.setup-lock-hash
fi

log "building the plugin"
LIBNODE_PREFIX="$PREFIX" npm run --silent build
log "ready: $ROOT/build/OrthancAzureBlobStorage.so"
