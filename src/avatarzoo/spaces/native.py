"""Expression spaces of other trackers, channel for channel as their files hold them.

* `flame`: metrical-tracker's FLAME code, the four arrays of a `.frame` file's `flame`
  dict concatenated in this order (`tracker.py`, `save_checkpoint`):
  `exp` (100 PCA coefficients, `cfg.num_exp_params`), `jaw` (one 6D rotation),
  `eyelids` (2: left, right, as `FLAME.forward` applies `l_eyelid`/`r_eyelid`) and
  `eyes` (two 6D rotations: left eyeball then right). The 6D rotations are pytorch3d's
  `matrix_to_rotation_6d` (the first two rows of the matrix), kept as written: they are
  continuous, so linear maps and interpolation work on them directly.
  The PCA channels have no single facial region, so they are `residual`.
* `bfm-79`: the Basel-face expression PCA that AD-NeRF and GaussianTalker fit
  (`exp_dim = 79` in `face_tracker.py`); all `residual`.
* `arkit-52`: Apple's ARKit blendshapes, in the column order Live Link Face writes its
  CSV (the camelCase ARKit names; the CSV capitalises the first letter).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from avatarzoo.spaces.registry import register_space
from avatarzoo.spaces.space import ExpressionSpace, Region

# --- flame ----------------------------------------------------------------------------

FLAME_EXPRESSION_DIM = 100
FLAME_PARTS: tuple[tuple[str, int, Region], ...] = (
    # (key in the .frame file's `flame` dict, width, region)
    ("exp", FLAME_EXPRESSION_DIM, "residual"),
    ("jaw", 6, "jaw"),
    ("eyelids", 2, "eyes"),
    ("eyes", 12, "gaze"),
)


def _flame_channel_names(key: str, width: int) -> list[str]:
    if key == "exp":
        return [f"exp_{i:03d}" for i in range(width)]
    if key == "jaw":
        return [f"jaw_r6d_{i}" for i in range(6)]
    if key == "eyelids":
        return ["eyelid_left", "eyelid_right"]
    return [f"eye_{side}_r6d_{i}" for side in ("left", "right") for i in range(6)]


def _grouped_space(
    name: str,
    parts: Sequence[tuple[Sequence[str], Region]],
    description: str,
) -> ExpressionSpace:
    """Concatenate named channel groups into one space, each group in one region."""
    channels: list[str] = []
    regions: dict[Region, list[int]] = {}
    for names, region in parts:
        regions.setdefault(region, []).extend(range(len(channels), len(channels) + len(names)))
        channels.extend(names)
    return ExpressionSpace(
        name=name,
        dim=len(channels),
        channels=tuple(channels),
        regions={r: tuple(ix) for r, ix in regions.items()},
        description=description,
    )


FLAME = register_space(
    _grouped_space(
        "flame",
        [(_flame_channel_names(key, width), region) for key, width, region in FLAME_PARTS],
        "FLAME as metrical-tracker writes it: exp (100) + jaw 6D + eyelids (2) + eyes 2x6D.",
    )
)

# --- bfm-79 ---------------------------------------------------------------------------

BFM_EXPRESSION_DIM = 79
BFM79 = register_space(
    _grouped_space(
        "bfm-79",
        [([f"exp_{i:02d}" for i in range(BFM_EXPRESSION_DIM)], "residual")],
        "Basel face expression PCA as AD-NeRF / GaussianTalker track_params.pt hold it.",
    )
)

# --- arkit-52 -------------------------------------------------------------------------

ARKIT_BLENDSHAPES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawRight", "jawLeft", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthRight", "mouthLeft",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)  # fmt: skip

# First matching prefix wins: eyeLook* is gaze, the other eye* shapes are the lids.
_ARKIT_REGION_RULES: tuple[tuple[Callable[[str], bool], Region], ...] = (
    (lambda n: n.startswith("eyeLook"), "gaze"),
    (lambda n: n.startswith("eye"), "eyes"),
    (lambda n: n.startswith("brow"), "brows"),
    (lambda n: n.startswith("jaw"), "jaw"),
    (lambda n: n.startswith("mouth") or n == "tongueOut", "mouth"),
    (lambda n: n.startswith(("cheek", "nose")), "cheeks"),
)


def arkit_region(name: str) -> Region:
    """The facial region of one ARKit blendshape name."""
    for rule, region in _ARKIT_REGION_RULES:
        if rule(name):
            return region
    raise ValueError(f"no region rule for ARKit blendshape '{name}'")


ARKIT52 = register_space(
    _grouped_space(
        "arkit-52",
        [([name], arkit_region(name)) for name in ARKIT_BLENDSHAPES],
        "ARKit blendshapes (0..1) in Live Link Face CSV column order.",
    )
)

__all__ = [
    "ARKIT52",
    "ARKIT_BLENDSHAPES",
    "BFM79",
    "BFM_EXPRESSION_DIM",
    "FLAME",
    "FLAME_EXPRESSION_DIM",
    "FLAME_PARTS",
    "arkit_region",
]
