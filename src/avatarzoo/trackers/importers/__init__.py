"""Importers of other trackers' native outputs, read as those trackers write them.

One way in: `import_tracking(format, path, fps=...)` -> `ImportedTracking` (expression
in the format's native space, head pose in OpenCV camera axes, times in seconds), then
`resample(result, times)` onto the recording's frame times.

| format             | reads                                  | space      | pose     |
|--------------------|----------------------------------------|------------|----------|
| `metrical-tracker` | directory of `.frame` files            | `flame`    | rigid    |
| `ad-nerf-bfm`      | `track_params.pt` (AD-NeRF, GaussianTalker) | `bfm-79` | rigid |
| `arkit-csv`        | Live Link Face `.csv`                  | `arkit-52` | rotation |

`fps` is the rate of the native output, not of the recording: the rate the tool
extracted frames at (both metrical-tracker and AD-NeRF/GaussianTalker use 25 unless
told otherwise), or for `arkit-csv` the timecode rate (the app's default 60).
`DEFAULT_FPS` holds these defaults.

Torch is imported only while reading `.frame` / `.pt` files.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from avatarzoo.errors import InputError, did_you_mean
from avatarzoo.recipe.trackers import IMPORT_FORMATS
from avatarzoo.trackers.importers.result import ImportedTracking, PoseKind, resample

FORMATS: tuple[str, ...] = tuple(IMPORT_FORMATS)
DEFAULT_FPS: dict[str, float] = {name: f.fps for name, f in IMPORT_FORMATS.items()}


def space_of(format: str) -> str:
    """The expression space a format's files hold (e.g. 'flame' for metrical-tracker)."""
    return _reader(format).SPACE


def import_tracking(format: str, path: Path | str, *, fps: float) -> ImportedTracking:
    """Read another tracker's output at `path`.

    Args:
        format: one of `FORMATS`.
        path: the file or directory the tracker wrote (see the table above).
        fps: frame rate of the native output (see the module docstring, `DEFAULT_FPS`).

    Returns:
        `ImportedTracking`: expression [N, D] float32, pose [N, 4, 4] float32 or None,
        time [N] float64 seconds, space name.

    Raises:
        InputError: unknown format, or a file that is missing or not as the tracker
            writes it; the message names the file and the frame or line.
    """
    if not fps > 0:
        raise InputError(f"fps must be positive, got {fps}")
    return _reader(format).read(Path(path), fps=float(fps))


def _reader(format: str) -> ModuleType:
    """The module that reads `format` (each imports its own heavy dependencies)."""
    if format == "metrical-tracker":
        from avatarzoo.trackers.importers import metrical as reader
    elif format == "ad-nerf-bfm":
        from avatarzoo.trackers.importers import bfm as reader
    elif format == "arkit-csv":
        from avatarzoo.trackers.importers import arkit as reader
    else:
        raise InputError(
            f"unknown tracking format '{format}'{did_you_mean(format, FORMATS)};"
            f" known: {', '.join(FORMATS)}"
        )
    return reader


__all__ = [
    "DEFAULT_FPS",
    "FORMATS",
    "ImportedTracking",
    "PoseKind",
    "import_tracking",
    "resample",
    "space_of",
]
