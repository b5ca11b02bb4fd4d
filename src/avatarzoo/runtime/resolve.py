"""Name → bundle directory: `load("demo-v1")`, a directory path, or the local store."""

from __future__ import annotations

import re
from pathlib import Path

from avatarzoo.errors import NotFoundError, did_you_mean
from avatarzoo.stages.cache import StageCache

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*-v[0-9]+$")


def local_ids(cache: StageCache) -> list[str]:
    root = cache.root / "bundles"
    return sorted(p.name for p in root.iterdir() if (p / "manifest.json").is_file()) if root.is_dir() else []


def resolve_bundle(name: str | Path, *, cache: StageCache | None = None) -> Path:
    """The bundle directory `name` stands for.

    Accepts a directory holding a bundle, or an avatar id such as "roman-v2" looked up
    in the local bundle store (`<cache>/bundles/<id>`), where `avatarzoo build` puts it.
    """
    path = Path(name)
    if path.is_dir():
        return path
    text = str(name)
    cache = cache or StageCache.open()
    if ID_PATTERN.match(text):
        candidate = cache.bundle_dir(text)
        if candidate.is_dir():
            return candidate
        known = local_ids(cache)
        raise NotFoundError(
            f"no avatar '{text}' in the local store {cache.root / 'bundles'}{did_you_mean(text, known)};"
            f" built here: {', '.join(known) or 'none'} (build one with `avatarzoo build RECIPE`)"
        )
    if "/" in text or text.startswith("."):
        raise NotFoundError(f"{text}: no such bundle directory")
    raise NotFoundError(
        f"'{text}' is neither a bundle directory nor an avatar id like 'name-v2'"
    )
