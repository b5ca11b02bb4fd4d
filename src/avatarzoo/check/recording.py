"""The recipe a check runs, and its ingest and track stages through the build's cache.

`avatarzoo check VIDEO` runs exactly the stages `avatarzoo build` runs, with the same
keys, so a later build of a recipe with the same recording and recording settings
finds ingest and track cached. Without `--recipe`, the check writes a recipe for the
video (the defaults a new recipe gets: 25 fps, a 512 px head-and-shoulders crop) into
its output directory, where it is a starting point for `avatarzoo build`. With a
recipe whose video is another file, the recipe's settings are kept and only the video
is replaced (in a copy of the recipe written beside the report).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from avatarzoo.errors import InputError
from avatarzoo.recipe.io import LoadedRecipe, load_recipe, parse_recipe_text
from avatarzoo.stages.build import build
from avatarzoo.stages.cache import StageCache
from avatarzoo.stages.graph import plan_stages

RECIPE_FILE = "recipe.yaml"
CONSENT = ("not stated yet: `avatarzoo check` wrote this recipe; say who recorded the subject and that "
           "they consent before you publish an avatar built from it")


@dataclass(frozen=True)
class StageRun:
    """The stages' output directories (None: not reached) and the keys of both; `problem`
    is the recording's problem that stopped a stage, if one did."""

    ingest: Path | None
    track: Path | None
    keys: dict[str, str]
    problem: str | None


def _avatar_name(video: Path) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", video.stem.lower()).strip("-")
    return name or "recording"


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


def recipe_for(video: Path, out: Path, *, recipe: Path | None = None, profile: str | None = None) -> tuple[LoadedRecipe, bool]:
    """The LoadedRecipe to check `video` with, and whether it was written here (into
    `out`/recipe.yaml). `recipe` (with `profile`) gives the settings; without it, the
    defaults of a new recipe."""
    video = Path(video)
    if not video.is_file():
        raise InputError(f"{video}: no such file (expected the recording to check)")
    out.mkdir(parents=True, exist_ok=True)
    if recipe is not None:
        lr = load_recipe(recipe, profile=profile)
        if (lr.directory / lr.recipe.recording.video).resolve() == video.resolve():
            return lr, False
        data = parse_recipe_text(Path(recipe).read_text(encoding="utf-8"), Path(recipe))
        rec = dict(data.get("recording") or {})
        rec["video"] = _relative(video, out)
        rec.pop("audio", None)  # the recipe's separate audio belongs to its own video
        data["recording"] = rec
        tracker = data.get("tracker")
        if isinstance(tracker, dict) and isinstance(tracker.get("path"), str):
            tracker["path"] = _relative(Path(recipe).parent / tracker["path"], out)
        header = (f"# Written by `avatarzoo check`: {recipe}'s settings with the recording {video.name}.\n")
    else:
        data = {
            "avatar": _avatar_name(video),
            "version": 1,
            "recording": {"video": _relative(video, out)},
            "card": {"license": "other", "consent": CONSENT},
        }
        header = ("# Written by `avatarzoo check` for this recording, with a new recipe's defaults.\n"
                  "# A starting point for `avatarzoo build`: the check's ingest and track stages are cached.\n")
    path = out / RECIPE_FILE
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return load_recipe(path, profile=profile), True


def run_stages(lr: LoadedRecipe, cache: StageCache, *, echo=print) -> StageRun:
    """Build `lr` until `track` (cached stages are reused). An InputError about the
    recording (no face, too many frames without one) becomes `problem`; other errors raise."""
    keys = {st.name: st.key for st in plan_stages(lr) if st.name in ("ingest", "track")}
    problem = None
    try:
        build(lr, cache, until="track", device="cpu", echo=echo)
    except InputError as e:
        problem = str(e)

    def done(name: str) -> Path | None:
        return cache.output(name, keys[name]) if name in keys and cache.has(name, keys[name]) else None

    return StageRun(ingest=done("ingest"), track=done("track"), keys=keys, problem=problem)
