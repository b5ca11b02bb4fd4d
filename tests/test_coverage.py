"""How new the held-out window is (evaluate/coverage.py): the angle to the nearest
training head pose, and each region's mean code shift in training stds."""

from __future__ import annotations

import numpy as np

from avatarzoo.evaluate.coverage import coverage, pose_novelty_deg
from avatarzoo.evaluate.fidelity import rotation_angles_deg, rotation_error_deg
from avatarzoo.spaces.registry import get_space

FACE = get_space("face-64")


def _yaw(deg: np.ndarray) -> np.ndarray:
    """[K, 4, 4] poses turned by `deg` about the vertical axis."""
    t = np.radians(deg)
    m = np.tile(np.eye(4), (len(t), 1, 1))
    m[:, 0, 0], m[:, 0, 2], m[:, 2, 0], m[:, 2, 2] = np.cos(t), np.sin(t), -np.sin(t), np.cos(t)
    m[:, :3, 3] = [0.0, 0.0, 50.0]
    return m


def test_rotation_angles_are_geodesic_degrees():
    a = rotation_angles_deg(_yaw(np.array([0.0, 30.0])), _yaw(np.array([10.0, 30.0, -45.0])))
    assert np.allclose(a, [[10, 30, 45], [20, 0, 75]], atol=1e-6)
    paired = rotation_error_deg(_yaw(np.array([0.0, 30.0])), _yaw(np.array([10.0, -45.0])))
    assert np.allclose(paired, [10, 75], atol=1e-6)  # the same angle, frame by frame


def test_a_window_turned_away_and_shifted_in_one_region_is_said_so():
    g = np.random.default_rng(0)
    n, m = 200, 50
    pose = _yaw(np.concatenate([np.linspace(0, 5, n), np.full(m, 9.0)]))  # held out 4° past the last training pose
    e = g.normal(0, 1, (n + m, FACE.dim))
    jaw = list(FACE.indices("jaw"))
    e[n:, jaw] += 2.0  # the held-out jaw codes sit two training stds off
    valid = np.ones(n + m, bool)
    valid[n + 3] = False
    cov = coverage(FACE, pose=pose, expression=e, valid=valid, holdout_start=n)
    assert abs(cov.nearest_pose_deg_median - 4.0) < 1e-6 and abs(cov.nearest_pose_deg_p90 - 4.0) < 1e-6
    assert 1.7 < cov.expression_shift["jaw"] < 2.3
    assert all(v < 0.5 for k, v in cov.expression_shift.items() if k != "jaw")
    assert "residual" not in cov.expression_shift  # the regions the fidelity report scores
    per_frame = pose_novelty_deg(pose, valid, n)
    assert np.isnan(per_frame[3]) and np.allclose(np.delete(per_frame, 3), 4.0)  # untracked: NaN


def test_no_tracked_frame_on_a_side_gives_none():
    pose, e = _yaw(np.zeros(10)), np.zeros((10, FACE.dim))
    valid = np.ones(10, bool)
    valid[6:] = False
    assert coverage(FACE, pose=pose, expression=e, valid=valid, holdout_start=6) is None
