"""The end of a renderer fit: the learning rates that settle after densification
(`renderer.settle_lr`). On the tiny synthetic subject of test_gaussian.py (48²), CPU."""

from __future__ import annotations

import pydantic
import pytest

from avatarzoo.recipe.models import GaussianRendererConfig
from avatarzoo.renderers.gaussian import synthetic
from avatarzoo.renderers.gaussian.fitting import build_model, load_inputs
from avatarzoo.renderers.gaussian.train import DECAYING, fit, lr_factor

SIZE = 48


def test_settling_learning_rates_fall_from_the_end_of_densification_to_their_floor():
    kw = dict(settle_from=0.6, settle_to=0.1)
    assert [lr_factor(s, 100, "quats", **kw) for s in (0, 30, 60)] == [1.0, 1.0, 1.0]
    assert lr_factor(80, 100, "quats", **kw) == pytest.approx(0.1 ** 0.5)
    assert lr_factor(100, 100, "quats", **kw) == pytest.approx(0.1)
    assert lr_factor(100, 100, "quats") == 1.0  # the default: constant, as in 3DGS
    for name in DECAYING:  # the positions and the deformation keep their own decay
        assert lr_factor(50, 100, name, **kw) == lr_factor(50, 100, name) == pytest.approx(0.1)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_a_settle_factor_outside_0_1_is_refused_by_name(bad):
    with pytest.raises(pydantic.ValidationError, match="settle_lr"):
        GaussianRendererConfig(space="synthetic-4", settle_lr=bad)


def _fit_weights(recording, **kw) -> dict:
    base = dict(space="synthetic-4", gaussians=200, steps=8, densify_every=2, densify_until=0.5,
                checkpoint_every=0, validation_stride=0)
    cfg = GaussianRendererConfig(**{**base, **kw})
    model, data, _ = build_model(load_inputs(*recording), cfg, train_size=SIZE, log=lambda s: None)
    fit(model, data, cfg, log=lambda s: None)
    return model.state_dict()


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and bool((a[k] == b[k]).all()) for k in a)


def test_settling_changes_a_fit_only_after_densification(tmp_path):
    recording = synthetic.make_recording(tmp_path, n=24, size=SIZE, holdout=0.25, detail=0.15)
    plain = _fit_weights(recording)
    assert _same(plain, _fit_weights(recording, settle_lr=1.0))  # the default is 1: unchanged
    assert not _same(plain, _fit_weights(recording, settle_lr=0.1))  # its last 4 steps settle
    # densifying to the last step leaves no steps to settle: bit for bit the plain fit
    to_end = _fit_weights(recording, densify_until=1.0)
    assert _same(to_end, _fit_weights(recording, densify_until=1.0, settle_lr=0.1))
