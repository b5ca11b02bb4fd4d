"""Does a held-out frame score lower the farther its head pose is from every training
pose? Per-frame PSNR of an evaluated avatar against its pose novelty.

    python benchmarks/pose_novelty.py EVALUATE_DIR TRACK_DIR [--region face|full]

Pose novelty: each held-out frame's angle to the nearest training head rotation (the
evaluate stage's `coverage`, per frame). Prints its correlation with the frame's PSNR,
the same with the frame's time in the window regressed out of both (a window drifts in
time as well as in pose), and the mean PSNR of the nearer and the farther half.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def residual(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """y [M] minus its least-squares line in x [M]."""
    a = np.c_[x, np.ones_like(x)]
    return y - a @ np.linalg.lstsq(a, y, rcond=None)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("evaluate", type=Path, help="an evaluate stage's directory (metrics.json)")
    ap.add_argument("track", type=Path)
    ap.add_argument("--region", choices=("face", "full"), default="face")
    args = ap.parse_args()

    from avatarzoo.contracts.tracking import Tracking
    from avatarzoo.evaluate.coverage import pose_novelty_deg
    from avatarzoo.evaluate.fidelity import pearson
    from avatarzoo.evaluate.holdout import _tracking_arrays

    metrics = json.loads((args.evaluate / "metrics.json").read_text())
    hold, n = metrics["holdout_start"], metrics["n_frames"]
    tr = _tracking_arrays(Tracking.load(args.track / "tracking.safetensors"), n, str(args.track))
    psnr = np.array([np.nan if x is None else x for x in metrics["images"]["render"]["per_frame"][f"psnr_{args.region}"]])
    novelty = pose_novelty_deg(tr["pose"], tr["valid"], hold)  # [M] degrees, NaN where untracked
    ok = np.isfinite(psnr) & np.isfinite(novelty)
    a, p, t = novelty[ok], psnr[ok], np.flatnonzero(ok).astype(float)
    near = a < np.median(a)
    print(f"{metrics['avatar']}: {ok.sum()} held-out frames, {args.region} PSNR against pose novelty")
    print(f"  corr(novelty, PSNR) {pearson(a, p):+.2f}; with time regressed out {pearson(residual(a, t), residual(p, t)):+.2f}"
          f" (corr(time, PSNR) {pearson(t, p):+.2f}, corr(time, novelty) {pearson(t, a):+.2f})")
    print(f"  nearer half: {p[near].mean():.2f} dB (novelty median {np.median(a[near]):.2f}°);"
          f" farther half: {p[~near].mean():.2f} dB ({np.median(a[~near]):.2f}°)")


if __name__ == "__main__":
    main()
