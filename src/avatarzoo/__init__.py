"""avatarzoo: a declarative model zoo for personal talking-head avatars.

    import avatarzoo
    avatar = avatarzoo.load("demo-v1")
    frame = avatar.render(expression)        # H×W×3 uint8, full frame

Importing this package does not import torch; `load` does, when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from avatarzoo.errors import AvatarZooError

if TYPE_CHECKING:
    from avatarzoo.runtime.avatar import Avatar

__version__ = "0.1.0"
__all__ = ["AvatarZooError", "__version__", "load"]


def load(name, *, device: str = "cpu", verify: bool = True) -> "Avatar":
    """Load an avatar: an id like "demo-v1" (local bundle store) or a bundle directory.

    Every file is checked against the bundle's manifest; nothing is unpickled.
    """
    from avatarzoo.runtime.avatar import load as _load

    return _load(name, device=device, verify=verify)
