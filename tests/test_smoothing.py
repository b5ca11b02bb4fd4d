"""One-Euro smoothing: removes jitter at rest, keeps blinks, no lag offline."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from avatarzoo.recipe.models import NoSmoothing, OneEuroSmoothing
from avatarzoo.trackers.mediapipe import SMOOTHING_UNITS
from avatarzoo.trackers.smoothing import one_euro, one_euro_zero_phase, smooth

FPS = 25.0
DEFAULTS = OneEuroSmoothing()


def blink_signal(n: int = 100, at: int = 50, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """An upper-lid coordinate in tracker units (eye corners SMOOTHING_UNITS apart):
    open at 0, a blink drops it by 10% of the eye distance over ~5 frames (200 ms)."""
    depth = 0.10 * SMOOTHING_UNITS
    x = np.zeros(n)
    x[at - 2:at + 3] = depth * np.array([0.35, 0.85, 1.0, 0.8, 0.3])
    return x + np.random.default_rng(seed).normal(0, noise, n)


def test_blink_keeps_its_depth_and_place():
    x = blink_signal()
    y = smooth(x, DEFAULTS, fps=FPS)
    assert np.argmax(y) == np.argmax(x)  # zero phase: no lag
    assert y.max() >= 0.9 * x.max()  # the blink is not smeared away


def test_jitter_at_rest_is_reduced():
    # MediaPipe jitter: ~0.3% of the eye distance per frame.
    x = np.random.default_rng(1).normal(0.0, 0.003 * SMOOTHING_UNITS, 500)
    y = smooth(x, DEFAULTS, fps=FPS)
    assert y.std() < 0.6 * x.std()


def test_forward_filter_lags_and_zero_phase_does_not():
    t = np.arange(200) / FPS
    x = 50 * np.sin(2 * np.pi * 0.5 * t)
    fwd = one_euro(x, fps=FPS, min_cutoff=0.5, beta=0.0)
    both = one_euro_zero_phase(x, fps=FPS, min_cutoff=0.5, beta=0.0)
    lag = lambda y: np.argmax(np.correlate(y[50:150], x[50:150], "full")) - 99  # noqa: E731
    assert lag(fwd) != 0 and lag(both) == 0


def test_none_is_identity():
    x = np.random.default_rng(0).normal(size=(30, 4, 2))
    np.testing.assert_array_equal(smooth(x, NoSmoothing(), fps=FPS), x)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 3)),
              elements=st.floats(-1e3, 1e3)),
       st.floats(0.1, 5.0), st.floats(0.0, 2.0))
def test_output_stays_within_the_input_range(x, min_cutoff, beta):
    # Each step is a convex combination of the input and the previous output.
    y = one_euro_zero_phase(x, fps=FPS, min_cutoff=min_cutoff, beta=beta)
    assert y.shape == x.shape
    assert np.all(y <= x.max(axis=0) + 1e-9) and np.all(y >= x.min(axis=0) - 1e-9)


def test_constant_is_unchanged():
    x = np.full((20, 3), 7.5)
    np.testing.assert_allclose(one_euro_zero_phase(x, fps=FPS, min_cutoff=1.0, beta=0.3), x)
