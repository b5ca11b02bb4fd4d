"""How near their bounds does a fitted renderer drive its expression offsets, on the
training codes and on the held-out ones?

    python benchmarks/offset_saturation.py FIT_RENDERER_DIR INGEST_DIR TRACK_DIR [--group eyes]

For every (frame, moving Gaussian) pair, each offset kind's largest |Δ| / bound before
the squash b·tanh(Δ/b) (`GaussianAvatar.deformation(..., bounded=False)`): its 99th
percentile and the share of pairs past 0.8 and 1.5 of the bound, per split. A kind that
sits at its bound on the held-out codes much more often than on the training ones is
where new expressions are cut; one at its bound on both is a bound the fit leans on.

`--group G` narrows it to one expression group: the Gaussians that G gates (gate > 0.3)
on the training frames where G's codes are most extreme (top 3% by RMS, e.g. the blinks)
against the middle of the distribution: which offsets an expression is drawn with, and
which of them it runs out of.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("renderer", type=Path)
    ap.add_argument("ingest", type=Path)
    ap.add_argument("track", type=Path)
    ap.add_argument("--group", help="one expression group (e.g. eyes, mouth, brows)")
    args = ap.parse_args()

    import torch

    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking
    from avatarzoo.renderers.gaussian.model import BOUND_LAYOUT
    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer

    starts = np.cumsum([0] + [w for _, w in BOUND_LAYOUT])
    kinds = {name: slice(a, a + w) for (name, w), a in zip(BOUND_LAYOUT, starts)}  # the 13 outputs' parts

    renderer = GaussianRenderer.from_dir(args.renderer)
    model = renderer.model
    if model.bounds is None:
        raise SystemExit(f"{args.renderer}: this renderer's offsets are unbounded (no expression_limits)")
    hold = IngestOutput.open(args.ingest).info.holdout_start
    codes = torch.as_tensor(np.asarray(Tracking.load(args.track / "tracking.safetensors").expression),
                            dtype=torch.float32)
    if args.group is None:
        who = model.gates.sum(1) > 0
        print(f"{args.renderer}: {int(who.sum())} of {model.n} Gaussians move with the expression")
        splits = {"training": codes[:hold], "held out": codes[hold:]}
    else:
        groups = json.loads((args.renderer / "renderer.json").read_text())["groups"]
        if args.group not in groups:
            raise SystemExit(f"{args.renderer}: no expression group {args.group!r}; it has {groups}")
        r = groups.index(args.group)
        who = model.gates[:, r] > 0.3
        channels = (model.channel_group == r).nonzero()[:, 0]
        rms = codes[:hold, channels].pow(2).mean(1).sqrt()
        order = torch.argsort(rms)
        k = max(3, hold // 33)
        print(f"{args.renderer}: {int(who.sum())} of {model.n} Gaussians gated by {args.group!r}"
              f" ({len(channels)} channels)")
        splits = {f"top 3% of training frames by {args.group} RMS": codes[order[-k:]],
                  "middle training frames": codes[order[hold // 2 - k:hold // 2 + k]]}
    fixed = model.fixed()
    for split, e in splits.items():
        with torch.inference_mode():
            ratio = torch.cat([(model.deformation(e[a:a + 16], fixed, bounded=False) / model.bounds).abs()[:, who]
                               for a in range(0, len(e), 16)])  # [M, Nw, 13]
        parts = []
        for kind, sl in kinds.items():
            x = ratio[..., sl].amax(-1).flatten().numpy()
            parts.append(f"{kind} p99 {np.percentile(x, 99):.2f}, >0.8 {np.mean(x > 0.8):.2%}, >1.5 {np.mean(x > 1.5):.3%}")
        print(f"{split} ({len(e)} frames): " + " | ".join(parts))


if __name__ == "__main__":
    from avatarzoo.cli import friendly  # a missing or unreadable input: its message, no traceback

    friendly(main)()
