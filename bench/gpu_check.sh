#!/usr/bin/env bash
# The GPU check: builds the CUDA backend on the lent GPU machine, runs the GPU tests, times the
# kernels and the whole 2B model, and checks the golden cases with Hugging Face transformers.
#
# The device machine (one H100 or H200; see /work/.library/device/KINDS.md) has CUDA 13 (nvcc),
# PyTorch + transformers, CMake and ninja, 16 cores, no internet and none of the Debian -dev
# packages vcap needs (FFmpeg, oneDNN, PCRE2, ...). So the build there is the reduced
# VCAP_GPU_CHECK_ONLY=ON target set (base, io, tensor, the CUDA backend, model, tests/gpu,
# bench/gpu_*), which needs only GoogleTest, nlohmann-json and zlib: those are carried from here.
#
# 1. Here, no device time (needs ../shared and this machine's CUDA toolkit):
#      scripts/prepare_device_golden.sh   # .golden/ (~33 MB): data of the transformers check
#                                         # (the tree + both folders must stay under 64 MiB)
#      bench/gpu_check.sh --prepare       # .gpu_deps/ (~15 MB): GoogleTest, nlohmann-json, zlib for
#                                         # the build there, and binaries built here (sm_90) as
#                                         # a fallback should the build there fail
# 2. One device call (device tool `run`), ~6-8 minutes of command time plus the machine's start:
#      command: "bash bench/gpu_check.sh"
#      carry:   [".golden", ".gpu_deps"]
#      timeout_s: 600
#    Leave kind out (H100 unless none is free; the summary names the GPU).
# 3. Copy the files it returns ($OUT, at most 8) into bench/results/gpu_check_<date>/ and
#    commit them with the GPU named; then give the machine back (device tool `give_back`).
#
# Steps: configure + build (Release, -j16) -> ctest -L gpu (failed tests again under
# compute-sanitizer memcheck) -> gpu_ops_bench (matmul vs bare cuBLASLt, attention f32 vs
# tensor cores) -> gpu_model_bench on the random 2B (generated into
# /tmp; one 10 s clip, then 8 with the GPU's busy share sampled, then 16) -> bench/gpu_hf_bench.py
# (transformers on the same clip and checkpoint) -> gpu_model_bench with 1024-row prefill
# chunks (the CPU's; GPUs take 8192) -> gpu_model_bench --profile 1 (GPU and host time per op;
# then the decode step alone, on short clips) ->
# compute-sanitizer racecheck and memcheck on the attention, score, gemv and norm tests (45 s
# each) ->
# scripts/hf_reference_check.py on .golden with the time left.
# Each step has its own time limit, cut to what is left before 570 s (a step with under 15 s
# left is skipped), and the script goes on after a failure; the benches write a line at a time
# and each model run's log joins gpu_model_bench.md as soon as it ends, so a step stopped by
# its limit loses nothing before it. summary.txt (also printed last) says what passed; the
# commit comes from VCAP_COMMIT, else .gpu_deps/COMMIT (written by --prepare), else git. Files in $OUT: summary.txt, build.log, gpu_tests.log,
# gpu_tests.xml, gpu_ops_bench.md, gpu_model_bench.md, hf_reference.log, hf_reference.json.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
deps=$repo/.gpu_deps

# A fingerprint of the sources the check builds and runs, to tell whether .gpu_deps/COMMIT still
# names the tree it runs on (the same on both machines: sorted paths and contents).
tree_fingerprint() {
  find src tests bench scripts CMakeLists.txt cmake -type f ! -path 'bench/results/*' \
    ! -name '*.pyc' -print0 2>/dev/null | LC_ALL=C sort -z | xargs -0 sha1sum | sha1sum |
    cut -c1-16
}

# zlib (CSV gzip in the io module) from .gpu_deps, as the device machine may lack its headers.
zlib_flags() {
  echo "-DZLIB_INCLUDE_DIR=$deps/usr/include -DZLIB_LIBRARY=$deps/usr/lib/x86_64-linux-gnu/libz.a"
}

prepare() {
  # GoogleTest and nlohmann-json as installed prefixes (their CMake configs find the prefix
  # relative to themselves), then the reduced build here for sm_90 as a fallback.
  set -e
  rm -rf "$deps" && mkdir -p "$deps/usr/include" "$deps/usr/lib/x86_64-linux-gnu/cmake" \
    "$deps/usr/share/cmake" "$deps/prebuilt"
  cp -r /usr/include/gtest /usr/include/gmock /usr/include/nlohmann "$deps/usr/include/"
  cp /usr/include/zlib.h /usr/include/zconf.h "$deps/usr/include/"
  cp /usr/lib/x86_64-linux-gnu/libgtest*.a /usr/lib/x86_64-linux-gnu/libgmock*.a \
    /usr/lib/x86_64-linux-gnu/libz.a "$deps/usr/lib/x86_64-linux-gnu/"
  cp -r /usr/lib/x86_64-linux-gnu/cmake/GTest "$deps/usr/lib/x86_64-linux-gnu/cmake/"
  cp -r /usr/share/cmake/nlohmann_json "$deps/usr/share/cmake/"
  grep -qsx '/.gpu_deps/' .git/info/exclude || echo '/.gpu_deps/' >> .git/info/exclude
  cmake -S . -B build/gpu-check-prebuilt -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DVCAP_GPU_CHECK_ONLY=ON -DCMAKE_CUDA_ARCHITECTURES=90 $(zlib_flags) > /dev/null
  cmake --build build/gpu-check-prebuilt -j"${JOBS:-2}" --target vcap_gpu_tests gpu_ops_bench \
    gpu_model_bench
  cp build/gpu-check-prebuilt/tests/gpu/vcap_gpu_tests build/gpu-check-prebuilt/gpu_ops_bench \
    build/gpu-check-prebuilt/gpu_model_bench "$deps/prebuilt/"
  strip "$deps"/prebuilt/*
  # The device's copy of the tree has no .git: the summary names the commit from here.
  echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' + uncommitted changes')" \
    > "$deps/COMMIT"
  tree_fingerprint > "$deps/TREE"
  du -sh "$deps"
  # .golden comes from scripts/prepare_device_golden.sh; the check needs both.
  if [ -d .golden ]; then du -sh .golden; else echo "no .golden yet: run scripts/prepare_device_golden.sh"; fi
}

if [ "${1:-}" = "--prepare" ]; then
  prepare
  exit $?
fi

out="${OUT:-$repo/bench/results/gpu_check_out}"
mkdir -p "$out"
summary=$out/summary.txt
start=$(date +%s)
# Everything ends by 570 s of the command's 600 (VCAP_GPU_CHECK_SECONDS for a shorter call, when
# less device time is left): the files written by then come back.
deadline=$((start + ${VCAP_GPU_CHECK_SECONDS:-570}))
elapsed() { echo $(($(date +%s) - start)); }
note() { echo "$*" | tee -a "$summary"; }
# step NAME LIMIT_S LOG COMMAND...: runs with a time limit (cut to what is left before the
# deadline; skipped under 15 s), output to LOG, result to the summary.
step() {
  local name=$1 limit=$2 log=$3
  shift 3
  local t0=$(date +%s)
  local left=$((deadline - t0))
  if [ "$left" -lt 15 ]; then
    note "$(printf '%-22s skipped: %ss left' "$name" "$left")"
    return 124
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  timeout -k 5 "$limit" "$@" > "$log" 2>&1
  local rc=$?
  note "$(printf '%-22s rc=%-3s %4ss' "$name" "$rc" "$(($(date +%s) - t0))")"
  return $rc
}
# model_step NAME LIMIT_S ARGS...: a gpu_model_bench (or transformers) run whose log is added
# to gpu_model_bench.md as soon as it ends, so a later timeout loses nothing of it.
model_step() {
  local name=$1 limit=$2
  shift 2
  step "$name" "$limit" "/tmp/vcap_$name.log" "$@"
  local rc=$?
  cat "/tmp/vcap_$name.log" >> "$out/gpu_model_bench.md" 2>/dev/null
  return $rc
}

: > "$summary"
: > "$out/gpu_model_bench.md"
# .gpu_deps/COMMIT first: the device's copy of the tree may carry a .git of an older commit (the
# session's first), and the files are what --prepare saw here.
commit=${VCAP_COMMIT:-$(cat "$deps/COMMIT" 2>/dev/null || git rev-parse --short HEAD 2>/dev/null)}
note "== vcap GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), commit ${commit:-unknown}"
if [ -z "${VCAP_COMMIT:-}" ] && [ -f "$deps/TREE" ] && [ "$(tree_fingerprint)" != "$(cat "$deps/TREE")" ]; then
  note "WARNING: the sources differ from those 'gpu_check.sh --prepare' saw: the commit above may not be what runs"
fi
note "$(nvidia-smi --query-gpu=name,memory.total,driver_version,compute_mode --format=csv,noheader 2>&1)"
note "cuBLASLt: $(ls /usr/local/cuda/lib64/libcublasLt.so* 2>&1 | head -n 1)"
export CUDACXX=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
note "nvcc: $("$CUDACXX" --version 2>&1 | tail -n 2 | head -n 1)"
note "c++: $(c++ --version 2>&1 | head -n 1); cmake: $(cmake --version 2>&1 | head -n 1)"
note "$(python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' 2>&1 | tail -n 1)"
# The toolkit's libraries for our binaries only: torch brings its own cuDNN/cuBLAS, which a
# toolkit folder ahead of them on the path could replace with other versions.
cuda_env=(env "LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
export VCAP_TEST_DATA_DIR=$repo/tests/data
export PYTHONUNBUFFERED=1
bin=""

# 1. Build the reduced target set for this GPU (sm_90; the kernels' code is the same for 80).
build=$repo/build/gpu-check
if [ -d "$deps/usr" ]; then
  step configure 120 "$out/build.log" cmake -S . -B "$build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DVCAP_GPU_CHECK_ONLY=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DCMAKE_CUDA_COMPILER="$CUDACXX" \
    -DGTest_DIR="$deps/usr/lib/x86_64-linux-gnu/cmake/GTest" \
    -Dnlohmann_json_DIR="$deps/usr/share/cmake/nlohmann_json" $(zlib_flags) &&
    step build 300 "$out/build.step.log" cmake --build "$build" -j16 &&
    bin=$build
  cat "$out/build.step.log" >> "$out/build.log" 2>/dev/null
  rm -f "$out/build.step.log"
else
  note "no .gpu_deps/: run 'bench/gpu_check.sh --prepare' here and carry it"
fi
if [ -z "$bin" ] && [ -x "$deps/prebuilt/vcap_gpu_tests" ]; then
  note "build failed: using the binaries built on the dev machine (.gpu_deps/prebuilt)"
  bin=prebuilt
fi

# 2. GPU tests (one CUDA context per test: run 8 at a time).
if [ "$bin" = "$build" ]; then
  step gpu_tests 240 "$out/gpu_tests.log" "${cuda_env[@]}" ctest --test-dir "$build" -L gpu -j8 -V \
    --timeout 180 --output-junit "$out/gpu_tests.xml"
  ops=$build/gpu_ops_bench
  model=$build/gpu_model_bench
elif [ "$bin" = prebuilt ]; then
  step gpu_tests 240 "$out/gpu_tests.log" "${cuda_env[@]}" "$deps/prebuilt/vcap_gpu_tests" \
    --gtest_output="xml:$out/gpu_tests.xml"
  ops=$deps/prebuilt/gpu_ops_bench
  model=$deps/prebuilt/gpu_model_bench
fi
if [ -n "$bin" ]; then
  note "$(grep -E 'tests passed|tests failed|PASSED|FAILED  \]' "$out/gpu_tests.log" | tail -n 4)"
  # Failed GPU tests again under compute-sanitizer's memcheck (out-of-bounds and misaligned
  # accesses, API errors), so that one run names the faulting kernel and address; appended to
  # gpu_tests.log ($OUT brings back at most 8 files).
  failed=$( (grep -E '^[[:space:]]*[0-9]+ - .*\(Failed|SEGFAULT|Subprocess aborted|Exception|Timeout\)' \
    "$out/gpu_tests.log" | sed -E 's/^[[:space:]]*[0-9]+ - ([^ ]+).*/\1/'
    grep -E '^\[  FAILED  \] [^ ]+\.[^ ]+' "$out/gpu_tests.log" | sed -E 's/^\[  FAILED  \] ([^ ,]+).*/\1/') |
    sort -u | head -n 8 | paste -sd: -)
  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  tests_bin=$deps/prebuilt/vcap_gpu_tests
  [ "$bin" = "$build" ] && tests_bin=$build/tests/gpu/vcap_gpu_tests
  if [ -n "$failed" ] && [ -x "$sanitizer" ]; then
    step gpu_tests_memcheck 120 /tmp/vcap_gpu_memcheck.log "${cuda_env[@]}" "$sanitizer" --tool memcheck \
      --print-limit 20 "$tests_bin" --gtest_filter="$failed"
    { echo; echo "== compute-sanitizer --tool memcheck, --gtest_filter=$failed";
      tail -n 300 /tmp/vcap_gpu_memcheck.log; } >> "$out/gpu_tests.log"
  fi
  # 3. Kernels against bare cuBLASLt, attention at the model's sizes.
  step gpu_ops_bench 150 "$out/gpu_ops_bench.md" "${cuda_env[@]}" "$ops" --repeats 20
  # 4. The whole random 2B model (generated here into /tmp, ~4.4 GB): one 10 s clip, then 8.
  model_step gpu_model_b1 200 "${cuda_env[@]}" "$model" --new-tokens 200 --batch 1
  # GPU busy: nvidia-smi's utilization (share of time a kernel ran) sampled every 100 ms during
  # the batched run; the mean of the samples inside its measured window (printed by the bench;
  # loading and warm-up left out) goes to the summary. The samples stay in /tmp: $OUT brings
  # back at most 8 files.
  nvidia-smi --query-gpu=timestamp,utilization.gpu --format=csv,noheader,nounits -lms 100 \
    > /tmp/vcap_gpu_busy_b8.txt 2>/dev/null &
  sampler=$!
  model_step gpu_model_b8 150 "${cuda_env[@]}" "$model" --new-tokens 200 --batch 8
  kill "$sampler" 2>/dev/null
  wait "$sampler" 2>/dev/null
  note "gpu busy during b8: $(python3 - /tmp/vcap_gpu_model_b8.log /tmp/vcap_gpu_busy_b8.txt <<'PY' 2>&1 | tail -n 1
import datetime, sys
window = [l.split()[-2:] for l in open(sys.argv[1]) if l.startswith("measured window")]
if not window:
    sys.exit(print("n/a (the run printed no measured window)"))
begin, end = map(float, window[-1])
values = []
for line in open(sys.argv[2]):
    stamp, _, value = line.rpartition(",")
    when = datetime.datetime.strptime(stamp.strip(), "%Y/%m/%d %H:%M:%S.%f").timestamp()
    if begin <= when <= end and value.strip().isdigit():
        values.append(int(value))
print(f"{sum(values) / len(values):.0f}% (mean of {len(values)} samples in the "
      f"{end - begin:.1f} s measured window)" if values else "n/a (no sample in the window)")
PY
)"
  # Batching beyond 8: does clips/s still grow?
  model_step gpu_model_b16 120 "${cuda_env[@]}" "$model" --new-tokens 200 --batch 16
  # 5. The same clip through transformers (bf16, sdpa, greedy, 200 new tokens), same checkpoint.
  if [ -f /tmp/vcap_bench_2b/config.json ]; then
    model_step hf_model_b1 150 python3 bench/gpu_hf_bench.py --new-tokens 200
  fi
  # The prefill of the previous default chunk (1024 rows; GPUs now take 8192) for comparison.
  model_step gpu_model_chunk1024 90 "${cuda_env[@]}" "$model" --new-tokens 1 --batch 1 \
    --prefill-rows 1024
  # 6. Where the GPU time goes: the batch of 8 again with 32 new tokens, every op timed.
  model_step gpu_model_profile 120 "${cuda_env[@]}" "$model" --new-tokens 32 --batch 8 \
    --profile 1
  # The decode step alone: short clips (one frame pair), 200 new tokens; its GPU and host time
  # per op (a launch-bound step's host time is spread over these calls).
  model_step gpu_model_profile_decode 90 "${cuda_env[@]}" "$model" --clip-seconds 0.5 \
    --new-tokens 200 --batch 8 --profile 1
fi

# 7. The attention, score, decode-product (gemv) and norm kernels under compute-sanitizer even
# when their tests pass: racecheck (shared-memory races, which the CPU emulator of the kernels
# cannot show) and memcheck (an out-of-bounds access can still give the right numbers).
# Appended to gpu_tests.log.
if [ -n "$bin" ] && [ -x "$sanitizer" ]; then
  for tool in racecheck memcheck; do
    filter='CudaAttention.TensorCoreKernel*:CudaAttention.CausalGqaPrefillWithCachedPrefix'
    filter="$filter:CudaAttention.Bf16CacheDecodeAndPrefillMatchReference"
    filter="$filter:CudaAttention.RepeatedSplitDecode*:CudaMatmul.DecodeBatches*:CudaOps.*Norm*"
    [ "$tool" = memcheck ] && filter="$filter:CudaOps.ProcessScoresMatchesTheReferenceBitForBit"
    step "gpu_tests_$tool" 45 "/tmp/vcap_gpu_$tool.log" "${cuda_env[@]}" "$sanitizer" \
      --tool "$tool" --print-limit 20 "$tests_bin" --gtest_filter="$filter"
    { echo; echo "== compute-sanitizer --tool $tool, --gtest_filter=$filter";
      tail -n 100 "/tmp/vcap_gpu_$tool.log"; } >> "$out/gpu_tests.log"
    note "$tool: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "/tmp/vcap_gpu_$tool.log" | tail -n 1)"
  done
elif [ -n "$bin" ]; then
  note "no compute-sanitizer ($sanitizer): racecheck and memcheck skipped"
fi

# 8. Hugging Face transformers on the golden cases, with the time that is left.
if [ -d .golden ]; then
  left=$((deadline - $(date +%s)))
  if [ "$left" -gt 60 ]; then
    step hf_reference "$left" "$out/hf_reference.log" \
      python3 scripts/hf_reference_check.py --golden .golden --out "$out"
  else
    note "hf_reference skipped: ${left}s left"
  fi
else
  note "no .golden/: run scripts/prepare_device_golden.sh and carry it"
fi

note "== done in $(elapsed)s"
echo
cat "$out/gpu_ops_bench.md" "$out/gpu_model_bench.md" 2>/dev/null |
  grep -E '^\||clips/s|^#|decode step on the host' | head -n 100
echo
cat "$summary"
