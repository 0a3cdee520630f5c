#!/usr/bin/env bash
# Copies what bench/gpu_check.sh needs from ../shared/golden into .golden/ (git-ignored, ~32 MB,
# within the device tool's 64 MiB carry limit): model configs (no tokenizer), tensor hashes and the cases' arrays,
# without the decoded frames and without weights (they are regenerated there).
set -euo pipefail
cd "$(dirname "$0")/.."
src=../shared/golden
rm -rf .golden && mkdir -p .golden/models .golden/cases
cp "$src/cases.json" .golden/
cp "$src/models/presets.json" .golden/models/
for m in "$src"/models/*/; do
  name=$(basename "$m"); mkdir -p ".golden/models/$name"
  cp "$m"/config.json "$m"/generation_config.json "$m"/preprocessor_config.json "$m/tensors.sha256" ".golden/models/$name/"
done
for c in "$src"/cases/*/; do
  name=$(basename "$c"); mkdir -p ".golden/cases/$name"
  find "$c" -maxdepth 1 -type f ! -name frames_selected_u8.npy -exec cp {} ".golden/cases/$name/" \;
done
chmod -R u+w .golden
du -sh .golden
