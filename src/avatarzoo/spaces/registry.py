"""The registry of known expression spaces.

Built-in spaces register on import of their modules (listed in `_BUILTIN_MODULES`);
third-party ones through the `avatarzoo.plugins` entry point. A duplicate name raises.
"""

from __future__ import annotations

import importlib

from avatarzoo.errors import NotFoundError, SpaceError, did_you_mean
from avatarzoo.spaces.space import ExpressionSpace

_SPACES: dict[str, ExpressionSpace] = {}
_BUILTIN_MODULES = (
    "avatarzoo.spaces.builtin",
    "avatarzoo.spaces.native",
)
_loaded = False


def register_space(space: ExpressionSpace) -> ExpressionSpace:
    if space.name in _SPACES and _SPACES[space.name] != space:
        raise SpaceError(f"expression space '{space.name}' is registered twice")
    _SPACES[space.name] = space
    return space


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:  # a part not written yet
            if e.name != module:
                raise


def get_space(name: str) -> ExpressionSpace:
    _load_builtins()
    try:
        return _SPACES[name]
    except KeyError:
        raise NotFoundError(
            f"unknown expression space '{name}'{did_you_mean(name, _SPACES)};"
            f" known: {', '.join(sorted(_SPACES))}"
        ) from None


def list_spaces() -> list[str]:
    _load_builtins()
    return sorted(_SPACES)
