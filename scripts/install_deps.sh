#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages vcap needs to build, test and run.
# Skips apt when everything is already there; uses sudo when not root.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-dev
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev ffmpeg
  libdnnl-dev nlohmann-json3-dev libpcre2-dev libutf8proc-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcurl4-openssl-dev libcpp-httplib-dev zlib1g-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
