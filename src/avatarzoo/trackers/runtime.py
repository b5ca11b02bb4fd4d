"""How the MediaPipe models and numpy's BLAS are run in this process (CPU).

* `solution(name)`: imports `mediapipe.python.solutions.<name>`. Importing anything from
  mediapipe runs `mediapipe/__init__.py`, which imports `drawing_utils` and with it
  `matplotlib.pyplot` (~0.7 s of mediapipe's ~1.3 s import on a 2-core CPU, used only to
  plot landmarks). `matplotlib.pyplot` is therefore registered as a lazy module first
  (`importlib.util.LazyLoader`): it is executed on first attribute access, if ever.
* `Solution(factory)`: a MediaPipe solution whose creation and first `process` call (when
  the graph loads its models) run with the native stderr filtered. MediaPipe's C++ code
  prints "W0000 ... inference_feedback_manager.cc ... Disabling support for feedback
  tensors" for every graph, plus TFLite's "Created TensorFlow Lite XNNPACK delegate",
  through absl before `absl::InitializeLog()`: no environment variable silences them
  (GLOG_minloglevel, TF_CPP_MIN_LOG_LEVEL, ABSL_MIN_LOG_LEVEL tried). They cluttered
  `avatarzoo build`'s progress, once per model and thread. During the window fd 2 goes to
  a temporary file; afterwards every captured line except those known ones is written
  back to stderr, so real errors (and other threads' output) still appear, only later.
* `blas_threads(n)`: numpy's OpenBLAS starts one busy-waiting thread per core. While
  the MediaPipe graphs or other processes hold the cores, a 450 x 1434 SVD (the
  residual PCA) took 14.7 s with 2 threads against 0.2 s with 1 on this 2-core machine
  (load average ~6). The tracker's own linear algebra is small, so it runs in one thread.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import numpy as np


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
    """`mediapipe.python.solutions.<name>` (e.g. "face_mesh"), imported without pyplot.
    Thread-safe: two threads importing different solutions at once deadlock in
    mediapipe's package import (each holds one module lock), so imports take turns."""
    with _import_lock:
        if "mediapipe" not in sys.modules:
            _lazy_module("matplotlib.pyplot")
            # protobuf 4 warns on every graph's first output; mediapipe 0.10.14 calls it.
            warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated",
                                    category=UserWarning)
        return importlib.import_module(f"mediapipe.python.solutions.{name}")


_import_lock = threading.Lock()


NATIVE_NOISE = (
    b"inference_feedback_manager.cc",
    b"Created TensorFlow Lite XNNPACK delegate",
    b"All log messages before absl::InitializeLog() is called are written to STDERR",
)
_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_state: tuple[int, Any] | None = None  # (saved fd 2, capture file)


@contextlib.contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Inside the block, fd 2 is captured; on leaving the outermost block the captured
    bytes are written back to stderr without the lines of NATIVE_NOISE. Re-entrant and
    thread-safe (threads share one capture; the last one out writes it back)."""
    global _quiet_depth, _quiet_state
    with _quiet_lock:
        if _quiet_depth == 0:
            sys.stderr.flush()
            capture = tempfile.TemporaryFile()
            saved = os.dup(2)
            os.dup2(capture.fileno(), 2)
            _quiet_state = (saved, capture)
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _quiet_state is not None:
                saved, capture = _quiet_state
                _quiet_state = None
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                lines = capture.read().splitlines(keepends=True)
                capture.close()
                kept = b"".join(line for line in lines if not any(n in line for n in NATIVE_NOISE))
                if kept:
                    os.write(2, kept)


class Solution:
    """A MediaPipe solution object (`factory()`, e.g. `FaceMesh(...)`) whose creation
    (until its graph is idle) and first `process` call run under
    `native_stderr_filtered`. One thread per instance."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        with native_stderr_filtered():
            self._model = factory()
            # The graph opens its calculators (and logs) on its own threads after start:
            # wait for them inside the window (SolutionBase.process does the same wait).
            graph = getattr(self._model, "_graph", None)
            if graph is not None:
                graph.wait_until_idle()
        self._started = False

    def process(self, img):
        # MediaPipe reads the buffer behind the array: a memmap row (or any view) can
        # segfault it (seen on the GPU image, Python 3.12), so hand it an owned copy.
        if not (isinstance(img, np.ndarray) and type(img) is np.ndarray and img.base is None
                and img.flags.c_contiguous):
            img = np.array(img, dtype=np.uint8, order="C", copy=True)
        if self._started:
            return self._model.process(img)
        with native_stderr_filtered():
            result = self._model.process(img)
        self._started = True
        return result

    def close(self) -> None:
        self._model.close()


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
