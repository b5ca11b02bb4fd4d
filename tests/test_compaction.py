"""Compaction after the fit (`renderer.compact_below`, renderers/gaussian/compaction.py):
blending weights, dropping the Gaussians no frame shows, and the fit's summary. On the
tiny synthetic subject of test_gaussian.py (48²), CPU, the PyTorch rasterizer (whose
gradients tests/test_rasterizer.py holds to a dense per-pixel oracle)."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
import torch

from avatarzoo.recipe.models import GaussianRendererConfig
from avatarzoo.renderers.gaussian import synthetic
from avatarzoo.renderers.gaussian.compaction import blend_weights, compact_, frame_weights
from avatarzoo.renderers.gaussian.fitting import build_model, compact, load_inputs
from avatarzoo.renderers.gaussian.train import fit

SIZE = 48


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A fitted model and its TrainData, 40 frames (a validation slice of 12)."""
    rec = synthetic.make_recording(tmp_path_factory.mktemp("syn"), n=40, size=SIZE, holdout=0.25, detail=0.15)
    cfg = GaussianRendererConfig(space="synthetic-4", gaussians=300, steps=12, densify_every=4,
                                 checkpoint_every=0, validation_stride=2, validation_interval=6)
    model, data, _ = build_model(load_inputs(*rec), cfg, train_size=SIZE, log=lambda s: None)
    fit(model, data, cfg, log=lambda s: None)
    return model, data, cfg


def _frames(data, rows):
    b = data.batch(np.asarray(rows), "cpu")
    return b["expression"], b["pose"], b["body"]


def test_a_frames_weights_add_up_to_its_rendered_alpha(fitted):
    """Σ over Gaussians of T·α at a pixel is the pixel's alpha: the weights partition it."""
    model, data, _ = fitted
    e, p, b = _frames(data, data.train_idx[:3])
    w = frame_weights(model, e, p, b, SIZE, backend="torch")  # [3, N]
    with torch.no_grad():
        _, alpha, _ = model(e, p, b, size=SIZE, backend="torch")
    assert w.shape == (3, model.n) and bool((w >= 0).all())
    assert torch.allclose(w.sum(-1), alpha.flatten(1).sum(-1), rtol=1e-4)


def test_an_invisible_gaussian_paints_nothing_and_dropping_it_changes_no_pixel(fitted):
    model, data, _ = fitted
    m = _copy(model)
    e, p, b = _frames(data, data.train_idx[:4])
    with torch.no_grad():
        m.opacity_logits[:5] = -30.0  # five Gaussians made invisible
        before, _, _ = m(e, p, b, size=SIZE, backend="torch")
    w = blend_weights(m, lambda rows: data.batch(rows, "cpu"), data.train_idx, SIZE, backend="torch")
    assert float(w[:5].max()) < 1e-9 and float(w[5:].max()) > 0.1
    keep = w > 1e-6
    n = m.n
    assert compact_(m, keep) == int((~keep).sum()) >= 5 and m.n == n - int((~keep).sum())
    with torch.no_grad():
        after, _, _ = m(e, p, b, size=SIZE, backend="torch")
    assert torch.allclose(before, after, atol=1e-6)  # every per-Gaussian tensor stayed aligned
    assert all(getattr(m, k).shape[0] == m.n for k in m.per_gaussian_buffers())


def test_a_malformed_keep_mask_is_refused(fitted):
    model = _copy(fitted[0])
    with pytest.raises(ValueError, match="bool"):
        compact_(model, torch.ones(model.n))
    with pytest.raises(ValueError, match=f"\\[{model.n}\\]"):
        compact_(model, torch.ones(model.n + 1, dtype=torch.bool))


def test_the_fit_drops_what_paints_under_the_threshold_and_scores_it(fitted):
    model, data, cfg = _copy(fitted[0]), fitted[1], fitted[2]
    assert len(data.val_idx)
    every = np.union1d(data.train_idx, data.val_idx)
    w = blend_weights(model, lambda rows: data.batch(rows, "cpu"), every, SIZE, backend="torch")
    ppm = float(w.median()) / SIZE ** 2 * 1e6  # half the Gaussians paint less than this
    lines = []
    out = compact(model, data, cfg.model_copy(update={"compact_below": ppm}), device="cpu",
                  log=lines.append, progress=lambda it, **kw: it)
    assert out["compacted"] == int((w < out["compact_below_px"]).sum()) > 0
    assert model.n == out["n_gaussians"] == int((w >= out["compact_below_px"]).sum())
    assert out["compact_below_px"] == pytest.approx(ppm * 1e-6 * SIZE ** 2)
    assert np.isfinite(out["validation_before_compaction"]) and np.isfinite(out["validation_after_compaction"])
    assert "compaction: dropped" in lines[0] and f"every one of {len(every)} training frames" in lines[0]


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_a_threshold_that_is_not_positive_is_refused_by_name(bad):
    with pytest.raises(pydantic.ValidationError, match="compact_below"):
        GaussianRendererConfig(space="synthetic-4", compact_below=bad)
    assert GaussianRendererConfig(space="synthetic-4", compact_below=None).compact_below is None


def _copy(model):
    import copy

    return copy.deepcopy(model)


def test_the_card_says_how_many_gaussians_and_what_compaction_dropped():
    from avatarzoo.bundle.stage import renderer_line

    config = {"kind": "gaussian", "size": 512, "n_gaussians": 110425,
              "fit": {"compacted": 39508, "validation_before_compaction": 33.134,
                      "validation_after_compaction": 33.117}}
    assert renderer_line(config) == ("gaussian, 110,425 Gaussians at 512² (39,508 that no training frame"
                                     " showed were dropped; validation PSNR 33.13 → 33.12 dB)")
    assert renderer_line({"kind": "gaussian", "size": 128, "n_gaussians": 6000, "fit": {}}) == \
        "gaussian, 6,000 Gaussians at 128²"
    assert renderer_line({"kind": "gaussian"}) == ""  # says nothing it does not know
