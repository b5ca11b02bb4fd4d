"""The `package` stage: gather the stage outputs into one bundle directory.

Reads `ctx.inputs`: ingest (ingest.json, audio.npy), track (tracking.safetensors),
fit_renderer (renderer.safetensors + renderer.json), evaluate (metrics.json,
contact_sheet.png; optional) and fit_audio_driver (optional). Writes `ctx.out/bundle/`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from avatarzoo.bundle.card import CardData, Metric, render_card
from avatarzoo.bundle.io import write_bundle
from avatarzoo.errors import StageError
from avatarzoo.stages.context import StageContext


def recipe_sha256(ctx: StageContext) -> str:
    return hashlib.sha256(ctx.recipe.model_dump_json().encode()).hexdigest()


def headline_metrics(metrics: dict[str, Any]) -> list[Metric]:
    """Every numeric leaf of metrics.json as a card metric (nested keys joined by '.')."""
    out: list[Metric] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value):
            out.append(Metric(name=prefix, type=prefix, value=float(value)))

    walk("", metrics.get("headline", metrics))
    return out


def renderer_line(renderer_config: dict[str, Any]) -> str:
    """The card's line on the renderer: its kind, side and Gaussians, and what compaction
    dropped (renderer.json's fit summary; empty where renderer.json says nothing of it)."""
    fit = renderer_config.get("fit") or {}
    n = renderer_config.get("n_gaussians", fit.get("n_gaussians"))
    if not isinstance(n, int):
        return ""
    line = f"{renderer_config.get('kind', '?')}, {n:,} Gaussians at {renderer_config.get('size', '?')}²"
    dropped = fit.get("compacted")
    if isinstance(dropped, int) and dropped:
        line += f" ({dropped:,} that no training frame showed were dropped"
        before, after = fit.get("validation_before_compaction"), fit.get("validation_after_compaction")
        if isinstance(before, float) and isinstance(after, float):
            line += f"; validation PSNR {before:.2f} → {after:.2f} dB"
        line += ")"
    return line


#: Percentiles of a channel's "range" (what reenactment maps a driver's range onto):
#: robust to the few frames where the tracker slips, unlike min/max (kept for clamping).
RANGE_PERCENTILES = (1.0, 99.0)
#: Ridge of the body-on-head and residual-on-mouth regressions, relative to the mean
#: square of each input (scale-free).
BODY_RIDGE = 0.1
RESIDUAL_RIDGE = 0.1


def motion_statistics(tr, train_end: int) -> dict[str, np.ndarray]:
    """The avatar's own ranges over its training frames (the valid ones), what
    reenactment (avatarzoo.drive) maps a driver onto; float32, D channels, Bp body points:

    expression_median / _low / _high / _min / _max [D]: median, RANGE_PERCENTILES, extremes;
    pose_mean [4, 4]: rigid mean of the head poses (geometry.rigid_mean);
    pose_rotvec_min / _max [3]: extremes of the rotation relative to it, R R̄ᵀ (camera
    frame), as rotation vectors (rad); pose_translation_min / _max [3]: of t − t̄ (cm);
    body_coef [6, Bp, 2]: ridge fit of body − its mean (px) on [rotvec, t − t̄]: how
    this body moved with this head; face_size_px [1]: median outer eye-corner distance
    (crop px), what a driver's body motion in its own pixels is scaled by;
    residual_coef [Dn, Dr] (spaces with `residual` and mouth or jaw channels; Dn = the
    channels outside `residual`, in index order): ridge fit of the residual channels on
    the mouth and jaw ones (rows of the others 0), all minus their medians. Mouth and
    jaw only: fitted on every named channel, the residual also carried this face's
    brow-with-mouth habits and drove the brows against the driver's (benchmarks/reenact.py).
    """
    from avatarzoo.geometry import matrix_to_rotvec, rigid_mean

    idx = np.arange(min(max(train_end, 1), len(tr)))
    if tr.valid[idx].sum() >= 2:
        idx = idx[tr.valid[idx]]
    expr = tr.expression[idx].astype(np.float64)
    lo, hi = np.percentile(expr, RANGE_PERCENTILES, axis=0)
    med = np.median(expr, axis=0)
    poses = tr.pose[idx].astype(np.float64)
    mean = rigid_mean(poses)
    rotvec = matrix_to_rotvec(poses[:, :3, :3] @ mean[:3, :3].T)  # [F, 3]
    trans = poses[:, :3, 3] - mean[:3, 3]  # [F, 3]
    head = np.concatenate([rotvec, trans], axis=1)  # [F, 6]
    body = tr.body[idx].astype(np.float64)
    out = {
        "expression_median": med, "expression_low": lo, "expression_high": hi,
        "expression_min": expr.min(0), "expression_max": expr.max(0),
        "pose_mean": mean,
        "pose_rotvec_min": rotvec.min(0), "pose_rotvec_max": rotvec.max(0),
        "pose_translation_min": trans.min(0), "pose_translation_max": trans.max(0),
        "face_size_px": np.array([face_size_px(tr.landmarks[idx])]),
        "body_coef": _ridge(head, (body - body.mean(0)).reshape(len(idx), -1),
                            BODY_RIDGE).reshape(6, *body.shape[1:]),
    }
    space = tr.space
    res = list(space.indices("residual"))
    named = [i for i in range(space.dim) if i not in set(res)]
    src = [k for k, i in enumerate(named) if i in set(space.indices("mouth")) | set(space.indices("jaw"))]
    if res and src:
        coef = np.zeros((len(named), len(res)))
        x = expr[:, named][:, src] - med[named][src]
        coef[src] = _ridge(x, expr[:, res] - med[res], RESIDUAL_RIDGE)
        out["residual_coef"] = coef
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def face_size_px(landmarks: np.ndarray) -> float:
    """Median distance (px) of the outer eye corners (MediaPipe 33 and 263) of face
    meshes [N, 478, ≥2]."""
    lm = np.asarray(landmarks, np.float64)
    return float(np.median(np.linalg.norm(lm[:, 263, :2] - lm[:, 33, :2], axis=-1)))


def _ridge(x: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    """W [I, O] minimising |y - x W|² + ridge · n · Σ_i ms(x_i) W_i² (x [n, I], y [n, O],
    both centred by the caller; ms = mean square, so `ridge` is scale-free)."""
    ms = np.maximum((x * x).mean(0), 1e-12)
    return np.linalg.solve(x.T @ x + ridge * len(x) * np.diag(ms), x.T @ y)


def _demo_tensors(ingest: Path, track: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The held-out sequence (expression, pose, body, audio) for replay demos, and the
    neutral inputs `Avatar.render` falls back on."""
    import torch

    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking

    up = IngestOutput.open(ingest)
    info = up.info
    tr = Tracking.load(track / "tracking.safetensors")
    start = info.holdout_start
    train = slice(0, start)
    # The neutral pose: the training frame whose translation is nearest the mean.
    t = tr.pose[train, :3, 3]
    neutral = int(np.argmin(np.linalg.norm(t - t.mean(0), axis=1)))
    tensors = {
        "tracking.expression_mean": torch.from_numpy(tr.expression[train].mean(0).astype(np.float32)),
        "tracking.pose_neutral": torch.from_numpy(tr.pose[neutral].astype(np.float32)),
        "tracking.body_neutral": torch.from_numpy(tr.body[train].mean(0).astype(np.float32)),
        **{f"tracking.{k}": torch.from_numpy(v) for k, v in motion_statistics(tr, start).items()},
        "demo.expression": torch.from_numpy(tr.expression[start:].astype(np.float32)),
        "demo.pose": torch.from_numpy(tr.pose[start:].astype(np.float32)),
        "demo.body": torch.from_numpy(tr.body[start:].astype(np.float32)),
    }
    audio = up.audio()
    if audio is not None:
        tensors["demo.audio"] = torch.from_numpy(np.array(audio[up.audio_at(start):], dtype=np.float32))
    extra = {
        "fps": info.fps,
        "n_frames": info.n_frames,
        "size": info.size,
        "holdout_start": start,
        "audio_sample_rate": info.audio.sample_rate if info.audio else None,
        "body_names": tr.body_names,
        "space": tr.space,
    }
    return tensors, extra


def run(ctx: StageContext) -> None:
    from safetensors.torch import load_file

    for needed in ("ingest", "track", "fit_renderer"):
        if needed not in ctx.inputs:
            raise StageError(f"package: needs the {needed} stage's output")
    rdir = ctx.inputs["fit_renderer"]
    tensors = {f"renderer.{k}": v for k, v in load_file(rdir / "renderer.safetensors").items()}
    renderer_config = json.loads((rdir / "renderer.json").read_text())
    demo, info = _demo_tensors(ctx.inputs["ingest"], ctx.inputs["track"])
    tensors.update(demo)
    driver_config = None
    if "fit_audio_driver" in ctx.inputs:
        adir = ctx.inputs["fit_audio_driver"]
        tensors.update({f"audio_driver.{k}": v for k, v in load_file(adir / "audio_driver.safetensors").items()})
        driver_config = json.loads((adir / "audio_driver.json").read_text())

    metrics: dict[str, Any] = {}
    extra_files: dict[str, Path] = {}
    preview = None
    if "evaluate" in ctx.inputs:
        edir = ctx.inputs["evaluate"]
        metrics = json.loads((edir / "metrics.json").read_text())
        if (edir / "contact_sheet.png").is_file():
            preview = "preview.png"
            extra_files[preview] = edir / "contact_sheet.png"

    r = ctx.recipe
    sha = recipe_sha256(ctx)
    space = info["space"]
    stages = {name: path.name for name, path in ctx.inputs.items()}
    config = {
        "id": r.id,
        "recipe": r.model_dump(mode="json"),
        "renderer": renderer_config,
        **({"audio_driver": driver_config} if driver_config is not None else {}),
        "tracking": {"body_names": info["body_names"], "fps": info["fps"],
                     "holdout_start": info["holdout_start"], "n_frames": info["n_frames"]},
        "audio": {"sample_rate": info["audio_sample_rate"]},
        "space": json.loads(space.to_json()),
        "stages": stages,
        "metrics": metrics,
    }
    metadata = {
        "avatarzoo.id": r.id,
        "avatarzoo.recipe_sha256": sha,
        "avatarzoo.space": space.to_json(),
        "avatarzoo.renderer": r.renderer.kind,
        "avatarzoo.size": str(info["size"]),
        "avatarzoo.fps": repr(info["fps"]),
        "avatarzoo.audio_driver": r.audio_driver.kind if "fit_audio_driver" in ctx.inputs else "none",
    }
    card = render_card(CardData(
        avatar_id=r.id, license=r.card.license, consent=r.card.consent, source=r.card.source,
        description=r.card.description, tags=r.card.tags, recipe_sha256=sha, space=space.name,
        size=info["size"], fps=info["fps"], n_frames=info["n_frames"],
        metrics=tuple(headline_metrics(metrics)), preview=preview, stages=stages,
        renderer=renderer_line(renderer_config),
    ))
    write_bundle(ctx.out / "bundle", tensors=tensors, metadata=metadata, config=config,
                 card=card, extra_files=extra_files)
    ctx.log.info("bundle %s: %d tensors", r.id, len(tensors))
