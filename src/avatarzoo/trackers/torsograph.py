"""The torso's motion as one least-squares solve over many measurements (a pose
graph), instead of one reference frame and a choice among fallbacks.

Each measurement says how the torso moved between two frames (a 2D similarity fitted
to followed corners, trackers/torso.py): from each of a few reference frames, fixed by
their place in the recording rather than by what the images show, into every frame, and
from each frame into the next. Written as complex numbers, a similarity is x ↦ a x + t,
and "frame j is frame i moved by (m, τ)" is the equation a_j p + t_j = m (a_i p + t_i) + τ
for torso points p of the base frame: linear in the unknowns (a, t) of every frame. So
the whole track is one weighted linear least-squares problem, solved again with Huber
weights (iteratively reweighted) so that a bad fit counts less. Its answer moves a
little when the frames change a little: there is no reference frame to pick and no
candidate to prefer, the discrete steps that turned an invisible change of the frames
into a torso several pixels elsewhere (benchmarks/torso_stability.py).

Shapes: N frames, E measurements, P sample points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A measurement's residual (RMS over the sample points, px) beyond which its weight
#: falls as 1 / residual (Huber).
HUBER_PX = 1.0
#: Weight of "no motion between neighbours" against one inlier of a measurement: only
#: decides frames that no measurement reaches.
SMOOTH_WEIGHT = 1e-2


@dataclass(frozen=True)
class Measurement:
    """Frames `src` → `dst`: the similarity [2, 3] (src px → dst px) and its weight
    (RANSAC inliers)."""

    src: int
    dst: int
    similarity: np.ndarray
    weight: float


def _complex(m: np.ndarray) -> tuple[complex, complex]:
    return complex(m[0, 0], m[1, 0]), complex(m[0, 2], m[1, 2])


def solve_motion(n: int, measurements: list[Measurement], base: int, points: np.ndarray, *,
                 iterations: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """The similarities float64 [N, 2, 3] (base frame px → frame px; identity at `base`)
    that best satisfy `measurements` at the sample points `points` [P, 2] (base px, the
    torso's extent), and each measurement's final residual float64 [E] (RMS px).

    Frames no measurement reaches take their neighbours' motion (SMOOTH_WEIGHT). Solved
    densely: 2N complex unknowns, 36 MB and 1.9 s for all iterations at the 750 frames
    of a 30 s recording at 25 fps (this 2-core CPU, beside other work)."""
    if n == 1:  # the base frame alone: nothing to solve
        return np.array([[[1.0, 0, 0], [0, 1.0, 0]]]), np.zeros(len(measurements))
    smooth = [Measurement(k - 1, k, np.array([[1.0, 0, 0], [0, 1.0, 0]]), SMOOTH_WEIGHT) for k in range(1, n)]
    every = list(measurements) + smooth
    src = np.array([e.src for e in every])
    dst = np.array([e.dst for e in every])
    m, tau = np.array([_complex(e.similarity) for e in every]).T  # [E'] each
    w0 = np.array([e.weight for e in every], np.float64)
    p = points[:, 0] + 1j * points[:, 1]  # [P]
    # coefficients of (a_src, t_src, a_dst, t_dst) in the residual at each point: [E', P, 4]
    coef = np.stack([-m[:, None] * p, -m[:, None] * np.ones_like(p), np.broadcast_to(p, (len(m), len(p))),
                     np.ones((len(m), len(p)), complex)], -1)
    cols = np.stack([2 * src, 2 * src + 1, 2 * dst, 2 * dst + 1], -1)  # [E', 4]
    free = np.ones(2 * n, bool)
    free[[2 * base, 2 * base + 1]] = False
    z = np.zeros(2 * n, complex)
    z[0::2] = 1.0
    weight = w0.copy()
    for _ in range(iterations):
        h = np.zeros((2 * n, 2 * n), complex)
        g = np.zeros(2 * n, complex)
        np.add.at(h, (cols[:, :, None], cols[:, None, :]),
                  np.einsum("e,epk,epl->ekl", weight, coef.conj(), coef))
        np.add.at(g, cols, np.einsum("e,epk,e->ek", weight, coef.conj(), tau))
        known = ~free
        z[free] = np.linalg.solve(h[np.ix_(free, free)], g[free] - h[np.ix_(free, known)] @ z[known])
        residual = np.sqrt(np.mean(np.abs(np.einsum("epk,ek->ep", coef, z[cols]) - tau[:, None]) ** 2, -1))
        weight = w0 * np.minimum(1.0, HUBER_PX / np.maximum(residual, 1e-9))
    a, t = z[0::2], z[1::2]
    sim = np.stack([np.stack([a.real, -a.imag, t.real], -1), np.stack([a.imag, a.real, t.imag], -1)], 1)
    return sim, residual[: len(measurements)]


__all__ = ["HUBER_PX", "Measurement", "SMOOTH_WEIGHT", "solve_motion"]
