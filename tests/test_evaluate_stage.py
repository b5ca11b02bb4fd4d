"""The evaluate stage's run(ctx) on real upstream files: the renderer's tiny synthetic
subject (48², 8 frames, 2 held out), a Gaussian avatar fitted for a few steps, the
real GaussianRenderer and Tracking loaders. Seconds on CPU."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from avatarzoo.evaluate import stage as eval_stage
from avatarzoo.evaluate.config import EvalConfig, TimingConfig
from avatarzoo.evaluate.report import EvalReport, format_report
from avatarzoo.recipe.models import GaussianRendererConfig, ImportTrackerConfig
from avatarzoo.renderers.gaussian import synthetic
from avatarzoo.stages.context import StageContext

CFG = GaussianRendererConfig(space="synthetic-4", gaussians=400, steps=8, densify_every=4, checkpoint_every=0)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    from avatarzoo.renderers.gaussian.stage import run as fit

    root = tmp_path_factory.mktemp("syn")
    ingest, track = synthetic.make_recording(root, n=8, size=48, holdout=0.25, detail=0.15)
    out = root / "fit"
    out.mkdir()
    fit(StageContext(recipe=SimpleNamespace(renderer=CFG), recipe_dir=root,
                     inputs={"ingest": ingest, "track": track}, out=out, scratch=root / "s",
                     log=logging.getLogger("test")))
    return {"ingest": ingest, "track": track, "fit_renderer": out}


def test_stage_writes_report_and_previews_from_real_files(upstream, tmp_path, monkeypatch):
    fast = EvalConfig(timing=TimingConfig(warmup=1, repeats=3, max_seconds=0.1))
    monkeypatch.setattr(eval_stage, "EvalConfig", lambda: fast)
    out = tmp_path / "out"
    out.mkdir()
    tracker = ImportTrackerConfig(format="arkit-csv", path="x.csv", space="arkit-52")
    recipe = SimpleNamespace(id="syn-v1", tracker=tracker, renderer=CFG)
    eval_stage.run(StageContext(recipe=recipe, recipe_dir=tmp_path, inputs=upstream, out=out,
                                scratch=tmp_path / "scratch", log=logging.getLogger("test")))
    assert {p.name for p in out.iterdir()} == {"metrics.json", "contact_sheet.png", "holdout.mp4"}
    report = EvalReport.load(out / "metrics.json")
    assert report.avatar == "syn-v1" and report.frames == [6, 7] and report.size == 48
    assert report.fidelity is None  # an imported tracker's channels are not re-tracked here
    assert report.speed is not None and report.speed.calls >= 3
    assert "psnr_full" in report.headline and "render_fps" in report.headline
    # the headline PSNR is the PSNR of the held-out renders against the recording,
    # recomputed here from the renderer and the frames
    import numpy as np
    import torch

    from avatarzoo.contracts.tracking import Tracking
    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer

    frames = np.load(upstream["ingest"] / "frames.npy")[6:].astype(np.float64) / 255
    tr = Tracking.load(upstream["track"] / "tracking.safetensors")
    r = GaussianRenderer.from_dir(upstream["fit_renderer"])
    t = lambda a: torch.as_tensor(a[6:])  # noqa: E731
    renders = r.render(t(tr.expression), t(tr.pose), t(tr.body)).numpy().astype(np.float64) / 255
    mse = ((renders - frames) ** 2).reshape(2, -1).mean(1)
    want = float(np.mean(-10 * np.log10(mse)))
    assert abs(json.loads((out / "metrics.json").read_text())["headline"]["psnr_full"] - want) < 0.05
    assert "gain over baseline" in format_report(report)
