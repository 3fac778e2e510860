#!/usr/bin/env bash
# For a machine with a GPU: the benchmark step (docs/cli.md, `isd bench`) on every backend that can
# run there, and the PyTorch reference step (scripts/torch_isd_step.py) on CUDA, one JSON line each;
# well under ten minutes.
#
#   npm run build:node && scripts/device-check.sh [path/to/reference-step.py] [steps]
#
# Lines: {"backend":"tensorflow"|"webgpu"|"wasm", "imagesPerSec", "device", "adapter", ...} or
# {"backend":..., "error":"why it cannot run here"}; then {"engine":"pytorch-cuda", ...} or the reason
# it did not run. Each backend is forced with ISD_BACKEND and gets at most 150 s.
set -uo pipefail
cd "$(dirname "$0")/.."
TORCH_BENCH="${1:-scripts/torch_isd_step.py}"
STEPS="${2:-10}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

for backend in tensorflow webgpu wasm; do
  out=$(ISD_BACKEND=$backend timeout 150 node bin/isd.js bench --steps "$STEPS" --json 2>/dev/null)
  rc=$?
  BACKEND=$backend RC=$rc OUT="$out" node -e '
    const { BACKEND: backend, RC: rc, OUT: out } = process.env;
    const last = out.trim().split("\n").pop() || "";
    let r = null;
    try { r = JSON.parse(last); } catch {}
    if (rc === "0" && r && r.imagesPerSec) {
      console.log(JSON.stringify({ backend, imagesPerSec: +r.imagesPerSec.toFixed(1), bestImagesPerSec: +r.bestImagesPerSec.toFixed(1),
        batch: r.batch, steps: r.steps, device: r.device, adapter: r.adapter ?? null, versions: r.versions }));
    } else {
      const why = rc === "124" ? "timed out after 150 s" : (r && (r.message || r.error)) || last || `exit ${rc}`;
      console.log(JSON.stringify({ backend, error: String(why).slice(0, 400) }));
    }'
done

if [ -z "$TORCH_BENCH" ] || [ ! -f "$TORCH_BENCH" ]; then
  echo "{\"engine\":\"pytorch-cuda\",\"error\":\"no reference script given or found (${TORCH_BENCH:-none}): pass the path of the reference step as the first argument\"}"
elif ! python3 -c 'import torch' 2>/dev/null; then
  echo '{"engine":"pytorch-cuda","error":"python3 cannot import torch here"}'
elif ! python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo '{"engine":"pytorch-cuda","error":"torch imports but sees no CUDA device"}'
else
  # the step reads its loss back each time (loss.item()), so the timing waits for the GPU
  timeout 150 python3 "$TORCH_BENCH" --device cuda --steps "$STEPS" 2>&1 | tail -1 ||
    echo '{"engine":"pytorch-cuda","error":"the reference step failed or timed out"}'
fi
