"""On a CUDA machine: the PyTorch reference rasterizer against gsplat (image, alpha and
gradients, relative error), then render speed of a fitted avatar.

    python benchmarks/gpu_check.py parity [--out DIR]
    python benchmarks/gpu_check.py fps RENDERER_DIR [--size 512] [--batch 1 8]

Relative error = ‖a − b‖ / ‖b‖ over the whole tensor, gsplat as b; float32 both.
"""

from __future__ import annotations

import argparse
import json

import torch


def _scene(n: int, size: int, batch: int, seed: int, device: str):
    g = torch.Generator(device="cpu").manual_seed(seed)
    means = torch.empty(batch, n, 3)
    means[..., :2] = (torch.rand(batch, n, 2, generator=g) - 0.5) * 1.4
    means[..., 2] = 3 + torch.rand(batch, n, generator=g) * 2
    quats = torch.randn(batch, n, 4, generator=g)
    scales = torch.exp(torch.empty(batch, n, 3).uniform_(-5.0, -2.5, generator=g))
    opac = torch.rand(batch, n, generator=g) * 0.9 + 0.05
    cols = torch.rand(batch, n, 3, generator=g)
    f = size * 1.2
    K = torch.tensor([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]]).expand(batch, 3, 3)
    view = torch.eye(4).expand(batch, 4, 4).clone()
    return [x.to(device) for x in (means, quats, scales, opac, cols, view, K)]


def rasterize_gsplat_wrapper(
    means: Tensor, covars: Tensor, opacities: Tensor, colors: Tensor, viewmats: Tensor, Ks: Tensor,
    width: int, height: int, *, near_plane: float = 0.01, far_plane: float = 1e10, eps2d: float = 0.3,
    tile_size: int = 16,
) -> tuple[Tensor, Tensor, dict]:
    """`rasterize_gsplat` through gsplat's public `rasterization` (the path before the
    split): the comparison for `parity` and render_profile.py."""
    from gsplat import rasterization

    c = lambda x: x.contiguous()  # noqa: E731  (the kernels read raw pointers)
    img, acc, meta = rasterization(
        c(means), None, None, c(opacities), c(colors), c(viewmats[:, None]), c(Ks[:, None]),
        width, height, covars=c(covars), near_plane=near_plane, far_plane=far_plane, eps2d=eps2d,
        tile_size=tile_size, packed=False, rasterize_mode="classic",
    )  # [B, 1, H, W, C], [B, 1, H, W, 1]
    return img[:, 0], acc[:, 0], meta


def parity(args) -> dict:
    from avatarzoo.renderers.gaussian._torch_rasterizer import quat_scale_to_covar
    from avatarzoo.renderers.gaussian.rasterize import rasterize

    rows = []
    for n, size, batch in ((2000, 128, 1), (20000, 256, 2), (5000, 512, 1)):
        means, quats, scales, opac, cols, view, K = _scene(n, size, batch, seed=n, device="cuda")
        outs = {}
        for backend in ("torch", "gsplat"):
            ps = [t.clone().requires_grad_() for t in (means, quats, scales, opac, cols)]
            cov = quat_scale_to_covar(ps[1], ps[2])
            img, alpha, _ = rasterize(ps[0], None, None, ps[3], ps[4], view, K, size, size,
                                      covars=cov, backend=backend)
            w = torch.rand(img.shape, generator=torch.Generator(device="cuda").manual_seed(1),
                           device="cuda")
            ((img * w).sum() + alpha.sum()).backward()
            outs[backend] = [img.detach(), alpha.detach()] + [p.grad for p in ps]
        ps = [t.clone().requires_grad_() for t in (means, quats, scales, opac, cols)]
        img, alpha, _ = rasterize_gsplat_wrapper(ps[0], quat_scale_to_covar(ps[1], ps[2]), ps[3], ps[4],
                                                 view, K, size, size)
        ((img * w).sum() + alpha.sum()).backward()
        outs["wrapper"] = [img.detach(), alpha.detach()] + [p.grad for p in ps]
        names = ["image", "alpha", "d_means", "d_quats", "d_scales", "d_opacities", "d_colors"]
        split_vs_wrapper = {k: float((a - b).norm() / b.norm().clamp_min(1e-12))
                            for k, a, b in zip(names, outs["gsplat"], outs["wrapper"])}
        rel = {k: float((a - b).norm() / b.norm().clamp_min(1e-12))
               for k, a, b in zip(names, outs["torch"], outs["gsplat"])}
        maxabs = float((outs["torch"][0] - outs["gsplat"][0]).abs().max())
        rows.append({"n": n, "size": size, "batch": batch, "image_max_abs": maxabs, **rel,
                     "split_vs_wrapper": split_vs_wrapper})
        print(json.dumps(rows[-1]))
    return {"parity": rows}


def _median_ms(fn, n: int = 100, warmup: int = 10) -> float:
    for i in range(warmup):
        fn(i)
    torch.cuda.synchronize()
    times = []
    for i in range(n):
        s, t = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn(i)
        t.record()
        t.synchronize()
        times.append(s.elapsed_time(t))
    times.sort()
    return times[len(times) // 2]


def fps(args) -> dict:
    """Median time of render_float at batch 1 and 8, with and without the CUDA graph of
    the per-frame work; and the split: per-frame Gaussians + projection vs tile sort +
    compositing (benchmarks/render_profile.py splits further)."""
    from avatarzoo.renderers.gaussian._gsplat_rasterizer import raster_gsplat
    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer

    res = {"device": torch.cuda.get_device_name()}
    for graphs in (True, False):
        r = GaussianRenderer.from_dir(args.renderer_dir, "cuda")
        r.cuda_graphs = graphs
        res["gaussians"] = r.model.n
        d = r.space.dim
        for batch in args.batch:
            g = torch.Generator(device="cuda").manual_seed(0)
            e = torch.randn(64, batch, d, device="cuda", generator=g) * 0.5
            pose = r.model.ref_pose.expand(batch, 4, 4).contiguous()
            body = torch.zeros(batch, int(r.model.body_index.max()) + 1, 2, device="cuda")
            body[:, r.model.body_index] = r.model.body_ref
            row = {}
            row["render_float_ms"] = _median_ms(lambda i: r.render_float(e[i % 64], pose, body, size=args.size))
            row["frames_per_s"] = 1000 * batch / row["render_float_ms"]
            with torch.inference_mode():
                row["per_frame_ms"] = _median_ms(lambda i: r._replayed(e[i % 64], pose, body, args.size))
                proj = r._replayed(e[0], pose, body, args.size)
                row["raster_ms"] = _median_ms(lambda i: raster_gsplat(proj, args.size, args.size))
            row["render_uint8_ms"] = _median_ms(lambda i: r.render(e[i % 64], pose, body, size=args.size))
            res[f"graphs={graphs}/batch{batch}"] = row
            print(json.dumps({f"graphs={graphs}/batch{batch}": row}), flush=True)
        if graphs:
            eager = GaussianRenderer.from_dir(args.renderer_dir, "cuda", )
            eager.cuda_graphs = False
            x = r.render_float(e[3], pose, body, size=args.size)
            y = eager.render_float(e[3], pose, body, size=args.size)
            res["graph_vs_eager_max_abs"] = float((x - y).abs().max())
    return {"fps": res}


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("parity")
    f = sub.add_parser("fps")
    f.add_argument("renderer_dir")
    f.add_argument("--size", type=int, default=512)
    f.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    result = parity(args) if args.cmd == "parity" else fps(args)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
