#!/usr/bin/env bash
# The whole build of a recipe on the GPU machine (device tool), timed end to end:
# ingest → track → fit_renderer → evaluate → package, then `avatarzoo eval`.
#
#   bash benchmarks/gpu_build.sh [RECIPE] [PROFILE]      (on the device machine, carry [".gpu"])
#   GPUS=2 bash benchmarks/gpu_build.sh recipes/demo-v1.yaml h100x2   (data-parallel fit on
#   2 GPUs; compare with the h100 profile on 1 GPU, each from an empty /tmp/azcache)
#
# .gpu/ holds what the GPU image lacks (made on the dev machine): pydantic, gsplat and
# protobuf 4.25 wheels, and mpav.tar.xz = mediapipe 0.10.14 + PyAV installed trees
# (hand/palm/holistic/objectron models pruned) to fit the 64 MiB a call may carry.
# gsplat's CUDA kernels are compiled first, outside the timed build, and timed alone.
set -euo pipefail
recipe=${1:-recipes/demo-v1.yaml}
profile=${2:-h100}
out=${OUT:-/tmp/out}
rm -rf /tmp/azcache  # every run from an empty cache (a warm machine keeps /tmp)
mkdir -p "$out" /tmp/site /tmp/x
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/*.whl
tar xJf .gpu/mpav.tar.xz -C /tmp/x && cp -r /tmp/x/mp/. /tmp/x/av/. /tmp/site/
export PYTHONPATH=/tmp/site:src PYTHONUNBUFFERED=1 TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16
export AVATARZOO_CACHE=/tmp/azcache NCCL_NVLS_ENABLE=0
log="$out/build.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$log"
start=$(date +%s.%N)
python3 - <<'PY' 2>&1 | tail -3
import torch, gsplat
m = torch.randn(100, 3, device="cuda"); m[:, 2] = m[:, 2].abs() + 3
q = torch.nn.functional.normalize(torch.randn(100, 4, device="cuda"), dim=-1)
gsplat.rasterization(m, q, torch.full((100, 3), 0.05, device="cuda"), torch.ones(100, device="cuda"),
                     torch.rand(100, 3, device="cuda"), torch.eye(4, device="cuda")[None],
                     torch.tensor([[[100., 0, 32], [0, 100., 32], [0, 0, 1]]], device="cuda"), 64, 64)
torch.cuda.synchronize(); print("gsplat kernels ready")
PY
echo "gsplat compile: $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s" | tee -a "$log"
python3 -m avatarzoo.cli plan "$recipe" --profile "$profile" --gpus "${GPUS:-1}" | tee -a "$log"
/usr/bin/time -v python3 -m avatarzoo.cli build "$recipe" --profile "$profile" --device cuda --gpus "${GPUS:-1}" 2>&1 \
  | grep -v "W0000\|it/s\]\|frame/s\]\|step/s\]" | tee -a "$log"
python3 -m avatarzoo.cli eval "$(python3 -c "import yaml,sys; r=yaml.safe_load(open('$recipe')); print(f\"{r['avatar']}-v{r['version']}\")")" | tee -a "$log"
# at most 8 files come back from the device: the log, the evaluation's files, the
# track summary and the error split by region (benchmarks/error_regions.py)
stage() { ls -d /tmp/azcache/stages/$1/*/; }  # one each: the cache started empty
for f in metrics.json contact_sheet.png fidelity.png holdout.mp4; do
  [ -f "$(stage evaluate)/$f" ] && cp "$(stage evaluate)/$f" "$out/" || true
done
cp "$(stage track)/track.json" "$out/" || true
python3 benchmarks/error_regions.py "$(stage fit_renderer)" "$(stage ingest)" "$(stage track)" --out "$out" \
  --device cuda 2>&1 | tee -a "$log"
ls -la "$out"
