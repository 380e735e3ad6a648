#!/usr/bin/env bash
# Builds build/OrthancAzureBlobStorage.so with cmake-js, offline, against libnode's headers.
# cmake-js is told where libnode is; it takes no headers from ~/.npmrc's nodedir and downloads nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX="${LIBNODE_PREFIX:-$PWD/.deps/libnode}"
[ -e "$PREFIX/usr/include/node/node.h" ] || PREFIX=""   # stock Debian/Ubuntu: libnode-dev in /usr
npx --no-install cmake-js build --out build --config Release \
  --CDLIBNODE_PREFIX="$PREFIX" --CDCMAKE_BUILD_TYPE=Release --log-level warn
test -f build/OrthancAzureBlobStorage.so
