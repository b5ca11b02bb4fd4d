"""Render fps of a trained Gaussian avatar, measured as the evaluate stage measures it
(batch 1, deformation included, warm-up, device sync, median of timed calls), and at
larger batches (`--batch 1 8`: frames per second = batch / median call time).

    python benchmarks/render_fps.py FIT_RENDERER_DIR TRACKING_SAFETENSORS [--device cuda]
        [--frames 50] [--repeats 500] [--size S] [--batch 1 8] [--out FILE.json]

FIT_RENDERER_DIR holds renderer.safetensors + renderer.json (a fit_renderer stage
output in the cache); the driving signals are the last --frames tracked frames.
--size renders at S² (default: the renderer's own side). `--paths eager compiled`
times both per-frame paths in one process (GaussianRenderer's `compile`, opt-in on
CUDA; the default is the runtime's own, eager): rows `batchB` and `compiled_batchB`.
`--prior with without` also times the same Gaussians without the landmark-motion
prior's tensors (the runtime then has no prior): rows `noprior_batchB`, ... .
"""

from __future__ import annotations

import argparse
import json

import torch

import numpy as np

from avatarzoo.evaluate.speed import _sync, render_speed, time_calls
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
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--batch", type=int, nargs="+", default=[1])
    ap.add_argument("--paths", nargs="+", choices=("eager", "compiled"), default=["eager"])
    ap.add_argument("--prior", nargs="+", choices=("with", "without"), default=["with"],
                    help="'without': the same renderer minus its landmark-motion tensors")
    ap.add_argument("--out", default=None, help="also write the result here (JSON)")
    args = ap.parse_args()
    tr = Tracking.load(args.tracking)
    sl = slice(-args.frames, None)

    def t(x):
        return torch.as_tensor(x[sl], dtype=torch.float32, device=args.device)

    e, p, b = t(tr.expression), t(tr.pose), t(tr.body)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    out = {"device": name}
    fitted = GaussianRenderer.from_dir(args.renderer_dir)  # says which file is missing or wrong
    tensors, config = fitted.model.state_dict(), fitted.config
    out["prior"] = bool(fitted.model.motion_landmarks)
    for prior in args.prior:
        if prior == "without" and not out["prior"]:
            print(f"{args.renderer_dir} has no landmark-motion prior: no 'without' rows", flush=True)
            continue
        kept = tensors if prior == "with" else {k: v for k, v in tensors.items() if not k.startswith("motion_")}
        for path in args.paths:
            renderer = GaussianRenderer.from_tensors(kept, config, args.device, compile=path == "compiled")
            out.update(size=args.size or renderer.size, gaussians=int(renderer.model.means.shape[0]))
            prefix = ("" if prior == "with" else "noprior_") + ("" if path == "eager" else "compiled_")
            for batch in args.batch:
                out[f"{prefix}batch{batch}"] = row = _timed(renderer, e, p, b, batch, args)
                print(json.dumps({f"{prefix}batch{batch}": row, "compiled": renderer.compiled}), flush=True)
    print(json.dumps(out, indent=2))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(out, fh, indent=2)


def _timed(renderer, e, p, b, batch: int, args) -> dict:
    """One row: the evaluate stage's batch-1 measurement, or frames/s at `batch`."""
    size = args.size or renderer.size
    if size != renderer.size:  # render_speed renders at the renderer's side; rescale it
        from functools import partial

        class AtSize:
            space, render_float = renderer.space, partial(renderer.render_float, size=size)
            render = partial(renderer.render, size=size)

        timed = AtSize()
    else:
        timed = renderer
    if batch == 1:  # exactly the evaluate stage's measurement
        return render_speed(timed, e, p, b, device=args.device, warmup=args.warmup,
                            repeats=args.repeats, max_seconds=args.max_seconds)
    n = len(e)
    idx = [torch.arange(i * batch, (i + 1) * batch, device=e.device) % n for i in range(n)]
    with torch.inference_mode():
        sec = time_calls(lambda i: timed.render_float(e[idx[i % n]], p[idx[i % n]], b[idx[i % n]]),
                         sync=_sync(args.device), warmup=args.warmup, repeats=args.repeats,
                         max_seconds=args.max_seconds)
    med = float(np.median(sec))
    return {"median_ms": med * 1e3, "p90_ms": float(np.percentile(sec, 90)) * 1e3,
            "calls": int(sec.size), "fps": batch / med}


if __name__ == "__main__":
    from avatarzoo.cli import friendly  # a missing or unreadable input: its message, no traceback

    friendly(main)()
