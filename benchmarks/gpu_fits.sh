#!/usr/bin/env bash
# Several builds side by side on one GPU machine, in one device call: each from its own
# empty cache, then `avatarzoo eval`; what each scored comes back in one metrics.json.
# For comparisons of fits (a longer against a shorter one, the issue-14 controls off
# against on, a driver setting at 512²), where the builds' own wall times do not matter:
# they share the GPU and run slower than alone (use gpu_render.sh for timings).
# Measured on one H200: three 512² fits side by side train at 50-56 steps/s each (65
# alone), but the evaluate stage's held-out renders crawl beside training fits (0.2-0.4
# batches/s against 3 alone): leave ~2 min per build for evaluate, or three 6k builds
# do not finish inside 325 s.
#
#   bash benchmarks/gpu_fits.sh SPEC ...                 (device tool, carry: benchmarks/gpu_carry.py)
#   SPEC = NAME:SOURCE:PROFILE[:FIELD=VALUE[,FIELD=VALUE...]]
#     SOURCE: `demo` (recipes/demo-v1.yaml as it is) or a clip in .gpu/clips/ (the demo
#     recipe's settings and profiles with that video and `holdout: 0.2`);
#     FIELD=VALUE: a recipe field by its dotted path, VALUE read as YAML (`null` drops a
#     section, e.g. audio_driver=null; renderer.max_anisotropy=null unbounds; a list keeps its
#     commas: renderer.landmark_motion=[brows,eyes]).
#   e.g. bash benchmarks/gpu_fits.sh d6k:demo:h100-fast d12k:demo:h100
#
# BUDGET_S (default 560): every build is cut off (timeout) that long after the start.
# PARALLEL (default 3): at most this many builds at once; PARALLEL=1 runs them one after
# another, each alone on the GPU. Four at once (session 15, one H200, 512² 6k builds):
# fits at 38 steps/s each and evaluate at 0.1 batch/s, three of four cut off at a 540 s
# budget; three at once (no audio driver) finished in 313-358 s after the compile.
# Measured on one H200 at PARALLEL=1: gsplat's compile 101 s on a fresh machine, then
# ~220 s per 6k build of a 20-26 s clip: two fit in 585 s, not three. A build that would
# start with less than MIN_BUILD_S (default 120) s of the budget left is skipped, and says so.
# Files back: fits.log, metrics.json ({NAME: evaluate metrics}), and for the first SHEETS
# (default 3) specs NAME_sheet.png and NAME_holdout.mp4 (recording | render | error).
set -uo pipefail
budget=${BUDGET_S:-560}
out=${OUT:-/tmp/out}
t0=$(date +%s)
seen=" "
for spec in "$@"; do  # every build owns /tmp/fits/NAME and empties it: names must be set and unique
  name=${spec%%:*}
  case "$name" in ""|*/*|.|..) echo "error: spec '$spec' needs a plain NAME before its first ':'" >&2; exit 2;; esac
  case "$seen" in *" $name "*) echo "error: two specs are named '$name'" >&2; exit 2;; esac
  seen="$seen$name "
done
source benchmarks/gpu_env.sh
log="$out/fits.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$log"
warm_gsplat 2>&1 | tail -1 | tee -a "$log"
echo "setup + gsplat compile: $(( $(date +%s) - t0 )) s; builds: $*" | tee -a "$log"
FILTER="✓|▶|rror|torso|kept the weights|fit: |build finished|held-out|render  |frozen|baseline|live − frozen|needles|blink|brows|mouth  |jaw  |lip sync"

one() {  # one() NAME SOURCE PROFILE SETS: recipe, build, eval, metrics into /tmp/fits/NAME
  local name=$1 source=$2 profile=$3 sets=$4 dir=/tmp/fits/$1 start=$(date +%s)
  # a machine kept warm between device calls keeps /tmp: a spec named as in an earlier
  # call would find that call's cache and build nothing (session 9 lost a call so)
  rm -rf "$dir" && mkdir -p "$dir"
  local left=$(( budget - (start - t0) ))
  if [ "$left" -lt "${MIN_BUILD_S:-120}" ]; then  # a build cut off before evaluate tells nothing
    echo "$name: skipped, ${left} s of the budget left (< MIN_BUILD_S=${MIN_BUILD_S:-120})" | tee "$dir/build.log"
    return
  fi
  export AVATARZOO_CACHE=$dir/cache
  python3 - "$source" "$name" "$dir/recipe.yaml" "$sets" "$PWD" <<'PY' || return
import re, sys, yaml
source, name, path, sets, repo = sys.argv[1:]
r = yaml.safe_load(open(f"{repo}/recipes/demo-v1.yaml"))
r["recording"]["video"] = f"{repo}/data/obama-address-20s.mp4"
if source != "demo":
    r["recording"].update(video=f"{repo}/.gpu/clips/{source}.mp4", holdout=0.2)
    r["card"] = {"license": "other", "consent": "measurement only; not published", "source": source}
r["avatar"] = name
for item in filter(None, re.split(r",(?=[\w.]+=)", sets)):  # a YAML list value keeps its commas
    field, value = item.split("=", 1)
    *parents, last = field.split(".")
    node = r
    for p in parents:
        node = node.setdefault(p, {})
    value = yaml.safe_load(value)
    if value is None and not parents:
        node.pop(last, None)
    else:
        node[last] = value
yaml.safe_dump(r, open(path, "w"), sort_keys=False)
PY
  timeout $(( budget - ($(date +%s) - t0) - 25 )) python3 -m avatarzoo.cli build "$dir/recipe.yaml" \
    --profile "$profile" --device cuda > "$dir/build.log" 2>&1
  echo "$name: build rc $? after $(( $(date +%s) - start )) s" >> "$dir/build.log"
  timeout $(( budget - ($(date +%s) - t0) - 5 )) python3 -m avatarzoo.cli eval "$name-v1" > "$dir/eval.log" 2>&1
  local ev
  ev=$(stage_dir "$dir/recipe.yaml" evaluate "$profile")
  for f in metrics.json contact_sheet.png holdout.mp4; do
    [ -f "$ev/$f" ] && cp "$ev/$f" "$dir/$f"
  done
}

for spec in "$@"; do
  IFS=: read -r name source profile sets <<< "$spec"
  one "$name" "$source" "$profile" "${sets:-}" &
  while [ "$(jobs -rp | wc -l)" -ge "${PARALLEL:-3}" ]; do wait -n; done
done
wait
python3 - "$out/metrics.json" "$@" <<'PY'
import json, sys
from pathlib import Path
out, specs = sys.argv[1], sys.argv[2:]
result = {}
for spec in specs:
    name = spec.split(":")[0]
    m = Path(f"/tmp/fits/{name}/metrics.json")
    result[name] = {"spec": spec, "metrics": json.loads(m.read_text()) if m.is_file() else None}
Path(out).write_text(json.dumps(result, indent=1))
PY
n=0
for spec in "$@"; do
  name=${spec%%:*}
  { echo "== $name ($spec)"; grep -E "$FILTER" "/tmp/fits/$name/build.log"; tail -2 "/tmp/fits/$name/build.log";
    cat "/tmp/fits/$name/eval.log"; } | tee -a "$log"
  if [ $n -lt "${SHEETS:-3}" ]; then
    cp "/tmp/fits/$name/contact_sheet.png" "$out/${name}_sheet.png" 2>/dev/null
    cp "/tmp/fits/$name/holdout.mp4" "$out/${name}_holdout.mp4" 2>/dev/null
  fi
  n=$((n + 1))
done
echo "total $(( $(date +%s) - t0 )) s" | tee -a "$log"
