"""Region gates: how much each channel group's expression may move a Gaussian, as a
function of where the Gaussian *is* (its rest position in the reference camera space).

gᵢᵣ = a_{ℓ(i) r} · w(dᵢ), with ℓ(i) the face landmark nearest to Gaussian i (3D, in the
reference camera space), a [L, R] the landmark's group affinity (init.group_affinity:
how much of its tracked non-rigid motion group r's channels explain) and w a Gaussian
falloff of the distance dᵢ to that landmark that reaches exactly 0 at `radius`:

    w(d) = max(0, (exp(-d²/2σ²) - exp(-9/2)) / (1 - exp(-9/2))),  σ = radius / 3.

So a Gaussian farther than `radius` from every face landmark (background, torso, the
back of the hair) has gate 0 and its expression offsets are exactly 0. Before issue 14
the gates were computed once at init with no cut-off and never followed a Gaussian
that densification cloned or the optimiser moved away from the face.

Shapes: N Gaussians, L landmarks, R channel groups.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

CHUNK = 16384  # Gaussians per block of the [block, L] distance computation: bounded memory
TAIL = math.exp(-4.5)  # the Gaussian falloff's value at 3σ, subtracted so that w(radius) = 0


@dataclass(frozen=True)
class GateField:
    """The gate of any point: landmarks [L, 3] (reference camera space), affinity
    [L, R] in [0, 1], and the cut-off `radius` in world units."""

    landmarks: Tensor
    affinity: Tensor
    radius: float

    def __post_init__(self) -> None:
        if self.landmarks.ndim != 2 or self.landmarks.shape[1] != 3:
            raise ValueError(f"landmarks must be [L, 3], got {tuple(self.landmarks.shape)}")
        if self.affinity.ndim != 2 or self.affinity.shape[0] != self.landmarks.shape[0]:
            raise ValueError(f"affinity must be [L={self.landmarks.shape[0]}, R], got {tuple(self.affinity.shape)}")
        if not self.radius > 0:
            raise ValueError(f"radius must be > 0, got {self.radius}")

    @classmethod
    def from_face(cls, canonical, ref_pose, affinity, *, unit: float, radius: float) -> "GateField":
        """From the canonical landmarks [L, 3] (head space), the reference pose [4, 4],
        the affinity [L, R] (arrays or tensors) and `radius` as a fraction of `unit`."""
        c = torch.as_tensor(canonical, dtype=torch.float64)
        p = torch.as_tensor(ref_pose, dtype=torch.float64)
        lm = c @ p[:3, :3].T + p[:3, 3]
        return cls(lm.float(), torch.as_tensor(affinity, dtype=torch.float32), float(radius * unit))

    @property
    def n_groups(self) -> int:
        return int(self.affinity.shape[1])

    def falloff(self, d: Tensor) -> Tensor:
        """w(d) ∈ [0, 1] of distances d (any shape): 1 at 0, exactly 0 from `radius` on."""
        sigma = self.radius / 3
        w = ((torch.exp(-d.square() / (2 * sigma**2)) - TAIL) / (1 - TAIL)).clamp_min(0)
        return torch.where(d < self.radius, w, torch.zeros_like(w))  # exact 0, whatever the rounding

    @torch.no_grad()
    def __call__(self, points: Tensor) -> Tensor:
        """Gates [N, R] of points [N, 3] (on the points' device and dtype)."""
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"points must be [N, 3], got {tuple(points.shape)}")
        lm = self.landmarks.to(points.device, points.dtype)
        aff = self.affinity.to(points.device, points.dtype)
        out = torch.empty(len(points), self.n_groups, device=points.device, dtype=points.dtype)
        for c in range(0, len(points), CHUNK):
            d, nearest = torch.cdist(points[c:c + CHUNK], lm).min(1)  # [chunk]
            out[c:c + CHUNK] = aff[nearest] * self.falloff(d)[:, None]
        return out


__all__ = ["GateField"]
