"""The Gaussian avatar: motions, deformation, training, stage files, runtime, resume.

Everything runs on a tiny synthetic subject (renderers.gaussian.synthetic: 48², 12
frames) so that the whole file takes seconds on CPU."""

from __future__ import annotations

import json
import logging
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from avatarzoo.recipe.models import GaussianRendererConfig
from avatarzoo.renderers.gaussian import synthetic
from avatarzoo.renderers.gaussian.model import similarity_2d
from avatarzoo.renderers.gaussian.fitting import build_model, load_inputs
from avatarzoo.renderers.gaussian.train import densify_and_prune, fit, loss_fn, make_optimizer, weight_map
from avatarzoo.stages.context import StageContext

SIZE = 48


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn")
    return synthetic.make_recording(root, n=12, size=SIZE, holdout=0.25, detail=0.15)


def _cfg(**kw) -> GaussianRendererConfig:
    base = dict(space="synthetic-4", gaussians=400, steps=8, densify_every=4, checkpoint_every=4)
    return GaussianRendererConfig(**{**base, **kw})


def _model(recording, **kw):
    d = load_inputs(*recording)
    return (*build_model(d, _cfg(**kw), train_size=SIZE, log=lambda s: None), d)


def test_similarity_2d_recovers_a_known_transform():
    g = torch.Generator().manual_seed(0)
    src = torch.randn(2, 5, 2, generator=g)
    ang, s, t = torch.tensor([0.3, -1.0]), torch.tensor([1.2, 0.7]), torch.tensor([[3.0, -1], [0, 2]])
    rot = torch.stack([torch.cos(ang), -torch.sin(ang), torch.sin(ang), torch.cos(ang)], -1).reshape(2, 2, 2)
    dst = s[:, None, None] * (src @ rot.transpose(1, 2)) + t[:, None]
    s2, r2, cs, cd = similarity_2d(src, dst)
    assert torch.allclose(s2, s, atol=1e-5) and torch.allclose(r2, rot, atol=1e-5)
    back = s2[:, None, None] * ((src - cs[:, None]) @ r2.transpose(1, 2)) + cd[:, None]
    assert torch.allclose(back, dst, atol=1e-4)


def test_rotation_matrices_equal_the_reference_at_any_length():
    """The per-frame form (products of q, one matmul) against the textbook reference."""
    from avatarzoo.renderers.gaussian._torch_rasterizer import quat_to_rotmat
    from avatarzoo.renderers.gaussian.model import _quat_products, rotation_matrices

    g = torch.Generator().manual_seed(2)
    q = torch.randn(3, 50, 4, generator=g) * torch.rand(3, 50, 1, generator=g).add(0.05) * 4
    rot = rotation_matrices(q, _quat_products())
    assert rot.shape == (3, 50, 3, 3)
    assert torch.allclose(rot, quat_to_rotmat(q), atol=2e-6)
    eye = torch.eye(3).expand_as(rot)
    assert torch.allclose(rot @ rot.transpose(-1, -2), eye, atol=1e-5)


@pytest.mark.parametrize("points", [2, 1])
def test_torso_transform_is_the_lifted_similarity(recording, points):
    """The model's torso motion against its definition: `similarity_2d` of the driving
    points to the reference ones, lifted to the torso depth through K⁻¹."""
    from avatarzoo.renderers.gaussian.model import pinhole_inverse

    model, _, _, _ = _model(recording)
    if points == 1:
        model.body_index, model.body_ref = model.body_index[:1], model.body_ref[:1]
    g = torch.Generator().manual_seed(3)
    body = torch.randn(4, 3, 2, generator=g) * 5 + 20
    body[:, model.body_index] = model.body_ref + torch.randn(4, points, 2, generator=g) * 3
    pts = body[:, model.body_index]
    s, rot2, c_src, c_dst = similarity_2d(model.body_ref.expand_as(pts), pts)
    kinv = pinhole_inverse(model.K)

    def lift(c):
        return model.torso_depth * (torch.cat([c, torch.ones_like(c[:, :1])], -1) @ kinv.T)

    want = torch.eye(4).repeat(4, 1, 1)
    want[:, :2, :2] = rot2
    want[:, :3, :3] *= s[:, None, None]
    want[:, :3, 3] = lift(c_dst) - (want[:, :3, :3] @ lift(c_src)[..., None])[..., 0]
    assert torch.allclose(model.torso_transform(body), want, atol=1e-4)


def test_deformation_is_the_grouped_blendshape_sum(recording):
    """Δ = Σ_r g_r f (Σ_{k in r} e_k G_k), written out with einsum, against the model's
    one-matmul form (its basis placed per group in `fixed()`)."""
    model, _, _, _ = _model(recording, landmark_motion=False, expression_limits=None)
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        model.basis.copy_(torch.randn(model.basis.shape, generator=g))
        model.features.copy_(torch.randn(model.features.shape, generator=g))
        model.gates.copy_(torch.rand(model.gates.shape, generator=g))
    e = torch.randn(3, model.channel_group.numel(), generator=g)
    onehot = (model.channel_group[:, None] == torch.arange(model.n_groups)[None]).float()
    m = torch.einsum("bk,kr,kfo->brfo", e, onehot, model.basis)
    want = torch.einsum("nr,nf,brfo->bno", model.gates, model.features, m)
    with torch.no_grad():
        assert torch.allclose(model.deformation(e), want, rtol=1e-4, atol=1e-4)


def test_closed_form_inverses():
    from avatarzoo.geometry import rigid_mean
    from avatarzoo.renderers.gaussian.model import pinhole_inverse, rigid_inverse

    g = torch.Generator().manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(3, 3, 3, generator=g, dtype=torch.float64))
    m = torch.eye(4, dtype=torch.float64).repeat(3, 1, 1)
    m[:, :3, :3] = q * torch.sign(torch.det(q))[:, None, None]
    m[:, :3, 3] = torch.randn(3, 3, generator=g, dtype=torch.float64)
    assert torch.allclose(rigid_inverse(m), torch.linalg.inv(m), atol=1e-12)
    assert np.allclose(rigid_mean(m[:1].numpy()), m[0].numpy(), atol=1e-12)
    k = torch.tensor([[300.0, 0.5, 64.0], [0, 310.0, 60.0], [0, 0, 1]], dtype=torch.float64)
    assert torch.allclose(pinhole_inverse(k), torch.linalg.inv(k), atol=1e-12)


def test_reference_motion_is_identity(recording):
    model, data, groups, d = _model(recording)
    assert groups == ["brows", "eyes", "mouth"]  # `residual`: skipped by default (skip_regions)
    pose = model.ref_pose[None]
    body = torch.zeros(1, 3, 2)
    body[:, model.body_index] = model.body_ref
    assert torch.allclose(model.head_transform(pose), torch.eye(4)[None], atol=1e-5)
    assert torch.allclose(model.torso_transform(body), torch.eye(4)[None], atol=1e-4)
    # shoulders named in the tracking drive the torso, the nose does not
    assert model.body_index.tolist() == [0, 1]


def test_expression_moves_only_gated_gaussians(recording):
    """The learned blendshapes move only what their gates let through (the landmark-motion
    prior has its own falloff, zero where the gates are: test_gaussian_limits.py)."""
    model, data, groups, d = _model(recording, landmark_motion=False)
    with torch.no_grad():
        model.basis.normal_()
        model.gates.zero_()
        model.gates[:10, groups.index("mouth")] = 1.0
    e = torch.zeros(1, 4)
    e[0, 0] = 1.0  # jaw_open: the mouth group
    delta = model.deformation(e)
    assert delta[0, :10].abs().sum() > 0 and delta[0, 10:].abs().sum() == 0
    e2 = torch.zeros(1, 4)
    e2[0, 1] = 1.0  # blink: the eyes group, gated to nothing here
    assert model.deformation(e2).abs().sum() == 0


def test_skipped_regions_drive_nothing(recording):
    """A skipped channel's code changes nothing, through the learned offsets or the
    landmark-motion prior (which is centred on the mean code: at e = 0 the face is
    already moved, so the test compares against e = 0)."""
    e = torch.zeros(1, 4)
    e[0, 3] = 1.0  # residual_0: the synthetic space's `residual` region
    for skip, moves in (((), True), (("residual",), False)):
        model, data, groups, d = _model(recording, skip_regions=list(skip))
        assert ("residual" in groups) == moves
        with torch.no_grad():
            model.basis.normal_()
            model.gates.fill_(1.0)
        assert model.motion_landmarks  # the prior is on by default
        assert bool((model.deformation(e) - model.deformation(torch.zeros_like(e))).abs().sum() > 0) == moves


def test_a_skipped_region_the_space_lacks_is_said(recording):
    lines: list[str] = []
    build_model(load_inputs(*recording), _cfg(skip_regions=["residual", "tongue"]), train_size=SIZE, log=lines.append)
    assert any("'residual' skipped (1 channel not used)" in x for x in lines)
    assert any("'tongue', which space 'synthetic-4' does not have" in x for x in lines)


def _training_loss(model, data, cfg) -> float:
    """The fit's own loss over every training frame at once (no grad)."""
    with torch.no_grad():
        bt = data.batch(data.train_idx, "cpu")
        pred, _, _ = model(bt["expression"], bt["pose"], bt["body"], size=data.size)
        w = weight_map(bt["boxes"], data.size, cfg.region_weights)
        return float(loss_fn(pred, bt["image"], w, cfg.ssim_weight))


def test_fit_lowers_the_loss_and_is_deterministic(recording):
    opts = _cfg(steps=30, densify_every=3, checkpoint_every=0)
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        model, data, _, _ = _model(recording)
        n0 = model.n
        before = _training_loss(model, data, opts)
        s = fit(model, data, opts, log=lambda m: None)
        runs.append((model.state_dict(), s, before, _training_loss(model, data, opts)))
    (a, sa, before, after), (b, sb, _, _) = runs
    # 30 steps on 9 frames: the loss over all training frames falls by a quarter or more
    # (measured 0.054 -> 0.031); a fit that did not descend would stay near `before`
    assert after < 0.75 * before, (before, after)
    assert sa["final_loss"] == sb["final_loss"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert n0 < sa["n_gaussians"] <= 400  # densified from the initial half of the cap


def test_densify_is_capped_and_keeps_optimizer_consistent(recording):
    model, data, _, _ = _model(recording)
    opt = make_optimizer(model, 1.0)
    n = model.n
    score = torch.rand(n)
    with torch.no_grad():
        model.opacity_logits[:5] = -10  # transparent: pruned
    added, removed = densify_and_prune(model, opt, score, torch.ones(n), n + 7,
                                       torch.Generator().manual_seed(0))
    assert (added, removed) == (7, 5) and model.n == n + 2
    for g in opt.param_groups:
        assert g["params"][0] is getattr(model, g["name"])
    assert model.gates.shape[0] == model.n


def test_stage_writes_files_and_runtime_renders(recording, tmp_path):
    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer
    from avatarzoo.renderers.gaussian.stage import run

    out, scratch = tmp_path / "out", tmp_path / "scratch"
    out.mkdir()
    ctx = StageContext(recipe=SimpleNamespace(renderer=_cfg()), recipe_dir=tmp_path,
                       inputs={"ingest": recording[0], "track": recording[1]}, out=out,
                       scratch=scratch, log=logging.getLogger("test"))
    run(ctx)
    assert {p.name for p in out.iterdir()} == {"renderer.safetensors", "renderer.json"}
    cfg = json.loads((out / "renderer.json").read_text())
    assert cfg["kind"] == "gaussian" and cfg["size"] == SIZE
    r = GaussianRenderer.from_dir(out)
    assert r.size == SIZE and r.space.name == "synthetic-4"
    d = load_inputs(*recording)
    e = torch.as_tensor(d["expression"][:3])
    p = torch.as_tensor(d["pose"][:3])
    b = torch.as_tensor(d["body"][:3])
    frames = r.render(e, p, b)
    assert frames.dtype == torch.uint8 and frames.shape == (3, SIZE, SIZE, 3)
    f = r.render_float(e, p, b)
    assert f.shape == (3, 3, SIZE, SIZE) and 0 <= float(f.min()) and float(f.max()) <= 1
    # batched == one at a time
    one = torch.cat([r.render_float(e[i : i + 1], p[i : i + 1], b[i : i + 1]) for i in range(3)])
    assert torch.allclose(one, f, atol=1e-5)
    with pytest.raises(ValueError, match="expression"):
        r.render(e[:, :3], p, b)
    with pytest.raises(ValueError, match="pose"):
        r.render(e, p[:2], b)


def test_resume_continues_from_checkpoint(recording, tmp_path):
    model, data, _, _ = _model(recording)
    opts = _cfg(steps=4, densify_every=0, checkpoint_every=2)
    fit(model, data, opts, scratch=tmp_path, log=lambda s: None)
    assert (tmp_path / "ckpt.pt").is_file() and not list(tmp_path.glob("*.tmp"))
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert state["step"] == 4
    model2, data2, _, _ = _model(recording)
    msgs: list[str] = []
    s = fit(model2, data2, _cfg(steps=6, densify_every=0, checkpoint_every=2), scratch=tmp_path,
            log=msgs.append)
    assert any("resumed" in m and "step 4" in m for m in msgs)
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["step"] == 6
    assert math.isfinite(s["final_loss"])


def test_missing_inputs_are_named(tmp_path, recording):
    from avatarzoo.errors import InputError

    with pytest.raises(InputError, match="ingest.json: missing"):
        load_inputs(tmp_path, recording[1])
    (tmp_path / "ingest.json").write_bytes((recording[0] / "ingest.json").read_bytes())
    with pytest.raises(InputError, match="frames.npy"):
        load_inputs(tmp_path, recording[1])
    with pytest.raises(InputError, match="tracking.safetensors"):
        load_inputs(recording[0], tmp_path)
    assert np.load(recording[0] / "frames.npy", mmap_mode="r").shape == (12, SIZE, SIZE, 3)


def test_group_affinity_finds_the_moving_landmarks(recording):
    """On the synthetic subject only the lower lip moves with jaw_open: the mouth group's
    affinity must peak there, not on the static landmarks."""
    from avatarzoo.renderers.gaussian import init as ini

    d = load_inputs(*recording)
    names, group = ini.channel_groups(d["space"])
    aff = ini.group_affinity(d["expression"].astype(np.float64), d["landmarks"], d["pose"].astype(np.float64),
                             d["K"].astype(np.float64), d["canonical"].astype(np.float64), group, len(names))
    mouth = aff[:, names.index("mouth")]
    moving = list(ini.LIPS[:10])
    still = np.setdiff1d(np.arange(478), moving)
    assert mouth[moving].mean() > 5 * mouth[still].mean()


def test_side_groups_give_each_side_its_own_group():
    """`side_groups: [brows]` splits face-64's brows by the side each channel names (the
    shared brow_furrow stays in `brows`); every other region and the unsplit grouping are
    as before."""
    from avatarzoo.renderers.gaussian import init as ini
    from avatarzoo.spaces.registry import get_space

    space = get_space("face-64")
    plain, plain_group = ini.channel_groups(space, ("residual",))
    names, group = ini.channel_groups(space, ("residual",), ("brows",))
    assert names == ["brows", "brows_left", "brows_right"] + [n for n in plain if n != "brows"]
    for i, channel in enumerate(space.channels):
        if i in space.indices("brows"):
            side = ini.channel_side(channel)
            assert names[group[i]] == (f"brows_{side}" if side else "brows"), channel
        else:
            assert group[i] == -1 if plain_group[i] == -1 else names[group[i]] == plain[plain_group[i]]
    assert ini.channel_side("browOuterUpLeft") == "left" and ini.channel_side("browInnerUp") is None


def test_weight_map_marks_boxes():
    boxes = torch.tensor([[[2.0, 2, 5, 5], [10, 10, 12, 12], [20, 20, 21, 21]]])
    w = weight_map(boxes, 32, {"mouth": 3.0, "eyes": 2.0})
    assert w.shape == (1, 1, 32, 32)
    assert w[0, 0, 3, 3] == 3.0 and w[0, 0, 11, 11] == 2.0 and w[0, 0, 0, 0] == 1.0


def test_interrupted_fit_resumes_to_identical_weights(recording, tmp_path):
    """Killed mid-training and rerun: the result is bit-identical to an uninterrupted fit
    (frame order is a function of the step; RNG, optimizer, densify statistics are in
    the checkpoint). This is what makes a resumed build's bundle hash equal."""
    opts = _cfg(steps=8, densify_every=2, densify_until=0.9, checkpoint_every=2)
    clean, data, _, _ = _model(recording)
    fit(clean, data, opts, log=lambda s: None)

    def dies_after(k):
        def progress(it, **kw):
            for i, x in enumerate(it):
                if i == k:
                    raise KeyboardInterrupt
                yield x
        return progress

    first, data, _, _ = _model(recording)
    with pytest.raises(KeyboardInterrupt):
        fit(first, data, opts, scratch=tmp_path, progress=dies_after(5), log=lambda s: None)
    resumed, data, _, _ = _model(recording)
    fit(resumed, data, opts, scratch=tmp_path, log=lambda s: None)
    a, b = clean.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("train_size", [SIZE, SIZE // 2])
def test_a_resident_batch_equals_the_batch_read_from_disk(recording, train_size):
    """`TrainData.keep_on` (CUDA only) makes `batch` read a device copy: the same
    tensors as the per-step read from the memmap, resized alike."""
    d = load_inputs(*recording)
    _, data, _ = build_model(d, _cfg(), train_size=train_size, log=lambda s: None)
    idx = data.train_idx[[0, -1, 1]]
    from_disk = data.batch(idx, "cpu")
    data.keep_on("cpu")
    assert data.resident is None  # nothing is copied off CUDA
    data.resident = data.resident_copy("cpu")
    resident = data.batch(idx, "cpu")
    assert from_disk.keys() == resident.keys()
    for k in from_disk:
        assert torch.equal(from_disk[k], resident[k]), k
    assert torch.equal(data.rows("boxes", idx, "cpu", torch.float32), from_disk["boxes"])
