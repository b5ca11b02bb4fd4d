"""Idle life: the recording's own blinks, gaze and sway, re-sequenced; the same frames
offline and streamed; never a fixed loop; motion scaled by speech activity."""

from __future__ import annotations

import numpy as np
import pytest

from avatarzoo.drivers.life import IDLE_GAIN, LifeModel
from avatarzoo.geometry import matrix_to_rotvec, rotvec_to_matrix


def _recording(n=500, fps=25.0, seed=0):
    """A blink every ~3 s (a 6-frame closing), gaze fixations that jump, and a sway."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fps
    blink = np.zeros(n)
    for c in np.arange(40, n - 10, 75) + rng.integers(-10, 10, size=len(np.arange(40, n - 10, 75))):
        blink[c - 3:c + 3] = [0.3, 0.8, 1.0, 1.0, 0.7, 0.2]
    gaze = np.repeat(rng.normal(0, 0.3, size=(n // 25 + 1, 2)), 25, axis=0)[:n]
    expr = np.zeros((n, 8))
    expr[:, 0] = expr[:, 1] = blink
    expr[:, 2:4] = gaze
    expr[:, 4:] = rng.normal(size=(n, 4))  # speech channels, not life's
    pose = np.tile(np.eye(4), (n, 1, 1))
    pose[:, :3, :3] = rotvec_to_matrix(np.stack([0.05 * np.sin(t), 0.03 * np.cos(0.7 * t), 0 * t], 1))
    pose[:, :3, 3] = np.stack([np.sin(0.5 * t), 0 * t, 60 + 0 * t], 1)
    body = np.stack([np.stack([10 + np.sin(0.5 * t), 50 + 0 * t], 1), np.stack([40 + np.sin(0.5 * t), 50 + 0 * t], 1)], 1)
    return expr, pose, body, blink, gaze, fps


@pytest.fixture(scope="module")
def life():
    expr, pose, body, blink, gaze, fps = _recording()
    return LifeModel.fit(expr, pose, body, fps=fps, channels=(0, 1, 2, 3), blink=blink, gaze=gaze), blink


def test_rotation_vectors_round_trip():
    rv = np.random.default_rng(0).normal(0, 0.8, size=(20, 3))
    np.testing.assert_allclose(matrix_to_rotvec(rotvec_to_matrix(rv)), rv, atol=1e-10)


def test_streamed_equals_offline_and_seeds_differ(life):
    model, _ = life
    whole = model.generate(600, seed=3)
    s = model.stream(3)
    parts = [s.take(n) for n in (1, 7, 250, 342)]
    np.testing.assert_array_equal(np.concatenate([p.expression for p in parts]), whole.expression)
    np.testing.assert_array_equal(np.concatenate([p.pose for p in parts]), whole.pose)
    assert not np.array_equal(model.generate(600, seed=4).expression, whole.expression)


def test_blinks_come_at_the_recordings_rate_and_shape(life):
    from avatarzoo.signals import peaks

    model, blink = life
    out = model.generate(25 * 120, seed=0).expression[:, 0]  # two minutes
    own = len(peaks(blink, height=0.5, distance=5)) / (len(blink) / 25 / 60)
    made = len(peaks(out, height=0.5, distance=5)) / 2.0
    assert 0.7 * own <= made <= 1.3 * own, (own, made)
    assert out.max() > 0.9  # whole blinks, not cross-faded halves


def test_it_does_not_loop(life):
    model, _ = life
    g = model.generate(25 * 60, seed=0).expression[:, 2]  # one minute of gaze_x
    period = len(model.expression)
    assert not np.allclose(g[:period], g[period:2 * period])


def test_motion_calms_in_silence(life):
    model, _ = life
    speaking = model.generate(500, seed=1, activity=np.ones(500))
    silent = model.generate(500, seed=1, activity=np.zeros(500))
    sway = lambda m: np.abs(m.pose[:, 0, 3] - model.ref_pose[0, 3]).mean()  # noqa: E731
    assert sway(silent) == pytest.approx(IDLE_GAIN * sway(speaking), rel=1e-4)
    np.testing.assert_array_equal(silent.expression, speaking.expression)  # blinks and gaze go on


def test_too_short_a_recording_is_refused():
    expr, pose, body, blink, gaze, fps = _recording(n=60)
    with pytest.raises(ValueError, match="at least 4 s"):
        LifeModel.fit(expr, pose, body, fps=fps, channels=(0, 1), blink=blink, gaze=gaze)


def test_a_lone_blink_in_a_restless_stretch_keeps_its_rate():
    """One blink in 16 s, inside 5 s where the gaze never stops (no cut can start there):
    segments start uniformly in time, not uniformly over the cuts, so it is still played
    at about its own rate (uniform over the cuts played it ~1 time in 5)."""
    n, fps = 400, 25.0
    rng = np.random.default_rng(3)
    blink = rng.uniform(0.0, 0.1, n)  # open lids, tracked with noise
    blink[145 - 3:145 + 3] = [0.3, 0.8, 1.0, 1.0, 0.7, 0.2]
    gaze = np.repeat(rng.normal(0, 0.3, size=(n // 25 + 1, 2)), 25, axis=0)[:n]
    gaze[52:125] += np.cumsum(rng.normal(0, 0.05, size=(73, 2)), 0)  # restless: no calm frame
    gaze[146:170] += np.cumsum(rng.normal(0, 0.05, size=(24, 2)), 0)
    expr = np.zeros((n, 4))
    expr[:, 0] = expr[:, 1] = blink
    expr[:, 2:4] = gaze
    life = LifeModel.fit(expr, np.tile(np.eye(4), (n, 1, 1)), np.zeros((n, 2, 2)), fps=fps,
                         channels=(0, 1, 2, 3), blink=blink, gaze=gaze)
    assert not np.any((life.cuts > 52) & (life.cuts < 125))
    minutes = 10
    out = life.generate(int(minutes * 60 * fps), seed=0).expression[:, 0]
    played = np.sum((out[1:] >= 0.9) & (out[:-1] < 0.9)) / minutes
    assert 0.6 * 3.75 <= played <= 1.6 * 3.75, played
