"""Does the landmark-motion prior carry over from tracked codes to the audio driver's?

    python benchmarks/landmark_prior_driver.py INGEST_DIR TRACK_DIR BUNDLE AUDIO

Fits the prior's regression (renderers/gaussian/landmark_motion.py) on the training
frames, as `fit_renderer` does, for three channel sets (all the renderer takes, mouth +
jaw, jaw only) and three ridges, and prints how well the lip opening it predicts (inner
lower minus upper lip, landmarks 14 − 13, vertical) follows the tracked lip opening,
from the tracked codes and from the codes the bundle's audio driver makes from AUDIO
(the recording's own sound), on the training frames and the held-out ones (the ingest's
`holdout_start`). On the demo (128², BENCHMARKS.md, session 9), with all channels or
mouth + jaw, the prior follows tracked codes at 0.97–1.00 and the driver's at 0.49–0.61
held out, whatever the ridge (jaw alone: 0.84–0.88 and 0.61–0.68): it passes on the
driver's errors in every mouth channel, not a blow-up of correlated ones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

UPPER_LIP, LOWER_LIP = 13, 14  # MediaPipe face mesh: inner lip midpoints
RIDGES = (1e-2, 1e-1, 1.0)


def lip_opening(motion: np.ndarray) -> np.ndarray:
    """[N] from landmark motions [N, L, 3]."""
    return motion[:, LOWER_LIP, 1] - motion[:, UPPER_LIP, 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ingest", type=Path)
    ap.add_argument("track", type=Path)
    ap.add_argument("bundle", help="a bundle directory or id with an audio driver")
    ap.add_argument("audio", help="the recording (or its sound)")
    args = ap.parse_args()

    import avatarzoo
    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking
    from avatarzoo.geometry import rigid_mean
    from avatarzoo.renderers.gaussian.init import channel_groups
    from avatarzoo.renderers.gaussian.landmark_motion import motion_basis, nonrigid_motion

    tracking = Tracking.load(args.track / "tracking.safetensors")
    hold = IngestOutput.open(args.ingest).info.holdout_start
    driven = avatarzoo.load(args.bundle).expressions_from_audio(args.audio).astype(np.float64)
    t = tracking.tensors()
    codes, lms, pose, K, canonical = (np.asarray(t[k], np.float64)
                                      for k in ("expression", "landmarks", "pose", "K", "canonical"))
    n = min(len(codes), len(driven))
    if hold >= n:
        raise SystemExit(f"error: holdout_start {hold} leaves no held-out frame among {n}")
    ref_pose = rigid_mean(pose[:hold])
    truth = lip_opening(nonrigid_motion(lms, pose, K, canonical, ref_pose))[:n]
    space = tracking.space
    _, group = channel_groups(space, ("residual",))
    sets = {"all the renderer takes": group >= 0}
    for label, regions in (("mouth + jaw", ("mouth", "jaw")), ("jaw", ("jaw",))):
        used = np.zeros(len(group), bool)
        for r in regions:
            used[list(space.indices(r))] = True
        sets[label] = used
    corr = lambda a, b: float(np.corrcoef(a, b)[0, 1])
    print(f"{args.track.name}: {n} frames, held out from {hold}; lip-opening correlation with the tracked one")
    print(f"{'channels':24s} {'ridge':>6s}  tracked codes: train  held   driver codes: train  held   driver/tracked std")
    for label, used in sets.items():
        for ridge in RIDGES:
            basis, center = motion_basis(codes[:hold], lms[:hold], pose[:hold], K, canonical, ref_pose,
                                         used, ridge=ridge)
            from_tracked = lip_opening(np.einsum("nd,dlx->nlx", codes[:n] - center, basis))
            from_driver = lip_opening(np.einsum("nd,dlx->nlx", driven[:n] - center, basis))
            print(f"{label:24s} {ridge:6g}  {corr(truth[:hold], from_tracked[:hold]):21.2f} "
                  f"{corr(truth[hold:], from_tracked[hold:]):5.2f}  {corr(truth[:hold], from_driver[:hold]):19.2f} "
                  f"{corr(truth[hold:], from_driver[hold:]):5.2f}  {from_driver.std() / from_tracked.std():18.2f}")


if __name__ == "__main__":
    from avatarzoo.cli import friendly  # a missing or unreadable input: its message, no traceback

    friendly(main)()
