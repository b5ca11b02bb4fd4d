#!/usr/bin/env bash
# Issue 14 on the GPU machine, in one device call (≤ ~540 s): the demo built with PROFILE
# from an empty cache and evaluated (live − frozen in/out of the face box, needle count),
# render fps at 512² at batch 1 and 8 on that avatar, then — while time is left — the
# same profile on other recordings carried in .gpu/clips/ (recipes written to /tmp).
#
#   bash benchmarks/gpu_render.sh [PROFILE] [CLIP ...]      (device tool, carry: see below)
#
# Carry: the tree and all of .gpu no longer fit the 64 MiB a call carries; carry the list
# `python benchmarks/gpu_carry.py CLIP ...` prints (mediapipe + PyAV, the wheels packed
# into .gpu/wheels.tar, the clips named).
#   e.g. bash benchmarks/gpu_render.sh h100-fast reagan
#
# SKIP_DEMO=1: no demo build (only the clips); KEEP_DRIVER=1: the clips keep the demo
# recipe's audio driver, so that their evaluation drives them from their held-out 20%'s
# speech and re-tracks (lip sync at 512²); MAX_CLIPS (default 1) clips at most.
# RENDERER_JSON='{"validation_stride": 0}': merged into every clip's renderer section
# (an ablation, the same for all clips; the demo keeps its recipe). REPEAT_DEMO=1: after the fps, the demo is built again from another empty cache (two
# builds of one recipe on one GPU). SKIP_PARITY=1 skips the rasterizer parity check,
# SKIP_PROFILE=1 render_profile.py (PROFILE_BATCH, default "1 8"). FPS_PATHS (default "eager compiled"): the per-frame
# paths render_fps.py times (render_fps.py --paths); FPS_PRIOR="with without" also times them
# without the landmark-motion prior (render_fps.py --prior); FPS_SECONDS (default 10) per row,
# FPS_TIMEOUT (default 150) for all. FPS_BEFORE_SRC=DIR: the same rows (eager) with DIR as src/
# (e.g. an older commit's `git archive HEAD src`, carried) → fps_before.json; with AB_ROUNDS=N,
# N alternating rounds of both (eager, the prior on, 4 s a row) → ab.json, and PROFILE_BEFORE=1
# render_profile.py with DIR too → profile_before.json. BLEND=1: prior_blend.py (the prior's blend forms) → blend.json.
# TESTS="tests/x.py ...": run those
# tests here first (the GPU-only ones: e.g. tests/test_gaussian_compiled.py). STREAM=1:
# after the fps, stream_latency.py on the demo bundle (its audio driver, on the GPU).
# Budget: BUDGET_S (default 530) seconds from the start; a clip build starts only with
# at least CLIP_MIN_S (default 200) s left and is cut off (timeout) before the budget.
# At most 8 files come back: render.log, parity.json, fps.json, profile.json, and per
# avatar NAME_metrics.json + NAME_sheet.png (demo + one clip; a second clip's replace
# nothing but may be cut).
set -uo pipefail
profile=${1:-h100-fast}
shift || true
clips=("$@")
[ ${#clips[@]} -eq 0 ] && clips=(reagan)
budget=${BUDGET_S:-530}
clip_min=${CLIP_MIN_S:-200}
out=${OUT:-/tmp/out}
t0=$(date +%s)
left() { echo $(( budget - ($(date +%s) - t0) )); }
rm -rf /tmp/azcache  # from an empty cache (a warm machine keeps /tmp)
source benchmarks/gpu_env.sh
log="$out/render.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$log"
echo "profile $profile, budget ${budget} s, clips ${clips[*]}" | tee -a "$log"
FILTER="✓|▶|rror|validation|kept the weights|fit: |build finished|held-out|render  |frozen|baseline|live − frozen|needles|blink|brows|mouth  |jaw  "

warm_gsplat 2>&1 | tail -1 | tee -a "$log"  # gsplat's CUDA kernels, compiled outside the timed build
echo "setup + gsplat compile: $(( $(date +%s) - t0 )) s" | tee -a "$log"
if [ -n "${TESTS:-}" ]; then
  # shellcheck disable=SC2086  # TESTS is a list of paths
  timeout 240 python3 -m pytest -q -p no:cacheprovider $TESTS 2>&1 | tail -4 | tee -a "$log"
fi
# the split gsplat path (projection | tile sort + compositing) against the torch reference
# and against gsplat's own rasterization(): images and gradients
[ -z "${SKIP_PARITY:-}" ] && timeout 60 python3 benchmarks/gpu_check.py --out "$out/parity.json" parity 2>&1 \
  | tail -3 | tee -a "$log"

# build_eval RECIPE NAME TIMEOUT: timed build, `avatarzoo eval`, metrics + contact sheet to $out
build_eval() {
  local recipe=$1 name=$2 limit=$3 start=$(date +%s)
  echo "== $name: build ($recipe, profile $profile, ≤ ${limit} s)" | tee -a "$log"
  timeout "$limit" python3 -m avatarzoo.cli build "$recipe" --profile "$profile" --device cuda 2>&1 \
    | grep -E "$FILTER" | tee -a "$log"
  echo "$name: build wall $(( $(date +%s) - start )) s" | tee -a "$log"
  local id
  id=$(python3 -c "import yaml; r = yaml.safe_load(open('$recipe')); print(f\"{r['avatar']}-v{r['version']}\")")
  python3 -m avatarzoo.cli eval "$id" 2>&1 | tee -a "$log"
  local ev
  ev=$(stage_dir "$recipe" evaluate "$profile")
  cp "$ev/metrics.json" "$out/${name}_metrics.json" 2>/dev/null || echo "$name: no metrics.json" | tee -a "$log"
  cp "$ev/contact_sheet.png" "$out/${name}_sheet.png" 2>/dev/null || true
}

if [ -z "${SKIP_DEMO:-}" ]; then
build_eval recipes/demo-v1.yaml demo $(( $(left) - 60 ))

echo "== render fps at 512², batch 1 and 8 (demo, $profile)" | tee -a "$log"
fr=$(stage_dir recipes/demo-v1.yaml fit_renderer "$profile")
tr=$(stage_dir recipes/demo-v1.yaml track "$profile")
timeout ${FPS_TIMEOUT:-150} python3 benchmarks/render_fps.py "$fr" "$tr/tracking.safetensors" --device cuda --size 512 \
  --batch 1 8 --max-seconds ${FPS_SECONDS:-10} --paths ${FPS_PATHS:-eager compiled} --prior ${FPS_PRIOR:-with} \
  --out "$out/fps.json" 2>&1 | tail -40 | tee -a "$log"
if [ -n "${FPS_BEFORE_SRC:-}" ] && [ -z "${AB_ROUNDS:-}" ]; then  # the same bundle through another checkout's src/ (eager): before/after in one call
  echo "== render fps with $FPS_BEFORE_SRC (eager)" | tee -a "$log"
  PYTHONPATH="/tmp/site:$FPS_BEFORE_SRC" timeout 90 python3 benchmarks/render_fps.py "$fr" "$tr/tracking.safetensors" \
    --device cuda --size 512 --batch 1 8 --max-seconds ${FPS_SECONDS:-10} --paths eager --prior ${FPS_PRIOR:-with} \
    --out "$out/fps_before.json" 2>&1 | grep -E '^\{"' | tee -a "$log"
fi
if [ -n "${FPS_BEFORE_SRC:-}" ] && [ -n "${AB_ROUNDS:-}" ]; then  # before/after interleaved: drift hits both
  echo "== A/B: $AB_ROUNDS rounds of (src, $FPS_BEFORE_SRC), eager, the prior on" | tee -a "$log"
  for r in $(seq "$AB_ROUNDS"); do
    for side in after before; do
      src=src; [ $side = before ] && src=$FPS_BEFORE_SRC
      PYTHONPATH="/tmp/site:$src" timeout 60 python3 benchmarks/render_fps.py "$fr" "$tr/tracking.safetensors" \
        --device cuda --size 512 --batch 1 8 --max-seconds 4 --paths eager --out "/tmp/ab_${side}_$r.json" >/dev/null 2>&1
    done
  done
  python3 - "$AB_ROUNDS" "$out/ab.json" <<'PY' 2>&1 | tee -a "$log"
import json, sys
rounds, rows = int(sys.argv[1]), {}
for side in ("after", "before"):
    for r in range(1, rounds + 1):
        try:
            d = json.load(open(f"/tmp/ab_{side}_{r}.json"))
        except OSError:
            continue
        for b in ("batch1", "batch8"):
            rows.setdefault(side, {}).setdefault(b, []).append(d[b]["median_ms"])
json.dump(rows, open(sys.argv[2], "w"), indent=2)
for b in ("batch1", "batch8"):
    line = "  ".join(f"{side} {sorted(v[b])} ms" for side, v in rows.items())
    print(f"A/B {b}: {line}")
PY
  if [ -n "${PROFILE_BEFORE:-}" ]; then
    echo "== where the time goes, $FPS_BEFORE_SRC" | tee -a "$log"
    PYTHONPATH="/tmp/site:$FPS_BEFORE_SRC" timeout 150 python3 benchmarks/render_profile.py "$fr" "$tr/tracking.safetensors" \
      --size 512 --batch 1 --out "$out/profile_before.json" 2>&1 | tail -22 | tee -a "$log"
  fi
fi
if [ -n "${BLEND:-}" ]; then  # the landmark-motion prior's blend: gather against embedding_bag, eager and graphed
  echo "== prior blend forms (prior_blend.py, demo)" | tee -a "$log"
  timeout 90 python3 benchmarks/prior_blend.py "$fr" --device cuda --json "$out/blend.json" 2>&1 | tail -12 | tee -a "$log"
fi
if [ -n "${STREAM:-}" ]; then  # the bundle's audio driver: audio chunk → expressions → 512² frame
  echo "== streaming latency (stream_latency.py, demo bundle)" | tee -a "$log"
  timeout 90 python3 benchmarks/stream_latency.py "$AVATARZOO_CACHE/bundles/demo-v1" --device cuda \
    --json "$out/stream.json" 2>&1 | tail -15 | tee -a "$log"
fi
if [ -z "${SKIP_PROFILE:-}" ]; then
echo "== where the time goes (render_profile.py)" | tee -a "$log"
timeout 150 python3 benchmarks/render_profile.py "$fr" "$tr/tracking.safetensors" --size 512 --batch ${PROFILE_BATCH:-1 8} \
  --out "$out/profile.json" 2>&1 | tail -40 | tee -a "$log"
fi

if [ -n "${REPEAT_DEMO:-}" ]; then  # the same recipe again, from another empty cache: run-to-run spread
  export AVATARZOO_CACHE=/tmp/azcache2
  rm -rf "$AVATARZOO_CACHE"
  build_eval recipes/demo-v1.yaml demo2 $(( $(left) - 10 ))
  export AVATARZOO_CACHE=/tmp/azcache
fi
fi  # SKIP_DEMO

n=0
for clip in "${clips[@]}"; do
  [ $n -ge "${MAX_CLIPS:-1}" ] && break
  video="$PWD/.gpu/clips/$clip.mp4"
  if [ ! -f "$video" ]; then echo "$clip: $video missing, skipped" | tee -a "$log"; continue; fi
  if [ "$(left)" -lt "$clip_min" ]; then
    echo "$clip: skipped, $(left) s left < $clip_min s" | tee -a "$log"; continue
  fi
  recipe="/tmp/$clip.yaml"  # the demo's settings and profiles, another person's recording
  python3 - "$video" "$clip" "$recipe" "${KEEP_DRIVER:-}" "${RENDERER_JSON:-{\}}" <<'PY'
import json, sys, yaml
video, name, path, keep_driver, renderer = sys.argv[1:]
r = yaml.safe_load(open("recipes/demo-v1.yaml"))
r["avatar"] = name
r["recording"].update(video=video, holdout=0.2)
r["renderer"].update(json.loads(renderer))  # an ablation: the same settings for every clip
if not keep_driver:  # the renderer only; KEEP_DRIVER=1: also lip sync on the held-out 20%
    r.pop("audio_driver", None)
r["card"] = {"license": "other", "consent": "measurement only; not published", "source": video}
yaml.safe_dump(r, open(path, "w"), sort_keys=False)
PY
  build_eval "$recipe" "$clip" $(( $(left) - 15 ))
  n=$((n + 1))
done
echo "total $(( $(date +%s) - t0 )) s" | tee -a "$log"
ls -la "$out"
