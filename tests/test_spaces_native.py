"""The native spaces: dimensions, channel order and region grouping as the formats write them."""

from __future__ import annotations

import pytest

from avatarzoo.spaces import REGIONS, ExpressionSpace, get_space, list_spaces
from avatarzoo.spaces.native import ARKIT_BLENDSHAPES, arkit_region


def test_native_spaces_are_registered() -> None:
    assert {"flame", "bfm-79", "arkit-52"} <= set(list_spaces())


@pytest.mark.parametrize("name", ["flame", "bfm-79", "arkit-52"])
def test_every_channel_is_in_exactly_one_region(name: str) -> None:
    space = get_space(name)
    covered = sorted(i for r in space.regions for i in space.indices(r))
    assert covered == list(range(space.dim))
    assert set(space.regions) <= set(REGIONS)


@pytest.mark.parametrize("name", ["flame", "bfm-79", "arkit-52"])
def test_round_trips_through_json(name: str) -> None:
    space = get_space(name)
    assert ExpressionSpace.from_json(space.to_json()) == space


def test_flame_layout_follows_the_frame_file() -> None:
    # exp 100, jaw 6D, eyelids 2, eyes 2 x 6D, concatenated in that order.
    flame = get_space("flame")
    assert flame.dim == 120
    assert flame.indices("residual") == tuple(range(0, 100))
    assert flame.indices("jaw") == tuple(range(100, 106))
    assert flame.indices("eyes") == (106, 107)
    assert flame.indices("gaze") == tuple(range(108, 120))
    assert flame.channels[106:108] == ("eyelid_left", "eyelid_right")


def test_bfm_is_79_residual_channels() -> None:
    bfm = get_space("bfm-79")
    assert bfm.dim == 79 and bfm.indices("residual") == tuple(range(79))


def test_arkit_order_and_regions() -> None:
    arkit = get_space("arkit-52")
    assert arkit.dim == 52 == len(set(ARKIT_BLENDSHAPES))
    # Live Link Face column order: left eye block, right eye block, jaw (Right before
    # Left), mouth, brows, cheeks, nose, tongue.
    assert arkit.channels[:2] == ("eyeBlinkLeft", "eyeLookDownLeft")
    assert arkit.channels[14:18] == ("jawForward", "jawRight", "jawLeft", "jawOpen")
    assert arkit.channels[-1] == "tongueOut"
    expected = {
        "eyeBlinkRight": "eyes", "eyeSquintLeft": "eyes", "eyeWideRight": "eyes",
        "eyeLookInLeft": "gaze", "eyeLookUpRight": "gaze",
        "browInnerUp": "brows", "jawOpen": "jaw", "mouthFunnel": "mouth",
        "tongueOut": "mouth", "cheekPuff": "cheeks", "noseSneerLeft": "cheeks",
    }  # fmt: skip
    for name, region in expected.items():
        assert arkit.channel(name) in arkit.indices(region), name
        assert arkit_region(name) == region
    sizes = {r: len(arkit.indices(r)) for r in arkit.regions}
    assert sizes == {"eyes": 6, "gaze": 8, "jaw": 4, "mouth": 24, "brows": 5, "cheeks": 5}
