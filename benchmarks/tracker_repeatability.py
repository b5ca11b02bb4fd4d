"""Is the tracker the limit of the re-tracked expression fidelity?

    python benchmarks/tracker_repeatability.py INGEST_DIR TRACK_DIR [INGEST_DIR TRACK_DIR ...]

The evaluate stage compares the held-out renders re-tracked with the held-out recording
re-tracked. This re-tracks the recording's held-out frames again after perturbations
smaller than any render error (a 1 px shift, JPEG at quality 80, a σ 0.8 px blur, a 1%
zoom) and prints, per face part (`fidelity.headline_channels`), the correlation /
amplitude against the untouched frames re-tracked, and the window's std: where these
sit near 1, a render's shortfall is the renderer's, not the tracker's noise.

Shapes: M held-out frames, S frame side.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def shifted(f: np.ndarray) -> np.ndarray:
    """[S, S, 3] moved 1 px right and down, the edge repeated."""
    return np.ascontiguousarray(np.pad(f, ((1, 0), (1, 0), (0, 0)), mode="edge")[:-1, :-1])


def jpeg(f: np.ndarray) -> np.ndarray:
    import cv2

    _, data = cv2.imencode(".jpg", f[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 80])
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])


def blurred(f: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(f, (0, 0), 0.8)


def zoomed(f: np.ndarray) -> np.ndarray:
    import cv2

    s = f.shape[0]
    return cv2.warpAffine(f, cv2.getRotationMatrix2D((s / 2, s / 2), 0.0, 1.01), (s, s),
                          borderMode=cv2.BORDER_REPLICATE)


PERTURBATIONS = {"shift 1 px": shifted, "jpeg 80": jpeg, "blur 0.8": blurred, "zoom 1%": zoomed}


def one(ingest: Path, track: Path) -> None:
    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking
    from avatarzoo.evaluate import fidelity as fid
    from avatarzoo.trackers.mediapipe import track_frames

    up = IngestOutput.open(ingest)
    tracking = Tracking.load(track / "tracking.safetensors")
    held = np.asarray(up.frames[up.info.holdout_start:])  # [M, S, S, 3]
    heads = fid.headline_channels(tracking.space)

    def retrack(perturb=lambda f: f):
        return track_frames((perturb(np.array(f)) for f in held), fps=up.info.fps, reference=tracking)

    base = retrack()
    print(f"{up.info.source.get('file', ingest)}: {len(held)} held-out frames; corr / amplitude (window std)")
    for label, perturb in PERTURBATIONS.items():
        other = retrack(perturb)
        both = base.valid & other.valid
        parts = []
        for region, idx in heads.items():
            ags = [fid.agreement(base.expression[:, i], other.expression[:, i], both) for i in idx]
            std = np.mean([base.expression[both, i].std() for i in idx])
            parts.append(f"{region} {np.mean([a.corr for a in ags]):.3f}/"
                         f"{np.mean([a.amplitude for a in ags]):.2f} ({std:.3f})")
        print(f"  {label:10s} " + " | ".join(parts), flush=True)


if __name__ == "__main__":
    from _stage_pairs import run_over_pairs  # benchmarks/ is on the path (above)

    run_over_pairs(__doc__, one)
