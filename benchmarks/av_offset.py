"""Audio/video offsets (drivers/sync.py) of the demo recording and of tracked clips,
and of the demo with its audio moved by +-300 ms.

    .venv/bin/python benchmarks/av_offset.py [--clips /work/extdata] [--work DIR]

The demo is ingested and tracked here (all 20 s, 256 px; cached in --work); each clip
NAME needs CLIPS/clips/NAME.mp4 and CLIPS/track/NAME/tracking.safetensors. Audio is
read from the media file with read_audio and placed by audio_start against the
tracking's frame times. Prints a markdown table."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from avatarzoo.contracts.tracking import Tracking
from avatarzoo.drivers.audio import audio_start, read_audio
from avatarzoo.drivers.sync import estimate_offset

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "obama-address-20s.mp4"
SHIFT = 0.3


def demo_tracking(work: Path) -> Tracking:
    path = work / "track" / "tracking.safetensors"
    if not path.is_file():
        from avatarzoo.ingest.stage import ingest_recording
        from avatarzoo.recipe.models import CropConfig, MediapipeTrackerConfig, RecordingConfig
        from avatarzoo.trackers.stage import track_ingested

        rec = RecordingConfig(video=DEMO.name, crop=CropConfig(size=256), holdout=0.0)
        ingest_recording(DEMO, work / "ingest", recording=rec)
        track_ingested(work / "ingest", work / "track", config=MediapipeTrackerConfig())
    return Tracking.load(path)


def measure(name: str, tracking: Tracking, audio: np.ndarray, audio_offset: float, max_lag: float) -> str:
    fps = 1.0 / float(np.median(np.diff(tracking.time)))
    mouth = tracking.expression[:, tracking.space.channel("mouth_open")].astype(np.float64)
    jaw = tracking.expression[:, tracking.space.channel("jaw_open")].astype(np.float64)
    kw = dict(fps=fps, max_lag_s=max_lag, audio_offset=audio_offset)
    on = estimate_offset(mouth, audio, **kw)
    lv = estimate_offset(mouth, audio, signal="levels", **kw)
    jw = estimate_offset(jaw, audio, **kw)
    return (f"| {name} | {len(mouth) / fps:.1f} | **{on.ms:+.0f}** | {on.score:.2f} | {'yes' if on.clear else 'no'} "
            f"| {_width(on)} | {lv.ms:+.0f} | {lv.score:.2f} | {_width(lv)} | {jw.ms:+.0f} | {jw.score:.2f} |")


def _width(o) -> int:
    """Lags (frames) around the peak above half its height over the curve's median."""
    s = o.scores
    i = int(np.argmax(s))
    half = np.median(s) + (s[i] - np.median(s)) / 2
    lo = i
    while lo > 0 and s[lo - 1] > half:
        lo -= 1
    hi = i
    while hi < len(s) - 1 and s[hi + 1] > half:
        hi += 1
    return hi - lo + 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=Path, default=Path("/work/extdata"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/av_offset_demo"))
    ap.add_argument("--max-lag", type=float, default=1.0)
    args = ap.parse_args()
    print("| recording | s | offset ms (mouth_open, onsets) | score | peak clear | width (frames) "
          "| levels: ms | score | width | jaw_open onsets: ms | score |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    tr = demo_tracking(args.work)
    audio = read_audio(DEMO)
    off = audio_start(DEMO) - float(tr.time[0])
    print(measure("demo (obama-address-20s)", tr, audio, off, args.max_lag))
    pad = int(SHIFT * 16000)
    print(measure("demo, audio +300 ms (padded)", tr, np.concatenate([np.zeros(pad, np.float32), audio]), off,
                  args.max_lag))
    print(measure("demo, audio -300 ms (trimmed)", tr, audio[pad:], off, args.max_lag))
    for track in sorted((args.clips / "track").glob("*/tracking.safetensors")):
        name = track.parent.name
        clip = args.clips / "clips" / f"{name}.mp4"
        tr = Tracking.load(track)
        print(measure(name, tr, read_audio(clip), audio_start(clip) - float(tr.time[0]), args.max_lag))


if __name__ == "__main__":
    main()
