"""Running a recipe's stages: what `avatarzoo plan` shows and `avatarzoo build` does."""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from avatarzoo.errors import AvatarZooError, StageError, did_you_mean
from avatarzoo.recipe.io import LoadedRecipe
from avatarzoo.stages.cache import StageCache
from avatarzoo.stages.context import StageContext
from avatarzoo.files import atomic_write_json
from avatarzoo.stages.graph import ORDER, PlannedStage, plan_stages

Status = Literal["cached", "to run", "not implemented"]


@dataclass(frozen=True)
class StageStatus:
    stage: PlannedStage
    status: Status


def plan(lr: LoadedRecipe, cache: StageCache, *, world_size: int = 1) -> list[StageStatus]:
    out = []
    for st in plan_stages(lr, world_size):
        if cache.has(st.name, st.key):
            status: Status = "cached"
        elif not st.spec.implemented(lr.recipe):
            status = "not implemented"
        else:
            status = "to run"
        out.append(StageStatus(st, status))
    return out


def format_plan(lr: LoadedRecipe, statuses: list[StageStatus]) -> str:
    title = f"{lr.id}" + (f" (profile {lr.profile})" if lr.profile else "")
    lines = [f"plan for {title} from {lr.path}"]
    for s in statuses:
        mark = {"cached": "✓", "to run": "+", "not implemented": "-"}[s.status]
        lines.append(f"  {mark} {s.stage.name:<17} {s.stage.key[:16]}  {s.status:<16} {s.stage.spec.describe}")
    return "\n".join(lines)


def _logger(path: Path, stage: str) -> tuple[logging.Logger, logging.Handler]:
    log = logging.getLogger(f"avatarzoo.stage.{stage}")
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter(f"  [{stage}] %(message)s"))
    log.addHandler(console)
    return log, handler


def run_stage(lr: LoadedRecipe, cache: StageCache, st: PlannedStage, *, device: str,
              world_size: int = 1) -> Path:
    """Run one stage (its inputs must be cached) unless its key is cached already.
    A data-parallel stage gets `world_size` (it spawns its ranks itself); the others 1."""
    with cache.lock(f"stage-{st.key}"):
        if cache.has(st.name, st.key):
            return cache.output(st.name, st.key)
        cache.clear_stale_tmp(st.name, st.key)
        tmp = cache.new_tmp(st.name, st.key)
        scratch = cache.scratch(st.name, st.key)
        scratch.mkdir(parents=True, exist_ok=True)
        log, handler = _logger(tmp / "log.txt", st.name)
        inputs = {name: cache.output(name, key) for name, key in st.inputs.items()}
        ctx = StageContext(
            recipe=lr.recipe, recipe_dir=lr.directory, inputs=inputs, out=tmp,
            scratch=scratch, log=log, device=device,
            world_size=world_size if st.spec.data_parallel else 1,
        )
        started = time.perf_counter()
        try:
            st.spec.load(lr.recipe)(ctx)
        except AvatarZooError:
            raise
        except Exception as e:  # a bug, not bad input: keep the traceback in the log
            log.exception("stage %s failed", st.name)
            raise StageError(
                f"stage {st.name} failed: {type(e).__name__}: {e} (log: {tmp / 'log.txt'})"
            ) from e
        finally:
            log.removeHandler(handler)
            handler.close()
            for h in list(log.handlers):
                log.removeHandler(h)
        seconds = time.perf_counter() - started
        atomic_write_json(
            tmp / "stage.json",
            {"stage": st.name, "key": st.key, "inputs": st.inputs, "config": st.config,
             "recipe": str(lr.path), "profile": lr.profile, "seconds": round(seconds, 3)},
        )
        return cache.commit(st.name, st.key, tmp)


def build(
    lr: LoadedRecipe,
    cache: StageCache,
    *,
    until: str | None = None,
    device: str = "auto",
    world_size: int = 1,
    echo=print,
) -> dict[str, Path]:
    """Run every stage of `lr` that is not cached, in order, up to `until` (inclusive).

    `world_size` > 1 trains the data-parallel stages (fit_renderer) on that many ranks:
    one GPU each on cuda (NCCL), gloo processes on cpu. It is part of their keys.

    Returns the output directory of each stage that exists. Stages whose code is not
    written yet are skipped with a message; stages that need them are skipped too.
    """
    if until is not None and until not in ORDER:
        raise StageError(f"unknown stage '{until}'{did_you_mean(until, ORDER)}; stages: {', '.join(ORDER)}")
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    outputs: dict[str, Path] = {}
    missing: set[str] = set()
    with cache.lock(f"recipe-{lr.id}"):
        for s in plan(lr, cache, world_size=world_size):
            st = s.stage
            lacking = [i for i in st.spec.inputs if i in missing]
            if s.status == "not implemented":
                echo(f"- {st.name}: not implemented yet; skipped (no placeholder stands in for it)")
                missing.add(st.name)
            elif set(lacking) - st.spec.optional_inputs:
                echo(f"- {st.name}: skipped, needs {', '.join(lacking)}")
                missing.add(st.name)
            elif s.status == "cached":
                echo(f"✓ {st.name} cached ({st.key[:16]})")
                outputs[st.name] = cache.output(st.name, st.key)
            else:
                echo(f"▶ {st.name} ({st.key[:16]}): {st.spec.describe}")
                started = time.perf_counter()
                outputs[st.name] = run_stage(lr, cache, st, device=device, world_size=world_size)
                echo(f"✓ {st.name} done in {time.perf_counter() - started:.1f} s")
            if st.name == until:
                break
    return outputs


def stage_record(path: Path) -> dict:
    return json.loads((path / "stage.json").read_text())
