"""Where avatarzoo keeps things on this machine, and the local bundle store.

```
<cache root>/bundles/<id>/   the local bundle store: `avatarzoo build` installs here,
                             `load("id")` looks here first
```

The cache root is `$AVATARZOO_CACHE`, else `$HF_HOME/avatarzoo` (Hugging Face's home:
`$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`), read when
called. The stage cache (`avatarzoo.stages.cache`) lives under the same root; this module
is what the runtime uses, so loading a bundle never imports the build machinery.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from avatarzoo.files import replace_dir
from avatarzoo.bundle.format import MANIFEST_FILE


def hf_home() -> Path:
    """Hugging Face's home directory, with huggingface_hub's own precedence."""
    env = os.environ.get("HF_HOME")
    if env:
        return Path(os.path.expandvars(env)).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "huggingface"


def cache_root() -> Path:
    """`$AVATARZOO_CACHE`, else `$HF_HOME/avatarzoo`."""
    env = os.environ.get("AVATARZOO_CACHE")
    if env:
        return Path(env).expanduser()
    return hf_home() / "avatarzoo"


@dataclass(frozen=True)
class BundleStore:
    """The local bundle store: one finished bundle directory per avatar id."""

    root: Path  # <cache root>/bundles

    @classmethod
    def open(cls, cache: Path | str | None = None) -> "BundleStore":
        """The store under the cache root `cache` (default `cache_root()`); creates nothing."""
        base = Path(cache).expanduser() if cache is not None else cache_root()
        return cls(base.resolve() / "bundles")

    def path(self, avatar_id: str) -> Path:
        return self.root / avatar_id

    def has(self, avatar_id: str) -> bool:
        return (self.path(avatar_id) / MANIFEST_FILE).is_file()

    def ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if not p.name.startswith(".") and (p / MANIFEST_FILE).is_file())

    def install(self, avatar_id: str, source: Path) -> Path:
        """Copy the bundle at `source` to `<root>/<avatar_id>` (atomic replace)."""
        target = self.path(avatar_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{avatar_id}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp)
        return replace_dir(tmp, target)
