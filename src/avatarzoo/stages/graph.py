"""The stage graph: which stages a recipe has, what each reads, and its key.

```
recording ─ ingest ─ track ─┬─ fit_renderer ─────┐
                            └─ fit_audio_driver ─┴─ evaluate ─ package
```

A stage's key is the sha256 of: its name, its code version (the hash of the source
files of the packages that implement it), the slice of the resolved recipe it reads
(input files by content, not by path) and its inputs' keys. Equal keys mean equal
outputs, so a stage whose key is in the cache never runs again.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from avatarzoo.recipe.io import LoadedRecipe
from avatarzoo.stages.files import file_sha256

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class StageSpec:
    """How to run one stage kind: its function, code, inputs and recipe slice."""

    name: str
    function: str  # "module:attr", imported only when the stage runs
    code: tuple[str, ...]  # packages under avatarzoo/ whose source is its code version
    inputs: tuple[str, ...]
    config: Callable[[LoadedRecipe], dict[str, Any]]  # the recipe slice it depends on
    describe: str
    data_parallel: bool = False  # trains on world_size ranks when the build asks for > 1

    def implemented(self) -> bool:
        module = self.function.split(":")[0]
        try:
            return importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            return False

    def load(self) -> Callable[..., None]:
        module, attr = self.function.split(":")
        return getattr(importlib.import_module(module), attr)


def _ingest_config(lr: LoadedRecipe) -> dict[str, Any]:
    rec = lr.recipe.recording
    data = rec.model_dump(mode="json")
    data["video"] = file_sha256(lr.directory / rec.video)
    if rec.audio is not None:
        data["audio"] = file_sha256(lr.directory / rec.audio)
    return data


def _track_config(lr: LoadedRecipe) -> dict[str, Any]:
    data = {"tracker": lr.recipe.tracker.model_dump(mode="json")}
    path = getattr(lr.recipe.tracker, "path", None)
    if path is not None:
        data["tracker"]["path"] = file_sha256(lr.directory / path)
    data["space_map"] = lr.recipe.space_map.model_dump(mode="json") if lr.recipe.space_map else None
    return data


def _section(name: str) -> Callable[[LoadedRecipe], dict[str, Any]]:
    def get(lr: LoadedRecipe) -> dict[str, Any]:
        value = getattr(lr.recipe, name)
        return value.model_dump(mode="json") if value is not None else {}

    return get


def _package_config(lr: LoadedRecipe) -> dict[str, Any]:
    return {"id": lr.id, "card": lr.recipe.card.model_dump(mode="json"), "profile": lr.profile}


SPECS: dict[str, StageSpec] = {
    s.name: s
    for s in [
        StageSpec("ingest", "avatarzoo.ingest.stage:run", ("ingest",), (), _ingest_config,
                  "decode, crop, masks, background plate, audio"),
        StageSpec("track", "avatarzoo.trackers.stage:run", ("trackers", "spaces"), ("ingest",),
                  _track_config, "head pose, expressions, upper body"),
        StageSpec("fit_renderer", "avatarzoo.renderers.gaussian.stage:run",
                  ("renderers", "evaluate/image.py"),
                  ("ingest", "track"), _section("renderer"), "train the Gaussian avatar",
                  data_parallel=True),
        StageSpec("fit_audio_driver", "avatarzoo.drivers.stage:run", ("drivers",),
                  ("ingest", "track"), _section("audio_driver"), "train speech → expressions"),
        StageSpec("evaluate", "avatarzoo.evaluate.stage:run", ("evaluate", "trackers", "renderers"),
                  ("ingest", "track", "fit_renderer"), lambda lr: {}, "held-out metrics"),
        StageSpec("package", "avatarzoo.bundle.stage:run", ("bundle",),
                  ("ingest", "track", "fit_renderer", "fit_audio_driver", "evaluate"),
                  _package_config, "write the bundle"),
    ]
}
ORDER = tuple(SPECS)


@cache
def code_version(packages: tuple[str, ...]) -> str:
    """sha256 over the source files of `packages` (dirs or files relative to avatarzoo/)."""
    h = hashlib.sha256()
    for package in packages:
        root = PACKAGE_ROOT / package
        files = sorted(root.rglob("*.py")) if root.is_dir() else [root] if root.is_file() else []
        for f in files:
            h.update(f.relative_to(PACKAGE_ROOT).as_posix().encode())
            h.update(b"\0")
            h.update(f.read_bytes())
    return h.hexdigest()


@dataclass(frozen=True)
class PlannedStage:
    spec: StageSpec
    key: str
    inputs: dict[str, str]  # input stage name -> its key
    config: dict[str, Any]

    @property
    def name(self) -> str:
        return self.spec.name


def plan_stages(lr: LoadedRecipe, world_size: int = 1) -> list[PlannedStage]:
    """The stages of `lr` in run order with their keys (no stage is run).

    `world_size` > 1: the data-parallel stages train on that many ranks, a global batch
    of batch_size × world_size, which changes their result: it joins their config (so
    their key and every key downstream), and keys at world_size 1 stay as they were."""
    if world_size < 1:
        raise ValueError(f"plan_stages: world_size must be ≥ 1, got {world_size}")
    present = set(ORDER)
    if lr.recipe.audio_driver is None:
        present.discard("fit_audio_driver")
    keys: dict[str, str] = {}
    planned: list[PlannedStage] = []
    for name in ORDER:
        if name not in present:
            continue
        spec = SPECS[name]
        inputs = {i: keys[i] for i in spec.inputs if i in keys}
        config = spec.config(lr)
        if spec.data_parallel and world_size > 1:
            config = {**config, "world_size": world_size}
        material = {
            "stage": name,
            "code": code_version(spec.code),
            "config": config,
            "inputs": inputs,
        }
        key = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]
        if spec.implemented():  # a stage not written yet feeds nothing downstream
            keys[name] = key
        planned.append(PlannedStage(spec, key, inputs, config))
    return planned
