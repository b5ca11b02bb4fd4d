"""A linear map between two expression spaces, learned from paired tracking.

Two trackers run over the same recording give, frame for frame, a code in each space
(e.g. FLAME from metrical-tracker and `face-64` from the built-in tracker). The map is
`y = x @ weight + bias`, fitted by ridge regression on standardised inputs:

* Linear, because one recording gives a few thousand strongly correlated frames: a
  [Ds, Dt] matrix (about 120 x 64 numbers) is what that data can pin down, the fit is
  closed-form and deterministic, and it extrapolates tamely to expressions the
  recording shows rarely. A nonlinear map (an MLP) would fit the one recording better
  and the next sentence spoken worse. Both spaces are close to linear in the face's
  surface motion at speech amplitudes, which is what a talking head needs.
* With a bias, because the zero of one space is not the zero of the other (a neutral
  face is not 0 in both; FLAME's 6D identity rotation is (1, 0, 0, 0, 1, 0)).
* Ridge, because the inputs are collinear (FLAME's 6D rotations carry redundant
  entries, ARKit's left/right pairs move together, PCA codes of one face are
  correlated over a single recording): least squares would spend large, opposite
  weights on them and amplify tracking noise.
* Standardised inputs, so that one `ridge` means the same for every channel whatever
  its scale (blendshapes in 0..1, PCA codes around +-3, rotation entries near 1) and
  for every source space. The objective is per frame,
  `mean_t ||y_t - bias - z_t W||^2 + ridge * ||W||^2` with `z` the standardised input,
  so `ridge` does not depend on the number of frames either. Channels constant over
  the training frames get no weight.

The fit is scored on a held-out *tail* of the frames, not a random subset: neighbouring
frames are near copies, so a random split measures interpolation between neighbours
and overstates how well the map carries to new speech. R^2 is reported per region of
the target space and overall (variance-weighted over all target channels). The stored
map is then refitted on all frames with the same `ridge`.

Shapes: N frames, Ds source dimension, Dt target dimension.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avatarzoo.errors import InputError, SpaceError
from avatarzoo.spaces.registry import get_space
from avatarzoo.spaces.space import ExpressionSpace

FORMAT = "avatarzoo.linear_map/1"
METADATA_KEY = "avatarzoo.space_map"
OVERALL = "overall"


@dataclass(frozen=True)
class FitReport:
    """How well a map reproduces the target. R^2 per target region and `"overall"`;
    None where the target did not vary over those frames (R^2 undefined)."""

    n_train: int
    n_holdout: int
    ridge: float
    r2_holdout: dict[str, float | None]
    r2_train: dict[str, float | None]

    def summary(self) -> str:
        """One line: 'R² on the held-out last 120 frames: overall 0.81; mouth 0.90, ...'."""
        if not self.n_holdout:
            return f"R² in-sample ({self.n_train} frames, none held out): {_r2_text(self.r2_train)}"
        return f"R² on the held-out last {self.n_holdout} frames: {_r2_text(self.r2_holdout)}"


def _r2_text(r2: dict[str, float | None]) -> str:
    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}"

    regions = ", ".join(f"{k} {fmt(v)}" for k, v in r2.items() if k != OVERALL)
    return f"overall {fmt(r2[OVERALL])}" + (f"; {regions}" if regions else "")


@dataclass(frozen=True, eq=False)  # arrays: compare fields explicitly
class LinearMap:
    """`apply(x) = x @ weight + bias`, from `source` codes to `target` codes.

    Attributes:
        source, target: the two spaces.
        weight: float32 [Ds, Dt].
        bias: float32 [Dt].
        report: the fit's scores (None for a map built by hand).
    """

    source: ExpressionSpace
    target: ExpressionSpace
    weight: np.ndarray
    bias: np.ndarray
    report: FitReport | None = None

    def __post_init__(self) -> None:
        want = {"weight": (self.source.dim, self.target.dim), "bias": (self.target.dim,)}
        for name, shape in want.items():
            value = getattr(self, name)
            if not isinstance(value, np.ndarray) or value.shape != shape:
                got = getattr(value, "shape", type(value))
                raise SpaceError(
                    f"map {self.source.name} -> {self.target.name}: {name} has shape"
                    f" {got}, expected {list(shape)}"
                )

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Map codes: x [N, Ds] -> float32 [N, Dt]."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.source.dim:
            raise ValueError(
                f"x: expected [N, {self.source.dim}] codes in '{self.source.name}',"
                f" got shape {list(x.shape)}"
            )
        return (x.astype(np.float64) @ self.weight + self.bias).astype(np.float32)

    # --- storage: safetensors tensors + one JSON header entry, no pickle -------------

    def to_tensors(self, prefix: str = "") -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """(tensors, metadata) for `safetensors.numpy.save_file(tensors, path, metadata)`.

        tensors: `{prefix}weight` float32 [Ds, Dt], `{prefix}bias` float32 [Dt];
        metadata: `{prefix}avatarzoo.space_map` = JSON of both spaces, ridge and report.
        """
        header = {
            "format": FORMAT,
            "source": json.loads(self.source.to_json()),
            "target": json.loads(self.target.to_json()),
            "report": None if self.report is None else asdict(self.report),
        }
        tensors = {f"{prefix}weight": self.weight.copy(), f"{prefix}bias": self.bias.copy()}
        return tensors, {f"{prefix}{METADATA_KEY}": json.dumps(header, sort_keys=True)}

    @classmethod
    def from_tensors(
        cls, tensors: dict[str, Any], metadata: dict[str, str], prefix: str = ""
    ) -> LinearMap:
        """Inverse of `to_tensors` (tensors may be numpy arrays or CPU torch tensors)."""
        key = f"{prefix}{METADATA_KEY}"
        try:
            header = json.loads(metadata[key])
            if header.get("format") != FORMAT:
                raise ValueError(f"format {header.get('format')!r}, expected {FORMAT!r}")
            weight = np.asarray(tensors[f"{prefix}weight"], dtype=np.float32)
            bias = np.asarray(tensors[f"{prefix}bias"], dtype=np.float32)
            source = ExpressionSpace.model_validate(header["source"])
            target = ExpressionSpace.model_validate(header["target"])
            report = None if header["report"] is None else FitReport(**header["report"])
        except (KeyError, ValueError, TypeError) as e:
            raise SpaceError(f"stored space map (prefix '{prefix}') is unreadable: {e}") from None
        return cls(source, target, weight, bias, report)

    def save(self, path: Path) -> None:
        """Write one `.safetensors` file."""
        from safetensors.numpy import save_file

        tensors, metadata = self.to_tensors()
        save_file(tensors, str(path), metadata=metadata)

    @classmethod
    def load(cls, path: Path) -> LinearMap:
        """Read a file written by `save`."""
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            return cls.from_tensors({k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {})


def fit_linear_map(
    source: np.ndarray,  # [N, Ds]
    target: np.ndarray,  # [N, Dt]
    *,
    source_space: ExpressionSpace | str,
    target_space: ExpressionSpace | str,
    ridge: float,
    holdout: float = 0.2,
) -> LinearMap:
    """Fit `target ~ source @ weight + bias` on paired frames of one recording.

    Args:
        source: [N, Ds] codes in `source_space`, frames in time order.
        target: [N, Dt] codes in `target_space`, the same frames.
        source_space, target_space: the spaces (or their registered names).
        ridge: >= 0, penalty on the standardised weights, relative to the per-frame
            squared error (see the module docstring); 1e-3 is light, 1 is heavy.
        holdout: fraction of frames, taken from the end, that the scoring fit does not
            see; 0 scores in-sample only.

    Returns:
        The map refitted on all N frames, with `report` scored on the held-out tail.

    Raises:
        SpaceError: codes whose width does not match their space.
        InputError: too few frames, or a non-finite value (naming the frame).
    """
    spaces = [
        s if isinstance(s, ExpressionSpace) else get_space(s) for s in (source_space, target_space)
    ]
    x = _codes(source, "source", spaces[0])
    y = _codes(target, "target", spaces[1])
    if len(x) != len(y):
        raise InputError(f"source has {len(x)} frames, target {len(y)}; pair the same frames")
    if ridge < 0 or not 0 <= holdout < 1:
        raise ValueError(f"ridge must be >= 0 and holdout in [0, 1), got {ridge}, {holdout}")
    n = len(x)
    n_holdout = int(round(n * holdout))
    n_train = n - n_holdout
    if n_train < 2 or (holdout > 0 and n_holdout < 2):
        raise InputError(
            f"{n} paired frames are too few to fit and score a map with holdout={holdout};"
            " pair a longer recording"
        )
    weight, bias = _ridge(x[:n_train], y[:n_train], ridge)
    report = FitReport(
        n_train=n_train,
        n_holdout=n_holdout,
        ridge=float(ridge),
        r2_holdout=_region_r2(y[n_train:], x[n_train:] @ weight + bias, spaces[1])
        if n_holdout
        else {},
        r2_train=_region_r2(y[:n_train], x[:n_train] @ weight + bias, spaces[1]),
    )
    if n_holdout:
        weight, bias = _ridge(x, y, ridge)
    return LinearMap(
        spaces[0], spaces[1], weight.astype(np.float32), bias.astype(np.float32), report
    )


def _codes(array: np.ndarray, name: str, space: ExpressionSpace) -> np.ndarray:
    a = np.asarray(array, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != space.dim:
        raise SpaceError(
            f"{name}: shape {list(a.shape)}, but space '{space.name}' has {space.dim}"
            f" channels; expected [N, {space.dim}]"
        )
    bad = np.flatnonzero(~np.all(np.isfinite(a), axis=1))
    if len(bad):
        raise InputError(
            f"{name}: frame {bad[0]} holds a non-finite value ({len(bad)} such frames)"
        )
    return a


def _ridge(x: np.ndarray, y: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge on standardised x: returns (weight [Ds, Dt], bias [Dt]) in the
    original units, float64."""
    mean, std = x.mean(0), x.std(0)
    scale = np.where(std > 1e-12 * max(1.0, float(np.abs(x).max())), std, np.inf)
    z = (x - mean) / scale  # constant channels -> 0, so they get no weight
    y_mean = y.mean(0)
    # (z'z + n*ridge*I)^-1 z'(y - y_mean) through the SVD of z: stable when z is
    # rank-deficient, and with ridge = 0 it is the minimum-norm least-squares solution.
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    keep = s > s.max(initial=0.0) * max(z.shape) * np.finfo(float).eps
    gain = np.where(keep, s / np.where(keep, s**2 + len(x) * ridge, 1.0), 0.0)
    w_std = vt.T @ (gain[:, None] * (u.T @ (y - y_mean)))
    weight = w_std / scale[:, None]
    return weight, y_mean - mean @ weight


def _region_r2(y: np.ndarray, pred: np.ndarray, space: ExpressionSpace) -> dict[str, float | None]:
    """R^2 = 1 - SSE / SST pooled over each region's channels, and over all channels."""
    groups = {r: list(space.indices(r)) for r in space.regions if space.indices(r)}
    groups[OVERALL] = list(range(space.dim))
    out: dict[str, float | None] = {}
    for name, idx in groups.items():
        sst = float(np.sum((y[:, idx] - y[:, idx].mean(0)) ** 2))
        sse = float(np.sum((y[:, idx] - pred[:, idx]) ** 2))
        out[name] = 1.0 - sse / sst if sst > 0 else None
    return out
