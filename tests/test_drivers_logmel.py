"""LogMel: bands, energy, pitch and periodicity on signals whose answer is known, the
vectorised path against the frame-by-frame reference, and causality."""

from __future__ import annotations

import numpy as np
import pytest

from avatarzoo.drivers.features.logmel import F0_DEFAULT, LogMel, logmel_reference, mel_centres

SR = 16_000
M = 40
ENERGY, LOG_F0, PERIODICITY = M, M + 1, M + 2


def _tone(f: float, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    return amp * np.sin(2 * np.pi * f * np.arange(int(SR * seconds)) / SR)


def _vowel(f0: float, seconds: float = 1.0, formants=(700, 1200, 2600)) -> np.ndarray:
    """A harmonic tone shaped like a vowel: harmonics of f0 weighted by formant peaks."""
    t = np.arange(int(SR * seconds)) / SR
    x = np.zeros_like(t)
    for k in range(1, int(7000 // f0) + 1):
        gain = sum(1.0 / (1.0 + ((k * f0 - fm) / 120.0) ** 2) for fm in formants) + 0.05
        x += gain * np.sin(2 * np.pi * k * f0 * t + 0.7 * k)
    return 0.3 * x / np.abs(x).max()


@pytest.mark.parametrize("band", [3, 12, 25, 37])
def test_a_pure_tone_lands_in_its_mel_band(band):
    f = mel_centres(M)[band]
    y = LogMel(M)(_tone(f))
    assert (y[5:, :M].argmax(axis=1) == band).all()
    # dB RMS of a sine of amplitude 0.5: 10 log10(0.5^2 / 2)
    assert np.median(y[5:, ENERGY]) == pytest.approx(10 * np.log10(0.125), abs=0.1)


@pytest.mark.parametrize("f0", [120.0, 220.0])
def test_pitch_of_a_harmonic_tone(f0):
    y = LogMel(M)(_vowel(f0))
    est = np.exp(y[4:, LOG_F0])  # from frame 4 on, the 40 ms pitch window is all tone
    assert np.abs(est / f0 - 1).max() < 0.03
    assert np.abs(np.median(est) / f0 - 1) < 0.005
    assert y[4:, PERIODICITY].min() > 0.9


def test_periodicity_is_low_on_white_noise():
    noise = np.random.default_rng(0).normal(0, 0.1, SR)
    p = LogMel(M)(noise)[4:, PERIODICITY]
    assert np.median(p) < 0.3 and np.percentile(p, 95) < 0.4


def test_silence_is_the_floor():
    y = LogMel(M)(np.zeros(SR))
    assert y.shape == (100, M + 3)
    np.testing.assert_array_equal(y[:, :M], np.float32(np.log(1e-6)))
    np.testing.assert_array_equal(y[:, ENERGY], np.float32(-100.0))
    np.testing.assert_array_equal(y[:, PERIODICITY], 0.0)
    np.testing.assert_array_equal(y[:, LOG_F0], np.float32(np.log(F0_DEFAULT)))


def test_unvoiced_frames_carry_the_last_voiced_pitch():
    x = np.concatenate([_vowel(180.0, 0.5), np.random.default_rng(1).normal(0, 0.05, SR // 2)])
    y = LogMel(M)(x)
    noise = y[60:, :]  # from 40 ms into the noise on
    assert (noise[:, PERIODICITY] < 0.5).all()
    np.testing.assert_allclose(np.exp(noise[:, LOG_F0]), 180.0, rtol=0.01)


def _mixed(seconds_each=0.3):
    rng = np.random.default_rng(2)
    n = int(SR * seconds_each)
    return np.concatenate([np.zeros(n // 2), _vowel(140, seconds_each), rng.normal(0, 0.05, n),
                           _vowel(260, seconds_each) * np.linspace(0, 1, n), np.zeros(333)])


@pytest.mark.parametrize("prosody", [True, False])
def test_vectorised_equals_the_frame_by_frame_reference(prosody):
    x = _mixed()
    fast = LogMel(M, prosody=prosody)(x)
    ref = logmel_reference(x, M, prosody=prosody)
    assert fast.shape == ref.shape == (len(x) // 160, M + 3 * prosody)
    # float64 in both (batched vs per-frame FFTs differ in the last bits), float32 out
    np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-5)


def test_causal_frame_j_depends_only_on_audio_before_its_window_end():
    x = _mixed()
    y = LogMel(M)(x)
    cut = 160 * 57 + 23
    x2 = x.copy()
    x2[cut:] = np.random.default_rng(3).normal(0, 0.3, len(x) - cut)
    y2 = LogMel(M)(x2)
    last_unchanged = cut // 160  # frames j with 160 (j + 1) <= cut
    np.testing.assert_array_equal(y[:last_unchanged], y2[:last_unchanged])
    assert not np.allclose(y[last_unchanged], y2[last_unchanged])


@pytest.mark.parametrize("chunk", [1, 159, 320, 640, 1001, 16000])
def test_streaming_in_any_chunks_equals_offline(chunk):
    x = _mixed()
    ex = LogMel(M)
    s = ex.stream()
    parts = [s.push(x[i:i + chunk]) for i in range(0, len(x), chunk)]
    # lookahead 0: after each push, every frame whose window end arrived is out
    done = np.cumsum([len(p) for p in parts])
    assert list(done) == [min(i + chunk, len(x)) // 160 for i in range(0, len(x), chunk)]
    parts.append(s.flush())
    np.testing.assert_allclose(np.concatenate(parts), ex(x), rtol=1e-6, atol=1e-5)
    with pytest.raises(ValueError, match="flushed"):
        s.push(x[:10])


def test_inputs_are_checked():
    ex = LogMel(M)
    for bad in [np.zeros((2, 1600)), np.zeros(1600, np.int16), np.array([0.0, np.nan, 0.0])]:
        with pytest.raises(ValueError, match="audio"):
            ex(bad)
    with pytest.raises(ValueError, match="chunk"):
        ex.stream().push(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="n_mels"):
        LogMel(0)
