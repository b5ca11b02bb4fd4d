"""Render fps of a trained Gaussian avatar, measured as the evaluate stage measures it
(batch 1, deformation included, warm-up, device sync, median of timed calls).

    python benchmarks/render_fps.py FIT_RENDERER_DIR TRACKING_SAFETENSORS [--device cuda]
        [--frames 50] [--repeats 500] [--size S]

FIT_RENDERER_DIR holds renderer.safetensors + renderer.json (a fit_renderer stage
output in the cache); the driving signals are the last --frames tracked frames.
"""

from __future__ import annotations

import argparse
import json

import torch

from avatarzoo.evaluate.speed import render_speed
from avatarzoo.renderers.gaussian.runtime import GaussianRenderer
from avatarzoo.contracts.tracking import Tracking


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("renderer_dir")
    ap.add_argument("tracking")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=500)
    ap.add_argument("--max-seconds", type=float, default=30.0)
    args = ap.parse_args()
    renderer = GaussianRenderer.from_dir(args.renderer_dir, args.device)
    tr = Tracking.load(args.tracking)
    sl = slice(-args.frames, None)

    def t(x):
        return torch.as_tensor(x[sl], dtype=torch.float32, device=args.device)

    result = render_speed(renderer, t(tr.expression), t(tr.pose), t(tr.body), device=args.device,
                          warmup=args.warmup, repeats=args.repeats, max_seconds=args.max_seconds)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(json.dumps({"device": name, "size": renderer.size,
                      "gaussians": int(renderer.model.means.shape[0]), **result}, indent=2))


if __name__ == "__main__":
    main()
