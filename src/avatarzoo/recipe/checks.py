"""Checks across fields that pydantic cannot see: files exist, expression spaces meet."""

from __future__ import annotations

from pathlib import Path

from avatarzoo.errors import AvatarZooError, RecipeError
from avatarzoo.recipe.locate import where
from avatarzoo.recipe.models import Recipe


def check_recipe(r: Recipe, *, path: Path, text: str, check_files: bool = True) -> None:
    """Raise one RecipeError listing every problem of `r` (read from `path`, whose
    `text` locates each field), or return."""
    directory = path.parent
    errors: list[str] = []

    def err(loc: tuple, msg: str) -> None:
        errors.append(f"{where(path, text, loc)}: {'.'.join(map(str, loc))}: {msg}")

    if check_files:
        for loc, rel in [
            (("recording", "video"), r.recording.video),
            (("recording", "audio"), r.recording.audio),
            (("tracker", "path"), getattr(r.tracker, "path", None)),
        ]:
            if rel is not None and not (directory / rel).exists():
                err(loc, f"file not found: {directory / rel} (paths are relative to the recipe file)")

    # Expression spaces: every name must be known, and the tracker's space must be the
    # one each consumer reads, or be mapped to it by `space_map`.
    from avatarzoo.spaces import get_space

    for loc, name in [
        (("tracker", "space"), r.tracker.space),
        (("space_map", "to"), r.space_map.to if r.space_map else None),
        (("renderer", "space"), r.renderer.space),
        (("audio_driver", "space"), r.audio_driver.space if r.audio_driver else None),
    ]:
        if name is None:
            continue
        try:
            get_space(name)
        except AvatarZooError as e:
            err(loc, str(e))
    native = getattr(r.tracker, "native_space", None)  # a kind that reads files of one space
    if native is not None and r.tracker.space != native:
        err(("tracker", "space"), f"{r.tracker.format} files hold the '{native}' space, not"
            f" '{r.tracker.space}'; set tracker.space: {native}")
    produced = r.space_map.to if r.space_map else r.tracker.space
    consumers = [(("renderer", "space"), r.renderer.space)]
    if r.audio_driver is not None:
        consumers.append((("audio_driver", "space"), r.audio_driver.space))
    for loc, consumed in consumers:
        if consumed != produced:
            how = (
                f"the space map produces '{produced}'"
                if r.space_map
                else f"the tracker emits '{produced}'"
            )
            err(
                loc,
                f"consumes expression space '{consumed}' but {how}; set {loc[0]}.space:"
                f" {produced}, or declare `space_map: {{kind: linear, to: {consumed}}}`",
            )
    if errors:
        raise RecipeError("\n".join(errors))
