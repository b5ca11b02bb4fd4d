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
    ))
    write_bundle(ctx.out / "bundle", tensors=tensors, metadata=metadata, config=config,
                 card=card, extra_files=extra_files)
    ctx.log.info("bundle %s: %d tensors", r.id, len(tensors))
