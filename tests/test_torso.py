"""The optical-flow torso track (trackers/torso.py, trackers/torsograph.py): known
similarities of a textured torso are recovered, body points follow them exactly, lost
frames are interpolated (one reference) or found frame to frame (`follow`), the solve
over many measurements recovers the motion and outvotes a wrong one, and a torso
without corners is refused (the Pose body stays)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dataclasses import replace

from avatarzoo.trackers.torso import body_from_torso, follow, torso_agreement, track_torso
from avatarzoo.trackers.torsograph import Measurement, solve_motion

S = 256


def _landmarks() -> np.ndarray:
    """A stand-in face mesh [478, 3]: only 10 (forehead) and 152 (chin) matter here."""
    lm = np.zeros((478, 3))
    lm[:, :2] = (128.0, 60.0)
    lm[10, :2] = (128.0, 20.0)
    lm[152, :2] = (128.0, 100.0)
    return lm


def _similarity(angle_deg: float, scale: float, tx: float, ty: float, centre=(128.0, 200.0)) -> np.ndarray:
    m = cv2.getRotationMatrix2D(centre, angle_deg, scale)
    m[:, 2] += (tx, ty)
    return m


def _clip(motions: list[np.ndarray], *, texture: bool = True, seed: int = 0):
    """Frames [N, S, S, 3] of a torso (textured blob below y = 120) on a flat
    background, each warped by its motion, and the matching person masks."""
    rng = np.random.default_rng(seed)
    base = np.full((S, S, 3), 90, np.uint8)
    torso = np.zeros((S, S), np.uint8)
    cv2.ellipse(torso, (128, 256), (110, 140), 0, 0, 360, 255, -1)
    torso[:120] = 0
    if texture:
        noise = cv2.GaussianBlur(rng.integers(0, 255, (S, S)).astype(np.uint8), (0, 0), 2.0)
        pattern = cv2.normalize(noise, None, 20, 235, cv2.NORM_MINMAX)
    else:
        pattern = np.full((S, S), 200, np.uint8)
    base[torso > 0] = np.repeat(pattern[..., None], 3, -1)[torso > 0]
    frames = np.stack([cv2.warpAffine(base, m, (S, S), flags=cv2.INTER_CUBIC, borderValue=(90, 90, 90))
                       for m in motions])
    masks = np.stack([cv2.warpAffine(torso, m, (S, S), flags=cv2.INTER_NEAREST) for m in motions])
    return frames, masks


def test_recovers_known_similarities_to_a_tenth_of_a_pixel():
    motions = [_similarity(a, s, tx, ty) for a, s, tx, ty in
               [(0, 1, 0, 0), (1.0, 1.01, 2.5, -1.5), (-1.5, 0.99, -6.0, 3.0), (2.0, 1.02, 8.0, 5.5),
                (0.5, 1.0, 12.0, -4.0)]]
    frames, masks = _clip(motions)
    lm = np.repeat(_landmarks()[None], len(frames), 0)
    track = track_torso(frames, masks, lm, reference=0)
    assert track is not None and track.ok.all() and track.features >= 50
    probe = np.array([[60.0, 180.0], [200.0, 230.0], [128.0, 140.0]])
    got = track.apply(probe)
    want = np.stack([probe @ m[:, :2].T + m[:, 2] for m in motions])
    assert np.abs(got - want).max() < 0.1


def test_body_points_move_with_the_torso_and_keep_their_place():
    motions = [_similarity(0.8 * k, 1 + 0.004 * k, 1.5 * k, -0.7 * k) for k in range(6)]
    frames, masks = _clip(motions)
    lm = np.repeat(_landmarks()[None], len(frames), 0)
    true = np.stack([np.array([[40.0, 200.0], [216.0, 200.0]]) @ m[:, :2].T + m[:, 2] for m in motions])
    noisy = true + np.random.default_rng(1).normal(0, 3.0, true.shape)  # Pose-like jitter
    track = follow(frames, masks, lm, np.arange(len(frames)))
    body = body_from_torso(track, noisy, np.ones(len(frames), bool))
    # the shape is exactly rigid (one similarity per frame) and on average where Pose put it
    assert np.abs(body - true).mean() < 2.0
    # displacements from frame 0 are the true ones (the anchor's error barely matters)
    assert np.abs((body - body[0]) - (true - true[0])).max() < 0.3
    d = np.linalg.norm(body[:, 0] - body[:, 1], axis=-1) / np.linalg.norm(true[:, 0] - true[:, 1], axis=-1)
    assert np.ptp(d) < 0.01


def test_lost_frames_are_interpolated():
    motions = [_similarity(0, 1, 2.0 * k, 0) for k in range(5)]
    frames, masks = _clip(motions)
    frames[2] = 90  # the torso vanishes in frame 2
    lm = np.repeat(_landmarks()[None], len(frames), 0)
    track = track_torso(frames, masks, lm, reference=0)
    assert not track.ok[2] and track.ok[[0, 1, 3, 4]].all()
    assert track.similarity[2, 0, 2] == pytest.approx(4.0, abs=0.1)


def test_a_torso_without_corners_is_refused():
    frames, masks = _clip([_similarity(0, 1, 0, 0)] * 3, texture=False)
    lm = np.repeat(_landmarks()[None], len(frames), 0)
    assert track_torso(frames, masks, lm, reference=0) is None


def test_a_run_no_reference_reaches_is_found_frame_to_frame(monkeypatch):
    """Frames 3-5 lost against every reference (their fits dropped, as when too few
    inliers survive): `follow` still places them, through the frame-to-frame steps,
    and says they were not reached (`ok`)."""
    from avatarzoo.trackers import torso

    measure = torso.measure_from

    def losing(frames, masks, landmarks, reference):
        sim, inliers, count = measure(frames, masks, landmarks, reference)
        inliers[3:6] = 0
        return sim, inliers, count

    monkeypatch.setattr(torso, "measure_from", losing)
    motions = [_similarity(0.3 * k, 1.0, 0.5 * k * k, 0.2 * k) for k in range(9)]
    frames, masks = _clip(motions)
    lm = np.repeat(_landmarks()[None], len(frames), 0)
    track = follow(frames, masks, lm, np.array([0, 1, 2, 6, 7, 8]), references=2)
    assert track.method == "graph" and track.references == (1, 7) and track.reference == 7
    assert track.ok.tolist() == [True] * 3 + [False] * 3 + [True] * 3
    assert track.similarity[track.reference] == pytest.approx(np.eye(3)[:2])
    probe = np.array([[60.0, 180.0], [200.0, 230.0]])
    base = motions[track.reference]
    want = np.stack([probe @ m[:, :2].T + m[:, 2] for m in motions])
    got = track.apply(probe @ base[:, :2].T + base[:, 2])  # the probe in base-frame px
    assert np.abs(got - want).max() < 0.3


def _measure(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The similarity [2, 3] taking frame src's px to frame dst's, both given as maps
    from the base frame."""
    s3, d3 = np.vstack([src, [0, 0, 1]]), np.vstack([dst, [0, 0, 1]])
    return (d3 @ np.linalg.inv(s3))[:2]


def test_the_solve_recovers_the_motion_and_outvotes_a_wrong_measurement():
    rng = np.random.default_rng(3)
    truth = [np.eye(3)[:2]] + [_similarity(rng.normal(0, 2), 1 + rng.normal(0, 0.02), *rng.normal(0, 5, 2))
                               for _ in range(7)]
    base, box = 0, np.array([[20.0, 130], [236, 130], [20, 256], [236, 256]])
    edges = [Measurement(r, k, _measure(truth[r], truth[k]), 50.0) for r in (0, 4) for k in range(8) if k != r]
    edges += [Measurement(k - 1, k, _measure(truth[k - 1], truth[k]), 50.0) for k in range(1, 8)]
    sim, residual = solve_motion(8, edges, base, box)
    # exact but for the weak pull of the neighbours' smoothness (SMOOTH_WEIGHT): < 1e-3 px
    assert np.abs(sim - np.stack(truth)).max() < 1e-3 and residual.max() < 1e-3
    wrong = Measurement(0, 5, _measure(truth[0], truth[5]) + [[0, 0, 12.0], [0, 0, -9.0]], 50.0)
    sim, residual = solve_motion(8, edges + [wrong], base, box)
    moved = np.abs(np.einsum("nij,bj->nbi", sim[:, :, :2], box) + sim[:, None, :, 2]
                   - np.einsum("nij,bj->nbi", np.stack(truth)[:, :, :2], box) - np.stack(truth)[:, None, :, 2])
    assert moved.max() < 0.5 and residual[-1] > 10  # the lone 15 px claim is carried by itself


def test_a_frame_no_measurement_reaches_takes_its_neighbours_motion():
    truth = [_similarity(0, 1, 2.0 * k, 0) for k in range(5)]
    box = np.array([[20.0, 130], [236, 130], [20, 256], [236, 256]])
    edges = [Measurement(0, k, _measure(truth[0], truth[k]), 30.0) for k in (1, 3, 4)]
    sim, _ = solve_motion(5, edges, 0, box)
    assert sim[2, 0, 2] == pytest.approx(4.0, abs=0.05)
    assert solve_motion(1, [], 0, box)[0] == pytest.approx(np.eye(3)[None, :2])  # one frame: the base
    assert solve_motion(3, [], 1, box)[0] == pytest.approx(np.tile(np.eye(3)[:2], (3, 1, 1)))  # no data: still


def test_follow_scores_its_motion_against_a_still_torso():
    motions = [_similarity(0.5 * k, 1 + 0.003 * k, 2.0 * k, -1.0 * k) for k in range(6)]
    frames, masks = _clip(motions)
    lm = np.repeat(_landmarks()[None], len(frames), 0)
    track = follow(frames, masks, lm, np.arange(len(frames)))
    assert track.method == "graph" and set(track.agreement) == {"graph", "static"}
    assert track.agreement["graph"] > track.agreement["static"] + 5
    still = replace(track, similarity=np.tile(np.eye(3)[:2], (len(frames), 1, 1)))
    assert torso_agreement(still, frames, masks, lm, np.arange(len(frames))) == pytest.approx(
        track.agreement["static"])
