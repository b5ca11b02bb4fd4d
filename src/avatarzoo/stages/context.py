"""What a stage function receives. Every stage has exactly this signature:

    def run(ctx: StageContext) -> None

It reads its upstream outputs from `ctx.inputs[name]` (read-only directories), writes
its own files into `ctx.out` (an empty directory that the build renames into the cache
atomically once `run` returns), keeps resume state (checkpoints) in `ctx.scratch`
(kept when a run is interrupted, so a rerun of the same key resumes; removed after
success), logs through `ctx.log` (also written to `log.txt`
beside the output) and shows progress with `ctx.progress(...)`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from avatarzoo.recipe.models import Recipe

T = TypeVar("T")


@dataclass(frozen=True)
class StageContext:
    recipe: "Recipe"  # the resolved recipe (profile applied)
    recipe_dir: Path  # paths in the recipe are relative to this directory
    inputs: Mapping[str, Path]  # upstream stage name -> its output directory
    out: Path  # empty directory to write this stage's files into
    scratch: Path  # kept across interrupted runs of this stage key (checkpoints); removed on success
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("avatarzoo"))
    device: str = "cpu"  # "cpu" or "cuda"
    # data-parallel ranks for stages that train (fit_renderer): > 1 spawns that many
    # processes (one GPU each on cuda, gloo processes on cpu); other stages get 1
    world_size: int = 1

    def resolve(self, relative: str) -> Path:
        """A path written in the recipe, resolved against the recipe's directory."""
        return (self.recipe_dir / relative).resolve()

    def progress(
        self, iterable: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it"
    ) -> Iterator[T]:
        """Iterate with progress (count, rate, ETA): a bar on a terminal, else a line in
        the stage's log every 10% or 30 s (avatarzoo.progress)."""
        from avatarzoo.progress import progress

        yield from progress(iterable, total=total, desc=desc, unit=unit, emit=self.log.info)
