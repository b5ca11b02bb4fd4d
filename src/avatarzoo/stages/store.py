"""The local bundle store: where `build` puts finished bundles for `load("id")`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from avatarzoo.stages.cache import StageCache
from avatarzoo.files import replace_dir


def install_bundle(cache: StageCache, avatar_id: str, source: Path) -> Path:
    """Copy the bundle at `source` to `<cache>/bundles/<avatar_id>` (atomic replace)."""
    target = cache.bundle_dir(avatar_id)
    tmp = target.with_name(f".{avatar_id}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    return replace_dir(tmp, target)
