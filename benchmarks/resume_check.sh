#!/usr/bin/env bash
# A build killed mid-stage (SIGKILL during fit_renderer, after its first checkpoint) and
# rerun must produce the same bundle as an uninterrupted build: compares the sha256 of
# model.safetensors. Uses the demo recipe plus a small profile (8 s, 96², 500 steps,
# a checkpoint every 100), written to a temp copy of the recipe.
#
#   bash benchmarks/resume_check.sh            (~3 min on the 2-core CPU)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
az=${AVATARZOO:-avatarzoo}
work=$(mktemp -d)
mkdir -p "$work/recipes" && ln -s "$root/data" "$work/data"
cp "$root/recipes/demo-v1.yaml" "$work/recipes/"
cat >> "$work/recipes/demo-v1.yaml" <<'YAML'
  resume-check:
    recording: {duration: 8.0, crop: {size: 96}}
    renderer: {gaussians: 2000, steps: 500, checkpoint_every: 100}
YAML
r="$work/recipes/demo-v1.yaml"
$az build "$r" --profile resume-check --cache "$work/A" > "$work/A.log" 2>&1
$az build "$r" --profile resume-check --cache "$work/B" > "$work/B1.log" 2>&1 &
pid=$!
until ls "$work"/B/scratch/fit_renderer/*/ckpt.pt >/dev/null 2>&1; do sleep 1; done
sleep 5
kill -9 "$pid"; wait "$pid" || echo "killed mid fit_renderer (exit $?)"
$az plan "$r" --profile resume-check --cache "$work/B"
$az build "$r" --profile resume-check --cache "$work/B" > "$work/B2.log" 2>&1
tr '\r' '\n' < "$work/B2.log" | grep -o "resumed from .*" || true
a=$(sha256sum "$work/A/bundles/demo-v1/model.safetensors" | cut -d' ' -f1)
b=$(sha256sum "$work/B/bundles/demo-v1/model.safetensors" | cut -d' ' -f1)
echo "uninterrupted: $a"
echo "killed+rerun:  $b"
[ "$a" = "$b" ] && echo "same bundle" || { echo "DIFFERENT bundles"; exit 1; }
