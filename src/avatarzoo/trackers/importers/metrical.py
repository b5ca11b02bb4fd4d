"""metrical-tracker output: a directory of `.frame` files -> FLAME codes + head pose.

metrical-tracker (`tracker.py`, `save_checkpoint`) writes one `torch.save` dict per
frame to `<save_folder>/<actor>/checkpoint/<frame_id>.frame`:

    flame:   exp [1, 100], jaw [1, 6], eyelids [1, 2], eyes [1, 12], shape, tex, sh
    camera:  R (6D), t, fl, pp            -- pytorch3d camera, not read here
    opencv:  R [1, 3, 3], t [1, 3], K [1, 3, 3]   (pytorch3d's opencv_from_cameras_projection)
    img_size [2], frame_id "00042" (zero-padded str), global_step

The values are numpy arrays. The FLAME head never moves (no global rotation is
optimised); the camera carries the head pose, so with OpenCV's `x_cam = R x + t` the
pose head -> camera is `[R | t]` as written. `K` is in pixels of metrical-tracker's own
crop (`img_size`), kept as `extras["K"]` [N, 3, 3] and `extras["img_size"]` [N, 2].

Frame `frame_id` is at `frame_id / fps` seconds: metrical-tracker extracts video frames
with ffmpeg's `fps` filter at `cfg.fps` (25 by default) and numbers them from 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from avatarzoo.errors import InputError
from avatarzoo.recipe.trackers import IMPORT_FORMATS
from avatarzoo.spaces.native import FLAME_PARTS
from avatarzoo.trackers.importers._rotations import rigid
from avatarzoo.trackers.importers._torchfile import load_torch_file, read_array
from avatarzoo.trackers.importers.result import ImportedTracking

SPACE = IMPORT_FORMATS["metrical-tracker"].space


def frame_files(path: Path) -> list[Path]:
    """The `.frame` files of `path` (the checkpoint directory, or the actor directory
    that holds `checkpoint/`)."""
    if not path.is_dir():
        raise InputError(f"{path}: expected a directory of metrical-tracker .frame files")
    for folder in (path, path / "checkpoint"):
        files = sorted(folder.glob("*.frame"))
        if files:
            return files
    raise InputError(
        f"{path}: no .frame files here nor in {path / 'checkpoint'}; metrical-tracker"
        " writes them to <save_folder>/<actor>/checkpoint/"
    )


def _frame_id(payload: object, file: Path) -> int:
    value = payload.get("frame_id", file.stem) if isinstance(payload, dict) else file.stem
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputError(
            f"{file}: frame_id {value!r} is not a frame number (expected e.g. '00042')"
        ) from None


class _Frame(NamedTuple):
    frame_id: int
    file: Path
    code: np.ndarray  # [120]
    rotation: np.ndarray  # [3, 3]
    translation: np.ndarray  # [3]
    K: np.ndarray  # [3, 3]
    img_size: np.ndarray  # [2]


def _read_frame(file: Path) -> _Frame:
    payload = load_torch_file(file)
    if not isinstance(payload, dict):
        raise InputError(
            f"{file}: expected a dict (metrical-tracker frame), got {type(payload).__name__}"
        )
    parts = [
        read_array(payload, f"flame.{key}", (width,), source=file) for key, width, _ in FLAME_PARTS
    ]
    return _Frame(
        frame_id=_frame_id(payload, file),
        file=file,
        code=np.concatenate(parts),
        rotation=read_array(payload, "opencv.R", (3, 3), source=file),
        translation=read_array(payload, "opencv.t", (3,), source=file),
        K=read_array(payload, "opencv.K", (3, 3), source=file),
        img_size=read_array(payload, "img_size", (2,), source=file),
    )


def read(path: Path, *, fps: float) -> ImportedTracking:
    """Read every `.frame` file under `path`; frames sort by `frame_id`.

    Returns: `flame` codes [N, 120], rigid pose [N, 4, 4], time `frame_id / fps`.
    """
    frames = sorted((_read_frame(f) for f in frame_files(path)), key=lambda fr: fr.frame_id)
    for a, b in zip(frames, frames[1:]):
        if a.frame_id == b.frame_id:
            raise InputError(f"{b.file}: frame_id {b.frame_id} again (also in {a.file.name})")

    def stack(field: str) -> np.ndarray:
        return np.stack([getattr(fr, field) for fr in frames])

    return ImportedTracking(
        space=SPACE,
        expression=stack("code").astype(np.float32),
        time=np.array([fr.frame_id for fr in frames], dtype=np.float64) / fps,
        pose=rigid(stack("rotation"), stack("translation")).astype(np.float32),
        pose_kind="rigid",
        source=path,
        extras={
            "K": stack("K").astype(np.float32),
            "img_size": stack("img_size").astype(np.float32),
        },
    )
