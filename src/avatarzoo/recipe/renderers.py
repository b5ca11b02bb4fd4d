"""Renderer kinds of the recipe."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from avatarzoo.kinds import KindConfig


class GaussianRendererConfig(KindConfig, family="renderer", parts={
    "stage": "avatarzoo.renderers.gaussian.stage:run",
    "runtime": "avatarzoo.renderers.gaussian.runtime:GaussianRenderer",
}):
    """Full-frame Gaussian splatting avatar driven by explicit head and body motion."""

    kind: Literal["gaussian"] = "gaussian"
    space: str = Field("face-64", description="The expression space it consumes.")
    gaussians: int = Field(100_000, ge=100, description="Cap on the number of Gaussians.")
    steps: int = Field(20_000, ge=1, description="Training iterations.")
    resolution: int | None = Field(
        None, ge=16, description="Training/render side; default: the crop size."
    )
    batch_size: int = Field(
        1, ge=1, description="Frames per training step (per GPU: `--gpus N` steps on N × batch_size)."
    )
    lr: float = Field(1.0, gt=0, description="Scale on every learning rate.")
    ssim_weight: float = Field(0.2, ge=0, le=1, description="Weight of D-SSIM against L1.")
    region_weights: dict[str, float] = Field(
        default_factory=lambda: {"mouth": 2.0, "eyes": 2.0},
        description="Extra loss weight inside facial regions.",
    )
    seed: int = 0
    backend: Literal["auto", "torch", "gsplat"] = Field(
        "auto", description="Rasterizer: gsplat on CUDA, the PyTorch reference on CPU."
    )
    init_fraction: float = Field(
        0.5, gt=0, le=1,
        description="Initial Gaussians (placed on the person mask) as a fraction of `gaussians`;"
        " densification grows them up to the cap.",
    )
    feature_dim: int = Field(
        16, ge=1, le=256, description="Per-Gaussian feature size of the expression blendshapes."
    )
    densify_every: int = Field(
        100, ge=0, description="Steps between densify/prune rounds; 0: never."
    )
    densify_until: float = Field(
        0.6, gt=0, le=1, description="Densify/prune only in this first fraction of the steps."
    )
    checkpoint_every: int = Field(
        200, ge=0, description="Steps between resume checkpoints in the stage's scratch dir; 0: never."
    )
    max_per_tile: int | None = Field(
        None, ge=1,
        description="PyTorch rasterizer only: composite at most this many front-most Gaussians"
        " per tile (speed on CPU); None: all (exact).",
    )
