"""`Tracking`: the `track` stage's output in memory, and its file `tracking.safetensors`.

Shapes: N frames, D the space's dimension, B upper-body points, L = 478 face landmarks.
The tensors are named as in docs/ARCHITECTURE.md ("track output"); extra tensors a
tracker needs to re-track consistently (e.g. the residual PCA basis) are stored under
`extras.<name>`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from avatarzoo.errors import InputError
from avatarzoo.spaces.space import ExpressionSpace

N_LANDMARKS = 478
SPACE_KEY = "avatarzoo.space"
BODY_NAMES_KEY = "avatarzoo.body_names"
EXTRAS_PREFIX = "extras."

# name -> (dtype, shape with "N", "D", "B" for the sizes that vary)
_SCHEMA: dict[str, tuple[type, tuple[int | str, ...]]] = {
    "expression": (np.float32, ("N", "D")),
    "pose": (np.float32, ("N", 4, 4)),
    "landmarks": (np.float32, ("N", N_LANDMARKS, 3)),
    "body": (np.float32, ("N", "B", 2)),
    "valid": (np.bool_, ("N",)),
    "time": (np.float64, ("N",)),
    "K": (np.float32, (3, 3)),
    "canonical": (np.float32, (N_LANDMARKS, 3)),
}


@dataclass(frozen=True)
class Tracking:
    """Per-frame head pose, expression and upper body of one recording.

    Attributes:
        expression: float32 [N, D] code in `space`.
        pose: float32 [N, 4, 4] head pose, canonical head coords -> OpenCV camera coords
            (x right, y down, z forward): `x_cam = pose[:3, :3] @ x + pose[:3, 3]`.
        landmarks: float32 [N, 478, 3] face mesh in crop pixels x, y, and a relative
            depth in the same pixel scale (MediaPipe's z; larger = farther).
        body: float32 [N, B, 2] upper-body points in crop pixels, named by `body_names`.
        valid: bool [N] a face was found in the frame (else interpolated).
        time: float64 [N] seconds in the source video.
        K: float32 [3, 3] the one static pinhole camera of the crop.
        canonical: float32 [478, 3] the subject's neutral face in head coords (cm).
        space: the expression space of `expression`.
        body_names: B names of the `body` points.
        extras: other arrays the tracker keeps (e.g. the residual PCA basis).
    """

    expression: np.ndarray
    pose: np.ndarray
    landmarks: np.ndarray
    body: np.ndarray
    valid: np.ndarray
    time: np.ndarray
    K: np.ndarray
    canonical: np.ndarray
    space: ExpressionSpace
    body_names: list[str]
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = _check_tensors(self.tensors(), self.space, len(self.body_names))
        if problems:
            raise ValueError("Tracking: " + "; ".join(problems))

    def __len__(self) -> int:
        return int(self.valid.shape[0])

    def tensors(self) -> dict[str, np.ndarray]:
        """The contract tensors by name (extras not included)."""
        return {name: getattr(self, name) for name in _SCHEMA}

    def replace(self, **changes) -> "Tracking":
        return replace(self, **changes)

    def save(self, path: Path | str) -> None:
        """Write `tracking.safetensors` atomically (temp file + os.replace)."""
        from safetensors.numpy import save

        from avatarzoo.files import atomic_write_bytes

        tensors = {k: np.ascontiguousarray(v) for k, v in self.tensors().items()}
        for k, v in self.extras.items():
            tensors[EXTRAS_PREFIX + k] = np.ascontiguousarray(v)
        metadata = {SPACE_KEY: self.space.to_json(), BODY_NAMES_KEY: json.dumps(self.body_names)}
        atomic_write_bytes(Path(path), save(tensors, metadata=metadata))

    @classmethod
    def load(cls, path: Path | str) -> "Tracking":
        """Read a `tracking.safetensors`; every problem is an InputError naming the file."""
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no tracking file here (expected tracking.safetensors)")
        try:
            with safe_open(str(path), framework="numpy") as f:
                metadata = f.metadata() or {}
                arrays = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as e:  # safetensors raises its own types for bad headers
            raise InputError(f"{path}: not a readable safetensors file ({e})") from None
        try:
            space = ExpressionSpace.from_json(metadata[SPACE_KEY])
            body_names = json.loads(metadata[BODY_NAMES_KEY])
        except KeyError as e:
            raise InputError(f"{path}: header metadata lacks {e.args[0]!r}") from None
        except ValueError as e:
            raise InputError(f"{path}: header metadata is malformed ({e})") from None
        missing = [k for k in _SCHEMA if k not in arrays]
        if missing:
            raise InputError(f"{path}: missing tensor(s) {', '.join(missing)}")
        problems = _check_tensors(arrays, space, len(body_names))
        if problems:
            raise InputError(f"{path}: " + "; ".join(problems))
        extras = {k[len(EXTRAS_PREFIX):]: v for k, v in arrays.items() if k.startswith(EXTRAS_PREFIX)}
        return cls(**{k: arrays[k] for k in _SCHEMA}, space=space, body_names=body_names, extras=extras)


def _check_tensors(arrays: dict[str, np.ndarray], space: ExpressionSpace, n_body: int) -> list[str]:
    """Problems with the tensors' dtypes and shapes, each naming the tensor."""
    sizes: dict[str, int] = {"D": space.dim, "B": n_body}
    n = arrays["valid"].shape[0] if getattr(arrays.get("valid"), "ndim", 0) == 1 else None
    if n is not None:
        sizes["N"] = n
    problems = []
    for name, (dtype, shape) in _SCHEMA.items():
        a = arrays[name]
        want = tuple(sizes.get(s, -1) if isinstance(s, str) else s for s in shape)
        if not isinstance(a, np.ndarray) or a.dtype != dtype or a.shape != want:
            got = f"{getattr(a, 'dtype', type(a).__name__)} {tuple(getattr(a, 'shape', ()))}"
            problems.append(
                f"tensor '{name}' should be {np.dtype(dtype).name} {_fmt(shape)} = {want}, got {got}"
            )
    return problems


def _fmt(shape: tuple[int | str, ...]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"
