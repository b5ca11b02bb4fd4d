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
mkdir -p "$out" /tmp/site /tmp/x
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/*.whl
tar xJf .gpu/mpav.tar.xz -C /tmp/x && cp -r /tmp/x/mp/. /tmp/x/av/. /tmp/site/
export PYTHONPATH=/tmp/site:src PYTHONUNBUFFERED=1 TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16
export AVATARZOO_CACHE=/tmp/azcache NCCL_NVLS_ENABLE=0
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
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
echo "gsplat compile: $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s" | tee "$out/compile.txt"
python3 -m avatarzoo.cli plan "$recipe" --profile "$profile" --gpus "${GPUS:-1}"
/usr/bin/time -v python3 -m avatarzoo.cli build "$recipe" --profile "$profile" --device cuda --gpus "${GPUS:-1}" 2>&1 \
  | grep -v "W0000\|it/s\]\|frame/s\]\|step/s\]" | tee "$out/build.log"
python3 -m avatarzoo.cli eval "$(python3 -c "import yaml,sys; r=yaml.safe_load(open('$recipe')); print(f\"{r['avatar']}-v{r['version']}\")")" | tee "$out/eval.txt"
for stage in evaluate track fit_renderer; do
  d=$(ls -d /tmp/azcache/stages/$stage/*/ | head -1)
  for f in metrics.json contact_sheet.png fidelity.png holdout.mp4 channels.png renderer.json log.txt; do
    [ -f "$d/$f" ] && cp "$d/$f" "$out/${stage}_$f" || true
  done
done
ls -la "$out"
