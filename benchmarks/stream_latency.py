"""Streaming latency of an avatar's audio driver, and of audio → rendered frame.

    python benchmarks/stream_latency.py BUNDLE [--device cpu|cuda] [--audio WAV] [--chunk-ms 40] [--json OUT]

Pushes the speech in chunks (as a live client sends it) and times, per chunk:
- `push`: audio in → the expression frames it completes (features, activity, level
  norm, the net's incremental step, life), the compute latency a chunk adds;
- `push + render`: the same plus rendering those frames at batch 1 on the device
  (synchronised), i.e. audio chunk in → frames out.
The algorithmic latency (the audio a frame waits for after its own time: the driver's
lookahead, its extractor's, one hop) is `driver.latency_s()` and is printed beside;
with `--lead` the recording's own mouth lead is added (the default of `speak`).
Warm-up: the first 25 chunks are not counted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    import torch

    import avatarzoo
    from avatarzoo.drivers.audio import read_audio

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--audio", default=str(ROOT / "data" / "speech-espeak.wav"))
    ap.add_argument("--chunk-ms", type=float, default=40.0)
    ap.add_argument("--lead", action="store_true", help="use the recording's mouth lead (speak's default)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1 if args.device == "cpu" else torch.get_num_threads())
    avatar = avatarzoo.load(args.bundle, device=args.device)
    d = avatar.driver
    lead = None if args.lead else 0.0
    audio = read_audio(args.audio)
    chunk = int(round(args.chunk_ms * 16))

    def sync() -> None:
        if args.device == "cuda":
            torch.cuda.synchronize()

    results = {}
    for mode in ("push", "push+render"):
        stream = d.stream(lead_s=lead)
        times, frames = [], 0
        for i, a in enumerate(range(0, len(audio), chunk)):
            t0 = time.perf_counter()
            m = stream.push(audio[a:a + chunk])
            if mode == "push+render" and len(m):
                for k in range(len(m)):
                    avatar.render(m.expression[k], m.pose[k], m.body[k])
                sync()
            dt = time.perf_counter() - t0
            if i >= 25:
                times.append(dt * 1000)
                frames += len(m)
        t = np.asarray(times)
        results[mode] = {"median_ms": float(np.median(t)), "p99_ms": float(np.percentile(t, 99)),
                         "max_ms": float(t.max()), "chunks": len(t), "frames": frames}
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    out = {"bundle": str(args.bundle), "device": name, "size": avatar.size, "chunk_ms": args.chunk_ms,
           "latency_s": d.latency_s(lead), "lookahead_ms": d.lookahead * 10, "lead_ms": 1000 * d.latency_s(lead) - 1000 * d.latency_s(0.0),
           **results}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{avatar.id} {avatar.size}² on {name}: {args.chunk_ms:.0f} ms chunks; a frame waits for "
          f"{1000 * d.latency_s(lead):.0f} ms of audio after its time (lookahead {d.lookahead * 10} ms)")
    for mode, r in results.items():
        print(f"  {mode:<12} median {r['median_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  max {r['max_ms']:.2f} ms"
              f"  ({r['chunks']} chunks, {r['frames']} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
