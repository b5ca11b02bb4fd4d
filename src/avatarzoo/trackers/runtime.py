"""How the MediaPipe models and numpy's BLAS are run in this process (CPU).

* `solution(name)`: imports `mediapipe.python.solutions.<name>`. Importing anything from
  mediapipe runs `mediapipe/__init__.py`, which imports `drawing_utils` and with it
  `matplotlib.pyplot` (~0.7 s of mediapipe's ~1.3 s import on a 2-core CPU, used only to
  plot landmarks). `matplotlib.pyplot` is therefore registered as a lazy module first
  (`importlib.util.LazyLoader`): it is executed on first attribute access, if ever.
* `blas_threads(n)`: numpy's OpenBLAS starts one busy-waiting thread per core. While
  the MediaPipe graphs or other processes hold the cores, a 450 x 1434 SVD (the
  residual PCA) took 14.7 s with 2 threads against 0.2 s with 1 on this 2-core machine
  (load average ~6). The tracker's own linear algebra is small, so it runs in one thread.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from types import ModuleType


def _lazy_module(name: str) -> None:
    """Register `name` in sys.modules as a module whose code runs on first use."""
    if name in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)


def solution(name: str) -> ModuleType:
    """`mediapipe.python.solutions.<name>` (e.g. "face_mesh"), imported without pyplot."""
    if "mediapipe" not in sys.modules:
        _lazy_module("matplotlib.pyplot")
    return importlib.import_module(f"mediapipe.python.solutions.{name}")


_OPENBLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads")
_OPENBLAS_GETTERS = tuple(s.replace("set_", "get_") for s in _OPENBLAS_SETTERS)


def _openblas():
    """(get, set) of the OpenBLAS that numpy loaded, or None (another BLAS, or none found)."""
    import ctypes

    import numpy  # noqa: F401  (loads its BLAS)

    try:
        maps = open("/proc/self/maps").read().split("\n")
    except OSError:
        return None
    paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get, set_ in zip(_OPENBLAS_GETTERS, _OPENBLAS_SETTERS):
            if hasattr(lib, get) and hasattr(lib, set_):
                getter, setter = getattr(lib, get), getattr(lib, set_)
                getter.restype = ctypes.c_int
                setter.argtypes = [ctypes.c_int]
                return getter, setter
    return None


_BLAS = None
_BLAS_LOOKED = False


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Run numpy's OpenBLAS with `n` threads inside the block (no-op for other BLAS).
    Process-wide while it lasts: meant for a stage's own post-processing."""
    global _BLAS, _BLAS_LOOKED
    if not _BLAS_LOOKED:
        _BLAS, _BLAS_LOOKED = _openblas(), True
    if _BLAS is None:
        yield
        return
    getter, setter = _BLAS
    before = getter()
    setter(n)
    try:
        yield
    finally:
        setter(before)
