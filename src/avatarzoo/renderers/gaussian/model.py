"""The Gaussian avatar's parameters and its forward function (frame codes → images).

Geometry is driven by explicit tracked motions, the expression only deforms:

* every Gaussian lives in the *reference camera space* (the camera coordinates of the
  recording's mean head pose and mean shoulder line);
* two rigid motions per frame: the head, `pose_b @ ref_pose⁻¹` (from the tracker), and
  the torso, a 2D similarity of the tracked shoulder points relative to their mean,
  lifted to 3D at the torso depth; each Gaussian blends them with learned softmax
  weights (linear blend skinning), so neck and hair follow both without a seam;
* the expression code adds per-Gaussian offsets of position, rotation, scale, opacity
  and colour through low-rank linear blendshapes gated by facial region:
  Δᵢ = Σ_r gᵢᵣ fᵢᵀ (Σ_{k ∈ r} e_k G_k), with fᵢ a learned feature per Gaussian, G_k a
  learned [F, 13] basis per channel and gᵢᵣ a fixed gate (how near Gaussian i is to
  the landmarks that region r's channels move, measured on the tracking; the channels
  of the recipe's `skip_regions` belong to no group and move nothing). One matmul
  per frame; linear in e, so it extrapolates smoothly to held-out codes. With
  `bounds` (the recipe's `expression_limits`) each offset is squashed as b·tanh(Δ/b):
  linear for small codes, never past ±b however extreme the code (issue 14: unbounded
  offsets let a few Gaussians fly across the frame as streaks). The gates are exactly
  0 away from the face (gates.py), so the expression cannot reach background or torso.
  With `max_anisotropy`, the deformed log-scales are projected into that axis ratio
  (`limit_anisotropy`): a scale offset that lengthens one axis and thins another cannot
  turn a Gaussian into a needle on a moving frame (the rest shapes are held to the same
  ratio after every optimizer step; before, ±0.5 per axis let a ratio of 8 reach 22);
* with `motion_landmarks` (the recipe's `landmark_motion`), the face's Gaussians also
  move with the tracked landmarks nearest them: a fixed linear map from the codes to
  landmark motion, regressed on the training frames (landmark_motion.py), added to the
  position offset before its bound;
* the background is the ingest plate plus a learned low-resolution residual,
  composited under the rendered alpha.

Shapes: B frames, N Gaussians, D expression channels, R channel groups, F feature dim,
Bp body points, S frame side.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avatarzoo.renderers.gaussian.landmark_motion import NEIGHBOURS, landmark_offsets
from avatarzoo.renderers.gaussian.rasterize import over_background, rasterize

N_OUT = 13  # deformation outputs: Δposition 3, Δrotation 3, Δlog-scale 3, Δopacity 1, Δcolour 3
PER_GAUSSIAN = ("means", "quats", "log_scales", "opacity_logits", "color_logits", "blend_logits",
                "features")
PER_GAUSSIAN_BUFFERS = ("gates",)
#: The order of `ExpressionLimits`' fields in the 13 deformation outputs.
BOUND_LAYOUT = (("position", 3), ("rotation", 3), ("log_scale", 3), ("opacity", 1), ("color", 3))


def _quat_products() -> Tensor:
    """[16, 9]: each rotation-matrix entry of a quaternion (w, x, y, z) as a combination
    of its products q_i q_j, row 4 i + j (R₀₀ = w² + x² − y² − z², R₀₁ = 2(xy − wz), ...)."""
    c = torch.zeros(4, 4, 3, 3)
    w, x, y, z = range(4)
    for i, sign in ((w, 1), (x, 1), (y, -1), (z, -1)):
        c[i, i, 0, 0] = sign
    for i, sign in ((w, 1), (x, -1), (y, 1), (z, -1)):
        c[i, i, 1, 1] = sign
    for i, sign in ((w, 1), (x, -1), (y, -1), (z, 1)):
        c[i, i, 2, 2] = sign
    for (a, b), (r, col), sign in (((x, y), (0, 1), 1), ((w, z), (0, 1), -1), ((x, z), (0, 2), 1),
                                   ((w, y), (0, 2), 1), ((x, y), (1, 0), 1), ((w, z), (1, 0), 1),
                                   ((y, z), (1, 2), 1), ((w, x), (1, 2), -1), ((x, z), (2, 0), 1),
                                   ((w, y), (2, 0), -1), ((y, z), (2, 1), 1), ((w, x), (2, 1), 1)):
        c[a, b, r, col] = c[b, a, r, col] = sign  # 2 q_a q_b, split over both products
    return c.reshape(16, 9)


def rotation_matrices(quats: Tensor, products: Tensor) -> Tensor:
    """Rotation matrices [..., 3, 3] of quaternions (w, x, y, z) [..., 4], any non-zero
    length: R = C vec(q qᵀ) / |q|², C = `products` [16, 9] (`_quat_products`). The same
    matrices as the reference `_torch_rasterizer.quat_to_rotmat` (normalise, then the
    textbook entries) in 6 kernels instead of ~40: per frame on CUDA it is launches,
    not arithmetic, that cost (tests/test_gaussian.py holds the two together)."""
    outer = (quats[..., :, None] * quats[..., None, :]).flatten(-2)  # [..., 16]
    norm2 = quats.square().sum(-1, keepdim=True).clamp_min(1e-24)
    return ((outer @ products) / norm2).unflatten(-1, (3, 3))


class Fixed(NamedTuple):
    """What `GaussianAvatar.gaussians` derives from parameters and buffers alone, the
    same for every frame (`GaussianAvatar.fixed`): training derives it at each step
    (it carries gradients), the runtime once. M torso-driving body points."""

    gated: Tensor  # [N, R·F] gate ⊗ feature per Gaussian
    expression_basis: Tensor  # [D, R·F·13] each channel's basis placed in its group's block
    blend: Tensor  # [N, 2] head / torso weights (softmax of blend_logits)
    ref_inverse: Tensor  # [4, 4] reference camera space → canonical head
    torso_pattern: Tensor  # [M·2, 2] body points · this = (s cos θ, s sin θ) of the similarity
    torso_origin: Tensor  # [3] the reference body centroid unprojected at the torso depth
    torso_unproject: Tensor  # [3, 3] homogeneous px → camera space at the torso depth (z K⁻¹)
    motion_basis: Tensor | None  # [D, L, 3] the landmark-motion prior in units of `unit`


def offset_bounds(limits: dict[str, float] | None) -> Tensor | None:
    """[13] bound of each deformation output from the recipe's `expression_limits`
    (its JSON form: {position, rotation, log_scale, opacity, color}); None: unbounded."""
    if limits is None:
        return None
    missing = [k for k, _ in BOUND_LAYOUT if k not in limits]
    if missing:
        raise ValueError(f"expression_limits lacks {missing}; expected the keys {[k for k, _ in BOUND_LAYOUT]}")
    return torch.tensor([float(limits[k]) for k, w in BOUND_LAYOUT for _ in range(w)])


def limit_anisotropy(log_scales: Tensor, max_anisotropy: float) -> Tensor:
    """[..., 3] log-scales with longest over shortest axis ≤ `max_anisotropy`: the excess
    is split, the long axis shrinking and the short one growing by the same factor (the
    footprint's area stays about the same); within the limit, unchanged."""
    hi, lo = log_scales.max(-1, keepdim=True).values, log_scales.min(-1, keepdim=True).values
    excess = ((hi - lo) - math.log(max_anisotropy)).clamp_min(0)
    return torch.minimum(torch.maximum(log_scales, lo + excess / 2), hi - excess / 2)


def similarity_2d(src: Tensor, dst: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Least-squares 2D similarity dst ≈ s R (src - src̄) + dst̄ (Umeyama), batched.

    src, dst: [B, M, 2]. Returns scale [B], rotation [B, 2, 2], src centroid [B, 2],
    dst centroid [B, 2]. With M = 1 it is a pure translation."""
    cs, cd = src.mean(1), dst.mean(1)
    a, b = src - cs[:, None], dst - cd[:, None]
    if src.shape[1] < 2:
        eye = torch.eye(2, dtype=src.dtype, device=src.device).expand(len(src), 2, 2)
        return torch.ones(len(src), dtype=src.dtype, device=src.device), eye, cs, cd
    # closed form for 2D: rotation angle from the cross/dot sums
    dot = (a * b).sum((1, 2))
    cross = (a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]).sum(1)
    ang = torch.atan2(cross, dot)
    var = a.square().sum((1, 2)).clamp_min(1e-8)
    s = torch.sqrt(dot.square() + cross.square()) / var
    c, si = torch.cos(ang), torch.sin(ang)
    rot = torch.stack([c, -si, si, c], -1).reshape(-1, 2, 2)
    return s, rot, cs, cd


#: How `matmul33` multiplies on each device type. Measured (benchmarks/render_split.py,
#: 150k Gaussians at 512², both forms in one process): on CUDA (H200) the elementwise
#: form takes the per-frame Gaussians from 1.02 to 0.41 ms and trained at 64 vs 54 and
#: 74 vs 74 steps/s; on the CPU (6k Gaussians, one thread) the GEMM is 2.5× faster.
MATMUL33 = {"cuda": "broadcast", "cpu": "gemm"}


def matmul33(a: Tensor, b: Tensor) -> Tensor:
    """a @ b for stacks of 3×3 matrices [..., 3, 3]: a batched GEMM, or an elementwise
    broadcast sum (the same function). Per-Gaussian products are ~10⁵ tiny matrices;
    which form is faster depends on the device (MATMUL33)."""
    if MATMUL33.get(a.device.type, "gemm") == "broadcast":
        return (a[..., :, :, None] * b[..., None, :, :]).sum(-2)
    return a @ b


def matvec3(a: Tensor, x: Tensor) -> Tensor:
    """a @ x for stacks of 3×3 matrices [..., 3, 3] and vectors [..., 3] (as matmul33)."""
    if MATMUL33.get(a.device.type, "gemm") == "broadcast":
        return (a * x[..., None, :]).sum(-1)
    return (a @ x[..., None])[..., 0]


def rigid_inverse(m: Tensor) -> Tensor:
    """Inverse of a rigid transform [..., 4, 4] (closed form: no solver, no host sync,
    so it can be captured in a CUDA graph)."""
    rt = m[..., :3, :3].transpose(-1, -2)
    out = torch.zeros_like(m)
    out[..., :3, :3] = rt
    out[..., :3, 3] = -(rt @ m[..., :3, 3:])[..., 0]
    out[..., 3, 3].fill_(1.0)  # not `= 1.0`: a CPU→GPU scalar copy breaks CUDA graphs
    return out


def pinhole_inverse(k: Tensor) -> Tensor:
    """Inverse of an upper-triangular intrinsics matrix [3, 3] (fx, skew, cx; fy, cy)."""
    fx, s, cx, fy, cy = k[0, 0], k[0, 1], k[0, 2], k[1, 1], k[1, 2]
    zero, one = torch.zeros_like(fx), torch.ones_like(fx)
    return torch.stack([
        1 / fx, -s / (fx * fy), (s * cy - cx * fy) / (fx * fy),
        zero, 1 / fy, -cy / fy,
        zero, zero, one,
    ]).reshape(3, 3)


class GaussianAvatar(nn.Module):
    """Parameters (per Gaussian and global) and `forward(expression, pose, body)`.

    Built empty with `n` Gaussians (`init.initial_state` fills them, or a state dict);
    `resize(n)` reallocates per-Gaussian tensors (used by densification and loading)."""

    def __init__(
        self,
        n: int,
        *,
        size: int,
        K: Tensor,  # [3, 3] at `size`
        ref_pose: Tensor,  # [4, 4] reference head pose (canonical head → camera)
        body_ref: Tensor,  # [M, 2] mean of the body points that drive the torso (px at `size`)
        body_index: Tensor,  # [M] long: which of the Bp body points drive the torso
        torso_depth: float,
        channel_group: Tensor,  # [D] long: group of each channel, -1 = not used
        n_groups: int,
        background: Tensor,  # [3, S, S] in [0, 1]
        feature_dim: int = 16,
        unit: float = 1.0,  # face width in world units: scale of position offsets
        bg_residual_size: int = 32,
        bounds: Tensor | None = None,  # [13] (offset_bounds); None: unbounded offsets
        max_anisotropy: float | None = None,  # of the deformed Gaussians; None: unlimited
        motion_landmarks: int = 0,  # L of the landmark-motion prior (landmark_motion.py); 0: none
    ):
        super().__init__()
        self.size = int(size)
        self.feature_dim = int(feature_dim)
        self.n_groups = int(n_groups)
        self.unit = float(unit)
        self.torso_depth = float(torso_depth)
        if max_anisotropy is not None and not max_anisotropy > 1:
            raise ValueError(f"max_anisotropy must be > 1, got {max_anisotropy}")
        self.max_anisotropy = None if max_anisotropy is None else float(max_anisotropy)
        self.register_buffer("K", K.float().clone())
        self.register_buffer("ref_pose", ref_pose.float().clone())
        self.register_buffer("body_ref", body_ref.float().clone())
        self.register_buffer("body_index", body_index.long().clone())
        self.register_buffer("channel_group", channel_group.long().clone())
        self.register_buffer("background", background.float().clone())
        d = int(channel_group.numel())
        self.bg_residual = nn.Parameter(torch.zeros(3, bg_residual_size, bg_residual_size))
        self.basis = nn.Parameter(torch.zeros(d, self.feature_dim, N_OUT))
        if bounds is not None and (tuple(bounds.shape) != (N_OUT,) or not bool((bounds > 0).all())):
            raise ValueError(f"bounds must be [{N_OUT}] positive numbers, got {bounds}")
        # not persistent: the bound is the recipe's (renderer.json), not a weight
        self.register_buffer("bounds", None if bounds is None else bounds.float().clone(), persistent=False)
        self.register_buffer("quat_products", _quat_products(), persistent=False)
        self.motion_landmarks = int(motion_landmarks)
        if self.motion_landmarks:  # filled by fitting.build_model or a state dict
            self.register_buffer("motion_basis", torch.zeros(d, self.motion_landmarks, 3))
            self.register_buffer("motion_center", torch.zeros(d))
        self.resize(n)

    # --- per-Gaussian storage ------------------------------------------------------

    def resize(self, n: int) -> None:
        """Reallocate every per-Gaussian tensor for `n` Gaussians (values undefined)."""
        shapes = {"means": (3,), "quats": (4,), "log_scales": (3,), "opacity_logits": (),
                  "color_logits": (3,), "blend_logits": (2,), "features": (self.feature_dim,)}
        dev = self.K.device
        for name, tail in shapes.items():
            setattr(self, name, nn.Parameter(torch.zeros((n,) + tail, device=dev)))
        self.register_buffer("gates", torch.zeros(n, self.n_groups, device=dev))
        if self.motion_landmarks:
            k = min(NEIGHBOURS, self.motion_landmarks)
            self.register_buffer("motion_index", torch.zeros(n, k, dtype=torch.long, device=dev))
            self.register_buffer("motion_weight", torch.zeros(n, k, device=dev))

    def per_gaussian_buffers(self) -> tuple[str, ...]:
        """The per-Gaussian buffers (not optimised; densification copies them)."""
        return PER_GAUSSIAN_BUFFERS + (("motion_index", "motion_weight") if self.motion_landmarks else ())

    @property
    def n(self) -> int:
        return self.means.shape[0]

    def load_state_dict(self, state, strict: bool = True, assign: bool = False):  # noqa: D102
        self.resize(state["means"].shape[0])
        return super().load_state_dict(state, strict=strict, assign=assign)

    # --- motions -------------------------------------------------------------------

    def fixed(self) -> Fixed:
        """The frame-invariant terms of `gaussians` (see `Fixed`)."""
        groups = torch.arange(self.n_groups, device=self.K.device)
        onehot = (self.channel_group[:, None] == groups[None]).to(self.basis.dtype)  # [D, R]
        expression_basis = (onehot[:, :, None, None] * self.basis[:, None]).reshape(len(onehot), -1)
        ref = self.body_ref  # [M, 2]
        centred = ref - ref.mean(0)
        # Σ_m a_m · p_m and Σ_m a_m × p_m over the centred reference a: the least-squares
        # similarity's s cos θ and s sin θ once divided by Σ|a|² (Umeyama in 2D;
        # `similarity_2d` is the reference); Σ a = 0, so p needs no centring
        pattern = torch.stack([centred, torch.stack([-centred[:, 1], centred[:, 0]], -1)], -1)
        pattern = pattern.reshape(-1, 2) / centred.square().sum().clamp_min(1e-8)
        unproject = self.torso_depth * pinhole_inverse(self.K)
        origin = unproject[:, :2] @ ref.mean(0) + unproject[:, 2]
        return Fixed(
            gated=self.gated_features(), expression_basis=expression_basis,
            blend=torch.softmax(self.blend_logits, -1), ref_inverse=rigid_inverse(self.ref_pose),
            torso_pattern=pattern, torso_origin=origin, torso_unproject=unproject,
            motion_basis=self.motion_basis / self.unit if self.motion_landmarks else None,
        )

    def head_transform(self, pose: Tensor, fixed: Fixed | None = None) -> Tensor:
        """[B, 4, 4] reference camera space → camera space of each frame's head."""
        return pose @ (fixed or self.fixed()).ref_inverse

    def torso_transform(self, body: Tensor, fixed: Fixed | None = None) -> Tensor:
        """[B, 4, 4] from body points [B, Bp, 2] (px at `size`): the 2D similarity of
        the driving points relative to their mean, lifted to 3D at the torso depth (a
        rotation about the optical axis and a scale about the reference centroid, then
        a translation to the current centroid). With one driving point, a translation."""
        f = fixed or self.fixed()
        pts = body[:, self.body_index]  # [B, M, 2]
        centroid = f.torso_unproject[:, :2] @ pts.mean(1).T + f.torso_unproject[:, 2:]  # [3, B]
        if pts.shape[1] < 2:
            cos_sin = F.pad(torch.ones_like(pts[:, 0, :1]), (0, 1))  # [B, 2]: (1, 0)
        else:
            cos_sin = pts.flatten(1) @ f.torso_pattern  # [B, 2]: (s cos θ, s sin θ)
        c, s = cos_sin.unbind(-1)
        zero = torch.zeros_like(c)
        lin = torch.stack([c, -s, zero, s, c, zero, zero, zero, torch.linalg.vector_norm(cos_sin, dim=-1)],
                          -1).unflatten(-1, (3, 3))  # [B, 3, 3]: s R about the optical axis, s along it
        shift = centroid.T - lin @ f.torso_origin  # [B, 3]
        bottom = f.ref_inverse[3:].expand(len(body), 1, 4)  # (0, 0, 0, 1)
        return torch.cat([torch.cat([lin, shift[..., None]], -1), bottom], 1)

    # --- expression ----------------------------------------------------------------

    def gated_features(self) -> Tensor:
        """[N, R * F]: gate ⊗ feature per Gaussian (constant at runtime: cache it)."""
        return (self.gates[:, :, None] * self.features[:, None, :]).reshape(self.n, -1)

    def deformation(self, expression: Tensor, fixed: Fixed | None = None, *, bounded: bool = True) -> Tensor:
        """Offsets [B, N, 13] from expression [B, D], each within ±`bounds` when set
        (`bounded=False`: the offsets before the squash, to see how near the bounds a
        fit drives them; benchmarks/offset_saturation.py). With `motion_landmarks` the
        position offset is the learned one plus the landmark-motion prior
        (landmark_motion.py), squashed together: no code moves a Gaussian past the bound."""
        f = fixed or self.fixed()
        # M[b, r] = Σ_{k in r} e[b, k] G_k: [B, R·F, 13]
        m = (expression @ f.expression_basis).reshape(len(expression), -1, N_OUT)
        delta = f.gated @ m  # [B, N, 13]
        if self.motion_landmarks:  # the landmark-motion prior, in units of `unit`, under the same bound
            delta[..., :3] += landmark_offsets(expression, f.motion_basis, self.motion_center,
                                               self.motion_index, self.motion_weight)
        if self.bounds is None or not bounded:
            return delta
        return self.bounds * torch.tanh(delta / self.bounds)  # b·tanh(Δ/b): |·| < b, slope 1 at 0

    # --- forward -------------------------------------------------------------------

    def gaussians(
        self, expression: Tensor, pose: Tensor, body: Tensor, *, fixed: Fixed | None = None
    ) -> dict[str, Tensor]:
        """Deformed, posed Gaussians in camera space: means [B, N, 3], covars [B, N, 3, 3],
        opacities [B, N], colors [B, N, 3]. `fixed`: `self.fixed()`, passed in where it is
        kept between frames (the runtime)."""
        f = fixed or self.fixed()
        delta = self.deformation(expression, f)
        d_pos, d_rot, d_scale = delta[..., 0:3], delta[..., 3:6], delta[..., 6:9]
        d_op, d_col = delta[..., 9], delta[..., 10:13]
        x = self.means + self.unit * d_pos  # [B, N, 3]
        q = self.quats + F.pad(d_rot, (1, 0))
        # small-angle update in the quaternion's tangent: q + (0, ω) ≈ rotation by ω
        rot = rotation_matrices(q, self.quat_products)  # [B, N, 3, 3]
        ls = self.log_scales + d_scale  # [B, N, 3]
        if self.max_anisotropy is not None:
            ls = limit_anisotropy(ls, self.max_anisotropy)
        sc = torch.exp(ls)
        rig = torch.stack([self.head_transform(pose, f), self.torso_transform(body, f)], 1)  # [B, 2, 4, 4]
        a = torch.einsum("nj,bjxy->bnxy", f.blend, rig[:, :, :3, :])  # [B, N, 3, 4] blended motion
        means = matvec3(a[..., :3], x) + a[..., 3]
        ms = matmul33(a[..., :3], rot * sc[..., None, :])
        covars = matmul33(ms, ms.transpose(-1, -2))
        opac = torch.sigmoid(self.opacity_logits + d_op)
        colors = torch.sigmoid(self.color_logits + d_col)
        return {"means": means, "covars": covars, "opacities": opac, "colors": colors}

    def background_image(self, size: int) -> Tensor:
        """[3, size, size]: plate + residual, clamped to [0, 1]."""
        bg = self.background
        if bg.shape[-1] != size:
            bg = F.interpolate(bg[None], size=(size, size), mode="area")[0]
        res = F.interpolate(self.bg_residual[None], size=(size, size), mode="bilinear",
                            align_corners=False)[0]
        return (bg + res).clamp(0, 1)

    def forward(
        self,
        expression: Tensor,  # [B, D]
        pose: Tensor,  # [B, 4, 4]
        body: Tensor,  # [B, Bp, 2] px at `size`
        *,
        size: int | None = None,
        backend: str = "auto",
        max_per_tile: int | None = None,
        fixed: Fixed | None = None,
    ) -> tuple[Tensor, Tensor, dict]:
        """Images [B, 3, s, s] in [0, 1] composited over the background, alphas
        [B, 1, s, s], and the rasterizer's meta; s = `size` (default: the model's)."""
        s = self.size if size is None else int(size)
        g = self.gaussians(expression, pose, body, fixed=fixed)
        return self.splat(g, s, self.background_image(s), backend=backend,
                          max_per_tile=max_per_tile)

    def camera(self, b: int, size: int) -> tuple[Tensor, Tensor]:
        """The camera the posed Gaussians (camera space) are seen from at `size`: view
        matrices [b, 4, 4] (identity) and intrinsics [b, 3, 3] (K scaled to `size`)."""
        k = self.K.clone()
        k[:2] *= size / self.size
        view = torch.eye(4, device=k.device, dtype=k.dtype).expand(b, 4, 4)
        return view, k.expand(b, 3, 3)

    def splat(self, g: dict[str, Tensor], size: int, background: Tensor, *, backend: str = "auto",
              max_per_tile: int | None = None) -> tuple[Tensor, Tensor, dict]:
        """Rasterize posed Gaussians (`gaussians()`) at `size` over `background` [3, s, s]:
        images [B, 3, s, s], alphas [B, 1, s, s], meta."""
        view, k = self.camera(g["means"].shape[0], size)
        img, alpha, meta = rasterize(
            g["means"], None, None, g["opacities"], g["colors"], view, k, size,
            size, covars=g["covars"], backend=backend, max_per_tile=max_per_tile,
        )
        return over_background(img, alpha, background), alpha.permute(0, 3, 1, 2), meta


def inverse_sigmoid(x: Tensor) -> Tensor:
    x = x.clamp(1e-4, 1 - 1e-4)
    return torch.log(x / (1 - x))


__all__ = ["Fixed", "rotation_matrices", "BOUND_LAYOUT", "GaussianAvatar", "N_OUT", "PER_GAUSSIAN", "limit_anisotropy", "offset_bounds",
           "inverse_sigmoid", "pinhole_inverse", "MATMUL33", "matmul33", "matvec3", "rigid_inverse", "similarity_2d"]
