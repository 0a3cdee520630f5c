#!/usr/bin/env bash
# The whole-model benchmark of issue #8 on this machine: `vcap bench` on the random 2B
# checkpoint, three runs, each reported against yardsticks measured in the same process.
#   1. the default: 10 s 1280x720 clip (40 frames, 7,280 visual tokens), 200 new tokens, bs 1
#   2. a 2 s clip at --bs 4 with 32 new tokens: 5 copies, 4 in one batch, then the fifth alone,
#      which gives the bs-1 step time of the same run
#   3. a 2 s clip (8 frames, 1,456 visual tokens), 32 new tokens: the end-to-end floor case
# Writes bench/results/model_<date>_<run>.{md,json}. Run from anywhere; ~4.4 GB of disk in
# $TMPDIR/vcap_bench (the checkpoint, generated once). Usage: bench/run_model_bench.sh [RUN...]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release --target vcap
out=bench/results
date=$(date +%F)
runs=("${@:-clip10s_bs1 clip2s_bs4 clip2s_bs1}")
for run in ${runs[@]}; do
  case $run in
    clip10s_bs1) args=(--clip-seconds 10 --bs 1 --max-new-tokens 200) ;;
    clip2s_bs4) args=(--clip-seconds 2 --bs 4 --clips 5 --max-new-tokens 32) ;;
    clip2s_bs1) args=(--clip-seconds 2 --bs 1 --max-new-tokens 32) ;;
    *) echo "unknown run $run" >&2; exit 2 ;;
  esac
  {
    echo "# vcap bench ${args[*]} ($date)"
    echo
    echo "Load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    build/release/vcap bench "${args[@]}" --json-file "$out/model_${date}_$run.json"
    echo
    echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)."
  } > "$out/model_${date}_$run.md"
  cat "$out/model_${date}_$run.md"
done
