"""Would the training frames alone have chosen a landmark-motion prior that generalises?

    python benchmarks/landmark_prior_cv.py INGEST_DIR TRACK_DIR [INGEST_DIR TRACK_DIR ...]

The prior (renderers/gaussian/landmark_motion.py) is a ridge regression of each
landmark's non-rigid motion on the codes, fitted on the training frames (ridge 1e-2).
For several ridges, and for a refit in which each landmark is moved only by the
channels of the groups whose affinity to it (`init.group_affinity`) passes a
threshold, this prints how well it predicts three face parts (brows, lids, lips, as
`landmark_prior_crosstalk.py` measures them: correlation / std ratio) under 5-fold
cross-validation over contiguous blocks of the training frames, beside the same fit's
prediction of the held-out window. A variant that CV prefers and that predicts the
held-out window better would be a setting chosen by what generalises.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from landmark_prior_crosstalk import PARTS  # noqa: E402  (the parts' measures, one definition)

RIDGES = (1e-3, 1e-2, 1e-1, 1.0)
AFFINITY = (0.05, 0.2)


def fit(x: np.ndarray, y: np.ndarray, ridge: float, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coef [D, L·3], x mean [D], y mean [L·3]) of y [N, L·3] on x [N, D], the ridge
    relative as in `motion_basis`; with mask [L, D], each landmark on its own channels."""
    xm, ym = x.mean(0), y.mean(0)
    xc, yc = x - xm, y - ym

    def solve(cols: np.ndarray, out: np.ndarray) -> np.ndarray:
        a = xc[:, cols]
        reg = ridge * len(a) * np.eye(a.shape[1]) * (a.var(0).mean() + 1e-8)
        return np.linalg.solve(a.T @ a + reg, a.T @ out)

    if mask is None:
        return solve(np.ones(x.shape[1], bool), yc), xm, ym
    n_lm = mask.shape[0]
    coef = np.zeros((x.shape[1], n_lm, 3))
    groups: dict[bytes, list[int]] = {}
    for lm, row in enumerate(mask):
        groups.setdefault(row.tobytes(), []).append(lm)
    for key, lms in groups.items():
        cols = np.frombuffer(key, bool)
        if cols.any():
            coef[np.ix_(cols, lms)] = solve(cols, yc.reshape(len(yc), n_lm, 3)[:, lms].reshape(len(yc), -1)
                                            ).reshape(cols.sum(), len(lms), 3)
    return coef.reshape(x.shape[1], -1), xm, ym


def scores(pred: np.ndarray, truth: np.ndarray) -> str:
    out = []
    for part, (_, measure) in PARTS.items():
        p, t = measure(pred), measure(truth)
        out.append(f"{part} {np.corrcoef(p, t)[0, 1]:.2f}/{p.std() / max(t.std(), 1e-12):.2f}")
    return " ".join(out)


def one(ingest: Path, track: Path) -> None:
    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking
    from avatarzoo.geometry import rigid_mean
    from avatarzoo.renderers.gaussian.init import channel_groups, group_affinity
    from avatarzoo.renderers.gaussian.landmark_motion import nonrigid_motion

    tracking = Tracking.load(track / "tracking.safetensors")
    info = IngestOutput.open(ingest).info
    hold = info.holdout_start
    t = tracking.tensors()
    codes, lms, pose, K, canonical = (np.asarray(t[k], np.float64)
                                      for k in ("expression", "landmarks", "pose", "K", "canonical"))
    motion = nonrigid_motion(lms, pose, K, canonical, rigid_mean(pose[:hold]))  # [N, L, 3]
    names, group = channel_groups(tracking.space, ("residual",))
    used = group >= 0
    x, y, n_lm = codes[:, used], motion.reshape(len(motion), -1), lms.shape[1]
    aff = group_affinity(codes[:hold], lms[:hold], pose[:hold], K, canonical, group, len(names))[:, group[used]]
    variants = [(f"ridge {r:g}", r, None) for r in RIDGES]
    variants += [(f"affinity > {a:g}", 1e-2, aff > a) for a in AFFINITY]
    folds = np.array_split(np.arange(hold), 5)
    print(f"{info.source.get('file', ingest)}: {len(codes)} frames, held out from {hold}; corr / std ratio")
    for label, ridge, mask in variants:
        cv = np.zeros_like(y[:hold])
        for f in folds:
            rest = np.setdiff1d(np.arange(hold), f)
            coef, xm, ym = fit(x[rest], y[rest], ridge, mask)
            cv[f] = (x[f] - xm) @ coef + ym
        coef, xm, ym = fit(x[:hold], y[:hold], ridge, mask)
        held = (x[hold:] - xm) @ coef + ym
        print(f"  {label:16s} CV {scores(cv.reshape(hold, n_lm, 3), motion[:hold])} | "
              f"held out {scores(held.reshape(-1, n_lm, 3), motion[hold:])}")


if __name__ == "__main__":
    from _stage_pairs import run_over_pairs  # benchmarks/ is on the path (above)

    run_over_pairs(__doc__, one)
