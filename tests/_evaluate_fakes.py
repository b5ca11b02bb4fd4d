"""Test stand-ins for the tracker and renderer the evaluate stage drives (never shipped).

The fake renderer paints each expression channel as the grey level of its own square
patch on a smooth background; the fake tracker reads the patches back. So a render that
follows the expression re-tracks to it exactly, and a frozen one re-tracks to a constant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from avatarzoo.spaces.space import ExpressionSpace

SPACE = ExpressionSpace(
    name="test-9",
    dim=9,
    channels=("blink_l", "blink_r", "brow_raise_l", "brow_raise_r", "gaze_x", "gaze_y",
              "mouth_open", "mouth_wide", "jaw_open"),
    regions={"eyes": (0, 1), "brows": (2, 3), "gaze": (4, 5), "mouth": (6, 7), "jaw": (8,)},
)
PATCH = 6  # side of each channel's patch, px; patches sit in a row at the top left


@dataclass
class FakeTracking:
    expression: np.ndarray  # [N, D]
    pose: np.ndarray  # [N, 4, 4]
    landmarks: np.ndarray  # [N, L, 3]
    body: np.ndarray  # [N, B, 2]
    valid: np.ndarray  # [N]
    space: ExpressionSpace = SPACE
    time: np.ndarray = field(default_factory=lambda: np.zeros(0))


def encode(e: np.ndarray) -> np.ndarray:
    return np.clip(128 + 100 * e, 0, 255)


def decode(v: np.ndarray) -> np.ndarray:
    return (v - 128) / 100


class FakeRenderer:
    def __init__(self, size: int = 64, space: ExpressionSpace = SPACE):
        self.size = size
        self.space = space
        yy, xx = np.mgrid[0:size, 0:size] / size
        self._bg = np.stack([60 + 120 * xx, 60 + 120 * yy, 100 + 0 * xx], axis=-1)  # [S, S, 3]

    def render_float(self, expression, pose, body) -> torch.Tensor:  # [B, 3, S, S]
        return self.render(expression, pose, body).permute(0, 3, 1, 2).float() / 255

    def render(self, expression, pose, body) -> torch.Tensor:  # uint8 [B, S, S, 3]
        e = expression.detach().cpu().numpy()
        out = np.broadcast_to(self._bg, (e.shape[0],) + self._bg.shape).copy()
        for d in range(e.shape[1]):
            out[:, 2 : 2 + PATCH, 2 + d * PATCH : 2 + (d + 1) * PATCH] = encode(e[:, d])[:, None, None, None]
        return torch.from_numpy(out.round().astype(np.uint8))


def fake_track(frames, *, fps, reference=None, config=None) -> FakeTracking:
    frames = np.stack(list(frames))
    n, d = frames.shape[0], reference.space.dim
    e = np.stack(
        [decode(frames[:, 3 : PATCH, 3 + k * PATCH : 1 + (k + 1) * PATCH].astype(np.float64).mean(axis=(1, 2, 3)))
         for k in range(d)], axis=1)
    return FakeTracking(
        expression=e.astype(np.float32),
        pose=np.tile(np.eye(4, dtype=np.float32), (n, 1, 1)),
        landmarks=np.tile(reference.landmarks[:1], (n, 1, 1)),
        body=np.zeros((n, 2, 2), np.float32),
        valid=np.ones(n, bool),
        space=reference.space,
    )


def synthetic(n: int = 60, holdout_start: int = 40, size: int = 64, seed: int = 0):
    """(frames uint8 [N, S, S, 3], FakeTracking): blinks and mouth move in the held-out
    window; the brows move in training only (so they are not measurable there)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    e = np.zeros((n, SPACE.dim))
    blink = np.exp(-0.5 * ((t[:, None] - np.array([10, 30, 45, 55])) / 1.2) ** 2).sum(1)
    e[:, 0] = e[:, 1] = blink
    brow = np.exp(-0.5 * ((t - 15) / 3.0) ** 2)
    e[:, 2] = e[:, 3] = brow
    e[:, 4] = 0.3 * np.sin(t / 5)
    e[:, 5] = 0.2 * np.cos(t / 7)
    e[:, 6] = 0.5 + 0.4 * np.sin(t / 2.0)
    e[:, 7] = 0.2 * np.sin(t / 3.0)
    e[:, 8] = 0.8 * e[:, 6]
    e += rng.normal(0, 0.003, e.shape)
    renderer = FakeRenderer(size)
    frames = renderer.render(torch.from_numpy(e).float(), None, None).numpy()
    frames = np.clip(frames + rng.normal(0, 2.0, frames.shape), 0, 255).astype(np.uint8)
    lm = np.zeros((n, 5, 3))
    lm[:, :, 0] = [6, 50, 28, 12, 44]  # around the patches: the face box sees the expression
    lm[:, :, 1] = [4, 4, 14, 24, 24]
    lm[:, :, 0] += np.sin(t / 4)[:, None]
    tracking = FakeTracking(
        expression=e.astype(np.float32),
        pose=np.tile(np.eye(4, dtype=np.float32), (n, 1, 1)),
        landmarks=lm.astype(np.float32),
        body=np.zeros((n, 2, 2), np.float32),
        valid=np.ones(n, bool),
    )
    return frames, tracking
