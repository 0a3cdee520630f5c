#!/usr/bin/env bash
# Builds decode_bench (Release) and runs it on the dev media set, pinned to 2 cores.
# Usage: bench/run_decode_bench.sh [--repeats N] [--checksum] [FILE...]   (from anywhere)
# BUILD_DIR (default build/media-release) is the CMake build folder to use.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${BUILD_DIR:-build/media-release}"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" --target decode_bench -j2
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores online, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ffmpeg: $(ffmpeg -version | head -1)"
# Both processes are pinned to the same 2 cores; the CPU-time ratio is the figure to compare.
taskset -c 0,1 "$build_dir/bench/decode_bench" "$@"
echo "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
