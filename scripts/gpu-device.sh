#!/bin/bash
# GPU check, run on the GPU machine from the repository root after scripts/gpu-pack.sh packed
# .devpack and .gl here and both travelled along. Writes JSON into $OUT (default gpu-out/):
# tensor parity + latency of both models (scripts/gpu-check.mjs), the engine bench and the eval on
# webgpu and on cpu, and the parity in the EP's default NHWC layout for comparison.
set -u
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
mkdir -p /tmp/n node_modules
tar -C node_modules -xJf .devpack/nm.tar.xz 2>/dev/null || python3 -c "import tarfile; tarfile.open('.devpack/nm.tar.xz','r:xz').extractall('node_modules')"
python3 - <<'PY'
import lzma, shutil, tarfile
with lzma.open('.devpack/node.xz') as s, open('/tmp/n/node', 'wb') as d: shutil.copyfileobj(s, d)
tarfile.open('.devpack/ort.tar.xz', 'r:xz').extractall('node_modules')
PY
chmod +x /tmp/n/node; export PATH=/tmp/n:$PATH
nvidia-smi -L; nvidia-smi --query-gpu=driver_version --format=csv,noheader; nproc
node --version; sha256sum models/fusion-intermediate.onnx models/fusion-late.onnx
FRAMES=""; [ -f .devpack/val/index.json ] && FRAMES="--frames .devpack/val"
F='XDG_RUNTIME|shaderUniform|While initializing|InitializeImpl'
for m in intermediate late; do
  timeout 90 node scripts/gpu-check.mjs --ep webgpu --model models/fusion-$m.onnx --iters 300 $FRAMES --out "$OUT/webgpu-$m.json" > /tmp/gc.log 2>&1
  rc=$?; echo "== gpu-check $m (NCHW) exit $rc"
  [ $rc -ne 0 ] && grep -v -E "$F" /tmp/gc.log | tail -20
  python3 - "$OUT/webgpu-$m.json" <<'PY'
import json, sys
try: r = json.load(open(sys.argv[1]))
except Exception as e: print("no json", e); sys.exit()
print("parity max", r["parity"]["max_abs_diff"] if "parity" in r else None, "ok", r.get("parity", {}).get("ok"), "error", r.get("error"))
for ep in ("cpu", "webgpu"):
  for b in ("batch1", "batch16"):
    t = r.get(ep, {}).get(b)
    if t: print(" ", ep, b, "p50 %.3f p99 %.3f per-frame %.3f" % (t["p50_ms"], t["p99_ms"], t["per_frame_p50_ms"]))
PY
done
for ep in webgpu cpu; do
  echo "== bench inference --ep $ep"
  timeout 150 node bin/fusion.js bench inference --ep $ep 2>&1 | grep -v -E "$F"
  f=inference-$ep.json; [ "$ep" = cpu ] && f=inference.json  # bench writes cpu results to <suite>.json
  cp "bench/results/$f" "$OUT/inference-$ep.json"
done
for ep in webgpu cpu; do
  echo "== eval --ep $ep"
  timeout 150 node bin/fusion.js eval --seeds 9001,9002,9003 --models intermediate,late --conditions all,no_lidar --ep $ep --out "$OUT/eval-$ep.json" 2>&1 | grep -v -E "$F" | tail -8
done
echo "== NHWC (the EP default) for comparison"
timeout 60 node scripts/gpu-check.mjs --ep webgpu --layout NHWC --iters 20 $FRAMES --out "$OUT/nhwc.json" > /dev/null 2>&1
python3 -c "import json; r=json.load(open('$OUT/nhwc.json')); print('NHWC parity max', r['parity']['max_abs_diff'], r['parity'].get('real'))"
