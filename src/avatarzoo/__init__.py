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


def load(name, *, revision: str | None = None, device: str = "cpu", verify: bool = True,
         compile: bool = False) -> "Avatar":
    """Load an avatar by name, the same way on every machine:

    - a bundle directory;
    - an id like "demo-v1": the local bundle store, then the zoo catalog
      (`zoo/catalog.yaml`: Hub repo + pinned revision) through the Hugging Face cache,
      downloading from the Hub only when it is not cached;
    - a Hub name, "hf-hub:user/repo@v2" (or `revision="v2"`).

    Every file is checked against the bundle's manifest (and a catalogued one against the
    catalog's sha256); nothing is unpickled. With HF_HUB_OFFLINE=1 nothing is requested.
    `compile=True` (CUDA): the renderer's compiled fast path, ~1.6× the frames per second
    after a one-off compile per batch size.
    """
    from avatarzoo.runtime.avatar import load as _load

    return _load(name, revision=revision, device=device, verify=verify, compile=compile)
