"""The learned linear map between expression spaces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avatarzoo.errors import InputError, SpaceError
from avatarzoo.spaces import ExpressionSpace, get_space
from avatarzoo.spaces.linear_map import OVERALL, LinearMap, fit_linear_map

SOURCE = ExpressionSpace(
    name="src-6",
    dim=6,
    channels=tuple(f"s{i}" for i in range(6)),
    regions={"residual": tuple(range(6))},
)
TARGET = ExpressionSpace(
    name="tgt-4",
    dim=4,
    channels=("m0", "m1", "e0", "flat"),
    regions={"mouth": (0, 1), "eyes": (2,), "residual": (3,)},
)


def _paired(
    n: int, noise: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Smooth source codes (like tracked motion) on very different scales, and a known
    affine target plus noise. The last target channel is constant."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    x = np.sin(t / rng.uniform(5, 40, size=6) + rng.uniform(0, 6, size=6)) * [1, 10, 0.1, 3, 1, 100]
    x = x + rng.normal(size=x.shape) * 0.3 * np.array([1, 10, 0.1, 3, 1, 100])
    weight = rng.normal(size=(6, 4)) / np.array([1, 10, 0.1, 3, 1, 100])[:, None]
    weight[:, 3] = 0
    bias = np.array([0.5, -1.0, 2.0, 7.0])
    y = x @ weight + bias + rng.normal(size=(n, 4)) * noise * [1, 1, 1, 0]
    return x, y, weight, bias


def test_recovers_a_known_linear_relation_with_noise() -> None:
    noise = 0.5
    x, y, weight, bias = _paired(2000, noise=noise)
    m = fit_linear_map(x, y, source_space=SOURCE, target_space=TARGET, ridge=1e-4)
    scale = x.std(0)[:, None]  # compare the effect of a one-sd change of each input
    np.testing.assert_allclose(m.weight * scale, weight * scale, atol=0.05)
    np.testing.assert_allclose(m.bias, bias, atol=0.1)
    report = m.report
    assert report is not None and (report.n_train, report.n_holdout) == (1600, 400)
    # A perfect map leaves only the noise: R² = 1 - noise variance / target variance.
    tail = y[1600:]
    for region, idx in (("mouth", [0, 1]), ("eyes", [2])):
        ideal = 1 - noise**2 * len(idx) * 400 / np.sum((tail[:, idx] - tail[:, idx].mean(0)) ** 2)
        assert report.r2_holdout[region] == pytest.approx(ideal, abs=0.03), region
        assert ideal < 0.995  # the noise is visible in the score
    assert report.r2_holdout["residual"] is None  # constant channel: R² undefined
    assert report.summary().startswith("R² on the held-out last 400 frames: overall 0.")


def test_r2_reports_a_poor_fit_when_there_is_no_relation() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(500, 6)), rng.normal(size=(500, 4))
    m = fit_linear_map(x, y, source_space=SOURCE, target_space=TARGET, ridge=1e-3)
    assert m.report is not None
    assert m.report.r2_holdout[OVERALL] < 0.05
    assert m.report.r2_train[OVERALL] < 0.1


def test_holdout_is_the_tail_and_the_map_is_refitted_on_all_frames() -> None:
    x, y, _, _ = _paired(300, noise=0.1)
    y_shifted = y.copy()
    y_shifted[-60:, 0] += 5.0  # the tail behaves differently
    m = fit_linear_map(x, y_shifted, source_space=SOURCE, target_space=TARGET, ridge=1e-3)
    assert m.report is not None and m.report.r2_holdout["mouth"] < 0.5  # the tail was not seen
    full = fit_linear_map(
        x, y_shifted, source_space=SOURCE, target_space=TARGET, ridge=1e-3, holdout=0
    )
    np.testing.assert_allclose(m.weight, full.weight, rtol=1e-5, atol=1e-6)
    assert (
        full.report is not None
        and full.report.n_holdout == 0
        and "in-sample" in full.report.summary()
    )


def test_ridge_shrinks_and_handles_collinear_inputs() -> None:
    x, y, _, _ = _paired(400, noise=0.05)
    x = np.concatenate([x[:, :5], x[:, :1]], axis=1)  # channel 5 duplicates channel 0
    loose = fit_linear_map(x, y, source_space=SOURCE, target_space=TARGET, ridge=0.0)
    heavy = fit_linear_map(x, y, source_space=SOURCE, target_space=TARGET, ridge=10.0)
    assert np.all(np.isfinite(loose.weight))
    np.testing.assert_allclose(
        loose.weight[0], loose.weight[5], rtol=1e-4, atol=1e-6
    )  # min-norm split
    assert (
        np.abs(heavy.weight * x.std(0)[:, None]).sum()
        < np.abs(loose.weight * x.std(0)[:, None]).sum()
    )


def test_apply_shapes_and_constant_source_channels() -> None:
    x, y, _, _ = _paired(200, noise=0.0)
    x[:, 2] = 4.0  # constant channel gets no weight and does not break the fit
    m = fit_linear_map(x, y, source_space=SOURCE, target_space=TARGET, ridge=1e-6)
    np.testing.assert_array_equal(m.weight[2], 0)
    out = m.apply(x[:7])
    assert out.shape == (7, 4) and out.dtype == np.float32
    with pytest.raises(
        ValueError, match=r"x: expected \[N, 6\] codes in 'src-6', got shape \[7, 5\]"
    ):
        m.apply(x[:7, :5])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 1.0))
def test_affine_relations_are_recovered_exactly_without_noise(
    seed: int, ridge_scale: float
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 6)) * rng.uniform(0.01, 100, size=6)
    y = x @ rng.normal(size=(6, 4)) + rng.normal(size=4)
    m = fit_linear_map(x, y, source_space=SOURCE, target_space=TARGET, ridge=1e-9 * ridge_scale)
    np.testing.assert_allclose(m.apply(x), y, rtol=1e-4, atol=1e-4 * np.abs(y).max())


def test_round_trips_through_safetensors(tmp_path: Path) -> None:
    x, y, _, _ = _paired(200, noise=0.05)
    m = fit_linear_map(x, y, source_space=SOURCE, target_space=TARGET, ridge=1e-3)
    m.save(tmp_path / "map.safetensors")
    back = LinearMap.load(tmp_path / "map.safetensors")
    np.testing.assert_array_equal(back.weight, m.weight)
    np.testing.assert_array_equal(back.bias, m.bias)
    assert (back.source, back.target, back.report) == (m.source, m.target, m.report)
    tensors, metadata = m.to_tensors(prefix="space_map.")
    assert set(tensors) == {"space_map.weight", "space_map.bias"}
    assert set(metadata) == {"space_map.avatarzoo.space_map"}
    assert tensors["space_map.weight"].dtype == np.float32
    again = LinearMap.from_tensors(tensors, metadata, prefix="space_map.")
    np.testing.assert_array_equal(again.apply(x), m.apply(x))
    with pytest.raises(SpaceError, match="unreadable"):
        LinearMap.from_tensors(tensors, {}, prefix="space_map.")


def test_registered_spaces_by_name() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(100, 79))
    y = x[:, :52] * 0.5
    m = fit_linear_map(x, y, source_space="bfm-79", target_space="arkit-52", ridge=1e-3)
    assert (m.source, m.target) == (get_space("bfm-79"), get_space("arkit-52"))
    assert set(m.report.r2_holdout) == {*get_space("arkit-52").regions, OVERALL}


def test_input_errors() -> None:
    x, y, _, _ = _paired(50, noise=0.0)
    with pytest.raises(
        SpaceError, match=r"source: shape \[50, 5\], but space 'src-6' has 6 channels"
    ):
        fit_linear_map(x[:, :5], y, source_space=SOURCE, target_space=TARGET, ridge=0)
    with pytest.raises(InputError, match="source has 50 frames, target 40"):
        fit_linear_map(x, y[:40], source_space=SOURCE, target_space=TARGET, ridge=0)
    x_nan = x.copy()
    x_nan[17, 2] = np.nan
    with pytest.raises(InputError, match="source: frame 17 holds a non-finite value"):
        fit_linear_map(x_nan, y, source_space=SOURCE, target_space=TARGET, ridge=0)
    with pytest.raises(InputError, match="too few"):
        fit_linear_map(x[:5], y[:5], source_space=SOURCE, target_space=TARGET, ridge=0)
