"""How near their bounds does a fitted renderer drive its expression offsets, on the
training codes and on the held-out ones?

    python benchmarks/offset_saturation.py FIT_RENDERER_DIR INGEST_DIR TRACK_DIR

For every (frame, moving Gaussian) pair, each offset kind's largest |Δ| / bound before
the squash b·tanh(Δ/b) (`GaussianAvatar.deformation(..., bounded=False)`): its 99th
percentile and the share of pairs past 0.8 and 1.5 of the bound, per split. A kind that
sits at its bound on the held-out codes much more often than on the training ones is
where new expressions are cut; one at its bound on both is a bound the fit leans on.
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
    args = ap.parse_args()

    import torch

    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking
    from avatarzoo.renderers.gaussian.model import BOUND_LAYOUT
    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer

    starts = np.cumsum([0] + [w for _, w in BOUND_LAYOUT])
    kinds = {name: slice(a, a + w) for (name, w), a in zip(BOUND_LAYOUT, starts)}  # the 13 outputs' parts

    model = GaussianRenderer.from_dir(args.renderer).model
    if model.bounds is None:
        raise SystemExit(f"{args.renderer}: this renderer's offsets are unbounded (no expression_limits)")
    hold = IngestOutput.open(args.ingest).info.holdout_start
    codes = torch.as_tensor(np.asarray(Tracking.load(args.track / "tracking.safetensors").expression),
                            dtype=torch.float32)
    moving = model.gates.sum(1) > 0
    print(f"{args.renderer}: {int(moving.sum())} of {model.n} Gaussians move with the expression")
    for split, e in (("training", codes[:hold]), ("held out", codes[hold:])):
        with torch.inference_mode():
            gated = model.gated_features()
            ratio = torch.cat([(model.deformation(e[a:a + 16], gated, bounded=False) / model.bounds).abs()[:, moving]
                               for a in range(0, len(e), 16)])  # [M, Nm, 13]
        parts = []
        for kind, sl in kinds.items():
            r = ratio[..., sl].amax(-1).flatten().numpy()
            parts.append(f"{kind} p99 {np.percentile(r, 99):.2f}, >0.8 {np.mean(r > 0.8):.2%}, >1.5 {np.mean(r > 1.5):.3%}")
        print(f"{split} ({len(e)} frames): " + " | ".join(parts))


if __name__ == "__main__":
    main()
