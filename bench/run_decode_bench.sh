#!/usr/bin/env bash
# Builds decode_bench (release) and runs it on the dev media set, pinned to 2 cores.
# Usage: bench/run_decode_bench.sh [--repeats N] [FILE...]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release --target decode_bench
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores online, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ffmpeg: $(ffmpeg -version | head -1)"
exec taskset -c 0,1 build/release/bench/decode_bench "$@"
