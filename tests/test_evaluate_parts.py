"""Unit tests of the evaluate package's pure parts (boxes, baseline, scores, fidelity,
previews, report). Seconds on a 2-core CPU."""

from __future__ import annotations

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _evaluate_fakes import SPACE
from avatarzoo.evaluate import fidelity as fid
from avatarzoo.evaluate.baseline import mean_frame
from avatarzoo.evaluate.facebox import crop, face_boxes
from avatarzoo.evaluate.plot import Panel, Series, draw_panels
from avatarzoo.evaluate.report import MeasurabilityRule
from avatarzoo.evaluate.scores import score_frames
from avatarzoo.evaluate.sheet import contact_sheet, pick_frames
from avatarzoo.evaluate.speed import time_calls
from avatarzoo.evaluate.video import SideBySideWriter, error_heat
from avatarzoo.spaces.space import ExpressionSpace


# --- face box ----------------------------------------------------------------------


def test_face_boxes_are_one_square_side_inside_the_frame_and_hold_the_face():
    lm = np.zeros((3, 4, 3))
    lm[0, :, :2] = [[10, 10], [30, 10], [20, 40], [15, 35]]  # extent 30
    lm[1, :, :2] = lm[0, :, :2] + 50
    lm[2, :, :2] = lm[0, :, :2] - 9  # near the top-left corner: the box is shifted in
    boxes = face_boxes(lm, 100, pad=0.25)
    sides = boxes[:, 2:] - boxes[:, :2]
    assert (sides == 45).all()  # 30 · (1 + 2 · 0.25)
    assert (boxes >= 0).all() and (boxes <= 100).all()
    for box, pts in zip(boxes, lm):
        assert (pts[:, 0] >= box[0]).all() and (pts[:, 0] <= box[2]).all()
        assert (pts[:, 1] >= box[1]).all() and (pts[:, 1] <= box[3]).all()
    assert crop(np.zeros((3, 100, 100, 3)), boxes).shape == (3, 45, 45, 3)


def test_face_boxes_reject_nan_naming_the_frame():
    lm = np.ones((4, 3, 2))
    lm[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match="frame 2"):
        face_boxes(lm, 64)


# --- baseline ----------------------------------------------------------------------


def test_mean_frame_streams_the_training_frames(tmp_path):
    rng = np.random.default_rng(0)
    arr = np.lib.format.open_memmap(tmp_path / "f.npy", mode="w+", dtype=np.uint8, shape=(10, 8, 8, 3))
    arr[:] = rng.integers(0, 256, arr.shape)
    arr.flush()
    frames = np.load(tmp_path / "f.npy", mmap_mode="r")
    got = mean_frame(frames, 7, chunk=3)
    np.testing.assert_allclose(got, frames[:7].mean(0) / 255, atol=1e-6)
    assert got.dtype == np.float32
    with pytest.raises(ValueError, match="stop"):
        mean_frame(frames, 0)


# --- scores ------------------------------------------------------------------------


def test_scores_identical_frames_are_perfect_and_baseline_broadcasts():
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 256, (2, 32, 32, 3)).astype(np.uint8)
    boxes = np.array([[0, 0, 16, 16], [8, 8, 24, 24]])
    same = score_frames(gt, gt, boxes)
    assert (same["psnr_full"] >= 99).all() and np.allclose(same["ssim_face"], 1, atol=1e-5)
    grey = np.full((32, 32, 3), 0.5, np.float32)
    base = score_frames(grey, gt, boxes)
    assert base["psnr_full"].shape == (2,) and (base["psnr_full"] < 15).all()


# --- fidelity ----------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(scale=st.floats(0.1, 10), shift=st.floats(-5, 5), seed=st.integers(0, 1000))
def test_agreement_correlation_is_affine_invariant_and_amplitude_scales(scale, shift, seed):
    g = np.random.default_rng(seed).normal(size=40)
    a = fid.agreement(g, scale * g + shift, np.ones(40, bool))
    assert a.corr == pytest.approx(1.0, abs=1e-9)
    assert a.amplitude == pytest.approx(scale, rel=1e-9)
    assert a.frames == 40


def test_agreement_with_a_constant_is_zero_not_nan():
    a = fid.agreement(np.arange(10.0), np.zeros(10), np.ones(10, bool))
    assert a.corr == 0.0 and a.amplitude == 0.0


def test_headline_channels_pick_blink_brow_raise_and_opening_by_name():
    head = fid.headline_channels(SPACE)
    names = {r: [SPACE.channels[i] for i in idx] for r, idx in head.items()}
    assert names == {
        "brows": ["brow_raise_l", "brow_raise_r"],
        "eyes": ["blink_l", "blink_r"],
        "gaze": ["gaze_x", "gaze_y"],
        "mouth": ["mouth_open"],
        "jaw": ["jaw_open"],
    }
    from avatarzoo.spaces import get_space

    face64 = get_space("face-64")
    picked = {r: [face64.channels[i] for i in idx] for r, idx in fid.headline_channels(face64).items()}
    assert picked["brows"] == ["brow_raise_left", "brow_raise_right"]
    assert picked["eyes"] == ["blink_left", "blink_right"] and picked["mouth"] == ["mouth_open"]
    other = ExpressionSpace(name="x", dim=2, channels=("a", "b"), regions={"mouth": (0, 1)})
    assert fid.headline_channels(other) == {"mouth": (0, 1)}  # no name matches: all of them


def test_measurability_rule_says_why():
    rule = MeasurabilityRule(min_std_ratio=0.5, min_std=1e-4, min_frames=10)
    assert fid.measurability(0.15, 0.16, 50, rule) == (True, "")  # a window with a blink
    ok, why = fid.measurability(0.04, 0.16, 50, rule)  # a window without one
    assert not ok and "0.5 × clip std 0.16" in why
    assert not fid.measurability(0.0, 0.0, 50, rule)[0]
    assert "only 5 frames" in fid.measurability(0.15, 0.16, 5, rule)[1]
    # A clip without any blink: the ratio passes, the space's floor does not.
    assert rule.floor("face-64") == 0.05 and rule.floor("flame") == 1e-4
    ok, why = fid.measurability(0.034, 0.04, 50, rule, floor=rule.floor("face-64"))
    assert not ok and "floor 0.05" in why


def test_compare_scores_live_against_frozen_and_flags_a_still_window():
    rng = np.random.default_rng(2)
    m, n = 50, 200
    clip = rng.normal(0, 0.01, (n, SPACE.dim))
    clip[:, 0] += (rng.random(n) < 0.05) * 1.0  # blinks through the clip
    clip[:, 2:4] += np.where(np.arange(n) < 100, np.sin(np.arange(n) / 3), 0)[:, None]  # brows: only early
    gt = clip[-m:]
    ones = np.ones(m, bool)
    live = gt + rng.normal(0, 0.01, gt.shape)
    frozen = np.tile(gt.mean(0), (m, 1)) + rng.normal(0, 0.01, gt.shape)
    regions = {r.region: r for r in fid.compare(
        SPACE, gt=gt, gt_valid=ones, clip=clip, clip_valid=np.ones(n, bool),
        live=live, live_valid=ones, frozen=frozen, frozen_valid=ones)}
    eyes = regions["eyes"]
    blink_l = next(c for c in eyes.channels if c.name == "blink_l")
    assert blink_l.measurable and blink_l.live.corr > 0.9 and abs(blink_l.frozen.corr) < 0.5
    assert blink_l.frozen.amplitude < 0.2
    brows = regions["brows"]
    assert not brows.measurable and "clip std" in brows.reason and brows.live is None
    with pytest.raises(ValueError, match="live"):
        fid.compare(SPACE, gt=gt, gt_valid=ones, clip=clip, clip_valid=np.ones(n, bool),
                    live=live[:-1], live_valid=ones)


def test_rotation_error_of_a_known_turn():
    a = np.tile(np.eye(4), (2, 1, 1))
    b = a.copy()
    c, s = np.cos(np.radians(10)), np.sin(np.radians(10))
    b[1, :3, :3] = 2.0 * np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])  # scaled rotation
    np.testing.assert_allclose(fid.rotation_error_deg(a, b), [0, 10], atol=1e-6)


# --- previews ----------------------------------------------------------------------


def test_pick_frames_keeps_the_most_expressive_and_spreads_the_rest():
    score = np.zeros(50)
    score[[7, 8, 33]] = [5, 4.9, 3]
    picked = pick_frames(score, 8)
    assert len(picked) == 8 and len(set(picked)) == 8 and list(picked) == sorted(picked)
    assert 7 in picked and 33 in picked and 8 not in picked  # 8 is the same blink as 7
    assert list(pick_frames(np.zeros(3), 8)) == [0, 1, 2]


def test_contact_sheet_puts_recording_above_render():
    gt = np.zeros((3, 64, 64, 3), np.uint8)
    render = np.full((3, 64, 64, 3), 255, np.uint8)
    sheet = contact_sheet(gt, render, ["a", "b", "c"], tile=32)
    assert sheet.shape == (64, 96, 3)
    assert sheet[:16, :].max() == 0 and sheet[32:48, :].min() == 255  # above the labels


def test_side_by_side_video_has_every_frame(tmp_path):
    rng = np.random.default_rng(3)
    gt = rng.integers(0, 256, (5, 32, 32, 3)).astype(np.uint8)
    path = tmp_path / "v.mp4"
    with SideBySideWriter(path, size=32, fps=25) as video:
        video.write(gt[:2], gt[:2], [("#0", "99 dB"), ("#1", "99 dB")])
        video.write(gt[2:], 255 - gt[2:])
        with pytest.raises(ValueError, match="labels"):
            video.write(gt[:2], gt[:2], [("#0", "")])
    with av.open(str(path)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(decoded) == 5 and decoded[0].shape == (32, 96, 3)
    heat = error_heat(gt, gt)
    assert heat.shape == gt.shape and (heat == heat[0, 0, 0]).all()  # zero error: one colour


def test_draw_panels_survives_missing_samples_and_flat_series():
    v = np.array([0.0, 1.0, np.nan, 0.5])
    img = draw_panels([Panel("a", [Series("x", v, (0, 0, 0))]), Panel("b", [Series("y", np.zeros(4), (1, 2, 3))])],
                      width=200, height=60)
    assert img.shape == (24 + 120, 200, 3) and img.dtype == np.uint8


def test_time_calls_warms_up_then_times_at_least_three():
    calls = []
    times = time_calls(calls.append, sync=lambda: None, warmup=5, repeats=5, max_seconds=0.0)
    assert calls == [0, 1, 2, 3, 4] and len(times) == 3  # budget spent: 2 warm-up, 3 timed
    assert (times >= 0).all()


def test_fast_correlation_ignores_a_shared_slow_drift():
    t = np.arange(50.0)
    drift = t / 50  # both sides share it: a render that only follows head pose
    blinks = np.zeros(50)
    blinks[[10, 30, 44]] = 1.0
    gt = drift + blinks
    frozen = drift + 0.01 * np.sin(t)
    k = fid.fast_frames(25.0)
    assert k == 9
    a = fid.agreement(gt, frozen, np.ones(50, bool), fast=k)
    b = fid.agreement(gt, gt + 0.01 * np.cos(t), np.ones(50, bool), fast=k)
    assert a.corr > 0.4 and a.corr_fast < 0.2  # plain corr is fooled by the drift, fast is not
    assert b.corr_fast > 0.95
    np.testing.assert_allclose(fid.high_pass(np.full(20, 3.0), 5), 0, atol=1e-12)
