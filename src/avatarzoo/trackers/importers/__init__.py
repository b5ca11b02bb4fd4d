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

import importlib
from pathlib import Path
from typing import Literal, get_args

from avatarzoo.errors import InputError, did_you_mean
from avatarzoo.trackers.importers.result import ImportedTracking, PoseKind, resample

ImportFormat = Literal["metrical-tracker", "ad-nerf-bfm", "arkit-csv"]
FORMATS: tuple[str, ...] = get_args(ImportFormat)

_MODULES: dict[str, str] = {
    "metrical-tracker": "avatarzoo.trackers.importers.metrical",
    "ad-nerf-bfm": "avatarzoo.trackers.importers.bfm",
    "arkit-csv": "avatarzoo.trackers.importers.arkit",
}
DEFAULT_FPS: dict[str, float] = {"metrical-tracker": 25.0, "ad-nerf-bfm": 25.0, "arkit-csv": 60.0}


def space_of(format: str) -> str:
    """The expression space a format's files hold (e.g. 'flame' for metrical-tracker)."""
    return importlib.import_module(_module_name(format)).SPACE


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
    module = importlib.import_module(_module_name(format))
    return module.read(Path(path), fps=float(fps))


def _module_name(format: str) -> str:
    try:
        return _MODULES[format]
    except KeyError:
        raise InputError(
            f"unknown tracking format '{format}'{did_you_mean(format, FORMATS)};"
            f" known: {', '.join(FORMATS)}"
        ) from None


__all__ = [
    "DEFAULT_FPS",
    "FORMATS",
    "ImportFormat",
    "ImportedTracking",
    "PoseKind",
    "import_tracking",
    "resample",
    "space_of",
]
