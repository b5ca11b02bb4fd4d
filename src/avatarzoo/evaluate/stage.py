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

from functools import partial

from avatarzoo.evaluate.config import EvalConfig
from avatarzoo.evaluate.holdout import OUTPUTS, Speech, TrackFn, evaluate_holdout
from avatarzoo.evaluate.report import format_report
from avatarzoo.stages.context import StageContext


def retracker(ctx: StageContext) -> TrackFn | None:
    """The tracker kind's re-tracking function bound to the recipe's tracker config, or
    None when the kind has none (an imported tracker's channels can't be re-tracked)."""
    kind = ctx.recipe.tracker.registered
    if kind.module("retrack") is None:
        return None
    return partial(kind.load("retrack"), config=ctx.recipe.tracker)


def held_out_speech(ctx: StageContext, ingest) -> Speech | None:
    """The driver and the held-out speech, when the recipe has a driver and the
    recording has audio."""
    if "fit_audio_driver" not in ctx.inputs or ingest.info.audio is None:
        return None
    import numpy as np

    from avatarzoo.drivers.pipeline import Activity, frame_energy_db

    driver = ctx.recipe.audio_driver.registered.load("runtime").from_dir(ctx.inputs["fit_audio_driver"], ctx.device)
    audio = np.asarray(ingest.audio(), np.float32)
    start = ingest.audio_at(ingest.info.holdout_start)
    return Speech(driver=driver, audio=audio[start:], train_activity=Activity()(frame_energy_db(audio[:start])))


def run(ctx: StageContext) -> None:
    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking

    ingest = IngestOutput.open(ctx.inputs["ingest"])
    tracking_path = ctx.inputs["track"] / "tracking.safetensors"
    tracking = Tracking.load(tracking_path)
    renderer = ctx.recipe.renderer.registered.load("runtime").from_dir(ctx.inputs["fit_renderer"], ctx.device)
    speech = held_out_speech(ctx, ingest)
    report = evaluate_holdout(
        frames=ingest.frames,
        holdout_start=ingest.info.holdout_start,
        fps=ingest.info.fps,
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
        speech=speech,
    )
    report.save(ctx.out / OUTPUTS.metrics)
    ctx.log.info("evaluate:\n%s", format_report(report))
