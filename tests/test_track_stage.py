"""The `ingest` and `track` stage functions through a StageContext, and `track_video`
(what `avatarzoo track VIDEO -o DIR` calls), on the first second of the demo."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from avatarzoo.recipe.models import CardConfig, CropConfig, Recipe, RecordingConfig
from avatarzoo.stages.context import StageContext
from avatarzoo.contracts.tracking import Tracking

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "obama-address-20s.mp4"
if not DEMO.exists():
    DEMO = ROOT.parent / "shared" / "data" / "obama-address-20s.mp4"
pytestmark = pytest.mark.skipif(not DEMO.exists(), reason="demo recording not present")


def test_ingest_then_track_stage(tmp_path):
    import cv2

    from avatarzoo.ingest import stage as ingest_stage
    from avatarzoo.trackers import stage as track_stage

    shutil.copy(DEMO, tmp_path / "rec.mp4")
    recipe = Recipe(
        avatar="t", version=1, card=CardConfig(license="mit", consent="test"),
        recording=RecordingConfig(video="rec.mp4", duration=1.2, crop=CropConfig(size=96), holdout=0.25),
    )
    progress_calls = []

    class Ctx(StageContext):
        def progress(self, iterable, *, total=None, desc="", unit="it"):
            progress_calls.append((desc, total, unit))
            yield from iterable

    def ctx(name: str, inputs: dict) -> StageContext:
        (tmp_path / name).mkdir()
        return Ctx(recipe=recipe, recipe_dir=tmp_path, inputs=inputs, out=tmp_path / name, scratch=tmp_path / f"{name}.scratch")

    ingest_stage.run(ctx("ingest", {}))
    meta = json.loads((tmp_path / "ingest" / "ingest.json").read_text())
    assert meta["n_frames"] == 30 and meta["holdout_start"] == 22
    track_stage.run(ctx("track", {"ingest": tmp_path / "ingest"}))
    assert ("ingest", 30, "frame") in progress_calls and ("track", 30, "frame") in progress_calls
    out = tmp_path / "track"
    assert {"tracking.safetensors", "contact_sheet.png", "channels.png", "track.json"} <= {p.name for p in out.iterdir()}
    t = Tracking.load(out / "tracking.safetensors")
    assert len(t) == 30 and t.space.name == "face-64" and t.body_names == ["left_shoulder", "right_shoulder", "neck_base"]
    np.testing.assert_array_equal(t.time, np.load(tmp_path / "ingest" / "time.npy"))
    assert t.landmarks[:, :, :2].max() < 96 and t.landmarks[:, :, :2].min() > 0  # crop pixels
    for png in ("contact_sheet.png", "channels.png"):
        assert cv2.imread(str(out / png)) is not None
    torso = json.loads((out / "track.json").read_text())["torso"]
    assert torso["method"] == "flow"  # the demo's suit has corners to follow
    assert torso["motion"] == "graph" and len(torso["reference_frames"]) >= 2
    scores = torso["agreement_db"]  # the solved motion and a still torso, on the training frames
    assert set(scores) == {"graph", "static"} and scores["graph"] > scores["static"]


def test_track_video_writes_tracking_and_previews(tmp_path):
    t = _track_video(tmp_path)
    assert len(t) == 20
    assert {"tracking.safetensors", "contact_sheet.png", "channels.png", "track.json", "ingest.json"} == {
        p.name for p in (tmp_path / "out").iterdir()
    }


def _track_video(tmp_path: Path) -> Tracking:
    from avatarzoo.trackers.standalone import track_video

    return track_video(DEMO, tmp_path / "out", size=96, duration=0.8)
