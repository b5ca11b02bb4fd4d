"""What the expression may not do (issue 14): gates that are 0 away from the face and
follow the Gaussians, bounded offsets, no needles (axis limits, the needle count), and
a validation slice of the training frames that the optimiser never sees.

On the tiny synthetic subject of test_gaussian.py (48²), in seconds on CPU."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avatarzoo.recipe.models import GaussianRendererConfig
from avatarzoo.renderers.gaussian import synthetic
from avatarzoo.renderers.gaussian.fitting import build_model, load_inputs
from avatarzoo.renderers.gaussian.gates import GateField
from avatarzoo.renderers.gaussian.needles import footprint_axes, needle_count, needle_mask
from avatarzoo.renderers.gaussian.sampling import frame_batch
from avatarzoo.renderers.gaussian.train import (
    VALIDATION_BLOCK,
    fit,
    limit_scales_,
    validation_psnr,
    validation_split,
)

SIZE = 48


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    # 40 frames: 30 training frames, enough for two validation blocks of 12
    root = tmp_path_factory.mktemp("syn")
    return synthetic.make_recording(root, n=40, size=SIZE, holdout=0.25, detail=0.15)


def _cfg(**kw) -> GaussianRendererConfig:
    base = dict(space="synthetic-4", gaussians=300, steps=6, densify_every=3, checkpoint_every=0,
                validation_stride=2, validation_interval=2)
    return GaussianRendererConfig(**{**base, **kw})


def _model(recording, **kw):
    d = load_inputs(*recording)
    model, data, _ = build_model(d, _cfg(**kw), train_size=SIZE, log=lambda s: None)
    return model, data, d


# --- gates ---------------------------------------------------------------------------


def test_gate_falls_to_exactly_zero_at_the_radius():
    field = GateField(torch.tensor([[0.0, 0, 0], [10.0, 0, 0]]), torch.tensor([[1.0, 0.5], [0.2, 1.0]]), 0.9)
    pts = torch.tensor([[0.0, 0, 0], [0.3, 0, 0], [0.0, 0.89, 0], [0.0, 0.9, 0], [5.0, 0, 0], [10.0, 0, 0.5]])
    g = field(pts)
    assert torch.allclose(g[0], torch.tensor([1.0, 0.5]))
    assert 0 < g[2, 0] < g[1, 0] < 1  # decreasing with distance
    assert (g[3:5] == 0).all()  # at the radius and beyond: exactly zero
    assert g[5, 1] > 0 and g[5, 0] < g[5, 1]  # the nearest landmark's affinity


def test_a_gaussian_far_from_the_face_gets_zero_gate_and_does_not_move_with_expression(recording):
    model, data, _ = _model(recording)
    with torch.no_grad():
        far = 0
        model.means[far] = model.means[far] + torch.tensor([3.0, 0.0, 2.0]) * model.unit  # moved off the face
        model.basis.normal_(0, 1.0)
        model.features.normal_(0, 1.0)
    from avatarzoo.renderers.gaussian.train import refresh_gates_

    assert data.motion_anchors is not None  # the landmark-motion prior is on by default: it must not move it either
    refresh_gates_(model, data.gate_field, data.motion_anchors)
    assert (model.gates[far] == 0).all() and (model.motion_weight[far] == 0).all()
    assert (model.gates.sum(1) > 0).any()  # the face is still gated
    pose = model.ref_pose[None].repeat(2, 1, 1)
    body = torch.zeros(2, 3, 2)
    body[:, model.body_index] = model.body_ref
    e = torch.zeros(2, model.channel_group.numel())
    e[1] = 50.0  # an extreme code
    with torch.no_grad():
        g = model.gaussians(e, pose, body)
    for k in ("means", "covars", "opacities", "colors"):
        assert torch.equal(g[k][0, far], g[k][1, far]), k
    moved = (g["means"][1] - g["means"][0]).norm(dim=-1)
    assert moved.max() > 0  # ... while the gated face moves


def test_gates_follow_clones_at_densify_rounds(recording):
    model, data, _ = _model(recording, steps=3, densify_every=3, validation_stride=0)
    fit(model, data, _cfg(steps=3, densify_every=3, validation_stride=0), log=lambda s: None)
    assert torch.allclose(model.gates, data.gate_field(model.means.detach()))


# --- bounded offsets -------------------------------------------------------------------


@pytest.mark.parametrize("landmark_motion", [False, True])
def test_offsets_stay_within_their_bounds_under_extreme_codes(recording, landmark_motion):
    model, _, _ = _model(recording, landmark_motion=landmark_motion)
    lim = _cfg().expression_limits
    with torch.no_grad():
        model.basis.normal_(0, 1.0)
        model.features.normal_(0, 1.0)
        model.gates.fill_(1.0)
    d = model.channel_group.numel()
    for scale in (1e-5, 1.0, 1e4):
        e = torch.randn(3, d) * scale
        delta = model.deformation(e)
        bounds = model.bounds
        assert (delta.abs() <= bounds + 1e-6).all()
        raw = model.deformation(e, bounded=False)  # the offsets before the squash
        assert torch.allclose(delta, bounds * torch.tanh(raw / bounds))
        if scale == 1e-5:  # tiny codes: the squash is the identity (compare with no bounds); the
            # prior is centred on the mean code, so there tiny codes are not tiny offsets
            b, model.bounds = model.bounds, None
            if not landmark_motion:
                assert torch.allclose(delta, model.deformation(e), rtol=1e-3, atol=1e-9)
            assert torch.equal(model.deformation(e), raw)
            model.bounds = b
        else:
            assert (raw.abs() > bounds).any()  # extreme codes do reach past the bounds unsquashed
    pose = model.ref_pose[None].repeat(3, 1, 1)
    body = torch.zeros(3, 3, 2)
    body[:, model.body_index] = model.body_ref
    with torch.no_grad():
        moved = model.gaussians(torch.randn(3, d) * 1e4, pose, body)["means"] - model.means
    # at the reference pose the head motion is the identity: a Gaussian moves ≤ √3 · bound
    assert moved.norm(dim=-1).max() <= math.sqrt(3) * lim.position * model.unit * (1 + 1e-4)


def test_old_renderers_without_limits_load_unbounded(recording, tmp_path):
    from avatarzoo.renderers.gaussian.fitting import renderer_config, save
    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer

    model, _, d = _model(recording)
    cfg = renderer_config(model, _cfg(), d["space"], d["body_names"], ["g"] * model.n_groups, {})
    save(tmp_path, model, cfg)
    assert GaussianRenderer.from_dir(tmp_path).model.bounds is not None
    assert GaussianRenderer.from_dir(tmp_path).model.max_anisotropy == _cfg().max_anisotropy
    old = {k: v for k, v in cfg.items() if k not in ("expression_limits", "deformed_max_anisotropy")}
    (tmp_path / "renderer.json").write_text(__import__("json").dumps(old))
    assert GaussianRenderer.from_dir(tmp_path).model.bounds is None
    assert GaussianRenderer.from_dir(tmp_path).model.max_anisotropy is None  # renders as it was trained
    from avatarzoo.errors import BundleError

    for bad in (0.5, "8"):  # a bundle's renderer.json is untrusted: one clear error, no traceback
        (tmp_path / "renderer.json").write_text(__import__("json").dumps({**cfg, "deformed_max_anisotropy": bad}))
        with pytest.raises(BundleError, match="renderer tensors do not fit its config"):
            GaussianRenderer.from_dir(tmp_path)


def test_expression_cannot_turn_a_gaussian_into_a_needle(recording):
    model, _, _ = _model(recording)
    d = model.channel_group.numel()
    with torch.no_grad():
        model.basis.normal_(0, 1.0)
        model.features.normal_(0, 1.0)
        model.gates.fill_(1.0)
        model.log_scales.copy_(torch.log(torch.tensor([0.02, 0.01, 0.005]) * model.unit))  # ratio 4
    pose = model.ref_pose[None].repeat(3, 1, 1)
    body = torch.zeros(3, 3, 2)
    body[:, model.body_index] = model.body_ref
    e = torch.randn(3, d) * 1e4  # scale offsets at their bounds (±0.5 per axis)

    def ratios() -> torch.Tensor:
        with torch.no_grad():
            ev = torch.linalg.eigvalsh(model.gaussians(e, pose, body)["covars"].double())  # [B, N, 3]
        return (ev[..., -1] / ev[..., 0]).sqrt()

    limit, model.max_anisotropy = model.max_anisotropy, None
    assert ratios().max() > 10  # unheld, the offsets stretch a ratio of 4 past 10
    model.max_anisotropy = limit
    assert ratios().max() <= limit * (1 + 1e-4)
    with torch.no_grad():  # a frame without expression is the rest shape, untouched
        rest = model.gaussians(torch.zeros(1, d), pose[:1], body[:1])["covars"]
        model.max_anisotropy = None
        assert torch.allclose(rest, model.gaussians(torch.zeros(1, d), pose[:1], body[:1])["covars"])
        model.max_anisotropy = limit


# --- needles ---------------------------------------------------------------------------


def test_limit_scales_projects_needles_and_leaves_round_gaussians(recording):
    model, _, _ = _model(recording)
    u = model.unit
    with torch.no_grad():
        model.log_scales[0] = torch.log(torch.tensor([0.1, 0.001, 0.01]) * u)  # a needle, ratio 100
        model.log_scales[1] = torch.log(torch.tensor([0.02, 0.02, 0.02]) * u)  # round
        model.log_scales[2] = torch.log(torch.tensor([0.5, 0.4, 0.3]) * u)  # too large
    keep = model.log_scales[1].clone()
    limit_scales_(model, 8.0, 0.15)
    s = model.log_scales.exp()
    ratio = s.max(-1).values / s.min(-1).values
    assert (ratio <= 8.0 * (1 + 1e-5)).all()
    assert (s <= 0.15 * u * (1 + 1e-5)).all()
    assert torch.equal(model.log_scales[1], keep)
    # the needle's excess is split between its long and short axes
    assert math.isclose(float((s[0, 0] * s[0, 1]).detach()), 0.1 * 0.001 * u * u, rel_tol=1e-4)


def _camera(n=3):
    K = torch.tensor([[100.0, 0, 32], [0, 100.0, 32], [0, 0, 1]])
    means = torch.tensor([[0.0, 0, 5], [0.5, 0.5, 5], [0.0, 0, 5], [30.0, 0, 5]])[:n]
    return K, means


def _covar(scales, angle=0.3):
    c, s = math.cos(angle), math.sin(angle)
    r = torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    return r @ torch.diag(torch.tensor(scales) ** 2) @ r.T


def test_needle_count_counts_a_needle_and_not_a_round_gaussian():
    K, means = _camera(4)
    covars = torch.stack([
        _covar([0.2, 0.004, 0.004]),  # 4 px long, 0.08 px thin: a needle
        _covar([0.05, 0.05, 0.05]),  # round, 1 px
        _covar([0.2, 0.004, 0.004]),  # a needle, but transparent
        _covar([0.2, 0.004, 0.004]),  # a needle off screen
    ])[None]
    opac = torch.tensor([[0.9, 0.9, 0.01, 0.9]])
    mask = needle_mask(means[None], covars, opac, K, 64)
    assert mask.tolist() == [[True, False, False, False]]
    g = {"means": means[None].repeat(2, 1, 1), "covars": covars.repeat(2, 1, 1, 1),
         "opacities": opac.repeat(2, 1), "colors": torch.zeros(2, 4, 3)}
    assert needle_count(g, K, 64).tolist() == [1, 1]
    # a short thin speck is no needle: its long axis is under min_length × side
    tiny = _covar([0.01, 0.0005, 0.0005])[None, None]
    assert not needle_mask(means[None, :1], tiny, opac[:, :1], K, 64).any()


def test_footprint_axes_are_the_covariance_eigenvalues():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(50, 2, 2, generator=g, dtype=torch.float64)
    cov = a @ a.transpose(-1, -2) + 0.01 * torch.eye(2, dtype=torch.float64)
    inv = torch.linalg.inv(cov)
    conics = torch.stack([inv[:, 0, 0], inv[:, 0, 1], inv[:, 1, 1]], -1)[None]
    major, minor = footprint_axes(conics)
    ev = torch.linalg.eigvalsh(cov).sqrt()  # ascending
    assert torch.allclose(major[0], ev[:, 1], rtol=1e-6) and torch.allclose(minor[0], ev[:, 0], rtol=1e-6)


# --- validation slice ------------------------------------------------------------------


def test_validation_split_is_disjoint_covers_and_takes_whole_blocks():
    idx = np.arange(100)
    fit_idx, val = validation_split(idx, 4)
    assert np.intersect1d(fit_idx, val).size == 0 and np.union1d(fit_idx, val).tolist() == idx.tolist()
    assert val.tolist() == list(range(3 * VALIDATION_BLOCK, 4 * VALIDATION_BLOCK)) + list(range(84, 96))
    assert validation_split(idx, 0)[1].size == 0
    assert validation_split(np.arange(2 * VALIDATION_BLOCK - 1), 2)[1].size == 0  # too few frames


def test_validation_frames_are_training_frames_the_optimiser_never_sees(recording):
    model, data, d = _model(recording)
    hold = d["info"].holdout_start
    assert len(data.val_idx) > 0
    assert (data.val_idx < hold).all() and (data.train_idx < hold).all()  # never a held-out frame
    assert np.intersect1d(data.val_idx, data.train_idx).size == 0
    seen = np.concatenate([frame_batch(data.train_idx, 1, s, 0) for s in range(4 * len(data.train_idx))])
    assert np.intersect1d(seen, data.val_idx).size == 0
    with pytest.raises(ValueError, match="validation frames"):
        type(data)(**{**data.__dict__, "val_idx": data.train_idx[:2]})


def test_fit_keeps_the_weights_with_the_best_validation_score(recording):
    cfg = _cfg(steps=6, validation_interval=2, validation_tolerance=0.0)
    model, data, _ = _model(recording, steps=6, validation_interval=2)
    logs: list[str] = []
    summary = fit(model, data, cfg, log=logs.append)
    scores = [float(m.split("validation ")[1].split(" dB")[0]) for m in logs if ": validation " in m]
    assert len(scores) == 3  # steps 2, 4, 6
    assert summary["validation_psnr"] == pytest.approx(max(scores), abs=0.006)  # logged to 0.01 dB
    assert summary["best_step"] == 2 * (1 + int(np.argmax(scores)))
    # the model left behind is the kept one
    assert validation_psnr(model, data, cfg, torch.device("cpu")) == pytest.approx(summary["validation_psnr"], abs=1e-4)


def test_a_later_score_within_the_tolerance_replaces_the_kept_weights():
    from avatarzoo.renderers.gaussian.train import Best

    model = torch.nn.Linear(1, 1)
    best = Best()
    kept = [best.offer(s, i, model, 0.05) for i, s in enumerate([30.0, 31.0, 30.97, 30.9, 31.2, 31.1])]
    assert kept == [True, True, True, False, True, False]
    assert (best.step, best.psnr, best.top, best.stale) == (4, 31.2, 31.2, 1)


def test_validation_patience_stops_the_fit(recording):
    cfg = _cfg(steps=40, validation_interval=1, validation_patience=1, lr=50.0)  # a wild lr: no progress
    model, data, _ = _model(recording, steps=40)
    summary = fit(model, data, cfg, log=lambda s: None)
    assert summary["steps_run"] < 40


def test_an_interrupted_fit_with_validation_resumes_to_the_same_kept_weights(recording, tmp_path):
    """The kept weights, their score and the best score ride in the resume checkpoint:
    killed after the first validation and rerun, the fit keeps what an uninterrupted
    one keeps, bit for bit."""
    opts = _cfg(steps=8, densify_every=2, densify_until=0.9, checkpoint_every=2, validation_interval=2,
                validation_tolerance=0.0)
    clean, data, _ = _model(recording)
    s_clean = fit(clean, data, opts, log=lambda s: None)

    def dies_after(k):
        def progress(it, **kw):
            for i, x in enumerate(it):
                if i == k:
                    raise KeyboardInterrupt
                yield x
        return progress

    first, data, _ = _model(recording)
    with pytest.raises(KeyboardInterrupt):
        fit(first, data, opts, scratch=tmp_path, progress=dies_after(5), log=lambda s: None)
    resumed, data, _ = _model(recording)
    s_resumed = fit(resumed, data, opts, scratch=tmp_path, log=lambda s: None)
    assert (s_resumed["best_step"], s_resumed["validation_psnr"]) == (s_clean["best_step"], s_clean["validation_psnr"])
    a, b = clean.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
