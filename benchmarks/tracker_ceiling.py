"""How stable is the tracker's own reading of a held-out window? The ceiling a perfect
renderer's re-tracked fidelity could reach.

    python benchmarks/tracker_ceiling.py INGEST_DIR TRACK_DIR

Re-tracks the recording's held-out frames as they are and after small image changes a
render could carry (a 1-px shift, Gaussian noise of 2/255, JPEG at quality 85, a 0.7-px
blur), with the recipes' default tracker, and prints per headline channel region (the
evaluate stage's) the correlation of each changed reading with the unchanged one, and
the window's std. A region whose ceiling is far below the fidelity bar (0.9) cannot be
held to it on that window; one whose ceiling is near 1 and whose renders score low is
the renderer's shortfall.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def perturbations(seed: int = 0) -> dict:
    """name -> f(frame [S, S, 3] uint8) -> frame of the same shape and dtype."""
    import cv2

    g = np.random.default_rng(seed)

    def jpeg(f: np.ndarray) -> np.ndarray:
        ok, buf = cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 85])
        return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)

    return {
        "shift 1px": lambda f: np.ascontiguousarray(np.roll(f, 1, axis=1)),
        "noise 2/255": lambda f: np.clip(f.astype(np.float32) + g.normal(0, 2, f.shape), 0, 255).astype(np.uint8),
        "jpeg q85": jpeg,
        "blur 0.7px": lambda f: cv2.GaussianBlur(f, (0, 0), 0.7),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ingest", type=Path)
    ap.add_argument("track", type=Path)
    args = ap.parse_args()

    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking
    from avatarzoo.evaluate.fidelity import headline_channels, pearson
    from avatarzoo.evaluate.holdout import _tracking_arrays
    from avatarzoo.recipe.trackers import MediapipeTrackerConfig
    from avatarzoo.trackers.mediapipe import track_frames

    ingest = IngestOutput.open(args.ingest)
    tracking = Tracking.load(args.track / "tracking.safetensors")
    hold = ingest.info.holdout_start
    frames = np.asarray(ingest.frames[hold:])
    config = MediapipeTrackerConfig()

    def read(images: list[np.ndarray], what: str) -> dict[str, np.ndarray]:
        result = track_frames(iter(images), fps=ingest.info.fps, reference=tracking, config=config)
        return _tracking_arrays(result, len(images), what)

    base = read(list(frames), "the held-out recording")
    changed = {name: read([f(x) for x in frames], name) for name, f in perturbations().items()}
    print(f"{args.ingest}: held-out frames {hold}..{hold + len(frames) - 1}, {frames.shape[1]}²")
    print(f"{'region':<8}" + "".join(f"{k:>13}" for k in changed) + f"{'window std':>12}")
    for region, idx in headline_channels(tracking.space).items():
        row = []
        for other in changed.values():
            ok = base["valid"] & other["valid"]
            row.append(np.mean([pearson(base["expression"][ok, i], other["expression"][ok, i]) for i in idx]))
        std = np.mean([base["expression"][base["valid"], i].std() for i in idx])
        print(f"{region:<8}" + "".join(f"{x:>13.3f}" for x in row) + f"{std:>12.3f}")


if __name__ == "__main__":
    main()
