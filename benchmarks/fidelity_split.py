"""Re-tracked fidelity of a fitted renderer on its *training* frames beside its held-out
ones: does it miss a channel because it cannot draw it (low on both), or because it does
not generalise to new codes (high on training, low held out)?

    python benchmarks/fidelity_split.py FIT_RENDERER_DIR INGEST_DIR TRACK_DIR [--stride 2] [--channels mouth_open jaw_open] [--device cpu|cuda]

Renders every `stride`-th training frame and every held-out frame from their tracked
expression, pose and body, re-tracks renders and recording alike (the recipes' default
tracker) and prints, per channel and split: corr / amplitude (std ratio) of the renders
against the re-tracked recording, how far above the split's mean the recording's widest
10% sit and how far the renders of those frames do, and the tracker's own repeatability
(stored tracking against the re-tracked recording).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("renderer", type=Path)
    ap.add_argument("ingest", type=Path)
    ap.add_argument("track", type=Path)
    ap.add_argument("--stride", type=int, default=2, help="every k-th training frame")
    ap.add_argument("--channels", nargs="+", default=["mouth_open", "jaw_open"])
    ap.add_argument("--device", default="cpu", help="where to render (a 512² renderer wants cuda)")
    args = ap.parse_args()

    import torch

    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking
    from avatarzoo.evaluate.fidelity import agreement, pearson
    from avatarzoo.evaluate.holdout import _resize, _tracking_arrays, to_numpy
    from avatarzoo.recipe.trackers import MediapipeTrackerConfig
    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer
    from avatarzoo.trackers.mediapipe import track_frames

    ingest = IngestOutput.open(args.ingest)
    tracking = Tracking.load(args.track / "tracking.safetensors")
    renderer = GaussianRenderer.from_dir(args.renderer, args.device)
    frames, fps = ingest.frames, ingest.info.fps
    n, side, hold = frames.shape[0], frames.shape[1], ingest.info.holdout_start
    stored = _tracking_arrays(tracking, n, "the stored tracking")
    channels = {c: tracking.space.channels.index(c) for c in args.channels}
    config = MediapipeTrackerConfig()

    def retrack(images, what: str) -> dict[str, np.ndarray]:
        result = track_frames((np.array(x) for x in images), fps=fps, reference=tracking, config=config)
        return _tracking_arrays(result, len(images), what)

    print(f"{'split':<6}{'frames':>7}  {'channel':<12}{'corr':>6}{'amp':>6}{'widest 10%: recording':>23}"
          f"{'render':>8}{'tracker repeat':>16}")
    for split, idx in (("train", np.arange(0, hold, args.stride)), ("held", np.arange(hold, n))):
        def arr(key: str) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(stored[key][idx]), dtype=torch.float32, device=args.device)

        expr, pose, body = arr("expression"), arr("pose"), arr("body")
        with torch.inference_mode():
            renders = np.concatenate([
                _resize(to_numpy(renderer.render(expr[a:a + 16], pose[a:a + 16], body[a:a + 16])), side)
                for a in range(0, len(idx), 16)
            ])
        gt, live = retrack(frames[idx], "recording"), retrack(renders, "renders")
        ok = gt["valid"] & live["valid"]
        for name, c in channels.items():
            a = agreement(gt["expression"][:, c], live["expression"][:, c], ok)
            g, r = gt["expression"][ok, c], live["expression"][ok, c]
            wide = g > np.quantile(g, 0.9)
            print(f"{split:<6}{a.frames:>7}  {name:<12}{a.corr:>6.2f}{a.amplitude:>6.2f}"
                  f"{g[wide].mean() - g.mean():>+23.2f}{r[wide].mean() - g.mean():>+8.2f}"
                  f"{pearson(stored['expression'][idx][ok, c], g):>16.3f}")


if __name__ == "__main__":
    main()
