"""The ExpressionSpace data type."""

from __future__ import annotations

import json
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, model_validator

Region = Literal["brows", "eyes", "gaze", "mouth", "jaw", "cheeks", "pose", "residual"]
REGIONS: tuple[str, ...] = get_args(Region)


class ExpressionSpace(BaseModel):
    """A named expression space: `dim` channels, each named, grouped by facial region.

    `regions` maps a region to the indices of its channels; a channel belongs to at most
    one region. `residual` holds channels with no single facial meaning (e.g. PCA of
    pose-normalised landmarks), kept so that nothing the face does is lost.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    dim: int
    channels: tuple[str, ...]
    regions: dict[Region, tuple[int, ...]]
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> "ExpressionSpace":
        if len(self.channels) != self.dim:
            raise ValueError(
                f"space '{self.name}': {len(self.channels)} channel names for dim {self.dim}"
            )
        if len(set(self.channels)) != self.dim:
            raise ValueError(f"space '{self.name}': channel names repeat")
        seen: set[int] = set()
        for region, indices in self.regions.items():
            for i in indices:
                if not 0 <= i < self.dim:
                    raise ValueError(
                        f"space '{self.name}': region {region} has index {i}, outside 0..{self.dim - 1}"
                    )
                if i in seen:
                    raise ValueError(f"space '{self.name}': channel {i} is in two regions")
                seen.add(i)
        return self

    def indices(self, region: Region) -> tuple[int, ...]:
        """Channel indices of `region` (empty when the space has none)."""
        return self.regions.get(region, ())

    def channel(self, name: str) -> int:
        """Index of the channel called `name`."""
        try:
            return self.channels.index(name)
        except ValueError:
            from avatarzoo.errors import SpaceError, did_you_mean

            raise SpaceError(
                f"space '{self.name}' has no channel '{name}'{did_you_mean(name, self.channels)}"
            ) from None

    def to_json(self) -> str:
        """Canonical JSON (sorted keys), as stored in file headers (`avatarzoo.space`)."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "ExpressionSpace":
        return cls.model_validate_json(text)
