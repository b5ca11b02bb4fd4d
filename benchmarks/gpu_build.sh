#!/usr/bin/env bash
# The whole build of a recipe on the GPU machine (device tool), timed end to end:
# ingest → track → fit_renderer → evaluate → package, then `avatarzoo eval`.
#
#   bash benchmarks/gpu_build.sh [RECIPE] [PROFILE]      (on the device machine, carry: benchmarks/gpu_carry.py)
#   GPUS=2 bash benchmarks/gpu_build.sh recipes/demo-v1.yaml h100x2   (data-parallel fit on
#   2 GPUs; compare with the h100 profile on 1 GPU, each from an empty /tmp/azcache)
#
# gpu_env.sh installs what the GPU image lacks from .gpu/; gsplat's CUDA kernels are
# compiled first, outside the timed build, and timed alone.
set -euo pipefail
recipe=${1:-recipes/demo-v1.yaml}
profile=${2:-h100}
out=${OUT:-/tmp/out}
rm -rf /tmp/azcache  # every run from an empty cache (a warm machine keeps /tmp)
source benchmarks/gpu_env.sh
log="$out/build.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$log"
warm_gsplat 2>&1 | tail -1 | tee -a "$log"
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
