#!/usr/bin/env bash
# Installs the dependencies and builds vcap. Usage: scripts/build.sh [release|sanitize|debug]
# The build folder is build/<type>; rebuilding is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
type="${1:-release}"
case "$type" in
  release) cmake_type=Release ;;
  sanitize) cmake_type=Sanitize ;;
  debug) cmake_type=Debug ;;
  *) echo "usage: scripts/build.sh [release|sanitize|debug]" >&2; exit 2 ;;
esac
scripts/install_deps.sh
cmake -S . -B "build/$type" -G Ninja -DCMAKE_BUILD_TYPE="$cmake_type" >/dev/null
cmake --build "build/$type"
