"""The one registry of kinds: trackers, renderers, audio drivers and audio features.

A kind is a config model (a frozen pydantic model with a `kind` literal) that names
the code implementing it, by "module:attr" strings imported only when used:

```python
class FlatRendererConfig(KindConfig, family="renderer", parts={
        "stage": "my_pkg.flat:fit",             # def fit(ctx: StageContext) -> None
        "runtime": "my_pkg.flat:FlatRenderer"}):  # .from_dir / .from_tensors / .render
    kind: Literal["flat"] = "flat"
    space: str = "face-64"
```

Defining the class registers it; the recipe's `tracker`, `renderer`, `audio_driver`
and `features` fields accept exactly the registered configs of their family. The stage
graph, the evaluate stage, the runtime and the CLI look kinds up here and never branch
on a kind's name. Third-party kinds arrive through the `avatarzoo.plugins` entry-point
group: each entry names a module that defines such classes (or registers expression
spaces); the recipe models import them before they build their unions.

The parts each family's code asks for (a kind may leave out an optional one):

| family | parts |
|---|---|
| `tracker` | `stage` (the `track` stage); `retrack` (optional: `track_frames`-like function the evaluate stage re-tracks renders with) |
| `renderer` | `stage` (`fit_renderer`); `runtime` (class with `from_dir(path, device)`, `from_tensors(tensors, config, device)` — optionally `compile=True`, asked only when a user sets it —, `render(expression, pose, body)`, `size`) |
| `audio_driver` | `stage` (`fit_audio_driver`); `runtime` (class with `from_tensors(tensors, config, device)`) |
| `audio_features` | `extractor` (class built from the config: `from_config(cfg)`) |

This module imports nothing of the implementations and no torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Union

from pydantic import BaseModel, ConfigDict, Field

from avatarzoo.errors import NotFoundError, did_you_mean

if TYPE_CHECKING:
    from collections.abc import Mapping

FAMILIES = ("tracker", "renderer", "audio_driver", "audio_features")
ENTRY_POINT_GROUP = "avatarzoo.plugins"
# where the built-in kinds' configs are defined (imported by load_plugins, by name)
BUILTIN_MODULES = ("avatarzoo.recipe.models",)


@dataclass(frozen=True)
class Kind:
    """One registered kind: its family, name, config model and implementing parts."""

    family: str
    name: str
    config: type["KindConfig"]
    parts: "Mapping[str, str]"  # part name -> "module:attr"

    def module(self, part: str) -> str | None:
        """The module implementing `part`, or None when this kind has no such part."""
        ref = self.parts.get(part)
        return ref.split(":")[0] if ref else None

    def load(self, part: str) -> Any:
        """Import and return the object implementing `part` (an error naming the kind
        when it has none, or when its module fails to import)."""
        ref = self.parts.get(part)
        if ref is None:
            raise NotFoundError(f"{self.family} kind '{self.name}' has no '{part}'"
                                f" (it has: {', '.join(sorted(self.parts)) or 'nothing'})")
        module, _, attr = ref.partition(":")
        return getattr(importlib.import_module(module), attr)


_KINDS: dict[tuple[str, str], Kind] = {}


class KindConfig(BaseModel):
    """Base of every kind's config: frozen, unknown keys are errors, and defining a
    subclass with `family=` registers it (its name is the default of its `kind` field)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    family: ClassVar[str]

    def __init_subclass__(cls, *, family: str | None = None, parts: "Mapping[str, str] | None" = None,
                          **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)  # `family` and `parts` are for the hook below

    @classmethod
    def __pydantic_init_subclass__(cls, *, family: str | None = None,
                                   parts: "Mapping[str, str] | None" = None, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if family is None:
            return
        field = cls.model_fields.get("kind")
        if field is None or not isinstance(field.default, str):
            raise TypeError(f"{cls.__name__}: a kind config needs a field `kind: Literal[name] = name`")
        cls.family = family
        register(Kind(family, field.default, cls, dict(parts or {})))

    def key_material(self) -> dict:
        """Data besides this config and the code that the kind's stage output depends on
        (e.g. a shipped weights file, by content), for the stage key; {} by default."""
        return {}

    @property
    def registered(self) -> Kind:
        """The registry entry of this config's kind."""
        return get_kind(type(self).family, self.kind)  # type: ignore[attr-defined]


def register(kind: Kind) -> Kind:
    """Add `kind`; a second kind of the same family and name is an error."""
    if kind.family not in FAMILIES:
        raise ValueError(f"unknown kind family '{kind.family}'; families: {', '.join(FAMILIES)}")
    load_plugins()  # the built-ins first, so that a clash is found whoever comes second
    key = (kind.family, kind.name)
    old = _KINDS.get(key)
    if old is not None and old.config is not kind.config:
        raise ValueError(f"{kind.family} kind '{kind.name}' is registered twice: by "
                         f"{old.config.__module__}.{old.config.__name__} and "
                         f"{kind.config.__module__}.{kind.config.__name__}")
    _KINDS[key] = kind
    return kind


def get_kind(family: str, name: str) -> Kind:
    load_plugins()
    try:
        return _KINDS[(family, name)]
    except KeyError:
        known = list_kinds(family)
        raise NotFoundError(f"unknown {family} kind '{name}'{did_you_mean(name, known)};"
                            f" known: {', '.join(known) or 'none'}") from None


def list_kinds(family: str) -> list[str]:
    load_plugins()
    return sorted(name for fam, name in _KINDS if fam == family)


def config_union(family: str) -> Any:
    """The pydantic type accepting any registered config of `family`, by its `kind`."""
    load_plugins()
    configs = tuple(k.config for (fam, _), k in sorted(_KINDS.items()) if fam == family)
    if not configs:
        raise ValueError(f"no {family} kind is registered")
    return Annotated[Union[configs], Field(discriminator="kind")]  # type: ignore[valid-type]


_plugins_loaded = False


def load_plugins() -> None:
    """Import the built-in kinds' configs and every module named in the
    `avatarzoo.plugins` entry-point group (once). A plugin that fails to import is an
    error naming it, never silently skipped. A plugin module may import avatarzoo.kinds
    and avatarzoo.recipe.base, not avatarzoo.recipe.models (which imports it)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as e:
            from avatarzoo.errors import AvatarZooError

            raise AvatarZooError(f"avatarzoo plugin '{ep.name}' ({ep.value}) failed to import:"
                                 f" {type(e).__name__}: {e}") from e
