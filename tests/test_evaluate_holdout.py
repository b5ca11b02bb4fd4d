"""The evaluate stage's work end to end on synthetic frames, a fake renderer and a fake
re-tracker (see _evaluate_fakes.py): files, report, and that the live face beats both the
frozen one and the mean-frame baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from _evaluate_fakes import FakeRenderer, fake_track, synthetic
from avatarzoo.errors import InputError, SpaceError, StageError
from avatarzoo.evaluate.config import EvalConfig
from avatarzoo.evaluate.holdout import evaluate_holdout
from avatarzoo.evaluate.report import EvalReport, format_report
from avatarzoo.evaluate.speed import render_speed
from avatarzoo.spaces.space import ExpressionSpace


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    scratch = tmp_path_factory.mktemp("scratch")
    frames, tracking = synthetic()
    path = scratch / "frames.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=frames.shape)
    mm[:] = frames
    mm.flush()
    report = evaluate_holdout(
        frames=np.load(path, mmap_mode="r"), holdout_start=40, fps=25.0, tracking=tracking,
        renderer=FakeRenderer(64), track=fake_track, out=out, scratch=scratch / "s",
        avatar="test-v1", time_render=False,
    )
    return report, out, scratch / "s"


def test_writes_the_previews_and_cleans_scratch(result):
    report, out, scratch = result
    assert {p.name for p in out.iterdir()} == {"contact_sheet.png", "holdout.mp4", "fidelity.png"}
    assert not list(scratch.iterdir())


def test_images_beat_the_baseline_and_per_frame_arrays_align(result):
    report, _, _ = result
    im = report.images
    assert report.frames == list(range(40, 60))
    assert len(im.render.per_frame.psnr_full) == 20 == len(im.face_boxes)
    assert im.render.psnr_full > im.baseline.psnr_full + 5
    assert im.render.psnr_face > im.baseline.psnr_face
    assert im.render.psnr_full >= im.frozen.psnr_full


def test_fidelity_live_beats_frozen_and_brows_are_not_measurable(result):
    report, _, _ = result
    regions = {r.region: r for r in report.fidelity.regions}
    for name in ("eyes", "mouth", "jaw"):
        r = regions[name]
        assert r.measurable, r.reason
        assert r.live.corr > 0.95 and 0.8 < r.live.amplitude < 1.2
        assert r.frozen.amplitude < 0.2
    brows = regions["brows"]
    assert not brows.measurable and brows.gt_std_window < 0.3 * brows.gt_std_clip
    assert report.fidelity.face_found_live == 1.0
    curves = report.fidelity.curves["blink_l"]
    assert len(curves.gt) == len(curves.live) == len(curves.frozen) == 20
    assert set(report.fidelity.curves) == {n for r in report.fidelity.regions for n in r.headline}


def test_report_round_trips_and_prints(result, tmp_path):
    report, _, _ = result
    report.save(tmp_path / "metrics.json")
    again = EvalReport.load(tmp_path / "metrics.json")
    assert again == report
    assert json.loads((tmp_path / "metrics.json").read_text())["format_version"] == 1
    assert report.headline["eyes_corr"] > 0.95 and "brows_corr" not in report.headline
    assert report.headline["psnr_full"] == report.images.render.psnr_full
    text = format_report(report)
    assert "gain over baseline" in text and "not measurable" in text and "eyes" in text
    cov = report.coverage  # the synthetic clip's held-out window, against its training frames
    assert cov is not None and cov.nearest_pose_deg_median >= 0 and "eyes" in cov.expression_shift
    assert report.headline["holdout_nearest_pose_deg"] == cov.nearest_pose_deg_median
    assert "from the nearest training pose" in text


def test_space_mismatch_is_refused(tmp_path):
    frames, tracking = synthetic(n=20, holdout_start=15)
    other = ExpressionSpace(name="other", dim=9, channels=tuple("abcdefghi"), regions={})
    with pytest.raises(SpaceError, match="other"):
        evaluate_holdout(frames=frames, holdout_start=15, fps=25, tracking=tracking,
                         renderer=FakeRenderer(64, other), track=None, out=tmp_path, scratch=tmp_path,
                         time_render=False)


def test_empty_holdout_is_an_error_that_names_the_fix(tmp_path):
    frames, tracking = synthetic(n=20, holdout_start=15)
    with pytest.raises(StageError, match="recording.holdout"):
        evaluate_holdout(frames=frames, holdout_start=20, fps=25, tracking=tracking,
                         renderer=FakeRenderer(64), track=None, out=tmp_path, scratch=tmp_path,
                         time_render=False)


def test_without_a_retracker_fidelity_is_skipped_with_a_note(tmp_path):
    frames, tracking = synthetic(n=20, holdout_start=15)
    report = evaluate_holdout(frames=frames, holdout_start=15, fps=25, tracking=tracking,
                              renderer=FakeRenderer(32), track=None, out=tmp_path, scratch=tmp_path / "s",
                              time_render=False)
    assert report.fidelity is None and any("fidelity not measured" in n for n in report.notes)
    assert any("resized" in n for n in report.notes)  # 32² renders scored at 64²


def test_render_speed_reports_positive_rates_without_judging_them():
    r = FakeRenderer(16)
    e, p, b = torch.zeros(3, 9), torch.eye(4).expand(3, 4, 4), torch.zeros(3, 2, 2)
    t = render_speed(r, e, p, b, device="cpu", warmup=1, repeats=3, max_seconds=1.0)
    assert t["calls"] == 3 and t["fps"] > 0 and t["fps_uint8"] > 0




def test_live_minus_frozen_inside_and_outside_the_face_box(result):
    report, _, _ = result
    im = report.images
    gain = im.live_minus_frozen
    assert gain.face_db == pytest.approx(im.render.psnr_face - im.frozen.psnr_face)
    # the padded face box covers these 64² frames: nothing is outside it
    assert gain.outside_db is None and im.render.per_frame.psnr_outside == [None] * 20
    assert report.headline["live_minus_frozen_face_db"] == gain.face_db
    assert "live_minus_frozen_outside_db" not in report.headline
    assert report.needles is None and "needles_live" not in report.headline  # FakeRenderer can't count
    assert "outside it – (the face box covers the frame)" in format_report(report)


def test_outside_psnr_is_none_when_the_face_box_covers_the_frame():
    from avatarzoo.evaluate.scores import score_frames

    rng = np.random.default_rng(0)
    gt = rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    pred = gt.copy()
    pred[:, :4] = 0  # an error outside a box that misses the top rows
    part = score_frames(pred, gt, np.array([[0, 8, 24, 32]] * 2))
    whole = score_frames(pred, gt, np.array([[0, 0, 32, 32]] * 2))
    assert np.isfinite(part["psnr_outside"]).all() and part["psnr_outside"][0] < part["psnr_face"][0]
    assert np.isnan(whole["psnr_outside"]).all()


class NeedleRenderer(FakeRenderer):
    """A fake renderer that reports one needle per frame for a live code, none frozen."""

    needle_definition = {"ratio": 10.0, "min_opacity": 0.1, "min_length": 0.005}

    def __init__(self, size, neutral):
        super().__init__(size)
        self.neutral = torch.as_tensor(neutral, dtype=torch.float32)

    def needles(self, expression, pose, body):
        return (~torch.isclose(expression, self.neutral[None]).all(-1)).long()


def test_needles_are_counted_for_live_and_frozen_renders(tmp_path):
    frames, tracking = synthetic()
    neutral = tracking.expression[:40][tracking.valid[:40]].mean(0)
    (tmp_path / "o").mkdir()
    report = evaluate_holdout(
        frames=frames, holdout_start=40, fps=25.0, tracking=tracking, renderer=NeedleRenderer(64, neutral),
        track=None, out=tmp_path / "o", scratch=tmp_path / "s", avatar="n-v1", time_render=False,
        config=EvalConfig(face_pad=0.0),  # a box smaller than the frame: pixels outside it
    )
    im = report.images
    assert im.live_minus_frozen.outside_db == pytest.approx(im.render.psnr_outside - im.frozen.psnr_outside)
    assert report.headline["live_minus_frozen_outside_db"] == im.live_minus_frozen.outside_db
    nd = report.needles
    assert nd.frozen_mean == 0 and nd.frozen_max == 0
    assert len(nd.per_frame_live) == 20 and nd.live_mean == pytest.approx(np.mean(nd.per_frame_live))
    assert nd.live_mean > 0 and nd.live_max == 1
    assert report.headline["needles_live"] == nd.live_mean and report.headline["needles_frozen"] == 0
    assert "needles (on screen" in format_report(report)
