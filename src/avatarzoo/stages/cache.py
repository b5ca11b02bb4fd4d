"""The content-addressed stage cache.

```
<root>/stages/<stage>/<key>/   finished outputs (+ stage.json, log.txt); never modified
<root>/tmp/<stage>-<key>-<pid>/ a run in progress; renamed into stages/ when it succeeds
<root>/scratch/<stage>/<key>/  resume state of an interrupted run (checkpoints)
<root>/locks/                  one lock per stage key and per recipe id
<root>/bundles/<id>/           the local bundle store that `load("id")` reads
```

The root is `$AVATARZOO_CACHE`, else `$HF_HOME/avatarzoo` (Hugging Face's home, by
default `~/.cache/huggingface`).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from avatarzoo.bundle.store import BundleStore, cache_root


def default_cache_root() -> Path:
    """`$AVATARZOO_CACHE`, else `$HF_HOME/avatarzoo` (one definition, in the bundle store)."""
    return cache_root()


@dataclass(frozen=True)
class StageCache:
    root: Path

    @classmethod
    def open(cls, root: Path | str | None = None) -> "StageCache":
        path = Path(root).expanduser() if root is not None else default_cache_root()
        for sub in ("stages", "tmp", "scratch", "locks", "bundles"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        return cls(path.resolve())

    def output(self, stage: str, key: str) -> Path:
        return self.root / "stages" / stage / key

    def has(self, stage: str, key: str) -> bool:
        return (self.output(stage, key) / "stage.json").is_file()

    def scratch(self, stage: str, key: str) -> Path:
        return self.root / "scratch" / stage / key

    def lock(self, name: str) -> FileLock:
        return FileLock(str(self.root / "locks" / f"{name}.lock"))

    def new_tmp(self, stage: str, key: str) -> Path:
        tmp = self.root / "tmp" / f"{stage}-{key}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        return tmp

    def clear_stale_tmp(self, stage: str, key: str) -> None:
        """Remove half-written outputs of earlier, interrupted runs of this key.
        Call only while holding the stage key's lock."""
        for tmp in (self.root / "tmp").glob(f"{stage}-{key}-*"):
            shutil.rmtree(tmp, ignore_errors=True)

    def commit(self, stage: str, key: str, tmp: Path) -> Path:
        """Move a finished `tmp` into place atomically (a rename on one file system)."""
        final = self.output(stage, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        shutil.rmtree(self.scratch(stage, key), ignore_errors=True)
        return final

    @property
    def bundles(self) -> BundleStore:
        """The local bundle store under this cache (avatarzoo.bundle.store)."""
        return BundleStore(self.root / "bundles")

    def bundle_dir(self, avatar_id: str) -> Path:
        return self.bundles.path(avatar_id)
