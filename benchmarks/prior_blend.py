"""The landmark-motion prior's per-Gaussian blend in three forms, timed on one fitted
renderer's tensors: the runtime's gather (landmark_motion.landmark_offsets, the
reference), one `embedding_bag` over all Gaussians, and one `embedding_bag` over the
Gaussians the prior can move (weight > 0) scattered into zeros. Each is checked
against the reference, timed eagerly and, on CUDA, replayed from a captured CUDA graph
(the runtime's own per-frame path), at each batch.

    python benchmarks/prior_blend.py FIT_RENDERER_DIR [--device cuda] [--batch 1 8]
        [--repeats 200] [--json OUT.json]

FIT_RENDERER_DIR is a fit_renderer stage output fitted with `landmark_motion` on.
Shapes: B batch, D channels, L landmarks, N Gaussians, K neighbours, M moving Gaussians.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from avatarzoo.renderers.gaussian.landmark_motion import landmark_offsets


def motion(expression: Tensor, basis: Tensor, center: Tensor) -> Tensor:
    """[L, B·3] each landmark's motion for every frame, a table row per landmark."""
    d, n_lm, _ = basis.shape
    m = ((expression - center) @ basis.reshape(d, -1)).reshape(len(expression), n_lm, 3)
    return m.permute(1, 0, 2).reshape(n_lm, -1)


def bag(expression, basis, center, index, weight) -> Tensor:
    """Δx [B, N, 3] as one weighted-sum embedding_bag over the landmark table."""
    out = F.embedding_bag(index, motion(expression, basis, center), per_sample_weights=weight, mode="sum")
    return out.reshape(len(index), len(expression), 3).transpose(0, 1)


def bag_moving(expression, basis, center, index, weight, moving: Tensor) -> Tensor:
    """Δx [B, N, 3]: the embedding_bag over the M moving Gaussians only (moving [M] long),
    the rest 0."""
    table = motion(expression, basis, center)
    part = F.embedding_bag(index[moving], table, per_sample_weights=weight[moving], mode="sum")
    out = table.new_zeros(len(index), table.shape[1]).index_copy_(0, moving, part)
    return out.reshape(len(index), len(expression), 3).transpose(0, 1)


def median_ms(fn, device: torch.device, repeats: int) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(10):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def graphed(fn, device: torch.device):
    """fn replayed from a CUDA graph (its inputs fixed), or None where capture fails."""
    if device.type != "cuda":
        return None
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            fn()
    except RuntimeError as err:  # an op that cannot be captured
        print(f"  graph capture failed: {err}")
        return None
    return graph.replay


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("renderer_dir", type=Path)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer

    model = GaussianRenderer.from_dir(args.renderer_dir, args.device).model  # names a missing file
    if not model.motion_landmarks:
        raise SystemExit(f"error: {args.renderer_dir} was fitted without the landmark-motion prior")
    device = torch.device(args.device)
    basis, center = model.motion_basis, model.motion_center
    index, weight = model.motion_index, model.motion_weight
    moving = (weight.sum(1) > 0).nonzero().squeeze(1)
    n = len(index)
    print(f"{n} Gaussians, {len(moving)} moving ({len(moving) / n:.0%}), L={basis.shape[1]}, K={index.shape[1]}")
    forms = {
        "gather (reference)": lambda e: landmark_offsets(e, basis, center, index, weight),
        "embedding_bag": lambda e: bag(e, basis, center, index, weight),
        "embedding_bag, moving only": lambda e: bag_moving(e, basis, center, index, weight, moving),
    }
    rows = []
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for batch in args.batch:
            e = (center + torch.randn(batch, len(center), generator=gen).to(device)).contiguous()
            ref = forms["gather (reference)"](e)
            for name, form in forms.items():
                err = float((form(e) - ref).abs().max())
                row = {"form": name, "batch": batch, "max_abs_diff": err,
                       "eager_ms": median_ms(lambda: form(e), device, args.repeats)}
                replay = graphed(lambda: form(e), device)
                row["graph_ms"] = median_ms(replay, device, args.repeats) if replay else None
                rows.append(row)
                graph = f"{row['graph_ms']:.3f} ms" if row["graph_ms"] is not None else "—"
                print(f"batch {batch}  {name:28s} eager {row['eager_ms']:.3f} ms  graph {graph}  "
                      f"max |Δ| {err:.2e}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"device": str(device), "gaussians": n, "moving": len(moving),
                                         "rows": rows}, indent=2))


if __name__ == "__main__":
    from avatarzoo.cli import friendly  # a missing or unreadable input: its message, no traceback

    friendly(main)()
