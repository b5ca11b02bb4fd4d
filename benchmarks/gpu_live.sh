#!/usr/bin/env bash
# Live use on the GPU machine, in one call: build the demo recipe (PROFILE), then
# `avatarzoo serve` under 1, 4 and 16 real-time WebSocket sessions (serve_latency.py) and
# reenactment throughput at 512² (reenact.py, one driver clip from .gpu/clips).
#   bash benchmarks/gpu_live.sh [PROFILE]     (device tool, carry: benchmarks/gpu_carry.py)
set -uo pipefail
profile=${1:-h100-fast}
out=${OUT:-/tmp/out}
source benchmarks/gpu_env.sh
log="$out/live.log"
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$log"
timeout 300 python3 -m avatarzoo.cli build recipes/demo-v1.yaml --profile "$profile" --device cuda 2>&1 \
  | grep -E "✓|▶|error|PSNR|render  |lip sync|mouth_open corr|build finished" | tee -a "$log"
timeout 200 python3 benchmarks/serve_latency.py demo-v1 --cache /tmp/azcache --device cuda --sessions 1,4,16 \
  --seconds 8 --threads 4 --json "$out/serve.json" --log "$out/server.log" 2>&1 | tail -15 | tee -a "$log"
timeout 150 python3 benchmarks/reenact.py --profile "$profile" --cache /tmp/azcache --device cuda \
  --clips .gpu/clips --drivers reagan --scales region --max-seconds 10 --docs /tmp/reenact-docs 2>&1 \
  | tail -25 | tee -a "$log"
ls -la "$out"
