"""Renderer kinds of the recipe."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from avatarzoo.kinds import KindConfig


class ExpressionLimits(BaseModel):
    """Bounds on what the expression may do to one Gaussian: each offset is squashed
    as `b · tanh(Δ / b)` (identity for small Δ, never beyond ±b). The defaults sit above
    the 99th percentile of the unbounded branch's offsets on the demo (128² CPU build:
    position 0.10, rotation 0.49, log-scale 0.42, opacity 0.62, colour 0.19) and far
    below its maxima (0.54, 3.1, 2.6, 2.7, 1.4): they cut the outliers, not the motion.
    Position has more room (0.25): at 0.12 the widest mouths of the demo pushed 4% of
    the moving Gaussians' offsets past the bound (p99 2.1 b) and the re-tracked mouth
    amplitude fell 0.81 → 0.70 (128²; 0.88 → 0.78 at 512² on an H200); at 0.25 the p99
    is 0.87 b and the amplitude 0.98 (German 1.07), needles still 0, PSNR within 0.05 dB."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    position: float = Field(
        0.25, gt=0, description="Largest position offset per axis, as a fraction of the face width"
        " (`unit`): a jaw drop or a lip corner, never across the frame.")
    rotation: float = Field(0.5, gt=0, description="Largest rotation offset per axis (quaternion tangent, ~rad).")
    log_scale: float = Field(0.5, gt=0, description="Largest log-scale offset per axis (×1.65 at most).")
    opacity: float = Field(3.0, gt=0, description="Largest opacity-logit offset.")
    color: float = Field(2.0, gt=0, description="Largest colour-logit offset per channel.")


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
        default_factory=lambda: {"mouth": 4.0, "eyes": 4.0},
        description="Extra loss weight inside facial regions (the tracked mouth box and the"
        " eyes-with-brows boxes).",
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
    expression_limits: ExpressionLimits | None = Field(
        default_factory=ExpressionLimits,
        description="Bounds on the expression's per-Gaussian offsets; None: unbounded (renderers"
        " built before issue 14 load as None).",
    )
    gate_radius: float = Field(
        0.36, gt=0,
        description="Expression gates fall smoothly to exactly 0 at this 3D distance from the"
        " nearest tracked face landmark (fraction of the face width): background, torso and"
        " hair far from the face never move with the expression. Gates are recomputed from"
        " each Gaussian's rest position every `densify_every` steps (and for clones).",
    )
    landmark_motion: bool | list[str] = Field(
        True,
        description="Move the face's Gaussians with the tracked landmarks as well: a ridge"
        " regression on the training frames of how each channel moves each landmark, blended"
        " onto the Gaussians near them (landmark_motion.py) and added to the learned position"
        " offset inside its bound. true (the default): every channel the renderer takes; a list of"
        " regions (e.g. [brows, eyes]): only their channels move the landmarks (the regression still"
        " takes them all, so each keeps its own share); a region the space lacks is logged; false:"
        " the learned offsets alone. At 512² on five people it brought the demo's brows (0.90 in two"
        " builds, 0.74-0.84 in nine without) and a newsreader's one-blink eyelids (amplitude"
        " 0.83-0.95, 0.62-0.80 without) into the bars, the rest level; at 128² the demo's"
        " speech-driven mouth fell with it (BENCHMARKS.md, sessions 9-11).",
    )
    skip_regions: list[str] = Field(
        default_factory=lambda: ["residual"],
        description="Expression regions whose channels the renderer does not take; a region the"
        " space lacks is skipped with a log line. Default: face-64's 31 `residual` channels (a"
        " per-subject landmark PCA): with them the renderer fits mouths through codes that do not"
        " carry over to new frames (held-out mouth 0.69 without them against 0.80 on Reagan at"
        " 512², BENCHMARKS.md, session 6); [] gives the renderer every channel.",
    )
    side_groups: list[str] = Field(
        default_factory=list,
        description="Regions whose one-sided channels (named *_left / *_right, browDownLeft, ...)"
        " deform apart: each side's channels form their own group, gated where they move the"
        " tracked landmarks, so the left brow's channels cannot move the right brow's Gaussians;"
        " the region's other channels (brow_furrow) keep its shared gate. A region the space lacks"
        " is logged; []: one group per region. Measured, not adopted: [brows] at 512² raised the"
        " demo's right brow (slope 0.67 -> 0.85-0.97) but kept the left's overshoot (1.25-1.28), so"
        " the region's amplitude rose to 1.18-1.21 (german 1.31), PSNR level (BENCHMARKS.md,"
        " sessions 17-18).",
    )
    max_anisotropy: float | None = Field(
        8.0, gt=1,
        description="Largest ratio of a Gaussian's longest to shortest axis, enforced after every"
        " optimizer step and on the expression-deformed Gaussians of every frame (no needles);"
        " None: unlimited.",
    )
    max_scale: float | None = Field(
        0.15, gt=0,
        description="Largest axis (1σ) of a Gaussian, fraction of the face width, enforced after"
        " every optimizer step; None: unlimited.",
    )
    expression_balance: float = Field(
        2.0, ge=0, le=4,
        description="Draw training frames with probability ∝ clip(ρ / median ρ, 1, 4) ** this, ρ a"
        " frame's largest per-region RMS expression z-score: rare frames (blinks, the widest"
        " mouths, raised brows) are seen more often (renderers/gaussian/sampling.py); 0: uniform"
        " epochs.",
    )
    validation_stride: int = Field(
        8, ge=0,
        description="Withhold every k-th block of 12 consecutive training frames from the optimiser"
        " as a validation slice (never a held-out frame); 0: no validation, the last step's"
        " weights are kept.",
    )
    validation_interval: int = Field(
        100, ge=1,
        description="Steps between validation passes; the weights with the best validation PSNR"
        " are kept (and restored at the end of the fit).",
    )
    validation_tolerance: float = Field(
        0.05, ge=0,
        description="dB: a later validation pass within this of the best score so far replaces the"
        " kept weights (later weights have the lower, decayed learning rates; differences this"
        " small are the slice's noise).",
    )
    settle_lr: float = Field(
        1.0, gt=0, le=1,
        description="The learning rates that do not decay (scales, rotations, opacities, colours,"
        " the background residual) fall exponentially from the end of densification to this"
        " factor at the last step; 1: constant to the end (3DGS).",
    )
    compact_below: float | None = Field(
        0.75, gt=0,
        description="After the fit, drop every Gaussian whose blending weight (the pixels it paints,"
        " Σ T·α) stays under this many millionths of the frame in every training frame: buried"
        " under others or too faint to see, each still costs every rendered frame"
        " (renderers/gaussian/compaction.py). 0.75 is 0.2 px at 512²: on four recordings at 512²"
        " on an H200 it dropped 19-27% of 150k Gaussians, moved held-out PSNR by -0.02 to +0.05 dB"
        " and rendered 17-23% faster at batch 1 (BENCHMARKS.md, session 16); None: keep them all.",
    )
    validation_patience: int | None = Field(
        None, ge=1,
        description="Stop after this many validation passes more than `validation_tolerance` below"
        " the best; None: run all"
        " `steps` (and keep the best).",
    )
