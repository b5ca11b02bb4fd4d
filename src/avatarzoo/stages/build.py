"""Running a recipe's stages: what `avatarzoo plan` shows and `avatarzoo build` does."""

from __future__ import annotations

import importlib
import json
import logging
import multiprocessing
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
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


@dataclass(frozen=True)
class StageJob:
    """One stage run, in plain data, so that it can also run in a spawned process: the
    recipe file and profile it comes from, the stage, its key, its inputs' keys, its
    recipe slice and the "module:attr" function that runs it."""

    recipe: Path
    profile: str | None
    name: str
    key: str
    inputs: dict[str, str]
    config: dict
    function: str
    world_size: int = 1

    @classmethod
    def of(cls, lr: LoadedRecipe, st: PlannedStage, world_size: int = 1) -> "StageJob":
        return cls(lr.path, lr.profile, st.name, st.key, dict(st.inputs), st.config,
                   st.spec.function_ref(lr.recipe), world_size if st.spec.data_parallel else 1)


def run_stage(lr: LoadedRecipe, cache: StageCache, st: PlannedStage, *, device: str,
              world_size: int = 1) -> Path:
    """Run one stage (its inputs must be cached) unless its key is cached already.
    A data-parallel stage gets `world_size` (it spawns its ranks itself); the others 1."""
    return _execute(lr, cache, StageJob.of(lr, st, world_size), device)


def _execute(lr: LoadedRecipe, cache: StageCache, job: StageJob, device: str) -> Path:
    with cache.lock(f"stage-{job.key}"):
        if cache.has(job.name, job.key):
            return cache.output(job.name, job.key)
        cache.clear_stale_tmp(job.name, job.key)
        tmp = cache.new_tmp(job.name, job.key)
        scratch = cache.scratch(job.name, job.key)
        scratch.mkdir(parents=True, exist_ok=True)
        log, handler = _logger(tmp / "log.txt", job.name)
        inputs = {name: cache.output(name, key) for name, key in job.inputs.items()}
        ctx = StageContext(
            recipe=lr.recipe, recipe_dir=lr.directory, inputs=inputs, out=tmp,
            scratch=scratch, log=log, device=device, world_size=job.world_size,
        )
        module, attr = job.function.split(":")
        started = time.perf_counter()
        try:
            getattr(importlib.import_module(module), attr)(ctx)
        except AvatarZooError:
            raise
        except Exception as e:  # a bug, not bad input: keep the traceback in the log
            log.exception("stage %s failed", job.name)
            raise StageError(
                f"stage {job.name} failed: {type(e).__name__}: {e} (log: {tmp / 'log.txt'})"
            ) from e
        finally:
            log.removeHandler(handler)
            handler.close()
            for h in list(log.handlers):
                log.removeHandler(h)
        seconds = time.perf_counter() - started
        atomic_write_json(
            tmp / "stage.json",
            {"stage": job.name, "key": job.key, "inputs": job.inputs, "config": job.config,
             "recipe": str(job.recipe), "profile": job.profile, "seconds": round(seconds, 3)},
        )
        return cache.commit(job.name, job.key, tmp)


def _execute_spawned(job: StageJob, cache_root: str, device: str) -> str:
    """`_execute` in a spawned process: the recipe is loaded again from its file, and
    refused if the stage's slice of it is no longer the one it was planned (and keyed)
    with: its output would be cached under a key that does not describe it."""
    from avatarzoo.recipe import load_recipe

    lr = load_recipe(job.recipe, profile=job.profile)
    now = {st.name: st.config for st in plan_stages(lr, job.world_size)}.get(job.name)
    if now != job.config:
        raise StageError(f"stage {job.name}: {job.recipe} changed during the build; nothing was cached "
                         "for it, build again")
    return str(_execute(lr, StageCache.open(cache_root), job, device))


def _ready(s: StageStatus, statuses: list[StageStatus], outputs: dict[str, Path]) -> bool:
    """Every input of `s` that this recipe has is built (an absent optional one is fine)."""
    planned = {x.stage.name for x in statuses}
    return all(i in outputs or (i not in planned and i in s.stage.spec.optional_inputs)
               for i in s.stage.spec.inputs)


def default_jobs(device: str) -> int:
    """Stages at once: 2 on CUDA (the CPU-only driver fit beside the GPU renderer fit),
    1 on CPU (there they would share the same few cores)."""
    return 2 if device == "cuda" else 1


def build(
    lr: LoadedRecipe,
    cache: StageCache,
    *,
    until: str | None = None,
    device: str = "auto",
    world_size: int = 1,
    jobs: int | None = None,
    echo=print,
) -> dict[str, Path]:
    """Run every stage of `lr` that is not cached, in order, up to `until` (inclusive).

    `world_size` > 1 trains the data-parallel stages (fit_renderer) on that many ranks:
    one GPU each on cuda (NCCL), gloo processes on cpu. It is part of their keys.

    `jobs` > 1 (default: `default_jobs(device)`): when a stage starts, up to jobs − 1
    later stages whose inputs are all built and that do not need it (fit_audio_driver
    beside fit_renderer) start beside it, each in a spawned process. Outputs and keys
    are the same as one at a time: each stage reads only its inputs and seeds itself.

    Returns the output directory of each stage that exists. Stages whose code is not
    written yet are skipped with a message; stages that need them are skipped too.
    """
    if until is not None and until not in ORDER:
        raise StageError(f"unknown stage '{until}'{did_you_mean(until, ORDER)}; stages: {', '.join(ORDER)}")
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    jobs = default_jobs(device) if jobs is None else jobs
    if jobs < 1:
        raise StageError(f"build: jobs must be ≥ 1, got {jobs}")
    outputs: dict[str, Path] = {}
    missing: set[str] = set()
    beside: dict[str, Future] = {}  # stage name -> its run in a spawned process
    pool: ProcessPoolExecutor | None = None
    with cache.lock(f"recipe-{lr.id}"):
        try:
            statuses = plan(lr, cache, world_size=world_size)
            last = next((i for i, s in enumerate(statuses) if s.stage.name == until), len(statuses) - 1)
            for i, s in enumerate(statuses[: last + 1]):
                st = s.stage
                lacking = [x for x in st.spec.inputs if x in missing]
                if s.status == "not implemented":
                    echo(f"- {st.name}: not implemented yet; skipped (no placeholder stands in for it)")
                    missing.add(st.name)
                elif set(lacking) - st.spec.optional_inputs:
                    echo(f"- {st.name}: skipped, needs {', '.join(lacking)}")
                    missing.add(st.name)
                elif s.status == "cached":
                    echo(f"✓ {st.name} cached ({st.key[:16]})")
                    outputs[st.name] = cache.output(st.name, st.key)
                elif st.name in beside:
                    outputs[st.name] = Path(beside.pop(st.name).result())
                    seconds = stage_record(outputs[st.name]).get("seconds", float("nan"))
                    echo(f"✓ {st.name} done in {seconds:.1f} s (in its own process)")
                else:
                    for later in statuses[i + 1: last + 1]:
                        if len(beside) >= jobs - 1:
                            break
                        name = later.stage.name
                        if (later.status == "to run" and name not in beside
                                and st.name not in later.stage.spec.inputs and _ready(later, statuses, outputs)):
                            if pool is None:
                                pool = ProcessPoolExecutor(jobs - 1, mp_context=multiprocessing.get_context("spawn"))
                            echo(f"▶ {name} ({later.stage.key[:16]}): {later.stage.spec.describe} "
                                 f"(beside {st.name}, in its own process)")
                            job = StageJob.of(lr, later.stage, world_size)
                            beside[name] = pool.submit(_execute_spawned, job, str(cache.root), device)
                    echo(f"▶ {st.name} ({st.key[:16]}): {st.spec.describe}")
                    started = time.perf_counter()
                    outputs[st.name] = run_stage(lr, cache, st, device=device, world_size=world_size)
                    echo(f"✓ {st.name} done in {time.perf_counter() - started:.1f} s")
        finally:
            if pool is not None:  # a stage beside a failed one still finishes (and is cached)
                pool.shutdown(wait=True)
    return outputs


def stage_record(path: Path) -> dict:
    return json.loads((path / "stage.json").read_text())
