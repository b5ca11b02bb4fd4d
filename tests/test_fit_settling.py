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


def test_a_fit_with_settling_runs_its_last_steps_at_the_lower_rates(tmp_path):
    recording = synthetic.make_recording(tmp_path, n=24, size=SIZE, holdout=0.25, detail=0.15)
    base = dict(space="synthetic-4", gaussians=200, steps=8, densify_every=2, densify_until=0.5,
                checkpoint_every=0, validation_stride=0)
    models = {}
    for settle in (1.0, 0.1):
        cfg = GaussianRendererConfig(**base, settle_lr=settle)
        model, data, _ = build_model(load_inputs(*recording), cfg, train_size=SIZE, log=lambda s: None)
        fit(model, data, cfg, log=lambda s: None)
        models[settle] = model
    a, b = models[1.0].state_dict(), models[0.1].state_dict()
    assert a.keys() == b.keys()
    assert any(not (a[k] == b[k]).all() for k in a if a[k].shape == b[k].shape)
