"""AD-NeRF / GaussianTalker `track_params.pt` -> BFM-79 codes + head pose.

Both trackers (`data_util[s]/face_tracking/face_tracker.py`) end with one
`torch.save` of a dict of CPU tensors:

    exp    [N, 79]  expression PCA coefficients (in units of the basis' sigma)
    euler  [N, 3]   head rotation (theta, phi, psi) radians, AD-NeRF `euler2rot`
    trans  [N, 3]   head translation, BFM units (AD-NeRF divides by 10 for its NeRF)
    focal  [1]      focal length in pixels of the tracked frames (cx, cy = w/2, h/2)
    id     [1, 100] identity; GaussianTalker adds `vertices` [N, 34650, 3] -- not read

Row i is frame i (`ori_imgs/<i>.jpg`, extracted at 25 fps by both projects), so it is
at `i / fps` seconds. AD-NeRF's tracker skips frames without landmarks, which would
shift rows against frame numbers; GaussianTalker indexes rows by frame number.

Geometry (`geo_transform.py`): `x_cam = euler2rot(euler) @ x + trans` with an
OpenGL-style camera (`proj_geo`: u = -f X / Z + cx, v = f Y / Z + cy, faces at Z < 0).
The pose here is that transform followed by the flip to OpenCV camera axes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avatarzoo.errors import InputError
from avatarzoo.recipe.trackers import IMPORT_FORMATS
from avatarzoo.spaces.native import BFM_EXPRESSION_DIM
from avatarzoo.trackers.importers._rotations import GL_TO_CV, adnerf_euler_to_matrix, rigid
from avatarzoo.trackers.importers._torchfile import load_torch_file, read_array
from avatarzoo.trackers.importers.result import ImportedTracking

SPACE = IMPORT_FORMATS["ad-nerf-bfm"].space
FILE_NAME = "track_params.pt"


def read(path: Path, *, fps: float) -> ImportedTracking:
    """Read `path` (`track_params.pt`, or the directory holding it).

    Returns: `bfm-79` codes [N, 79], rigid pose [N, 4, 4], time `i / fps`,
    `extras["focal"]` [N] (the one focal length, repeated).
    """
    if not path.exists():
        raise InputError(
            f"{path}: no such file or directory (expected AD-NeRF's {FILE_NAME} or the"
            " directory that holds it)"
        )
    file = path / FILE_NAME if path.is_dir() else path
    payload = load_torch_file(file)
    if not isinstance(payload, dict):
        raise InputError(
            f"{file}: expected a dict (AD-NeRF track_params), got {type(payload).__name__}"
        )
    exp = read_array(payload, "exp", (None, BFM_EXPRESSION_DIM), source=file)
    n = len(exp)
    euler = read_array(payload, "euler", (n, 3), source=file)
    trans = read_array(payload, "trans", (n, 3), source=file)
    focal = read_array(payload, "focal", (None,), source=file)
    if focal.shape != (1,):
        raise InputError(f"{file}: 'focal' has shape {list(focal.shape)}, expected [1]")
    rotation = GL_TO_CV @ adnerf_euler_to_matrix(euler)
    translation = trans @ GL_TO_CV.T
    return ImportedTracking(
        space=SPACE,
        expression=exp.astype(np.float32),
        time=np.arange(n, dtype=np.float64) / fps,
        pose=rigid(rotation, translation).astype(np.float32),
        pose_kind="rigid",
        source=file,
        extras={"focal": np.full(n, focal[0], dtype=np.float32)},
    )
