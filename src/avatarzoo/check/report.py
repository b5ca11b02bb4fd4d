"""The check's report: typed data (pydantic), written as `report.json` beside the page.

A report holds one `Item` per thing `avatarzoo check` tests (items.py), each with a
verdict, the numbers behind it, the rule it was judged by, what to redo, and the
moments (frames and times) that fail. `CheckReport.exit_code` is what the command
exits with: 1 when any item fails (the recording needs a re-take), else 0.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Verdict = Literal["pass", "warn", "fail", "skip"]
# How bad each verdict is; "skip" (not measurable) never fails a recording.
SEVERITY: dict[str, int] = {"skip": 0, "pass": 1, "warn": 2, "fail": 3}
EXIT_GOOD = 0
EXIT_RETAKE = 1

Number = float | int | str | bool | None


class Moment(BaseModel):
    """One frame a person should look at: where an item fails (or an event was seen)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frame: int = Field(ge=0, description="Index into the ingested frames.")
    time: float = Field(description="Seconds in the source video.")
    note: str = Field(description="What is wrong (or seen) in this frame.")


class Item(BaseModel):
    """One tested property of the recording."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(description="Stable name, e.g. 'duration'.")
    title: str
    verdict: Verdict
    summary: str = Field(description="One line: what was measured, against the rule.")
    rule: str = Field(description="The thresholds and why they are what they are.")
    fix: str = Field("", description="What to redo, for a warn or a fail.")
    numbers: dict[str, Number] = Field(default_factory=dict)
    moments: list[Moment] = Field(default_factory=list)


class CheckReport(BaseModel):
    """Everything `avatarzoo check VIDEO` found."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    video: str
    recipe: str = Field(description="The recipe whose ingest and track stages were used.")
    recipe_generated: bool = Field(description="True when check wrote that recipe for the video.")
    crop_size: int
    fps: float
    frames: int
    stages: dict[str, str] = Field(default_factory=dict, description="Stage name -> its cache key.")
    items: list[Item]
    seconds: float = Field(0.0, description="Wall time of the whole check.")

    @property
    def verdict(self) -> Verdict:
        return max((i.verdict for i in self.items), key=SEVERITY.__getitem__, default="pass")

    @property
    def exit_code(self) -> int:
        return EXIT_RETAKE if any(i.verdict == "fail" for i in self.items) else EXIT_GOOD

    def item(self, key: str) -> Item:
        for i in self.items:
            if i.key == key:
                return i
        raise KeyError(f"no item '{key}' in the report; items: {', '.join(i.key for i in self.items)}")
