#!/usr/bin/env bash
# The audio driver's streaming push on the GPU machine, grouped (NetEnsemble.step) against
# one net after another (step_each), and their outputs compared. The driver runs on the host
# CPU whatever the render device (drivers/runtime.py), so this times that machine's CPU, at
# the thread count `stream_latency.py --device cuda` runs it with; no render, no gsplat
# compile. BUNDLE (default .gpu/bundle: any built bundle copied there) is carried with the
# list `python benchmarks/gpu_carry.py` prints plus that path.
#   bash benchmarks/gpu_grouped_push.sh [BUNDLE]      (device tool; OMP_NUM_THREADS=N sets the
#   host threads; BENCHMARKS.md, "Streaming latency", has its numbers on an H200 machine)
set -uo pipefail
out=$OUT; source benchmarks/gpu_env.sh >/dev/null 2>&1; python3 - "${1:-.gpu/bundle}" <<'PY'
import sys, time, torch, avatarzoo
from avatarzoo.drivers.audio import read_audio
a = avatarzoo.load(sys.argv[1] if len(sys.argv) > 1 else ".gpu/bundle", device="cuda")
net = a.driver.net
dev = next(net.parameters()).device
x = torch.randn(1, 4, net.shape.features, device=dev)
s1, s2 = net.start(1), net.start_each(1)
worst = 0.0
for _ in range(30):
    y1, s1 = net.step(x, s1); y2, s2 = net.step_each(x, s2)
    worst = max(worst, float((y1 - y2).abs().max()))
print(torch.cuda.get_device_name(), f"host CPU, {torch.get_num_threads()} threads; driver on {dev};",
      "max |grouped - each|:", worst, "of", float(y2.abs().max()))
audio = read_audio("data/speech-espeak.wav")
for name in ("grouped", "each"):
    if name == "each":
        net.start, net.step = net.start_each, net.step_each
    st, ts = a.driver.stream(lead_s=0.0), []
    for i, k in enumerate(range(0, len(audio), 640)):
        t = time.perf_counter(); st.push(audio[k:k + 640]); dt = time.perf_counter() - t
        if i >= 25: ts.append(dt * 1000)
    ts.sort()
    print(f"push {name}: median {ts[len(ts)//2]:.2f} ms p99 {ts[int(len(ts)*0.99)]:.2f} ms max {ts[-1]:.2f} ms ({len(ts)} chunks)")
PY
