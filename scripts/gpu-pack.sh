#!/bin/sh
# Packs what scripts/gpu-device.sh needs on a bare GPU machine that cannot reach a registry:
#   .devpack/node.xz       this machine's Node binary (x86-64 Linux)
#   .devpack/ort.tar.xz    onnxruntime-node (linux-x64 binaries only) and onnxruntime-common
#   .devpack/nm.tar.xz     the rest of node_modules, without dev-only tools (biome, typescript, playwright)
#   .devpack/val/          one validation split of the dataset (real rasters for the parity check)
#   .gl/*.deb              Debian's Vulkan loader and GL dispatch libraries, unpacked there
# About 50 MB in all; both folders are git-ignored build outputs.
# Usage: sh scripts/gpu-pack.sh [dataset split dir, default data/bev/val]
set -eu
cd "$(dirname "$0")/.."
split=${1:-data/bev/val}
[ "$(uname -m)" = x86_64 ] || { echo "gpu-pack: needs an x86-64 machine (the GPU machine is x86-64)" >&2; exit 2; }
[ -d node_modules/onnxruntime-node ] || { echo "gpu-pack: run npm ci first" >&2; exit 2; }
mkdir -p .devpack .gl
xz -T0 -6 -c "$(command -v node)" > .devpack/node.xz
tar -C node_modules -cJf .devpack/ort.tar.xz onnxruntime-common onnxruntime-node/package.json \
  onnxruntime-node/dist onnxruntime-node/lib onnxruntime-node/bin/napi-v6/linux/x64
tar -C node_modules -cJf .devpack/nm.tar.xz --exclude=./onnxruntime-node --exclude=./onnxruntime-common \
  --exclude=./@biomejs --exclude=./typescript --exclude=./playwright-core --exclude=./playwright \
  --exclude=./@types .
if [ -f "$split/index.json" ]; then rm -rf .devpack/val && cp -r "$split" .devpack/val; else
  echo "gpu-pack: no dataset split at $split (npm run dataset); parity runs on synthetic inputs only" >&2; fi
mkdir -p /tmp/gpu-pack-apt/partial
o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/gpu-pack-apt"
# shellcheck disable=SC2086
apt-get $o update >/dev/null
# shellcheck disable=SC2086
(cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
du -sh .devpack .gl
