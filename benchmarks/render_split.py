"""Where a frame's render time goes on the GPU, for each way of multiplying the
per-Gaussian 3×3 matrices (model.MATMUL33): the per-frame Gaussians (deformation +
motions, CUDA graph and eager), the splat, the whole render_float, at batch 1 and 8,
and one training step (forward + backward).

    python benchmarks/render_split.py STAGES_DIR --out OUT [--gaussians 150000]

STAGES_DIR as for gpu_avatar.py. The model is the initial one (`init_fraction` 1.0,
so N = --gaussians, untrained): speed depends on N and the footprints, not on the
trained values. Writes OUT/render_split.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("stages", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--gaussians", type=int, default=150_000)
    ap.add_argument("--video", type=Path, default=Path("data/obama-address-20s.mp4"))
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from gpu_avatar import prepare
    from gpu_check import fps

    from avatarzoo.recipe.models import GaussianRendererConfig
    from avatarzoo.renderers.gaussian import model as gm
    from avatarzoo.renderers.gaussian.fitting import build_model, load_inputs, renderer_config, save
    from avatarzoo.renderers.gaussian.train import fit

    args.out.mkdir(parents=True, exist_ok=True)
    ing, trk = prepare(args.stages, Path("/tmp/avatar-stages"), args.video)
    d = load_inputs(ing, trk)
    cfg = GaussianRendererConfig(space=d["space"].name, gaussians=args.gaussians, steps=60, init_fraction=1.0)
    model, data, groups = build_model(d, cfg, train_size=d["frames"].shape[1], log=print)
    rdir = Path("/tmp/render-split")
    rdir.mkdir(exist_ok=True)
    save(rdir, model, renderer_config(model, cfg, d["space"], d["body_names"], groups, {}))
    result = {"device": torch.cuda.get_device_name(), "gaussians": model.n}
    for form in ("gemm", "broadcast"):
        gm.MATMUL33["cuda"] = form
        res = fps(argparse.Namespace(renderer_dir=str(rdir), size=d["frames"].shape[1], batch=[1, 8]))
        m, _, _ = build_model(d, cfg, train_size=d["frames"].shape[1], log=lambda s: None)
        opts = cfg.model_copy(update={"steps": 60, "densify_every": 0, "checkpoint_every": 0})
        fit(m, data, opts.model_copy(update={"steps": 5}), log=lambda s: None, device="cuda")
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        summary = fit(m, data, opts, log=lambda s: None, device="cuda")
        res["fit_steps_per_s"] = summary["steps_per_s"]
        res["fit_wall_s"] = time.perf_counter() - t0
        result[form] = res
        print(form, json.dumps(res), flush=True)
        (args.out / "render_split.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
