"""Lip sync measured the way a user gets it: whole builds, each recording's last 20%
held out, the avatar driven by that held-out speech, rendered, re-tracked and compared
with the held-out recording (the evaluate stage's `lipsync`, evaluate/lipsync.py).

    python benchmarks/lipsync_builds.py --clips DIR NAME=FILE ... [--size 128] [--steps 1500] [--folds 1|5] [--cache DIR] [--out results.json]

Each recording gets a recipe like the demo's cpu-tiny profile (128² crop, 6000
Gaussians, 1500 steps; the default `tcn` driver, from the shipped prior) with
`holdout: 0.2`, written into the work dir, and `avatarzoo build` runs it (stages are
cached: rerunning adds nothing). The table: mouth_open / jaw_open correlation and
amplitude of the re-tracked speech-driven renders, the best lag, LMD, blinks per minute
(driven / recording), brow std ratio, the silent second inside the closed-mouth range,
the recording's estimated offset and the held-out PSNR beside.

`--folds 5`: cross-validated over the whole recording, as the issue asks. Fold k of
5 is held out by building a rotated copy of the recording (WORK/NAME-fk.mp4: frames
from the end of fold k to the clip's end, then from its start, so that fold k is the
last 20%; the audio rotated with its frames, sample-exact) and holding out its last
20% as above; fold 5 is the recording itself. The rotation joins the clip's last frame
to its first once, inside the training frames (a cut, as in edited footage); the
held-out fold is the recording's own, untouched. Rows per fold, then each recording's
mean and the mean over recordings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

RECIPE = """\
avatar: {name}
version: 1
recording:
  video: {video}
  fps: 25
  crop: {{size: {size}, frame: head-and-shoulders}}
  holdout: 0.2
renderer: {{kind: gaussian, space: face-64, gaussians: 6000, steps: {steps}}}
audio_driver: {{kind: tcn, space: face-64{driver}}}
card: {{license: other, consent: "measurement only; not published"}}
"""


def rotated(video: Path, fold: int, folds: int, out: Path) -> Path:
    """A copy of `video` [N frames] starting at the end of fold `fold` of `folds` and
    wrapping around, so that frames [fold·N/folds, (fold+1)·N/folds) come last; its
    audio (16 kHz mono, aligned to the first frame) rotated by the same time."""
    import numpy as np

    from avatarzoo.ingest.audio import load_audio
    from avatarzoo.media import open_media, write_video

    if out.is_file():
        return out
    with open_media(video, "a video file") as c:
        stream = c.streams.video[0]
        fps = float(stream.average_rate)
        frames, times = [], []
        for f in c.decode(stream):
            frames.append(f.to_ndarray(format="rgb24"))
            times.append(float(f.pts * f.time_base) if f.pts is not None else len(times) / fps)
    n = len(frames)
    b = (fold + 1) * n // folds  # the first frame after the fold
    audio = load_audio(video, first_frame_time=times[0], end_time=times[0] + n / fps)
    if audio is None:
        raise SystemExit(f"{video}: no audio to drive the avatar with")
    samples = np.zeros(int(round(n / fps * 16000)), np.float32)
    k = int(round(audio.offset * 16000))  # sample 0 plays `offset` s after the first frame
    got = audio.samples[max(0, -k):][: len(samples) - max(k, 0)]
    samples[max(k, 0):max(k, 0) + len(got)] = got
    cut = int(round(b / fps * 16000))
    order = list(range(b, n)) + list(range(b))
    return write_video(out, (frames[i] for i in order), fps=fps,
                       audio=np.concatenate([samples[cut:], samples[:cut]]), crf=12)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recordings", nargs="+", help="NAME=FILE (FILE under --clips)")
    ap.add_argument("--clips", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/avatarzoo-lipsync-builds"))
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=1500, help="renderer steps (the cpu-tiny profile's: 1500)")
    ap.add_argument("--driver", default="", help="extra driver fields, e.g. ', prior: none'")
    ap.add_argument("--tag", default="", help="suffix of the avatar names (a variant)")
    ap.add_argument("--folds", type=int, default=1, choices=(1, 5),
                    help="1: the last 20%% held out; 5: each fifth in turn (rotated copies)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    cache = args.cache or args.work / "cache"
    rows = {}
    runs = []  # (recording, avatar, video)
    for item in args.recordings:
        name, file = item.split("=", 1)
        video = (args.clips / file).resolve()
        if args.folds == 1:
            runs.append((name, f"{name}{args.tag}", video))
            continue
        for k in range(args.folds):
            avatar = f"{name}-f{k + 1}{args.tag}"
            last = k == args.folds - 1
            runs.append((name, avatar, video if last else rotated(video, k, args.folds, args.work / f"{name}-f{k + 1}.mp4")))
    for name, avatar, video in runs:
        recipe = args.work / f"{avatar}.yaml"
        recipe.write_text(RECIPE.format(name=avatar, video=video, size=args.size, steps=args.steps, driver=args.driver))
        r = subprocess.run([sys.executable, "-m", "avatarzoo.cli", "build", str(recipe), "--cache", str(cache)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{avatar}: build failed\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
            continue
        bundle = cache / "bundles" / f"{avatar}-v1"
        config = json.loads((bundle / "config.json").read_text())
        m = config["metrics"]
        ls = m.get("lipsync") or {}
        rows[avatar] = {
            "recording": name,
            "offset_ms": round(1000 * config["audio_driver"]["av_offset"]["seconds"], 1),
            "prior": config["audio_driver"]["prior"],
            "held_out_s": ls.get("seconds"),
            "mouth": ls.get("mouth"), "jaw": ls.get("jaw"), "best_lag_ms": ls.get("best_lag_ms"),
            "lmd_px": ls.get("lmd_px"), "blinks_per_min": ls.get("blinks_per_min"),
            "recording_blinks_per_min": ls.get("recording_blinks_per_min"),
            "brow_std_ratio": ls.get("brow_std_ratio"), "silence": ls.get("silence"),
            "psnr_full": m["headline"].get("psnr_full"), "mouth_fidelity_corr": m["headline"].get("mouth_corr"),
        }
        print(avatar, json.dumps(rows[avatar]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")
    print(f"{'recording':<14}{'offset':>8}{'mouth r':>9}{'amp':>6}{'jaw r':>7}{'amp':>6}{'lag':>6}{'LMD':>6}"
          f"{'blink/min':>11}{'brow':>6}{'silent':>8}{'PSNR':>7}")
    for name, r in rows.items():
        mo, ja, si = r["mouth"] or {}, r["jaw"] or {}, r["silence"] or {}
        f = lambda x, s: "–" if x is None else format(x, s)  # noqa: E731
        print(f"{name:<14}{f(r['offset_ms'], '.0f'):>8}{f(mo.get('corr'), '.2f'):>9}{f(mo.get('amplitude'), '.2f'):>6}"
              f"{f(ja.get('corr'), '.2f'):>7}{f(ja.get('amplitude'), '.2f'):>6}{f(r['best_lag_ms'], '.0f'):>6}"
              f"{f(r['lmd_px'], '.1f'):>6}{f(r['blinks_per_min'], '.0f'):>6}/{f(r['recording_blinks_per_min'], '.0f'):<4}"
              f"{f(r['brow_std_ratio'], '.2f'):>6}{f(si.get('inside'), '.0%'):>8}{f(r['psnr_full'], '.1f'):>7}")
    if args.folds > 1:
        means = {}
        for name in dict.fromkeys(r["recording"] for r in rows.values()):
            got = [r for r in rows.values() if r["recording"] == name and r["mouth"]]
            means[name] = {part: {q: round(sum(r[part][q] for r in got) / len(got), 3) for q in ("corr", "amplitude")}
                           for part in ("mouth", "jaw")} | {"folds": len(got)}
            print(f"{name:<14} mean of {len(got)} folds: mouth {means[name]['mouth']['corr']:.2f} / "
                  f"{means[name]['mouth']['amplitude']:.2f}, jaw {means[name]['jaw']['corr']:.2f} / "
                  f"{means[name]['jaw']['amplitude']:.2f}")
        print(f"mean over {len(means)} recordings: mouth "
              f"{sum(m['mouth']['corr'] for m in means.values()) / len(means):.3f}, jaw "
              f"{sum(m['jaw']['corr'] for m in means.values()) / len(means):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
