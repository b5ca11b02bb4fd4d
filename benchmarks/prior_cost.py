"""What the landmark-motion prior costs per frame: one renderer's per-frame Gaussians
(deformation, posing, covariances; no rasterization) with its landmark-motion tensors
and without them (the same Gaussians, the runtime then has no prior), batch 1.

    python benchmarks/prior_cost.py FIT_RENDERER_DIR TRACKING_SAFETENSORS [--device cpu|cuda]
        [--threads 1 2] [--repeats 50]

FIT_RENDERER_DIR is a fit_renderer stage output fitted with `landmark_motion` on; the
codes are the tracking's last frame. Prints the median time of `gaussians()` and of
`deformation()` alone for each. On CUDA the times are eager kernels with a device sync,
not the runtime's CUDA graph.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch


def median_ms(fn, repeats: int, device: torch.device) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("renderer_dir", type=Path)
    ap.add_argument("tracking", type=Path)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()

    from avatarzoo.contracts.tracking import Tracking
    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer

    fitted = GaussianRenderer.from_dir(args.renderer_dir)  # says which file is missing or wrong
    if not fitted.model.motion_landmarks:
        raise SystemExit(f"error: {args.renderer_dir} was fitted without the landmark-motion prior")
    tensors, config = fitted.model.state_dict(), fitted.config
    variants = {
        "with the prior": tensors,
        "without": {k: v for k, v in tensors.items() if not k.startswith("motion_")},
    }
    codes = np.asarray(Tracking.load(args.tracking).tensors()["expression"][-1:], np.float32)
    device = torch.device(args.device)
    for threads in args.threads:
        torch.set_num_threads(threads)
        for label, t in variants.items():
            model = GaussianRenderer.from_tensors(t, config, args.device).model
            e = torch.as_tensor(codes[:, : model.channel_group.numel()], device=device)
            pose = model.ref_pose[None]
            body = torch.zeros(1, int(model.body_index.max()) + 1, 2, device=device)
            body[:, model.body_index] = model.body_ref
            with torch.no_grad():
                whole = median_ms(lambda: model.gaussians(e, pose, body), args.repeats, device)
                deform = median_ms(lambda: model.deformation(e), args.repeats, device)
            print(f"{args.device}, {threads} thread(s), {label:14s}: gaussians() {whole:7.2f} ms, "
                  f"deformation() {deform:7.2f} ms ({model.means.shape[0]} Gaussians)")


if __name__ == "__main__":
    from avatarzoo.cli import friendly  # a missing or unreadable input: its message, no traceback

    friendly(main)()
