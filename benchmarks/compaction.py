"""What dropping the Gaussians no training frame shows costs and gains, on one build.

    python benchmarks/compaction.py RECIPE --profile P [--min-weight 0.01 0.1 0.5 2]
        [--device cuda] [--fps-seconds 5] [--out FILE.json]

Reads the build's ingest, track and fit_renderer outputs from $AVATARZOO_CACHE (the plan's
keys), measures every Gaussian's largest blending weight over the training frames
(`renderers/gaussian/compaction.py`: px at the renderer's side, each frame with its own
expression, pose and body), and for each threshold renders the held-out frames with the
Gaussians at or above it: kept count, held-out PSNR full frame and face box (the
landmarks' box, as the evaluate stage draws it) against the uncompacted model's, and
render fps at batch 1 (the evaluate stage's measurement) and batch 8. The first row is the
model as fitted. Rows print as JSON lines as they are measured.

Shapes: F training frames, M held-out frames, N Gaussians, S renderer side.
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("recipe")
    ap.add_argument("--profile", default=None)
    ap.add_argument("--min-weight", type=float, nargs="+", default=[0.01, 0.1, 0.5, 2.0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--fps-seconds", type=float, default=5.0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    from avatarzoo.evaluate.facebox import face_boxes
    from avatarzoo.evaluate.speed import _sync, render_speed, time_calls
    from avatarzoo.image_metrics import psnr
    from avatarzoo.recipe import load_recipe
    from avatarzoo.renderers.gaussian.compaction import blend_weights, compact_
    from avatarzoo.renderers.gaussian.fitting import load_inputs
    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer
    from avatarzoo.stages.graph import plan_stages
    from avatarzoo.stages.cache import default_cache_root

    loaded = load_recipe(args.recipe, profile=args.profile)
    keys = {s.name: s.key for s in plan_stages(loaded)}
    stage = lambda name: default_cache_root() / "stages" / name / keys[name]  # noqa: E731
    d = load_inputs(stage("ingest"), stage("track"))
    fitted = GaussianRenderer.from_dir(stage("fit_renderer"), args.device)
    model, config, size = fitted.model, fitted.config, fitted.size
    dev = torch.device(args.device)
    hold = d["info"].holdout_start
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=dev)  # noqa: E731
    batch = lambda rows: {k: t(d[k][rows]) for k in ("expression", "pose", "body")}  # noqa: E731
    out = {"device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu", "size": size,
           "gaussians": model.n, "training_frames": hold, "rows": []}
    t0 = time.perf_counter()
    weights = blend_weights(model, batch, np.arange(hold), size, chunk=8 if dev.type == "cuda" else 2)
    out["weights_s"] = time.perf_counter() - t0
    q = torch.quantile(weights.float().cpu(), torch.tensor([0.01, 0.1, 0.25, 0.5, 0.75, 0.9])).tolist()
    out["weight_quantiles_px"] = dict(zip(("p01", "p10", "p25", "p50", "p75", "p90"), q))
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}), flush=True)

    import cv2

    frames = np.stack([cv2.resize(np.asarray(f), (size, size), interpolation=cv2.INTER_AREA)
                       if f.shape[0] != size else np.asarray(f) for f in d["frames"][hold:]])
    truth = torch.as_tensor(frames, device=dev).permute(0, 3, 1, 2).float() / 255
    s0 = d["frames"].shape[1]
    boxes = face_boxes(d["landmarks"][hold:], s0) * size / s0  # [M, 4] x0, y0, x1, y1 at S
    face = torch.zeros(len(frames), 1, size, size, device=dev)
    for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes).round().astype(int)):
        face[i, :, max(0, y0):y1, max(0, x0):x1] = 1
    held = batch(np.arange(hold, len(d["frames"])))
    state = model.state_dict()
    reference = None
    for threshold in [None, *args.min_weight]:
        kept = state
        if threshold is not None:
            m = copy.deepcopy(model)
            compact_(m, weights >= threshold)
            kept = m.state_dict()
        r = GaussianRenderer.from_tensors(kept, config, args.device)
        with torch.inference_mode():
            img = torch.cat([r.render_float(held["expression"][a:a + 8], held["pose"][a:a + 8],
                                            held["body"][a:a + 8]) for a in range(0, len(frames), 8)])
        full, in_face = psnr(img, truth).mean().item(), psnr(img, truth, face).mean().item()
        if reference is None:
            reference = img
        speed = render_speed(r, held["expression"], held["pose"], held["body"], device=args.device,
                             max_seconds=args.fps_seconds, repeats=2000)
        n = len(frames)
        idx = [torch.arange(i * 8, (i + 1) * 8, device=dev) % n for i in range(n)]
        with torch.inference_mode():
            sec = time_calls(lambda i: r.render_float(*(held[k][idx[i % n]] for k in ("expression", "pose", "body"))),
                             sync=_sync(args.device), warmup=5, repeats=2000, max_seconds=args.fps_seconds)
        row = {"min_weight_px": threshold, "kept": r.model.n, "psnr": full, "psnr_face": in_face,
               "psnr_vs_fitted": psnr(img, reference).mean().item() if threshold is not None else None,
               "fps_batch1": speed["fps"], "ms_batch1": speed["median_ms"],
               "fps_batch8": 8 / float(np.median(sec))}
        out["rows"].append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    from avatarzoo.cli import friendly

    friendly(main)()
