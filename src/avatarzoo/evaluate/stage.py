"""The `evaluate` stage: held-out image metrics, re-tracked expression fidelity, render
speed and the previews a person looks at.

Reads `ingest` (frames.npy, ingest.json), `track` (tracking.safetensors) and
`fit_renderer` (renderer.safetensors + renderer.json); writes into ctx.out:

| file | content |
|---|---|
| `metrics.json` | `EvalReport` (see report.py) |
| `contact_sheet.png` | recording above render for ~8 held-out frames, the most expressive among them, PSNR on each |
| `holdout.mp4` | every held-out frame: recording, render, |error| heat map side by side |
| `fidelity.png` | per headline channel: ground truth vs the re-tracked live and frozen renders |
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from avatarzoo.errors import InputError
from avatarzoo.evaluate.config import EvalConfig
from avatarzoo.evaluate.holdout import OUTPUTS, TrackFn, evaluate_holdout
from avatarzoo.evaluate.report import format_report
from avatarzoo.stages.context import StageContext


def read_ingest(directory: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """The frames memmap [N, S, S, 3] and ingest.json of an ingest output directory."""
    meta_path = directory / "ingest.json"
    try:
        meta = json.loads(meta_path.read_text())
        holdout_start, n = int(meta["holdout_start"]), int(meta["n_frames"])
        float(meta["fps"])
    except FileNotFoundError:
        raise InputError(f"{meta_path}: missing; rebuild the ingest stage") from None
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{meta_path}: expected fps, n_frames, holdout_start ({e!r})") from None
    frames_path = directory / "frames.npy"
    try:
        frames = np.load(frames_path, mmap_mode="r")
    except (FileNotFoundError, ValueError) as e:
        raise InputError(f"{frames_path}: cannot be read as a .npy array ({e})") from None
    if frames.ndim != 4 or frames.shape[0] != n or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise InputError(
            f"{frames_path}: expected uint8 [{n}, S, S, 3] (n_frames from ingest.json),"
            f" got {frames.dtype} {frames.shape}"
        )
    if not 0 <= holdout_start <= n:
        raise InputError(f"{meta_path}: holdout_start {holdout_start} outside 0..{n}")
    return frames, meta


def retracker(ctx: StageContext) -> TrackFn | None:
    """The built-in tracker bound to the recipe's tracker config, or None when the ground
    truth came from an imported tracker (its channels can't be re-tracked here)."""
    cfg = ctx.recipe.tracker
    if getattr(cfg, "kind", None) != "mediapipe":
        return None
    from avatarzoo.trackers.mediapipe import track_frames

    return partial(track_frames, config=cfg)


def run(ctx: StageContext) -> None:
    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer
    from avatarzoo.contracts.tracking import Tracking

    frames, meta = read_ingest(ctx.inputs["ingest"])
    tracking_path = ctx.inputs["track"] / "tracking.safetensors"
    tracking = Tracking.load(tracking_path)
    renderer = GaussianRenderer.from_dir(ctx.inputs["fit_renderer"], ctx.device)
    report = evaluate_holdout(
        frames=frames,
        holdout_start=int(meta["holdout_start"]),
        fps=float(meta["fps"]),
        tracking=tracking,
        renderer=renderer,
        track=retracker(ctx),
        out=ctx.out,
        scratch=ctx.scratch,
        device=ctx.device,
        avatar=ctx.recipe.id,
        config=EvalConfig(),
        progress=ctx.progress,
        log=ctx.log,
        source=str(tracking_path),
    )
    report.save(ctx.out / OUTPUTS.metrics)
    ctx.log.info("evaluate:\n%s", format_report(report))
