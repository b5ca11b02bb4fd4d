"""Typed data the zoo publishes besides recipes: bundle header metadata and the catalog.

`zoo/catalog.yaml` lists published versions: where each lives on the Hugging Face Hub
(repo, tag and the pinned revision it resolved to), the sha256 and size of its model
file and its licence; `load("name-vN")` resolves through it (avatarzoo.hub). The
schemas in `schemas/` are generated from these; the catalog is validated on read.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from avatarzoo.recipe.models import NAME_PATTERN

ID_PATTERN = r"^[a-z0-9][a-z0-9-]*-v[0-9]+$"
REPO_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+$"


class BundleMetadata(BaseModel):
    """The `__metadata__` of a bundle's model.safetensors (all values are strings)."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    format_version: str = Field(alias="avatarzoo.format_version")
    id: str = Field(alias="avatarzoo.id", pattern=ID_PATTERN)
    recipe_sha256: str = Field(alias="avatarzoo.recipe_sha256", pattern=r"^[0-9a-f]{64}$")
    space: str = Field(alias="avatarzoo.space", description="JSON of the ExpressionSpace.")
    renderer: str = Field(alias="avatarzoo.renderer")
    size: str = Field(alias="avatarzoo.size")
    fps: str = Field(alias="avatarzoo.fps")
    audio_driver: str = Field(alias="avatarzoo.audio_driver")


class CatalogEntry(BaseModel):
    """One published avatar version: where it lives on the Hub, pinned, and what it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN, description="Avatar id, '<avatar>-v<version>'.")
    avatar: str = Field(pattern=NAME_PATTERN)
    version: int = Field(ge=1)
    repo: str = Field(pattern=REPO_PATTERN, max_length=96, description="Hub repo id, 'user/name'.")
    tag: str = Field(pattern=r"^v[0-9]+$", description="The git tag `push` made: 'v<version>'.")
    revision: str = Field(pattern=r"^[0-9a-f]{40}$", description="Pinned commit sha the tag resolved to.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of model.safetensors.")
    size: int = Field(ge=0, description="Bytes of model.safetensors.")
    license: str = Field(min_length=1, description="The card's licence (SPDX-style id, e.g. cc-by-nc-4.0).")
    card: str = Field(pattern=r"^cards/[a-z0-9][a-z0-9-]*-v[0-9]+\.md$",
                      description="The model card, relative to the zoo root: 'cards/<id>.md'.")

    @model_validator(mode="after")
    def _consistent(self) -> "CatalogEntry":
        expected = {"id": f"{self.avatar}-v{self.version}", "tag": f"v{self.version}",
                    "card": f"cards/{self.id}.md"}
        for name, value in expected.items():
            if getattr(self, name) != value:
                raise ValueError(f"{name} must be '{value}' (from avatar and version), got '{getattr(self, name)}'")
        return self


class Catalog(BaseModel):
    """zoo/catalog.yaml: every published avatar version, one entry per id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    avatars: tuple[CatalogEntry, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> "Catalog":
        seen: set[str] = set()
        for e in self.avatars:
            if e.id in seen:
                raise ValueError(f"avatar id '{e.id}' is listed twice")
            seen.add(e.id)
        return self

    def get(self, avatar_id: str) -> CatalogEntry | None:
        return next((e for e in self.avatars if e.id == avatar_id), None)

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.avatars]
