"""The driver's signal pipeline: frame energy, speech activity, level normalisation
and the grid <-> video map, streamed exactly as offline, and blind to the input gain."""

from __future__ import annotations

import numpy as np
import pytest

from avatarzoo.drivers.pipeline import (
    Activity, EnergyStream, LevelNorm, frame_energy_db, sample_at, video_positions,
)


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Bursts of a 150 Hz buzz (syllables) with pauses, over faint noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    envelope = (np.sin(2 * np.pi * 2.5 * t) > 0.2) * (t % 2 < 1.4)
    return (0.2 * envelope * np.sign(np.sin(2 * np.pi * 150 * t)) + 0.002 * rng.standard_normal(len(t))).astype(np.float32)


def test_energy_of_a_full_scale_square_is_0_db_and_silence_is_the_floor():
    square = np.sign(np.sin(np.arange(16000) * 0.37 + 0.1)).astype(np.float32)
    e = frame_energy_db(square)
    assert len(e) == 100 and abs(float(np.median(e[3:]))) < 0.1
    assert float(frame_energy_db(np.zeros(1600)).max()) == pytest.approx(-100, abs=0.01)


@pytest.mark.parametrize("sizes", [[640] * 25, [1, 159, 1000, 7, 5000, 9833], [16000]])
def test_energy_stream_equals_offline(sizes):
    audio = _speechlike(1.0)
    s = EnergyStream()
    parts, i = [], 0
    for n in sizes:
        parts.append(s.push(audio[i:i + n]))
        i += n
    np.testing.assert_allclose(np.concatenate(parts), frame_energy_db(audio), atol=1e-9)


def test_activity_follows_speech_and_ignores_the_gain():
    audio = _speechlike(4.0)
    act = Activity()(frame_energy_db(audio))
    quiet = Activity()(frame_energy_db(audio * 0.05))  # 26 dB quieter
    t = np.arange(len(act)) / 100
    pause = (t % 2 > 1.7) & (t % 2 < 1.95) & (t > 1)  # from 0.3 s after the last burst
    burst = (np.sin(2 * np.pi * 2.5 * (t - 0.05)) > 0.5) & (t % 2 < 1.35) & (t > 1)
    assert act[burst].mean() > 0.9 and act[pause].mean() < 0.1
    assert np.abs(act[t > 1] - quiet[t > 1]).mean() < 0.05  # the running level follows the input
    assert Activity()(frame_energy_db(np.zeros(16000))).max() == 0.0


def test_activity_streamed_equals_offline():
    e = frame_energy_db(_speechlike(3.0))
    whole = Activity()(e)
    a = Activity()
    np.testing.assert_array_equal(np.concatenate([a(e[:37]), a(e[37:38]), a(e[38:])]), whole)


def test_level_norm_removes_a_gain_on_the_level_dims_only():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(1500, 4)).astype(np.float32)
    act = np.ones(1500, np.float32)
    ref = f[:, :2].mean(0)
    a = LevelNorm((0, 1), ref)(f, act)
    b = LevelNorm((0, 1), ref)(f + np.array([3.0, -2.0, 5.0, 0.0], np.float32), act)  # a gain: +3 / -2 on the log dims
    assert np.abs(a[1200:, :2] - b[1200:, :2]).max() < 0.01  # forgotten after 6 time constants (2 s)
    np.testing.assert_allclose(b[:, 2], f[:, 2] + 5.0)  # a dim that is not a level dim is left alone
    half = LevelNorm((0, 1), ref)
    np.testing.assert_allclose(np.concatenate([half(f[:250], act[:250]), half(f[250:], act[250:])]), a, atol=1e-6)


def test_video_positions_put_frame_k_at_its_time_plus_the_lookahead():
    pos = video_positions(3, 25.0, lookahead=6)
    np.testing.assert_allclose(pos, [5.0, 9.0, 13.0])  # t = 0, 0.04, 0.08 s: output j predicts (j + 1 - L) / 100
    v = np.arange(10, dtype=np.float64)[:, None] * [1.0, 2.0]
    np.testing.assert_allclose(sample_at(v, np.array([0.5, 8.25, 20.0])), [[0.5, 1.0], [8.25, 16.5], [9.0, 18.0]])
