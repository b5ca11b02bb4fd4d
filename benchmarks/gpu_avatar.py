"""One device run of the Gaussian avatar on real stage outputs: rasterizer parity with
gsplat, training within a wall-clock budget, held-out PSNR/SSIM (full frame and face
box, against the mean training frame), render fps at the crop size.

    python benchmarks/gpu_avatar.py STAGES_DIR --out OUT [--train-seconds 150]
        [--gaussians 150000] [--device cuda]

STAGES_DIR holds `ingest/` (ingest outputs, `frames.npy` may be absent: it is then
rebuilt from the recording with OpenCV + the ingest's own crop_resize, which matches
the PyAV decode bit for bit on the demo clip; `masks.npz` may stand for `masks.npy`)
and `track/` (tracking.safetensors). Writes OUT/result.json and OUT/heldout.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch


def prepare(stages: Path, work: Path, video: Path) -> tuple[Path, Path]:
    """Copy the small stage files to `work` and restore frames.npy / masks.npy."""
    import cv2

    from avatarzoo.ingest.crop import crop_resize

    ing, trk = work / "ingest", work / "track"
    if ing.exists():
        return ing, trk
    shutil.copytree(stages / "ingest", ing)
    shutil.copytree(stages / "track", trk)
    info = json.loads((ing / "ingest.json").read_text())
    if (ing / "masks.npz").is_file():
        np.save(ing / "masks.npy", np.load(ing / "masks.npz")["masks"])
    if not (ing / "frames.npy").is_file():
        n, s = info["n_frames"], info["size"]
        fr = np.lib.format.open_memmap(ing / "frames.npy", "w+", np.uint8, (n, s, s, 3))
        cap = cv2.VideoCapture(str(video))
        for i in range(n):
            ok, img = cap.read()
            if not ok:
                raise SystemExit(f"{video}: only {i} frames, ingest had {n}")
            fr[i] = crop_resize(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), tuple(info["crop_box"]), s)
        fr.flush()
    return ing, trk


def evaluate(renderer, d: dict, batch: int = 8) -> tuple[dict, np.ndarray]:
    """Held-out PSNR/SSIM of full frames and face boxes (tracked landmarks' box) for the
    renderer, the mean training frame, and the renderer with its expression frozen."""
    from avatarzoo.image_metrics import psnr, ssim

    fr, lm = d["frames"], d["landmarks"]
    hold, n = int(d["info"]["holdout_start"]), len(fr)
    s = fr.shape[1]
    dev = renderer.device
    mean = np.zeros(fr.shape[1:], np.float64)
    for i in range(hold):
        mean += fr[i]
    mean_t = torch.as_tensor(mean / hold / 255, dtype=torch.float32, device=dev).permute(2, 0, 1)[None]
    frozen_e = torch.as_tensor(d["expression"][:hold].mean(0), dtype=torch.float32, device=dev)
    out = {k: [] for k in ("full", "face", "ssim_full", "ssim_face", "base_full", "base_face",
                           "frozen_full", "frozen_face")}
    sheet = []
    for i0 in range(hold, n, batch):
        idx = np.arange(i0, min(i0 + batch, n))
        t = lambda a: torch.as_tensor(np.ascontiguousarray(a[idx]), dtype=torch.float32, device=dev)  # noqa: E731
        gt = t(fr).permute(0, 3, 1, 2) / 255
        e, p, b = t(d["expression"]), t(d["pose"]), t(d["body"])
        img = renderer.render_float(e, p, b)
        froz = renderer.render_float(frozen_e.expand_as(e), p, b)
        for j, i in enumerate(idx):
            x0, y0 = np.floor(lm[i, :, :2].min(0)).astype(int).clip(0, s)
            x1, y1 = np.ceil(lm[i, :, :2].max(0)).astype(int).clip(0, s)
            m = torch.zeros(1, 1, s, s, device=dev)
            m[..., y0:y1, x0:x1] = 1
            g = gt[j : j + 1]
            out["full"].append(float(psnr(img[j : j + 1], g)))
            out["face"].append(float(psnr(img[j : j + 1], g, m)))
            out["base_full"].append(float(psnr(mean_t, g)))
            out["base_face"].append(float(psnr(mean_t, g, m)))
            out["frozen_full"].append(float(psnr(froz[j : j + 1], g)))
            out["frozen_face"].append(float(psnr(froz[j : j + 1], g, m)))
            out["ssim_full"].append(float(ssim(img[j : j + 1], g)))
            crop = lambda x: x[..., y0:y1, x0:x1]  # noqa: E731
            if y1 - y0 > 11 and x1 - x0 > 11:
                out["ssim_face"].append(float(ssim(crop(img[j : j + 1]), crop(g))))
            if (i - hold) % 10 == 0:
                sheet.append(np.concatenate([fr[i], (img[j].permute(1, 2, 0).cpu().numpy() * 255 + 0.5)
                                             .astype(np.uint8)], 1))
    summary = {k: round(float(np.mean(v)), 3) for k, v in out.items() if v}
    summary["n_heldout"] = n - hold
    return summary, np.concatenate(sheet[:5], 0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("stages", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--video", type=Path, default=Path("data/obama-address-20s.mp4"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/avatar-stages"))
    ap.add_argument("--train-seconds", type=float, default=150.0)
    ap.add_argument("--max-steps", type=int, default=30000)
    ap.add_argument("--gaussians", type=int, default=150_000)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--parity", action="store_true")
    ap.add_argument("--probe-steps", type=int, default=200)
    ap.add_argument("--config", default="{}", help="JSON overrides of GaussianRendererConfig")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    result: dict = {"argv": sys.argv}
    if args.device == "cuda":
        result["device"] = torch.cuda.get_device_name()

    def dump():
        (args.out / "result.json").write_text(json.dumps(result, indent=2))

    if args.parity:
        sys.path.insert(0, str(Path(__file__).parent))
        from gpu_check import parity

        t0 = time.perf_counter()
        try:
            result.update(parity(args))
        except Exception as e:  # noqa: BLE001  (report, then train with the torch backend)
            import traceback

            traceback.print_exc()
            result["parity_error"] = repr(e)
            over_backend = {"backend": "torch"}
        else:
            over_backend = {}
        result["parity_seconds_incl_gsplat_build"] = time.perf_counter() - t0
        dump()
    else:
        over_backend = {}

    from avatarzoo.recipe.models import GaussianRendererConfig
    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer
    from avatarzoo.renderers.gaussian.fitting import build_model, load_inputs, renderer_config, save
    from avatarzoo.renderers.gaussian.train import fit

    t_all = time.perf_counter()
    ing, trk = prepare(args.stages, args.work, args.video)
    d = load_inputs(ing, trk)
    s0 = d["frames"].shape[1]
    over = {**over_backend, **json.loads(args.config)}

    def config(steps: int) -> GaussianRendererConfig:
        return GaussianRendererConfig(space=d["space"].name, gaussians=args.gaussians, steps=steps,
                                      **over)

    def options(cfg: GaussianRendererConfig) -> GaussianRendererConfig:
        return cfg.model_copy(update={"checkpoint_every": 0})

    # probe: step time at the cap (a throw-away model initialised at the cap), after a
    # warm-up that builds gsplat's kernels (~65-95 s on first use)
    cfg = config(args.probe_steps)
    model, data, groups = build_model(d, cfg.model_copy(update={"init_fraction": 1.0}),
                                      train_size=cfg.resolution or s0, log=print)
    fit(model, data, options(config(3).model_copy(update={"densify_every": 0})),
        log=lambda s: None, device=args.device)
    probe = fit(model, data, options(cfg.model_copy(update={"densify_every": 0})), log=lambda s: None,
                device=args.device)
    step_s = 1.0 / probe["steps_per_s"]
    steps = int(min(args.max_steps, args.train_seconds / step_s))
    result["probe"] = {**probe, "gaussians": model.n}
    print("probe", probe, "→ steps", steps, flush=True)
    del model

    cfg = config(steps)
    t0 = time.perf_counter()
    model, data, groups = build_model(d, cfg, train_size=cfg.resolution or s0, log=print)
    t_init = time.perf_counter() - t0
    summary = fit(model, data, options(cfg), log=print, device=args.device)
    summary["init_seconds"] = t_init
    result["fit"] = {"config": cfg.model_dump(mode="json"), **summary,
                     "fit_stage_seconds": time.perf_counter() - t0}
    rdir = args.work / "renderer"
    rdir.mkdir(parents=True, exist_ok=True)
    save(rdir, model, renderer_config(model, cfg, d["space"], d["body_names"], groups, summary))
    result["renderer_mb"] = (rdir / "renderer.safetensors").stat().st_size / 1e6
    dump()

    renderer = GaussianRenderer.from_dir(rdir, args.device)
    metrics, sheet = evaluate(renderer, d)
    result["heldout"] = metrics
    print("heldout", metrics, flush=True)
    import cv2

    h = sheet.shape[0] * 640 // sheet.shape[1]
    cv2.imwrite(str(args.out / "heldout.jpg"), cv2.cvtColor(cv2.resize(sheet, (640, h)), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 92])
    dump()

    if args.device == "cuda":
        sys.path.insert(0, str(Path(__file__).parent))
        from gpu_check import fps

        ns = argparse.Namespace(renderer_dir=str(rdir), size=s0, batch=[1, 8])
        dump()
        result.update(fps(ns))
    result["total_seconds"] = time.perf_counter() - t_all
    dump()
    print(json.dumps({k: result[k] for k in result if k in ("fit", "heldout", "fps", "parity")},
                     indent=1))


if __name__ == "__main__":
    main()
