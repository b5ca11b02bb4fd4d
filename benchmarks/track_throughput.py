"""Ingest + track throughput, peak RAM and body sway on a real recording (CPU).

    python benchmarks/track_throughput.py [VIDEO] [--size 512] [--fps 25] [--out DIR]
        [--head flow|landmarks] [--torso flow|pose]
    /usr/bin/time -v python benchmarks/track_throughput.py   # peak RSS from the OS too

Runs the two stages exactly as the build does (ingest_recording, then track_ingested)
and prints one JSON object: frames, seconds per stage, end-to-end frames/s, peak RSS
(ru_maxrss, which counts the memmap pages touched) and peak private memory (RssAnon,
sampled), CPU seconds (all threads), the 1-minute load average before
and after (the machine may be shared), neck-base sway, blink times. Previews land in
--out (default: a temp dir that is kept).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VIDEO = ROOT / "data" / "obama-address-20s.mp4"


class _PeakAnon(threading.Thread):
    """Samples RssAnon (private memory, not the memmap's page cache) every 50 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.stop = False

    def run(self) -> None:
        while not self.stop:
            try:
                for line in open("/proc/self/status"):
                    if line.startswith("RssAnon:"):
                        self.peak = max(self.peak, int(line.split()[1]))
            except OSError:
                return
            time.sleep(0.05)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", nargs="?", default=str(DEFAULT_VIDEO))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--fps", type=float, default=25.0)
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--body-stride", type=int, default=None, help="Pose on every k-th frame (default: the tracker's)")
    ap.add_argument("--head", choices=["flow", "landmarks"], default="flow", help="tracker.head")
    ap.add_argument("--torso", choices=["flow", "pose"], default="flow", help="tracker.torso")
    args = ap.parse_args()

    from avatarzoo.ingest.stage import ingest_recording
    from avatarzoo.recipe.models import CropConfig, MediapipeTrackerConfig, RecordingConfig
    from avatarzoo.trackers.stage import track_ingested

    out = Path(args.out or tempfile.mkdtemp(prefix="track-bench-"))
    load_before = os.getloadavg()[0]
    anon = _PeakAnon()
    anon.start()
    rec = RecordingConfig(video=Path(args.video).name, fps=args.fps, duration=args.duration,
                          crop=CropConfig(size=args.size))
    t0 = time.perf_counter()
    meta = ingest_recording(Path(args.video), out / "ingest", recording=rec)
    t1 = time.perf_counter()
    config = MediapipeTrackerConfig(head=args.head, torso=args.torso)
    tracking = track_ingested(out / "ingest", out / "track", config=config, body_stride=args.body_stride)
    t2 = time.perf_counter()
    anon.stop = True
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = usage.ru_utime + usage.ru_stime
    summary = json.loads((out / "track" / "track.json").read_text())
    n = meta["n_frames"]
    result = {
        "video": Path(args.video).name,
        "frames": n,
        "clip_seconds": n / args.fps,
        "size": args.size,
        "ingest_s": round(t1 - t0, 2),
        "track_s": round(t2 - t1, 2),
        "total_s": round(t2 - t0, 2),
        "fps_end_to_end": round(n / (t2 - t0), 1),
        "realtime_factor": round((n / args.fps) / (t2 - t0), 2),
        "cpu_s": round(cpu_s, 2),
        "cpu_ms_per_frame": round(1000 * cpu_s / n, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "peak_anon_rss_mb": round(anon.peak / 1024, 1),
        "load_avg_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "crop_box": meta["crop_box"],
        "missing_faces": summary["missing_frames"],
        "body": summary["body"],
        "blinks_s": summary.get("blinks_s"),
        "out": str(out),
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    del tracking


if __name__ == "__main__":
    main()
