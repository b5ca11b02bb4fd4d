"""`face-64`, the built-in expression space of the MediaPipe tracker.

64 channels: 33 named semantic channels measured on pose-normalised MediaPipe face-mesh
landmarks (478 with iris), grouped by facial region, then 31 `residual` channels (PCA
of the pose-normalised landmarks with a per-subject basis) so that nothing the face
does is lost. How each channel is measured is `avatarzoo.trackers.expressions`.

Conventions: "left"/"right" are the subject's (the subject's left eye is on the image's
right). Semantic channels are 0 at the subject's typical (median) face and about 1 at a
full action (blink 1 = lids closed); they are ratios of facial distances, so they do
not depend on the subject's size or distance to the camera.
"""

from __future__ import annotations

from avatarzoo.spaces.registry import register_space
from avatarzoo.spaces.space import ExpressionSpace, Region

FACE64_DIM = 64

SEMANTIC_CHANNELS: tuple[tuple[Region, tuple[str, ...]], ...] = (
    ("brows", (
        "brow_raise_left", "brow_raise_right",
        "brow_inner_raise_left", "brow_inner_raise_right",
        "brow_outer_raise_left", "brow_outer_raise_right",
        "brow_furrow",
    )),
    ("eyes", ("blink_left", "blink_right", "squint_left", "squint_right")),
    ("gaze", ("gaze_x", "gaze_y")),
    ("mouth", (
        "mouth_open", "mouth_width",
        "mouth_corner_up_left", "mouth_corner_up_right",
        "mouth_stretch_left", "mouth_stretch_right",
        "mouth_pucker", "upper_lip_raise", "lower_lip_depress", "lip_press", "mouth_shift",
    )),
    ("jaw", ("jaw_open", "jaw_sideways", "jaw_forward")),
    ("cheeks", (
        "cheek_puff_left", "cheek_puff_right",
        "cheek_raise_left", "cheek_raise_right",
        "nose_sneer_left", "nose_sneer_right",
    )),
)

SEMANTIC_NAMES: tuple[str, ...] = tuple(n for _, names in SEMANTIC_CHANNELS for n in names)
N_SEMANTIC = len(SEMANTIC_NAMES)
N_RESIDUAL = FACE64_DIM - N_SEMANTIC


def _build() -> ExpressionSpace:
    channels = list(SEMANTIC_NAMES) + [f"residual_{i:02d}" for i in range(N_RESIDUAL)]
    regions: dict[Region, tuple[int, ...]] = {}
    start = 0
    for region, names in SEMANTIC_CHANNELS:
        regions[region] = tuple(range(start, start + len(names)))
        start += len(names)
    regions["residual"] = tuple(range(N_SEMANTIC, FACE64_DIM))
    return ExpressionSpace(
        name="face-64",
        dim=FACE64_DIM,
        channels=tuple(channels),
        regions=regions,
        description=(
            "Built-in space of the MediaPipe tracker: named channels per facial region"
            " (ratios of pose-normalised landmark distances, 0 at the subject's median"
            " face) + residual PCA of pose-normalised landmarks (per-subject basis)."
        ),
    )


FACE64 = register_space(_build())
