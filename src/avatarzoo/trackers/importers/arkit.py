"""Live Link Face CSV -> ARKit-52 blendshapes + head rotation.

The app's CSV export has one header line, then one line per captured frame:

    Timecode,BlendShapeCount,EyeBlinkLeft,...,TongueOut,HeadYaw,HeadPitch,HeadRoll,
    LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll
    14:03:52:28.207,61,0.0123,...

Blendshape columns are the ARKit names with a capital first letter; they are matched
by name, case-insensitively, so column order does not matter. `Timecode` is
`HH:MM:SS:FF.fff`: time of day, then a fractional frame count `FF.fff` at the
timecode rate (`fps`; the app's default is 60). Times are returned relative to the
first row (`time_origin` holds that row's seconds since midnight); a take that runs
past midnight is unwrapped.

`HeadYaw/HeadPitch/HeadRoll` are taken as radians and composed `Ry(yaw) Rx(pitch)
Rz(roll)` with the ARKit face axes (x to the viewer's right, y up, z towards the
camera) at rest facing the camera; the pose then flips to OpenCV camera axes. ARKit
gives no translation here: `pose_kind` is "rotation". The eye angles, when present,
are kept as `extras["eye_yaw_pitch_roll"]` [N, 6] (left yaw, pitch, roll, right ...).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from avatarzoo.errors import InputError
from avatarzoo.recipe.trackers import IMPORT_FORMATS
from avatarzoo.spaces.native import ARKIT_BLENDSHAPES
from avatarzoo.trackers.importers._rotations import GL_TO_CV, rigid, yaw_pitch_roll_to_matrix
from avatarzoo.trackers.importers.result import ImportedTracking

SPACE = IMPORT_FORMATS["arkit-csv"].space
TIMECODE = "Timecode"
HEAD_COLUMNS = ("HeadYaw", "HeadPitch", "HeadRoll")
EYE_COLUMNS = (
    "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)  # fmt: skip
_DAY = 24 * 3600.0
_TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})[:;](\d+(?:\.\d*)?)$")


def parse_timecode(text: str, fps: float) -> float:
    """`HH:MM:SS:FF[.fff]` at `fps` frames per second -> seconds since midnight.

    Raises:
        ValueError: not that form, or a frame field >= `fps` (message says which).
    """
    match = _TIMECODE.match(text.strip())
    if not match:
        raise ValueError(f"expected HH:MM:SS:FF.fff, got {text!r}")
    hours, minutes, seconds, frames = (float(g) for g in match.groups())
    if minutes >= 60 or seconds >= 60:
        raise ValueError(f"minutes/seconds out of range in {text!r}")
    if frames >= fps:
        raise ValueError(
            f"frame field {frames:g} in {text!r} is not below fps {fps:g}; the timecode runs"
            " at a higher rate (Live Link Face: 60 by default), pass that rate as fps"
        )
    return hours * 3600 + minutes * 60 + seconds + frames / fps


def _header_index(header: list[str], file: Path) -> dict[str, int]:
    index = {name.strip().lower(): j for j, name in enumerate(header)}
    missing = [n for n in (TIMECODE, *ARKIT_BLENDSHAPES) if n.lower() not in index]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise InputError(
            f"{file}:1: the header lacks {shown}; expected a Live Link Face CSV"
            " (Timecode, BlendShapeCount, the 52 ARKit blendshapes, HeadYaw, ...)"
        )
    return index


def read(path: Path, *, fps: float) -> ImportedTracking:
    """Read a Live Link Face CSV at timecode rate `fps`.

    Returns: `arkit-52` values [N, 52], rotation-only pose [N, 4, 4] (None without the
    head columns), time in seconds after the first row.
    """
    if not path.is_file():
        raise InputError(f"{path}: no such file (expected a Live Link Face .csv)")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise InputError(f"{path}:1: empty file, expected a Live Link Face CSV header")
        index = _header_index(header, path)
        names = [*ARKIT_BLENDSHAPES, *HEAD_COLUMNS, *EYE_COLUMNS]
        present = [n for n in names if n.lower() in index]
        columns = [index[n.lower()] for n in present]
        times: list[float] = []
        values: list[list[float]] = []
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise InputError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
            try:
                t = parse_timecode(row[index[TIMECODE.lower()]], fps)
            except ValueError as e:
                j = index[TIMECODE.lower()]
                raise InputError(f"{path}:{line}: column {j + 1} '{header[j]}': {e}") from None
            if times and t <= times[-1]:
                t += _DAY if times[-1] - t > _DAY / 2 else 0.0  # past midnight
            if times and t <= times[-1]:
                raise InputError(
                    f"{path}:{line}: timecode {row[index[TIMECODE.lower()]]} is not after"
                    " the previous row's; rows must be in capture order at this fps"
                )
            times.append(t)
            values.append([_number(row, j, header, path, line) for j in columns])
    if not values:
        raise InputError(f"{path}: a header but no rows of data")

    data = np.asarray(values, dtype=np.float64)
    by_name = dict(zip(present, data.T))
    pose, pose_kind, extras = None, None, {}
    if all(n in by_name for n in HEAD_COLUMNS):
        ypr = np.stack([by_name[n] for n in HEAD_COLUMNS], axis=1)
        pose = rigid(GL_TO_CV @ yaw_pitch_roll_to_matrix(ypr)).astype(np.float32)
        pose_kind = "rotation"
        extras["head_yaw_pitch_roll"] = ypr.astype(np.float32)
    if all(n in by_name for n in EYE_COLUMNS):
        extras["eye_yaw_pitch_roll"] = np.stack([by_name[n] for n in EYE_COLUMNS], 1).astype(
            np.float32
        )
    seconds = np.asarray(times, dtype=np.float64)
    return ImportedTracking(
        space=SPACE,
        expression=data[:, : len(ARKIT_BLENDSHAPES)].astype(np.float32),
        time=seconds - seconds[0],
        pose=pose,
        pose_kind=pose_kind,
        source=path,
        extras=extras,
        time_origin=float(seconds[0]),
    )


def _number(row: list[str], j: int, header: list[str], file: Path, line: int) -> float:
    cell, column = row[j], f"column {j + 1} '{header[j]}'"
    try:
        value = float(cell)
    except ValueError:
        raise InputError(f"{file}:{line}: {column}: expected a number, got {cell!r}") from None
    if not np.isfinite(value):
        raise InputError(f"{file}:{line}: {column}: {cell!r} is not a finite number")
    return value
