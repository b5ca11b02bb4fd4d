"""Reading `torch.save` files of other trackers without running their pickles.

Every file is loaded with `torch.load(path, weights_only=True)`. metrical-tracker saves
numpy arrays, not tensors, so numpy's array reconstruction (`ndarray`, `dtype`,
`multiarray._reconstruct`/`scalar`, under both the numpy 1.x and 2.x module names) is
allow-listed for that call, with the numeric dtype classes (not `object`); these
rebuild plain arrays from bytes and call no other code. Anything else a file needs (a
pickled class, a function, an object array) is refused.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from avatarzoo.errors import InputError

_NUMERIC_DTYPES = (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
    np.uint64, np.float16, np.float32, np.float64, np.longdouble, np.complex64, np.complex128,
)  # fmt: skip


def _numpy_safe_globals() -> list[Any]:
    core = getattr(np, "_core", None) or np.core  # numpy 2.x / 1.x
    reconstruct, scalar = core.multiarray._reconstruct, core.multiarray.scalar
    dtype_classes = {type(np.dtype(t)) for t in _NUMERIC_DTYPES}  # rebuilt by BUILD
    return [np.ndarray, np.dtype, *dtype_classes] + [
        (fn, f"{module}.multiarray.{fn.__name__}")
        for fn in (reconstruct, scalar)
        for module in ("numpy.core", "numpy._core")
    ]


def load_torch_file(path: Path) -> Any:
    """`torch.load(path, weights_only=True)` with numpy arrays allowed, on the CPU.

    Zip-format files (every `torch.save` since torch 1.6) are memory-mapped, so tensors
    nobody reads (GaussianTalker's per-frame `vertices`) are never paged in.

    Raises:
        InputError: missing file, not a torch file, or one that needs pickled objects.
    """
    import torch

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(
                path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path)
            )
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL (\S+)|got <class '([^']+)'>", str(e))
        what = f" (it needs {found.group(1) or found.group(2)})" if found else ""
        raise InputError(
            f"{path}: refused: the file holds pickled Python objects{what}, not only"
            " tensors, arrays and plain values; avatarzoo reads tracker files with"
            " torch.load(weights_only=True). Re-save the data as tensors/arrays in dicts"
        ) from None
    except Exception as e:  # torch raises many types for a file that is not its own
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{path}: not a readable torch.save file ({first})") from None


def read_array(
    tree: Any,
    key: str,
    shape: tuple[int | None, ...],
    *,
    source: Path,
) -> np.ndarray:
    """The array at dotted `key` of a loaded dict tree, as float64 of `shape`.

    Leading singleton axes beyond `shape` are dropped (metrical-tracker saves a batch of
    one: `exp` is [1, 100]). `None` in `shape` matches any size.

    Raises:
        InputError: a missing key, a non-numeric value or a wrong shape, naming the file.
    """
    value = tree
    for i, part in enumerate(key.split(".")):
        if not isinstance(value, Mapping) or part not in value:
            where = ".".join(key.split(".")[:i]) or "the top level"
            has = sorted(map(str, value)) if isinstance(value, Mapping) else type(value).__name__
            raise InputError(f"{source}: no '{key}' (at {where}: {has})")
        value = value[part]
    try:
        if hasattr(value, "detach"):  # a tensor (maybe bfloat16, which numpy lacks)
            value = value.detach().cpu().double().numpy()
        array = np.asarray(value)
    except (TypeError, RuntimeError) as e:
        raise InputError(f"{source}: '{key}' is not an array ({e})") from None
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise InputError(f"{source}: '{key}' has dtype {array.dtype}, expected numbers")
    while array.ndim > len(shape) and array.shape[0] == 1:
        array = array[0]
    if array.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(array.shape, shape)
    ):
        want_text = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        raise InputError(f"{source}: '{key}' has shape {list(array.shape)}, expected {want_text}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[0].tolist()
        raise InputError(f"{source}: '{key}' holds a non-finite value at index {bad}")
    return array
