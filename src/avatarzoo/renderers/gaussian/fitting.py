"""Fitting the Gaussian renderer from the upstream outputs: inputs, the initial model,
the fit, and the two files the runtime builds it from (renderer.safetensors +
renderer.json). The `fit_renderer` stage (stage.py) runs `train_and_save` in one
process or on data-parallel ranks (launch.py).

Shapes: N frames, S0 crop side, S training side, D channels, Bp body points.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from avatarzoo.errors import InputError, SpaceError

FORMAT_VERSION = 1


def load_inputs(ingest: Path, track: Path) -> dict:
    """The upstream outputs, checked (contracts/): memmaps stay on disk, tracking arrays
    are small."""
    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking

    up = IngestOutput.open(ingest)
    tr = Tracking.load(track / "tracking.safetensors")
    if up.masks is None:
        raise InputError(f"fit_renderer: {ingest / 'masks.npy'} is missing (ingest stage output)")
    if len(tr) != up.info.n_frames:
        raise InputError(f"fit_renderer: {up.info.n_frames} frames in {ingest} but {len(tr)} tracked "
                         f"frames in {track / 'tracking.safetensors'}")
    return {
        "info": up.info,
        "frames": up.frames,
        "masks": up.masks,
        "background": up.background(),
        "space": tr.space,
        "body_names": tr.body_names,
        **tr.tensors(),
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


def _moving_channels(setting, space, used: np.ndarray, log) -> np.ndarray:
    """[D] bool: the used channels the landmark-motion prior moves: all for `true`, else
    those of the listed regions (a region the space lacks, or one skipped, is logged)."""
    if setting is True:
        return used
    moving = np.zeros_like(used)
    for region in setting:
        idx = list(space.indices(region))
        if not idx or not used[idx].any():
            log(f"renderer: landmark_motion names '{region}', which space '{space.name}' does not"
                " give the renderer")
            continue
        moving[idx] = used[idx]
    return moving


def build_model(d: dict, cfg, *, train_size: int, log=print):
    """The initial `GaussianAvatar` and the `TrainData` for the inputs `d` (load_inputs)."""
    import torch

    from avatarzoo.renderers.gaussian import init as ini
    from avatarzoo.geometry import rigid_mean
    from avatarzoo.renderers.gaussian.gates import GateField
    from avatarzoo.renderers.gaussian.landmark_motion import MotionAnchors, motion_basis
    from avatarzoo.renderers.gaussian.model import GaussianAvatar, offset_bounds
    from avatarzoo.renderers.gaussian.sampling import balance_weights
    from avatarzoo.renderers.gaussian.train import TrainData, refresh_gates_, validation_split

    s0 = d["frames"].shape[1]
    hold = d["info"].holdout_start
    train_idx = np.arange(hold)
    if len(train_idx) == 0:
        raise InputError("fit_renderer: holdout_start is 0: no training frames")
    ok = np.asarray(d["valid"][:hold]).astype(bool)
    if ok.sum() >= max(1, len(ok) // 2):
        train_idx = train_idx[ok]
    # the validation slice comes out of the training frames only (never [hold, n))
    train_idx, val_idx = validation_split(train_idx, cfg.validation_stride)
    K = d["K"].astype(np.float64)
    pose = d["pose"].astype(np.float64)
    expr = d["expression"].astype(np.float32)
    ref_pose = rigid_mean(pose[train_idx])
    body_index, body_ref = ini.reference_body(d["body"][train_idx], d["body_names"])
    skip = tuple(cfg.skip_regions)
    names, group = ini.channel_groups(d["space"], skip, tuple(cfg.side_groups))
    for region in cfg.side_groups:
        if not d["space"].indices(region):
            log(f"renderer: side_groups names '{region}', which space '{d['space'].name}' does not have")
    for region in skip:
        n_skipped = len(d["space"].indices(region))
        log(f"renderer: region '{region}' skipped ({n_skipped} channel{'s' * (n_skipped != 1)} not used)" if n_skipped else
            f"renderer: skip_regions names '{region}', which space '{d['space'].name}' does not have")
    aff = ini.group_affinity(expr[train_idx].astype(np.float64), d["landmarks"][train_idx],
                             pose[train_idx], K, d["canonical"].astype(np.float64), group, len(names))
    mean_frame, mask = _streamed_mean(d["frames"], d["masks"], train_idx, s0)
    n_init = max(16, int(cfg.init_fraction * cfg.gaussians))
    init, scal = ini.initial_gaussians(mean_frame, mask, K, ref_pose, d["canonical"].astype(np.float64),
                                       aff, n_init, feature_dim=cfg.feature_dim, seed=cfg.seed,
                                       gate_radius=cfg.gate_radius)
    limits = cfg.expression_limits.model_dump() if cfg.expression_limits is not None else None
    log(f"init: {len(init['means'])} Gaussians from the person mask and tracked face; "
        f"groups {names}; unit {scal['unit']:.4g}, torso depth {scal['torso_depth']:.4g}")
    model = GaussianAvatar(
        len(init["means"]), size=s0, K=torch.as_tensor(K), ref_pose=torch.as_tensor(ref_pose),
        body_ref=torch.as_tensor(body_ref), body_index=torch.as_tensor(body_index),
        torso_depth=scal["torso_depth"], channel_group=torch.as_tensor(group), n_groups=len(names),
        background=torch.as_tensor(d["background"]).permute(2, 0, 1), feature_dim=cfg.feature_dim,
        unit=scal["unit"], bounds=offset_bounds(limits), max_anisotropy=cfg.max_anisotropy,
        motion_landmarks=d["canonical"].shape[0] if cfg.landmark_motion else 0,  # True or a non-empty list
    )
    with torch.no_grad():
        for k, v in init.items():
            getattr(model, k).copy_(v)
    gate_field = GateField.from_face(d["canonical"], ref_pose, aff, unit=scal["unit"], radius=cfg.gate_radius)
    anchors = None
    if cfg.landmark_motion:
        moving = _moving_channels(cfg.landmark_motion, d["space"], group >= 0, log)
        basis, center = motion_basis(expr[train_idx], d["landmarks"][train_idx], pose[train_idx], K,
                                     d["canonical"].astype(np.float64), ref_pose, group >= 0, moving=moving)
        with torch.no_grad():
            model.motion_basis.copy_(torch.as_tensor(basis))
            model.motion_center.copy_(torch.as_tensor(center))
        anchors = MotionAnchors(gate_field)
        refresh_gates_(model, None, anchors)
        reach = float(np.linalg.norm(basis, axis=-1).max(1).sum() / scal["unit"])
        log(f"landmark motion: {basis.shape[1]} landmarks, channel reach {reach:.3g} face widths (sum over channels)")
    data = TrainData(
        frames=d["frames"], expression=expr, pose=pose.astype(np.float32),
        body=d["body"].astype(np.float32),
        boxes=ini.region_boxes(d["landmarks"], train_size / s0), train_idx=train_idx,
        size=train_size, val_idx=val_idx,
        gate_field=gate_field, motion_anchors=anchors,
        train_weight=balance_weights(expr[train_idx], d["space"], cfg.expression_balance),
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
        "expression_limits": cfg.model_dump(mode="json")["expression_limits"],
        # the deformed Gaussians' axis ratio (absent: fitted before it was held, unlimited)
        "deformed_max_anisotropy": model.max_anisotropy,
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


def compact(model, data, cfg, *, device, log, progress) -> dict:
    """Drop, in place, the Gaussians that paint under `cfg.compact_below` millionths of
    the frame in every training and validation frame (compaction.py). Returns summary
    numbers: how many were dropped, how many remain, the threshold in px, and the
    validation PSNR before and after when there is a validation slice (the same weights
    less the dropped: a paired measure of what compaction cost)."""
    from avatarzoo.renderers.gaussian.compaction import blend_weights, compact_
    from avatarzoo.renderers.gaussian.train import validation_psnr

    def tracked(rows: np.ndarray) -> dict:  # what a frame's Gaussians need: no image is read
        return {k: data.rows(k, rows, device, model.means.dtype) for k in ("expression", "pose", "body")}

    idx = np.union1d(data.train_idx, data.val_idx)
    weights = blend_weights(model, tracked, idx, data.size, backend=cfg.backend,
                            max_per_tile=cfg.max_per_tile, progress=progress)
    threshold = cfg.compact_below * 1e-6 * data.size ** 2
    scored = len(data.val_idx) > 0
    n, before = model.n, validation_psnr(model, data, cfg, device) if scored else None
    dropped = compact_(model, weights >= threshold)
    out = {"compacted": dropped, "n_gaussians": model.n, "compact_below_px": threshold}
    if scored:
        out.update(validation_before_compaction=before,
                   validation_after_compaction=validation_psnr(model, data, cfg, device))
    log(f"compaction: dropped {dropped} of {n} Gaussians that paint under {threshold:.3g} px "
        f"({cfg.compact_below:g} ppm of the frame) in every one of {len(idx)} training frames "
        f"→ {model.n}" + (f"; validation {before:.3f} → {out['validation_after_compaction']:.3f} dB"
                           if scored else ""))
    return out


def check_inputs(d: dict, cfg) -> None:
    if d["space"].name != cfg.space:
        raise SpaceError(f"fit_renderer: the tracking is in space '{d['space'].name}' but the "
                         f"renderer consumes '{cfg.space}'; set renderer.space or add a space_map")


def train_and_save(cfg, ingest: Path, track: Path, *, out: Path, scratch: Path, device, log, progress,
                   world=None) -> None:
    """Build the initial model, fit it, and (rank 0 only) write the stage files."""
    import torch

    from avatarzoo.renderers.gaussian.train import fit

    d = load_inputs(ingest, track)
    check_inputs(d, cfg)
    s0 = d["frames"].shape[1]
    train_size = cfg.resolution or s0
    torch.manual_seed(cfg.seed)
    model, data, groups = build_model(d, cfg, train_size=train_size, log=log)
    summary = fit(model, data, cfg, scratch=scratch, progress=progress, log=log,
                  device=torch.device(device), world=world)
    if world is None or world.is_main:
        if cfg.compact_below is not None:
            summary = {**summary, **compact(model, data, cfg, device=model.means.device, log=log,
                                            progress=progress)}
        if world is not None:
            summary = {**summary, "world_size": world.world_size,
                       "global_batch": cfg.batch_size * world.world_size}
        log(f"fit: {summary}")
        save(out, model, renderer_config(model, cfg, d["space"], d["body_names"], groups, summary))
