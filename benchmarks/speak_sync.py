"""Speech the avatar never heard: is `speak`'s video in sync, and does its mouth follow
another speaker's speech as that speaker's own mouth did?

    .venv/bin/python benchmarks/speak_sync.py BUNDLE_DIR NAME=MEDIA[:TRACKING] ... [--work DIR]

For each audio source (any media file with sound; TRACKING: that recording's own
`tracking.safetensors`, when it has a face):

1. **sync of the written video**: `avatar.speak(MEDIA)` writes an mp4; that mp4 is
   ingested and re-tracked by the built-in tracker, and `estimate_offset` reads its
   mouth against its own muxed sound — as it reads any recording. The avatar's mouth is
   meant to lead its sound by the recording's own lead (`lead_s`, in the bundle);
   the difference is the error a viewer would see.
2. **mouth against the speaker's own mouth** (when TRACKING is given): the rendered
   mouth (the speak mp4 re-tracked) and the driver's codes, `mouth_open` and
   `jaw_open`, against the speaker's tracked ones, aligned on the sound (each mouth
   shifted by its own lead: the avatar's `lead_s`, the speaker's estimated offset):
   correlation at that alignment, the best lag within ±200 ms and the amplitude ratio
   (std avatar / std speaker: the tracker's channels are geometric ratios, comparable
   across faces only roughly).

Prints one markdown row per source; `--out` writes them as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from avatarzoo.contracts.tracking import Tracking
from avatarzoo.drivers.audio import audio_start, read_audio
from avatarzoo.drivers.sync import estimate_offset

MAX_LAG_S = 0.2


def retrack(video: Path, work: Path, size: int) -> Tracking:
    """Ingest + track `video` as a build would (all of it, `size` px)."""
    from avatarzoo.ingest.stage import ingest_recording
    from avatarzoo.recipe.models import CropConfig, MediapipeTrackerConfig, RecordingConfig
    from avatarzoo.trackers.stage import track_ingested

    rec = RecordingConfig(video=video.name, crop=CropConfig(size=size), holdout=0.0)
    ingest_recording(video, work / "ingest", recording=rec)
    track_ingested(work / "ingest", work / "track", config=MediapipeTrackerConfig())
    return Tracking.load(work / "track" / "tracking.safetensors")


def offset_of(tracking: Tracking, media: Path):
    fps = 1.0 / float(np.median(np.diff(tracking.time)))
    mouth = tracking.expression[:, tracking.space.channel("mouth_open")].astype(np.float64)
    return estimate_offset(mouth, read_audio(media), fps=fps, max_lag_s=1.0,
                           audio_offset=audio_start(media) - float(tracking.time[0]))


def against_speaker(codes: np.ndarray, fps: float, lead: float, media: Path, speaker: Tracking,
                    speaker_lead: float, space) -> dict:
    """Avatar codes [n, D] in `space` (frame k at audio time k / fps) against the
    speaker's tracking."""
    t_pred = audio_start(media) + np.arange(len(codes)) / fps  # media time of each predicted frame
    out = {}
    for ch in ("mouth_open", "jaw_open"):
        pred = codes[:, space.channel(ch)].astype(np.float64)
        truth = speaker.expression[:, speaker.space.channel(ch)].astype(np.float64)
        lags = np.arange(-round(MAX_LAG_S * fps), round(MAX_LAG_S * fps) + 1)
        scores = []
        for lag in lags:
            # the same sound: t_pred + lead == t_speaker + speaker_lead (+ lag frames)
            t = t_pred + lead - speaker_lead + lag / fps
            ok = (t >= speaker.time[0]) & (t <= speaker.time[-1])
            y = np.interp(t[ok], speaker.time, truth)
            scores.append(float(np.corrcoef(pred[ok], y)[0, 1]))
        i0 = int(np.flatnonzero(lags == 0)[0])
        best = int(np.argmax(scores))
        t = t_pred + lead - speaker_lead
        ok = (t >= speaker.time[0]) & (t <= speaker.time[-1])
        amplitude = pred[ok].std() / np.interp(t[ok], speaker.time, truth).std()
        out[ch] = {"corr": round(scores[i0], 3), "best_lag_ms": round(1000 * lags[best] / fps),
                   "best_corr": round(scores[best], 3), "amplitude": round(float(amplitude), 2)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle", type=Path)
    ap.add_argument("sources", nargs="+", help="NAME=MEDIA[:TRACKING]")
    ap.add_argument("--work", type=Path, default=Path("/tmp/avatarzoo-speak-sync"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import avatarzoo

    avatar = avatarzoo.load(args.bundle)
    driver = avatar.driver
    lead = float(driver.lead_s)
    fps = float(driver.fps)
    rows = {}
    print(f"avatar {avatar.id}: lead_s {1000 * lead:.0f} ms, {fps:g} fps, {avatar.size}²")
    print("| audio | s | speak mp4: re-tracked offset ms | score | − lead ms | rendered mouth r / best lag ms / amp "
          "| rendered jaw | codes' mouth | codes' jaw |")
    print("|---|---|---|---|---|---|---|---|---|")
    for item in args.sources:
        name, rest = item.split("=", 1)
        media, _, track = rest.partition(":")
        media = Path(media)
        work = args.work / name
        work.mkdir(parents=True, exist_ok=True)
        video = avatar.speak(media, work / f"{name}.mp4")
        rendered = retrack(video, work, avatar.size)
        spoken = offset_of(rendered, video)
        row = {"seconds": round(len(read_audio(media)) / 16000, 1), "speak_offset_ms": round(spoken.ms),
               "speak_score": round(spoken.score, 3), "speak_clear": bool(spoken.clear),
               "error_ms": round(spoken.ms - 1000 * lead)}
        if track:
            speaker = Tracking.load(track)
            own = offset_of(speaker, media)
            row["speaker_offset_ms"] = round(own.ms)
            # the re-tracked video's frames are the speak frames (time 0 = the audio's start)
            row["rendered"] = against_speaker(rendered.expression, fps, lead, media, speaker, own.seconds,
                                              rendered.space)
            row["codes"] = against_speaker(avatar.expressions_from_audio(media), fps, lead, media, speaker,
                                           own.seconds, avatar.space)
        rows[name] = row
        cell = (lambda c: f"{c['corr']:.2f} / {c['best_lag_ms']:+d} / {c['amplitude']:.2f}")
        parts = [cell(row[w][ch]) if w in row else "—" for w in ("rendered", "codes") for ch in ("mouth_open", "jaw_open")]
        print(f"| {name} | {row['seconds']} | {row['speak_offset_ms']:+d} | {row['speak_score']:.2f} "
              f"| {row['error_ms']:+d} | " + " | ".join(parts) + " |", flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
