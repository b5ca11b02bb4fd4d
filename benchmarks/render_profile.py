"""Where a 512² frame's time goes on the GPU, and the render path before and after the
projection joined the CUDA graph (issue 14).

    python benchmarks/render_profile.py FIT_RENDERER_DIR TRACKING_SAFETENSORS
        [--size 512] [--batch 1 8] [--out FILE.json]

Rows (median of timed calls, each bracketed by a device sync, as evaluate/speed.py):
- `before`: the per-frame Gaussians from a CUDA graph, then gsplat's public
  `rasterization` (projection, tile sort, compositing), then the background composite;
- `after` (GaussianRenderer.render_float): Gaussians + projection from one CUDA graph,
  then tile sort + compositing (`raster_gsplat`) and the background composite;
- the parts of `after`: the graph replay, `isect_tiles` (tile pairs + sort, with its
  host sync), `isect_offset_encode`, `rasterize_to_pixels`, the composite;
- the tile sort + compositing at tile sizes 8, 16 and 32 (16 is gsplat's; the runtime
  uses runtime.RUNTIME_TILE);
- `compiled`: the same per-frame work through torch.compile (inductor) inside the CUDA
  graph (a measurement of what fusing its ~100 small kernels would give; not the
  runtime's path);
- a torch.profiler summary of `after`: the top kernels by GPU time and how much of
  the wall time the GPU is busy.
Images of `before` and `after` are compared (max |Δ|). Driving signals: the last 50
tracked frames.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from avatarzoo.contracts.tracking import Tracking
from avatarzoo.renderers.gaussian import _gsplat_rasterizer as gs
from avatarzoo.renderers.gaussian.rasterize import over_background
from gpu_check import rasterize_gsplat_wrapper  # noqa: E402  (benchmarks/, this script's folder)
from avatarzoo.renderers.gaussian.runtime import GaussianRenderer


def timed(fn, n: int, *, warmup: int = 10, max_s: float = 8.0) -> dict:
    for i in range(warmup):
        fn(i)
    torch.cuda.synchronize()
    sec = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        torch.cuda.synchronize()
        sec.append(time.perf_counter() - t0)
        if time.perf_counter() - start > max_s:
            break
    s = np.asarray(sec)
    return {"median_ms": float(np.median(s) * 1e3), "p90_ms": float(np.percentile(s, 90) * 1e3),
            "calls": int(s.size)}


class Before(GaussianRenderer):
    """The path before: only the per-frame Gaussians in the graph, then gsplat's
    `rasterization` wrapper."""

    def _uses_gsplat(self) -> bool:
        return False

    def render_float(self, e, p, b, *, size=None):
        s = self.size if size is None else size
        with torch.inference_mode():
            g = self._replayed(e, p, b, s)
            view, k = self.model.camera(e.shape[0], s)
            img, alpha, _ = rasterize_gsplat_wrapper(g["means"], g["covars"], g["opacities"], g["colors"],
                                                     view, k, s, s)
            img = over_background(img, alpha, self._background(s))
            return img.clamp(0, 1)


def compiled_variant(r: GaussianRenderer, frame, s: int, repeats: int) -> dict:
    """`r`'s per-frame work compiled by inductor, captured in a CUDA graph, then the same
    sort + composite as render_float: its time, compile time and image difference."""
    from avatarzoo.renderers.gaussian.runtime import RUNTIME_TILE

    try:
        with torch.inference_mode():
            fn = torch.compile(r._per_frame, dynamic=False)
            t0 = time.perf_counter()
            fn(*frame(0), s)
            torch.cuda.synchronize()
            compile_s = time.perf_counter() - t0
            inputs = tuple(x.clone() for x in frame(0))
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(3):
                    fn(*inputs, s)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                outputs = fn(*inputs, s)
            bg = r._background(s)

            def run(i):
                for dst, src in zip(inputs, frame(i)):
                    dst.copy_(src)
                graph.replay()
                img, alpha, _ = gs.raster_gsplat(outputs, s, s, tile_size=RUNTIME_TILE)
                return over_background(img, alpha, bg).clamp(0, 1)

            row = timed(run, repeats)
            row["replay_only"] = timed(lambda i: graph.replay(), repeats)
            row["compile_s"] = compile_s
            row["max_abs_vs_after"] = max(float((run(i) - r.render_float(*frame(i), size=s)).abs().max())
                                          for i in range(0, 50, 7))
            return row
    except Exception as e:  # a measurement: report, don't stop the others
        return {"error": f"{type(e).__name__}: {e}"[:400]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("renderer_dir")
    ap.add_argument("tracking")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeats", type=int, default=400)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from gsplat.cuda._wrapper import isect_offset_encode, isect_tiles, rasterize_to_pixels

    dev = "cuda"
    after = GaussianRenderer.from_dir(args.renderer_dir, dev)
    before = Before.from_dir(args.renderer_dir, dev)
    tr = Tracking.load(args.tracking)
    e_all, p_all, b_all = (torch.as_tensor(x[-50:], dtype=torch.float32, device=dev)
                           for x in (tr.expression, tr.pose, tr.body))
    s = args.size
    out: dict = {"device": torch.cuda.get_device_name(), "size": s, "gaussians": after.model.n}

    for batch in args.batch:
        idx = [torch.arange(i * batch, (i + 1) * batch, device=dev) % 50 for i in range(50)]

        def frame(i):
            j = idx[i % 50]
            return e_all[j], p_all[j], b_all[j]

        row: dict = {}
        for name, r in (("before", before), ("after", after)):
            row[name] = timed(lambda i: r.render_float(*frame(i), size=s), args.repeats)
            row[name]["fps"] = batch * 1e3 / row[name]["median_ms"]
        row["after_uint8"] = timed(lambda i: after.render(*frame(i), size=s), args.repeats)
        with torch.inference_mode():
            row["max_abs_before_vs_after"] = max(
                float((before.render_float(*frame(i), size=s) - after.render_float(*frame(i), size=s)).abs().max())
                for i in range(0, 50, 7))
            # the parts of `after`
            row["part_graph_replay"] = timed(lambda i: after._replayed(*frame(i), s), args.repeats)
            proj = after._replayed(*frame(0), s)
            proj = {k: v.clone() for k, v in proj.items()}
            tw = th = (s + 15) // 16
            row["part_isect_tiles"] = timed(lambda i: isect_tiles(proj["means2d"], proj["radii"], proj["depths"],
                                                                  16, tw, th), args.repeats)
            _, ids, flat = isect_tiles(proj["means2d"], proj["radii"], proj["depths"], 16, tw, th)
            row["tile_pairs"] = int(flat.numel()) / batch
            row["on_screen"] = int((proj["radii"] > 0).all(-1).sum()) / batch
            row["part_offset_encode"] = timed(lambda i: isect_offset_encode(ids, batch, tw, th), args.repeats)
            offs = isect_offset_encode(ids, batch, tw, th).reshape(batch, th, tw)
            row["part_rasterize_to_pixels"] = timed(
                lambda i: rasterize_to_pixels(proj["means2d"], proj["conics"], proj["colors"], proj["opacities"],
                                              s, s, 16, offs, flat), args.repeats)
            img, alpha = rasterize_to_pixels(proj["means2d"], proj["conics"], proj["colors"], proj["opacities"],
                                             s, s, 16, offs, flat)
            bg = after._background(s)
            row["part_composite"] = timed(
                lambda i: over_background(img, alpha, bg).clamp(0, 1),
                args.repeats)
            row["part_raster_gsplat"] = timed(lambda i: gs.raster_gsplat(proj, s, s), args.repeats)
            for tile in (8, 16, 32):
                row[f"raster_tile{tile}"] = timed(lambda i: gs.raster_gsplat(proj, s, s, tile_size=tile), args.repeats)
                a, _, _ = gs.raster_gsplat(proj, s, s, tile_size=tile)
                b, _, _ = gs.raster_gsplat(proj, s, s)
                row[f"raster_tile{tile}"]["max_abs_vs_16"] = float((a - b).abs().max())
        if batch == 1:  # one compile (~a minute) is enough to size it
            row["compiled"] = compiled_variant(after, frame, s, args.repeats)
        if batch == 1:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                t0 = time.perf_counter()
                for i in range(30):
                    after.render_float(*frame(i), size=s)
                torch.cuda.synchronize()
                wall = time.perf_counter() - t0
            ka = prof.key_averages()
            gpu_us = sum(getattr(k, "self_device_time_total", 0) for k in ka
                         if str(getattr(k, "device_type", "")).endswith("CUDA")) / 30
            row["profiler"] = {
                "wall_ms_per_frame_profiled": wall / 30 * 1e3,
                "gpu_kernel_ms_per_frame": gpu_us / 1e3,
                "table": ka.table(sort_by="self_device_time_total", row_limit=14, max_name_column_width=60),
            }
            print(row["profiler"]["table"], flush=True)
        out[f"batch{batch}"] = row
        print(json.dumps({f"batch{batch}": {k: v for k, v in row.items() if k != "profiler"}}), flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
