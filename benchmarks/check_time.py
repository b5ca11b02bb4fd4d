"""Wall time of `avatarzoo check` on a 30 s recording (CPU), from an empty stage cache and
again with ingest and track cached.

    .venv/bin/python benchmarks/check_time.py [VIDEO] [--seconds 30] [--recipe R] [--work DIR]

A VIDEO shorter than --seconds is made that long first by playing it again from its
start (frames and audio; the demo's 20 s become 30 s with one cut at 20 s), so the
default needs nothing outside the repository. Each run is the real command in a fresh
process (`python -m avatarzoo.cli check`, its imports included). Prints one JSON object:
the wall and CPU seconds of both runs, the verdicts, the 1-minute load average before
and after (on a shared machine the wall time follows the load; the CPU time less so).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VIDEO = ROOT / "data" / "obama-address-20s.mp4"


def lengthen(video: Path, seconds: float, out: Path) -> Path:
    """`video` played again from its start until it lasts `seconds` (25 fps, 16 kHz audio)."""
    import numpy as np

    from avatarzoo.ingest.audio import load_audio
    from avatarzoo.ingest.video import iter_frames
    from avatarzoo.media import write_video

    fps, sr = 25.0, 16000
    frames = np.stack([f for _, f in iter_frames(video, fps=fps)])
    sound = load_audio(video, first_frame_time=0.0, end_time=len(frames) / fps)
    n = int(round(seconds * fps))
    reps = int(np.ceil(n / len(frames)))
    audio = None
    if sound is not None:  # one pass of the clip's sound, exactly as long as its frames
        length = int(round(len(frames) / fps * sr))
        one = np.pad(sound.samples, (0, max(0, length - len(sound.samples))))[:length]
        audio = np.tile(one, reps)[: int(round(seconds * sr))]
    frames = np.concatenate([frames] * reps)[:n]
    return write_video(out, frames, fps=fps, audio=audio, sample_rate=sr)


def duration_of(video: Path) -> float:
    import av

    with av.open(str(video)) as c:
        vs = c.streams.video[0]
        if vs.duration is not None:
            return float(vs.duration * vs.time_base)
        return c.duration / 1e6


def run_check(video: Path, *, cache: Path, out: Path, recipe: Path | None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of all its threads, exit code) of one `avatarzoo check`."""
    cmd = [sys.executable, "-m", "avatarzoo.cli", "check", str(video), "--cache", str(cache), "-o", str(out)]
    if recipe is not None:
        cmd += ["--recipe", str(recipe)]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"avatarzoo check exited {proc.returncode}")
    return seconds, cpu, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", nargs="?", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--recipe", type=Path, default=None)
    ap.add_argument("--work", type=Path, default=None, help="kept; default: a temporary directory")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="check-time-"))
    work.mkdir(parents=True, exist_ok=True)
    video = args.video
    if duration_of(video) < args.seconds - 0.5:
        video = lengthen(video, args.seconds, work / f"{video.stem}-{args.seconds:.0f}s.mp4")
    cache = work / "cache"
    load_before = os.getloadavg()[0]
    first, first_cpu, code = run_check(video, cache=cache, out=work / "report", recipe=args.recipe)
    cached, cached_cpu, _ = run_check(video, cache=cache, out=work / "report", recipe=args.recipe)
    report = json.loads((work / "report" / "report.json").read_text())
    print(json.dumps({
        "video": str(args.video), "checked": str(video), "seconds_of_video": round(duration_of(video), 2),
        "crop_size": report["crop_size"], "frames": report["frames"],
        "check_seconds_empty_cache": round(first, 1), "cpu_seconds_empty_cache": round(first_cpu, 1),
        "check_seconds_cached": round(cached, 1), "cpu_seconds_cached": round(cached_cpu, 1),
        "exit_code": code, "verdicts": {i["key"]: i["verdict"] for i in report["items"]},
        "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
        "load_1min_before": round(load_before, 2), "load_1min_after": round(os.getloadavg()[0], 2),
        "work": str(work),
    }, indent=2))


if __name__ == "__main__":
    main()
