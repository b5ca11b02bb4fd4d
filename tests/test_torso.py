"""The optical-flow torso track (trackers/torso.py): known similarities of a textured
torso are recovered, body points follow them exactly, lost frames are interpolated or
chained frame to frame, the motion that explains the torso's pixels is kept, and a torso
without corners is refused (the Pose body stays)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dataclasses import replace

from avatarzoo.trackers.torso import (FrameSteps, body_from_torso, fill_by_chaining, follow, torso_agreement,
                                       track_torso)

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
    track = follow(frames, masks, lm, noisy, np.arange(len(frames)))
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


def test_lost_runs_are_chained_frame_to_frame():
    """A run of lost frames in an accelerating motion: interpolation misses it, the
    chain from both ends finds it."""
    motions = [_similarity(0.3 * k, 1.0, 0.5 * k * k, 0.2 * k) for k in range(7)]
    frames, masks = _clip(motions)
    lm = np.repeat(_landmarks()[None], len(frames), 0)
    track = track_torso(frames, masks, lm, reference=0)
    assert track.ok.all()
    lost = np.ones(len(frames), bool)
    lost[2:5] = False
    interpolated = track_torso(frames[lost], masks[lost], lm[lost], reference=0)  # frames 0 1 5 6
    sim = np.array(track.similarity)
    t = np.arange(len(frames))
    for i in range(2):
        for j in range(3):
            sim[:, i, j] = np.interp(t, t[lost], interpolated.similarity[:, i, j])
    filled = fill_by_chaining(replace(track, similarity=sim, ok=lost), FrameSteps(frames, masks, lm))
    assert filled.method == "reference, gaps chained" and filled.ok.all()
    probe = np.array([[60.0, 180.0], [200.0, 230.0]])
    want = np.stack([probe @ m[:, :2].T + m[:, 2] for m in motions])
    assert np.abs(replace(track, similarity=sim).apply(probe) - want)[2:5].max() > 1.0
    assert np.abs(filled.apply(probe) - want).max() < 0.3


def test_follow_keeps_the_motion_that_explains_the_torso():
    motions = [_similarity(0.5 * k, 1 + 0.003 * k, 2.0 * k, -1.0 * k) for k in range(6)]
    frames, masks = _clip(motions)
    lm = np.repeat(_landmarks()[None], len(frames), 0)
    track = follow(frames, masks, lm, np.zeros((len(frames), 2, 2)), np.arange(len(frames)))
    assert track.method == "reference"
    assert set(track.agreement) == {"reference", "chained", "static"}
    assert track.agreement["reference"] > track.agreement["static"] + 5
    still = replace(track, similarity=np.tile(np.eye(3)[:2], (len(frames), 1, 1)))
    assert torso_agreement(still, frames, masks, lm, np.arange(len(frames))) == pytest.approx(
        track.agreement["static"])
