"""The stage graph: which stages a recipe has, what each reads, and its key.

```
recording ─ ingest ─ track ─┬─ fit_renderer ─────┐
                            └─ fit_audio_driver ─┴─ evaluate ─ package
```

A stage's key is the sha256 of: its name, its code version (stages/code.py: the
sources of every avatarzoo module its implementation imports, and the versions of the
third-party packages among them that shape outputs), the slice of the resolved recipe
it reads (input files by content, not by path) and its inputs' keys. Equal keys mean
equal outputs, so a stage whose key is in the cache never runs again.

The stages of a kind (track, fit_renderer, fit_audio_driver) run the function their
kind registers (avatarzoo.kinds); a stage that uses a kind's code without running it
(evaluate renders with the renderer's runtime and re-tracks with the tracker) names
those kind parts in `uses`, so that their code joins its code version.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avatarzoo.errors import StageError
from avatarzoo.files import file_sha256
from avatarzoo.stages.code import PACKAGE_ROOT, code_version

if TYPE_CHECKING:
    from avatarzoo.kinds import KindConfig
    from avatarzoo.recipe.io import LoadedRecipe
    from avatarzoo.recipe.models import Recipe

# A kind's part a stage uses: (recipe section, part name), e.g. ("renderer", "runtime").
KindPart = tuple[str, str]


@dataclass(frozen=True)
class StageSpec:
    """One stage: what runs it, what it reads, and which slice of the recipe it hashes.

    A kind's stage (`kind`: the recipe section, e.g. "tracker") runs the "stage" part of
    the kind the recipe chose there, and exists only when the recipe has that section;
    any other stage runs the fixed "module:attr" `run`. `uses` are further kind parts
    whose code the stage runs (their modules join its code version)."""

    name: str
    inputs: tuple[str, ...]
    config: Callable[["LoadedRecipe"], dict[str, Any]]  # the recipe slice it depends on
    describe: str
    kind: str | None = None
    run: str | None = None
    uses: tuple[KindPart, ...] = ()
    optional_inputs: frozenset[str] = field(default_factory=frozenset)  # may be absent
    data_parallel: bool = False  # trains on world_size ranks when the build asks for > 1

    def present(self, recipe: "Recipe") -> bool:
        return self.kind is None or _kind(recipe, self.kind) is not None

    def function_ref(self, recipe: "Recipe") -> str:
        """The "module:attr" of the function that runs this stage for `recipe`."""
        if self.run is not None:
            return self.run
        cfg = _kind(recipe, self.kind)
        ref = cfg.registered.parts.get("stage")
        if ref is None:
            raise StageError(f"{self.kind} kind '{cfg.kind}' registers no 'stage' part")
        return ref

    def code_roots(self, recipe: "Recipe") -> tuple[str, ...]:
        roots = [self.function_ref(recipe).split(":")[0]]
        for section, part in self.uses:
            cfg = _kind(recipe, section)
            module = cfg.registered.module(part) if cfg is not None else None
            if module is not None:
                roots.append(module)
        return tuple(roots)

    def implemented(self, recipe: "Recipe") -> bool:
        """False only while the stage's module is not written yet (it does not exist);
        a module that exists but fails to import is an error, raised here."""
        module = self.function_ref(recipe).split(":")[0]
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name is not None and (module == e.name or module.startswith(e.name + ".")):
                return False
            raise
        return True


def _kind(recipe: "Recipe", section: str) -> "KindConfig | None":
    return getattr(recipe, section)


def _ingest_config(lr: "LoadedRecipe") -> dict[str, Any]:
    rec = lr.recipe.recording
    data = rec.model_dump(mode="json")
    data["video"] = file_sha256(lr.directory / rec.video)
    if rec.audio is not None:
        data["audio"] = file_sha256(lr.directory / rec.audio)
    return data


def _track_config(lr: "LoadedRecipe") -> dict[str, Any]:
    data = {"tracker": lr.recipe.tracker.model_dump(mode="json")}
    path = getattr(lr.recipe.tracker, "path", None)
    if path is not None:
        data["tracker"]["path"] = file_sha256(lr.directory / path)
    data["space_map"] = lr.recipe.space_map.model_dump(mode="json") if lr.recipe.space_map else None
    return data


def _section(name: str) -> Callable[["LoadedRecipe"], dict[str, Any]]:
    """A kind's recipe section, and whatever data its kind says its output depends on."""

    def get(lr: "LoadedRecipe") -> dict[str, Any]:
        value = getattr(lr.recipe, name)
        if value is None:
            return {}
        data = value.model_dump(mode="json")
        extra = value.key_material() if hasattr(value, "key_material") else {}
        return {**data, **({"data": extra} if extra else {})}

    return get


def _package_config(lr: "LoadedRecipe") -> dict[str, Any]:
    return {"id": lr.id, "card": lr.recipe.card.model_dump(mode="json"), "profile": lr.profile}


SPECS: dict[str, StageSpec] = {
    s.name: s
    for s in [
        StageSpec("ingest", (), _ingest_config, "decode, crop, masks, background plate, audio",
                  run="avatarzoo.ingest.stage:run"),
        StageSpec("track", ("ingest",), _track_config, "head pose, expressions, upper body",
                  kind="tracker"),
        StageSpec("fit_renderer", ("ingest", "track"), _section("renderer"), "train the renderer",
                  kind="renderer", data_parallel=True),
        StageSpec("fit_audio_driver", ("ingest", "track"), _section("audio_driver"),
                  "train speech → expressions", kind="audio_driver"),
        StageSpec("evaluate", ("ingest", "track", "fit_renderer", "fit_audio_driver"), lambda lr: {},
                  "held-out metrics (and lip sync from the held-out speech)", run="avatarzoo.evaluate.stage:run",
                  uses=(("renderer", "runtime"), ("tracker", "retrack"), ("audio_driver", "runtime")),
                  optional_inputs=frozenset({"fit_audio_driver"})),
        StageSpec("package", ("ingest", "track", "fit_renderer", "fit_audio_driver", "evaluate"),
                  _package_config, "write the bundle", run="avatarzoo.bundle.stage:run",
                  optional_inputs=frozenset({"fit_audio_driver"})),
    ]
}
ORDER = tuple(SPECS)


@dataclass(frozen=True)
class PlannedStage:
    spec: StageSpec
    key: str
    inputs: dict[str, str]  # input stage name -> its key
    config: dict[str, Any]

    @property
    def name(self) -> str:
        return self.spec.name


def plan_stages(lr: "LoadedRecipe", world_size: int = 1, *, code_root: Path = PACKAGE_ROOT
                ) -> list[PlannedStage]:
    """The stages of `lr` in run order with their keys (no stage is run). `code_root`
    is the package source the code versions are read from (a copy, in tests).

    `world_size` > 1: the data-parallel stages train on that many ranks, a global batch
    of batch_size × world_size, which changes their result: it joins their config (so
    their key and every key downstream), and keys at world_size 1 stay as they were."""
    if world_size < 1:
        raise ValueError(f"plan_stages: world_size must be ≥ 1, got {world_size}")
    keys: dict[str, str] = {}
    planned: list[PlannedStage] = []
    for name in ORDER:
        spec = SPECS[name]
        if not spec.present(lr.recipe):
            continue
        inputs = {i: keys[i] for i in spec.inputs if i in keys}
        config = spec.config(lr)
        if spec.data_parallel and world_size > 1:
            config = {**config, "world_size": world_size}
        implemented = spec.implemented(lr.recipe)
        material = {
            "stage": name,
            "code": code_version(spec.code_roots(lr.recipe), code_root) if implemented else "not written",
            "config": config,
            "inputs": inputs,
        }
        key = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]
        if implemented:  # a stage not written yet feeds nothing downstream
            keys[name] = key
        planned.append(PlannedStage(spec, key, inputs, config))
    return planned
