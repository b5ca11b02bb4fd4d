"""The landmark-motion prior (renderers/gaussian/landmark_motion.py) on the tiny synthetic
subject (renderers.gaussian.synthetic): the regression, the anchors, the model term, and
a fit → runtime round trip."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from avatarzoo.recipe.models import GaussianRendererConfig
from avatarzoo.renderers.gaussian import init as ini
from avatarzoo.renderers.gaussian import synthetic
from avatarzoo.renderers.gaussian.fitting import build_model, load_inputs
from avatarzoo.renderers.gaussian.landmark_motion import MotionAnchors, landmark_offsets, motion_basis
from avatarzoo.renderers.gaussian.gates import GateField
from avatarzoo.renderers.gaussian.train import densify_and_prune, make_optimizer
from avatarzoo.stages.context import StageContext

SIZE = 48


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    return synthetic.make_recording(tmp_path_factory.mktemp("syn"), n=12, size=SIZE, holdout=0.25, detail=0.15)


def _cfg(**kw) -> GaussianRendererConfig:
    base = dict(space="synthetic-4", gaussians=400, steps=8, densify_every=4, checkpoint_every=4,
                landmark_motion=True)
    return GaussianRendererConfig(**{**base, **kw})


def test_the_regression_finds_what_each_channel_moves(recording):
    """Only the lower lip moves with jaw_open on the synthetic subject, and nothing with
    the other channels' noise: channel 0's basis is large there and ~0 elsewhere."""
    d = load_inputs(*recording)
    _, group = ini.channel_groups(d["space"])
    pose = d["pose"].astype(np.float64)
    basis, center = motion_basis(d["expression"], d["landmarks"], pose, d["K"].astype(np.float64),
                                 d["canonical"].astype(np.float64), pose[0], group >= 0)
    assert basis.shape == (4, 478, 3) and center.shape == (4,)
    reach = np.linalg.norm(basis[0], axis=-1)  # [L]
    moving = list(ini.LIPS[:10])
    still = np.setdiff1d(np.arange(478), moving)
    assert reach[moving].mean() > 5 * reach[still].mean()
    assert np.allclose(center, d["expression"].mean(0), atol=1e-5)


def test_listed_regions_keep_only_their_channels_motion(recording):
    """`landmark_motion: [eyes, cheeks]`: the regression still takes every used channel,
    only the eyes' row survives (synthetic-4 has no cheeks: logged, not an error)."""
    d = load_inputs(*recording)
    logged = []
    every, _, _ = build_model(d, _cfg(), train_size=SIZE, log=logged.append)
    eyes, _, _ = build_model(d, _cfg(landmark_motion=["eyes", "cheeks"]), train_size=SIZE, log=logged.append)
    assert eyes.motion_basis[[0, 2, 3]].abs().sum() == 0  # mouth, brows, (skipped) residual
    assert torch.allclose(eyes.motion_basis[1], every.motion_basis[1])  # the eyes' own share
    assert every.motion_basis[0].abs().sum() > 0
    assert any("landmark_motion names 'cheeks'" in line for line in logged)


def test_anchors_blend_near_landmarks_and_are_zero_far_away():
    lm = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]])
    field = GateField(lm, torch.ones(3, 1), radius=0.5)
    index, weight = MotionAnchors(field, k=2)(torch.tensor([[0.0, 0, 0], [0.1, 0, 0], [5.0, 5, 5]]))
    assert index[0, 0] == 0 and torch.isclose(weight[0].sum(), torch.tensor(1.0))
    assert 0 < weight[1].sum() < 1 and weight[1, 0] > weight[1, 1]  # falloff; nearer weighs more
    assert weight[2].abs().sum() == 0  # beyond the radius: never moved


def test_offsets_are_the_blended_landmark_motion():
    basis = torch.zeros(2, 3, 3)
    basis[0, 1] = torch.tensor([1.0, 2.0, 0.0])  # channel 0 moves landmark 1
    index = torch.tensor([[1, 0], [2, 0]])
    weight = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    e = torch.tensor([[1.0, 0.0], [0.5, 0.0]])  # the second frame sits at the centre
    off = landmark_offsets(e, basis, torch.tensor([0.5, 0.0]), index, weight)
    assert off.shape == (2, 2, 3)
    assert torch.allclose(off[0, 0], torch.tensor([0.25, 0.5, 0.0])) and off[0, 1].abs().sum() == 0
    assert off[1].abs().sum() == 0


def test_the_model_moves_face_gaussians_with_the_landmarks_and_densify_keeps_anchors(recording):
    d = load_inputs(*recording)
    model, data, _ = build_model(d, _cfg(), train_size=SIZE, log=lambda s: None)
    assert model.motion_landmarks == 478 and data.motion_anchors is not None
    centre = model.motion_center[None].clone()
    pose = torch.as_tensor(d["pose"][:1])
    body = torch.as_tensor(d["body"][:1])
    rest = model.gaussians(centre, pose, body)["means"]
    jaw = centre.clone()
    jaw[0, 0] += 1.0
    moved = (model.gaussians(jaw, pose, body)["means"] - rest).norm(dim=-1)[0]  # [N]
    anchored = model.motion_weight.sum(1) > 0
    assert moved[anchored].max() > 0 and moved[~anchored].max() < 1e-6
    opt = make_optimizer(model, 1.0)
    n = model.n
    densify_and_prune(model, opt, torch.rand(n), torch.ones(n), n + 5, torch.Generator().manual_seed(0))
    assert model.motion_index.shape[0] == model.motion_weight.shape[0] == model.n == n + 5


def test_a_fitted_prior_travels_to_the_runtime(recording, tmp_path):
    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer
    from avatarzoo.renderers.gaussian.stage import run

    out = tmp_path / "out"
    out.mkdir()
    ctx = StageContext(recipe=SimpleNamespace(renderer=_cfg()), recipe_dir=tmp_path,
                       inputs={"ingest": recording[0], "track": recording[1]}, out=out,
                       scratch=tmp_path / "scratch", log=logging.getLogger("test"))
    run(ctx)
    assert json.loads((out / "renderer.json").read_text())["shapes"]["motion_basis"] == [4, 478, 3]
    r = GaussianRenderer.from_dir(out)
    assert r.model.motion_landmarks == 478 and r.model.motion_basis.abs().sum() > 0
    d = load_inputs(*recording)
    e, p, b = (torch.as_tensor(d[k][:2]) for k in ("expression", "pose", "body"))
    assert r.render(e, p, b).shape == (2, SIZE, SIZE, 3)


def test_no_code_moves_a_gaussian_past_the_position_bound(recording):
    d = load_inputs(*recording)
    model, _, _ = build_model(d, _cfg(), train_size=SIZE, log=lambda s: None)
    extreme = model.motion_center[None].clone()
    extreme[0, 0] += 1e4  # far past anything tracked
    delta = model.deformation(extreme)[0, :, :3]
    bound = GaussianRendererConfig().expression_limits.position
    assert delta.abs().max() <= bound and model.deformation(extreme, bounded=False)[0, :, :3].abs().max() > bound


def test_a_corrupt_prior_in_a_bundle_is_a_bundle_error(recording, tmp_path):
    from safetensors.torch import load_file

    from avatarzoo.errors import BundleError
    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer
    from avatarzoo.renderers.gaussian.stage import run

    out = tmp_path / "out"
    out.mkdir()
    ctx = StageContext(recipe=SimpleNamespace(renderer=_cfg(steps=2)), recipe_dir=tmp_path,
                       inputs={"ingest": recording[0], "track": recording[1]}, out=out,
                       scratch=tmp_path / "scratch", log=logging.getLogger("test"))
    run(ctx)
    config = json.loads((out / "renderer.json").read_text())
    tensors = load_file(str(out / "renderer.safetensors"))
    bad_index = {**tensors, "motion_index": tensors["motion_index"] + 478}
    with pytest.raises(BundleError, match="motion_index points outside"):
        GaussianRenderer.from_tensors(bad_index, config)
    with pytest.raises(BundleError, match="do not fit"):
        GaussianRenderer.from_tensors({**tensors, "motion_basis": tensors["motion_basis"].flatten()}, config)
