"""Which channels move the brows, lids and lips in the landmark-motion prior, held out?

    python benchmarks/landmark_prior_crosstalk.py INGEST_DIR TRACK_DIR [INGEST_DIR TRACK_DIR ...]

Fits the prior's regression (renderers/gaussian/landmark_motion.py) on the training
frames as `fit_renderer` does (every channel the renderer takes, ridge 1e-2), then, on
the held-out frames (the ingest's `holdout_start` on), splits what it predicts for three
face parts into the part's own region's channels and all the others:

- brows: the upper brow line's height over the eye corners (MediaPipe 70 63 105 66 107,
  336 296 334 293 300 against 33 133 263 362), driven by `brows`; brow_r and brow_l:
  each side's line over its own eye's corners;
- lids: the opening of both eyes (upper minus lower lid, 159 − 145 and 386 − 374),
  driven by `eyes`;
- lips: the inner lip opening (14 − 13), driven by `mouth` and `jaw`.

For each: the held-out std of the tracked motion (world units × 1000), the prior's
correlation with it and its std ratio, and the std of the two shares. A large "others"
share on a window where the part barely moves is motion the part does not make there:
on a render, noise in the re-tracked code (a correlation c with amplitude ≈ 1 / c).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BROW_LINE = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
EYE_CORNERS = (33, 133, 263, 362)  # what the brow raise is measured from, as the tracker's code is
LIDS = ((159, 145), (386, 374))  # (upper, lower) per eye
LIPS = ((14, 13),)  # (lower, upper): the opening grows downwards

def _brow_height(brow: tuple[int, ...], corners: tuple[int, ...]):
    """The measure of one brow line's height over its eye corners (landmarks [H, L, 3])."""
    return lambda m: m[:, list(corners), 1].mean(1) - m[:, list(brow), 1].mean(1)


PARTS = {
    "brows": (("brows",), _brow_height(BROW_LINE, EYE_CORNERS)),
    # each side alone (the tracker's sides: `left` is the 263/362 eye, trackers/expressions.py)
    "brow_r": (("brows",), _brow_height(BROW_LINE[:5], EYE_CORNERS[:2])),
    "brow_l": (("brows",), _brow_height(BROW_LINE[5:], EYE_CORNERS[2:])),
    "lids": (("eyes",), lambda m: np.mean([m[:, lo, 1] - m[:, up, 1] for up, lo in LIDS], 0)),
    "lips": (("mouth", "jaw"), lambda m: np.mean([m[:, lo, 1] - m[:, up, 1] for lo, up in LIPS], 0)),
}


def one(ingest: Path, track: Path) -> None:
    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking
    from avatarzoo.geometry import rigid_mean
    from avatarzoo.renderers.gaussian.init import channel_groups, group_affinity
    from avatarzoo.renderers.gaussian.landmark_motion import motion_basis, nonrigid_motion

    tracking = Tracking.load(track / "tracking.safetensors")
    hold = IngestOutput.open(ingest).info.holdout_start
    t = tracking.tensors()
    codes, lms, pose, K, canonical = (np.asarray(t[k], np.float64)
                                      for k in ("expression", "landmarks", "pose", "K", "canonical"))
    if not 0 < hold < len(codes):
        raise SystemExit(f"error: {ingest}: holdout_start {hold} leaves no training or held-out frame")
    ref_pose = rigid_mean(pose[:hold])
    truth = nonrigid_motion(lms, pose, K, canonical, ref_pose)[hold:]  # [H, L, 3]
    space = tracking.space
    names, group = channel_groups(space, ("residual",))  # the renderer's default skip_regions
    used = group >= 0
    basis, center = motion_basis(codes[:hold], lms[:hold], pose[:hold], K, canonical, ref_pose, used)
    aff = group_affinity(codes[:hold], lms[:hold], pose[:hold], K, canonical, group, len(names))  # [L, R]
    gated = basis * np.where(used[:, None], aff[:, np.maximum(group, 0)].T, 0)[..., None]  # B[k, l] · a[l, r(k)]
    x = codes[hold:] - center  # [H, D]
    corr = lambda a, b: float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")
    print(f"{track.parent.name}/{track.name}: {len(codes)} frames, held out from {hold}")
    print(f"{'part':6s} {'tracked std':>11s} {'prior corr':>10s} {'std ratio':>9s} {'own std':>8s} "
          f"{'own corr':>8s} {'others std':>10s} {'others corr':>11s} {'gated corr':>10s} {'gated ratio':>11s}")
    for part, (regions, measure) in PARTS.items():
        own = np.zeros(len(group), bool)
        for r in regions:
            own[list(space.indices(r))] = True
        own &= used
        if not own.any():
            print(f"{part:6s} (space '{space.name}' gives the renderer no {'/'.join(regions)} channel)")
            continue
        parts = {}
        for label, keep in (("all", used), ("own", own), ("others", used & ~own)):
            parts[label] = measure(np.einsum("nd,dlx->nlx", x * keep, basis))
        gate = measure(np.einsum("nd,dlx->nlx", x * used, gated))
        y = measure(truth)
        ratio = lambda p: p.std() / max(y.std(), 1e-12)
        print(f"{part:6s} {y.std() * 1e3:11.3f} {corr(y, parts['all']):10.2f} {ratio(parts['all']):9.2f} "
              f"{parts['own'].std() * 1e3:8.3f} {corr(y, parts['own']):8.2f} {parts['others'].std() * 1e3:10.3f} "
              f"{corr(y, parts['others']):11.2f} {corr(y, gate):10.2f} {ratio(gate):11.2f}")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _stage_pairs import run_over_pairs

    run_over_pairs(__doc__, one)
