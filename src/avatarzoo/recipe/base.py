"""What every recipe model shares: frozen, unknown keys are errors, stable names."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*[a-z0-9]$|^[a-z0-9]$"


class Strict(BaseModel):
    """Base of every recipe model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def relative_posix(v: str | None) -> str | None:
    """A path as written in a recipe: '/'-separated, so it hashes the same everywhere."""
    if v is not None and "\\" in v:
        raise ValueError("use '/' in paths so that the recipe hashes the same everywhere")
    return v
