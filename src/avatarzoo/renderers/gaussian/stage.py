"""Stage `fit_renderer` (kind `gaussian`): ingest + track outputs → renderer.safetensors
+ renderer.json (every tensor and number `runtime.GaussianRenderer` needs).

Shapes: N frames, S0 crop side, S training side, D channels, Bp body points.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from avatarzoo.errors import InputError, SpaceError
from avatarzoo.stages.context import StageContext

FORMAT_VERSION = 1


def load_inputs(ingest: Path, track: Path) -> dict:
    """The upstream files, checked: memmaps stay on disk, tracking arrays are small."""
    from safetensors import safe_open

    from avatarzoo.spaces.space import ExpressionSpace

    for f in ("frames.npy", "masks.npy", "background.png", "ingest.json"):
        if not (ingest / f).is_file():
            raise InputError(f"fit_renderer: {ingest / f} is missing (ingest stage output)")
    tfile = track / "tracking.safetensors"
    if not tfile.is_file():
        raise InputError(f"fit_renderer: {tfile} is missing (track stage output)")
    info = json.loads((ingest / "ingest.json").read_text())
    frames = np.load(ingest / "frames.npy", mmap_mode="r")
    masks = np.load(ingest / "masks.npy", mmap_mode="r")
    with safe_open(str(tfile), "numpy") as f:
        meta = f.metadata() or {}
        tr = {k: f.get_tensor(k) for k in f.keys()}
    for k in ("expression", "pose", "landmarks", "body", "K", "canonical"):
        if k not in tr:
            raise InputError(f"fit_renderer: {tfile} has no tensor '{k}'")
    if "avatarzoo.space" not in meta:
        raise InputError(f"fit_renderer: {tfile} has no 'avatarzoo.space' metadata")
    n, s0 = frames.shape[0], frames.shape[1]
    if frames.shape != (n, s0, s0, 3) or frames.dtype != np.uint8:
        raise InputError(f"fit_renderer: {ingest / 'frames.npy'} must be uint8 [N, S, S, 3], "
                         f"got {frames.dtype} {frames.shape}")
    if len(tr["expression"]) != n:
        raise InputError(f"fit_renderer: {n} frames but {len(tr['expression'])} tracked frames")
    import cv2

    bg = cv2.imread(str(ingest / "background.png"), cv2.IMREAD_COLOR)
    if bg is None:
        raise InputError(f"fit_renderer: cannot read {ingest / 'background.png'}")
    bg = cv2.cvtColor(bg, cv2.COLOR_BGR2RGB)
    if bg.shape[:2] != (s0, s0):
        bg = cv2.resize(bg, (s0, s0), interpolation=cv2.INTER_AREA)
    return {
        "info": info,
        "frames": frames,
        "masks": masks,
        "background": bg.astype(np.float32) / 255.0,
        "space": ExpressionSpace.from_json(meta["avatarzoo.space"]),
        "body_names": json.loads(meta.get("avatarzoo.body_names", "[]")),
        **{k: np.asarray(v) for k, v in tr.items()},
    }


def _streamed_mean(frames: np.ndarray, masks: np.ndarray, idx: np.ndarray, size: int,
                   limit: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Mean frame and median mask at `size` over ≤ `limit` evenly spaced frames of idx,
    read one at a time."""
    import cv2

    pick = idx[np.linspace(0, len(idx) - 1, min(limit, len(idx))).astype(int)]
    acc = np.zeros((size, size, 3), np.float64)
    ms = []
    for i in pick:
        acc += cv2.resize(np.asarray(frames[i]), (size, size), interpolation=cv2.INTER_AREA)
        ms.append(cv2.resize(np.asarray(masks[i]), (size, size), interpolation=cv2.INTER_AREA))
    return (acc / len(pick) / 255.0).astype(np.float32), np.median(np.stack(ms), 0) / 255.0


def build_model(d: dict, cfg, *, train_size: int, log=print):
    """The initial `GaussianAvatar` and the `TrainData` for the inputs `d` (load_inputs)."""
    import torch

    from avatarzoo.renderers.gaussian import init as ini
    from avatarzoo.geometry import rigid_mean
    from avatarzoo.renderers.gaussian.model import GaussianAvatar
    from avatarzoo.renderers.gaussian.train import TrainData

    s0 = d["frames"].shape[1]
    n_frames = len(d["frames"])
    hold = int(d["info"].get("holdout_start", n_frames))
    train_idx = np.arange(hold)
    if len(train_idx) == 0:
        raise InputError("fit_renderer: holdout_start is 0: no training frames")
    if "valid" in d:
        ok = np.asarray(d["valid"][:hold]).astype(bool)
        if ok.sum() >= max(1, len(ok) // 2):
            train_idx = train_idx[ok]
    K = d["K"].astype(np.float64)
    pose = d["pose"].astype(np.float64)
    expr = d["expression"].astype(np.float32)
    ref_pose = rigid_mean(pose[train_idx])
    body_index, body_ref = ini.reference_body(d["body"][train_idx], d["body_names"])
    names, group = ini.channel_groups(d["space"])
    aff = ini.group_affinity(expr[train_idx].astype(np.float64), d["landmarks"][train_idx],
                             pose[train_idx], K, d["canonical"].astype(np.float64), group, len(names))
    mean_frame, mask = _streamed_mean(d["frames"], d["masks"], train_idx, s0)
    n_init = max(16, int(cfg.init_fraction * cfg.gaussians))
    init, scal = ini.initial_gaussians(mean_frame, mask, K, ref_pose, d["canonical"].astype(np.float64),
                                       aff, n_init, feature_dim=cfg.feature_dim, seed=cfg.seed)
    log(f"init: {len(init['means'])} Gaussians from the person mask and tracked face; "
        f"groups {names}; unit {scal['unit']:.4g}, torso depth {scal['torso_depth']:.4g}")
    model = GaussianAvatar(
        len(init["means"]), size=s0, K=torch.as_tensor(K), ref_pose=torch.as_tensor(ref_pose),
        body_ref=torch.as_tensor(body_ref), body_index=torch.as_tensor(body_index),
        torso_depth=scal["torso_depth"], channel_group=torch.as_tensor(group), n_groups=len(names),
        background=torch.as_tensor(d["background"]).permute(2, 0, 1), feature_dim=cfg.feature_dim,
        unit=scal["unit"],
    )
    with torch.no_grad():
        for k, v in init.items():
            getattr(model, k).copy_(v)
    data = TrainData(
        frames=d["frames"], expression=expr, pose=pose.astype(np.float32),
        body=d["body"].astype(np.float32),
        boxes=ini.region_boxes(d["landmarks"], train_size / s0), train_idx=train_idx,
        size=train_size,
    )
    return model, data, names


def renderer_config(model, cfg, space, body_names, groups, summary: dict) -> dict:
    """renderer.json: the numbers the runtime needs + the resolved config + shapes."""
    return {
        "kind": "gaussian",
        "format_version": FORMAT_VERSION,
        "size": model.size,
        "train_size": cfg.resolution or model.size,
        "n_gaussians": model.n,
        "feature_dim": model.feature_dim,
        "n_groups": model.n_groups,
        "groups": groups,
        "unit": model.unit,
        "torso_depth": model.torso_depth,
        "space": json.loads(space.to_json()),
        "body_names": body_names,
        "config": cfg.model_dump(mode="json"),
        "shapes": {k: list(v.shape) for k, v in model.state_dict().items()},
        "fit": summary,
    }


def save(out: Path, model, config: dict) -> None:
    from safetensors.torch import save_file

    tensors = {k: (v.float() if v.is_floating_point() else v).detach().contiguous().cpu()
               for k, v in model.state_dict().items()}
    save_file(tensors, str(out / "renderer.safetensors"), metadata={"avatarzoo.format": str(FORMAT_VERSION)})
    (out / "renderer.json").write_text(json.dumps(config, sort_keys=True, indent=2))


def _check_inputs(d: dict, cfg) -> None:
    if d["space"].name != cfg.space:
        raise SpaceError(f"fit_renderer: the tracking is in space '{d['space'].name}' but the "
                         f"renderer consumes '{cfg.space}'; set renderer.space or add a space_map")


def _train(cfg, ingest: Path, track: Path, *, out: Path, scratch: Path, device, log, progress,
           world=None) -> None:
    """Build the initial model, fit it, and (rank 0 only) write the stage files."""
    import torch

    from avatarzoo.renderers.gaussian.train import FitOptions, fit

    d = load_inputs(ingest, track)
    _check_inputs(d, cfg)
    s0 = d["frames"].shape[1]
    train_size = cfg.resolution or s0
    torch.manual_seed(cfg.seed)
    model, data, groups = build_model(d, cfg, train_size=train_size, log=log)
    opts = FitOptions(
        steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, ssim_weight=cfg.ssim_weight,
        region_weights=dict(cfg.region_weights), max_gaussians=cfg.gaussians,
        densify_every=cfg.densify_every, checkpoint_every=cfg.checkpoint_every, seed=cfg.seed,
        backend=cfg.backend, max_per_tile=cfg.max_per_tile,
    )
    summary = fit(model, data, opts, scratch=scratch, progress=progress, log=log,
                  device=torch.device(device), world=world)
    if world is None or world.is_main:
        if world is not None:
            summary = {**summary, "world_size": world.world_size,
                       "global_batch": cfg.batch_size * world.world_size}
        log(f"fit: {summary}")
        save(out, model, renderer_config(model, cfg, d["space"], d["body_names"], groups, summary))


def run(ctx: StageContext) -> None:
    cfg = ctx.recipe.renderer
    if cfg.kind != "gaussian":
        raise InputError(f"fit_renderer: renderer kind '{cfg.kind}' is not 'gaussian'")
    for need in ("ingest", "track"):
        if need not in ctx.inputs:
            raise InputError(f"fit_renderer: needs the '{need}' stage's output")
    ctx.scratch.mkdir(parents=True, exist_ok=True)
    if ctx.world_size > 1:
        from avatarzoo.renderers.gaussian.launch import run_data_parallel

        run_data_parallel(ctx)
        return
    _train(cfg, ctx.inputs["ingest"], ctx.inputs["track"], out=ctx.out, scratch=ctx.scratch,
           device=ctx.device, log=ctx.log.info, progress=ctx.progress)
