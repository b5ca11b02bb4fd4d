#!/usr/bin/env bash
# Builds side by side (benchmarks/gpu_fits.sh SPEC ...), then benchmarks/fidelity_split.py on
# each one's renderer: the re-tracked fidelity of its training frames beside its held-out
# frames, at the build's own size (is a missed channel under-fitted, or not generalised?).
#   BUDGET_S=430 bash benchmarks/gpu_fidelity_split.sh SPEC ...   (device tool; carry as gpu_fits.sh)
# CHANNELS (default "mouth_open jaw_open"): the space's channels fidelity_split.py reports.
# Files back: fits.log and metrics.json (gpu_fits.sh, SHEETS=0 unless set), split.txt.
set -uo pipefail
out=${OUT:-/tmp/out}
SHEETS=${SHEETS:-0} bash benchmarks/gpu_fits.sh "$@"
source benchmarks/gpu_env.sh >/dev/null 2>&1
for spec in "$@"; do
  IFS=: read -r name source profile sets <<< "$spec"
  export AVATARZOO_CACHE=/tmp/fits/$name/cache
  r=/tmp/fits/$name/recipe.yaml
  { echo "== $name ($spec)"
    python3 benchmarks/fidelity_split.py "$(stage_dir "$r" fit_renderer "$profile")" \
      "$(stage_dir "$r" ingest "$profile")" "$(stage_dir "$r" track "$profile")" --device cuda --channels ${CHANNELS:-mouth_open jaw_open} 2>&1 \
      | grep -v -E "^(W|I)0000|Warning|INFO"; } | tee -a "$out/split.txt"
done
