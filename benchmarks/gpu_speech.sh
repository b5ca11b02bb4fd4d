#!/usr/bin/env bash
# The talking avatar on the GPU machine (device tool), in one call: build the demo recipe
# (renderer on gsplat; the audio driver trains on the CPU cores and starts from the
# shipped prior; evaluate renders and re-tracks the held-out speech), then time streaming:
# audio chunk -> expression frames, and audio chunk -> rendered 512² frame, on the GPU.
#
#   bash benchmarks/gpu_speech.sh [PROFILE]      (on the device machine, carry: benchmarks/gpu_carry.py)
#
# Extra benchmarks run when their scripts exist: serve_latency.py (1/4/16 sessions),
# reenact.py (video-driven throughput). Everything lands in $OUT (at most 8 files).
set -euo pipefail
profile=${1:-h100-fast}
out=${OUT:-/tmp/out}
[ -n "${KEEP_CACHE:-}" ] || rm -rf /tmp/azcache  # a warm machine keeps /tmp: KEEP_CACHE=1 resumes
source benchmarks/gpu_env.sh
log="$out/speech.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$log"
warm_gsplat 2>&1 | tail -1 | tee -a "$log"
/usr/bin/time -f "build wall %e s, peak RSS %M kB" python3 -m avatarzoo.cli build recipes/demo-v1.yaml \
  --profile "$profile" --device cuda 2>&1 | grep -v "W0000\|it/s\]\|frame/s\]\|step/s\]" | tee -a "$log" | tail -40
python3 -m avatarzoo.cli eval demo-v1 | tee -a "$log"
bundle=/tmp/azcache/bundles/demo-v1
python3 -m avatarzoo.cli speak demo-v1 --audio data/speech-espeak.wav -o "$out/speak-512.mp4" --device cuda | tee -a "$log"
for lead in "" "--lead"; do
  python3 benchmarks/stream_latency.py "$bundle" --device cuda $lead --json "$out/stream${lead:+-lead}.json" | tee -a "$log"
done
python3 benchmarks/stream_latency.py "$bundle" --device cpu | tee -a "$log"
if [ -f benchmarks/serve_latency.py ]; then
  timeout 240 python3 benchmarks/serve_latency.py demo-v1 --cache /tmp/azcache --device cuda --sessions 1,4,16 \
    --threads 4 --json "$out/serve.json" 2>&1 | tail -25 | tee -a "$log" || true
fi
if [ -f benchmarks/reenact.py ]; then
  timeout 120 python3 benchmarks/reenact.py --throughput "$bundle" --device cuda 2>&1 | tail -10 | tee -a "$log" || true
fi
cp "$(ls -d /tmp/azcache/stages/evaluate/*/)"/metrics.json "$out/" || true
ls -la "$out"
