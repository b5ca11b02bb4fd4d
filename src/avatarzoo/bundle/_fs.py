"""The two file helpers the bundle package needs: a streamed sha256 and an atomic
directory replace. They live here, not in `avatarzoo.stages.files`, so that reading a
bundle (the runtime) never imports the build machinery."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """Hex sha256 of the file's bytes (streamed)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def replace_dir(new: Path, target: Path) -> Path:
    """Put the finished directory `new` at `target` (same file system), replacing what is
    there: the old one is renamed aside first, so `target` is never half-written."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)
    return target
