"""The local bundle store: where `build` puts finished bundles for `load("id")`.

The store itself is `avatarzoo.bundle.store.BundleStore` (the runtime reads it without
importing the build machinery); this is the build's way in.
"""

from __future__ import annotations

from pathlib import Path

from avatarzoo.stages.cache import StageCache


def install_bundle(cache: StageCache, avatar_id: str, source: Path) -> Path:
    """Copy the bundle at `source` to `<cache>/bundles/<avatar_id>` (atomic replace)."""
    return cache.bundles.install(avatar_id, source)
