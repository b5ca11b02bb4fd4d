"""Name → bundle: the one resolver behind `avatarzoo.load()` and the CLI.

A name is

- a directory holding a bundle;
- a Hub name, `hf-hub:user/repo[@REV]` or `user/repo@REV` (avatarzoo.hub.names): pulled
  through huggingface_hub's cache;
- an avatar id such as "roman-v2", resolved in this order: the local bundle store
  (`<cache>/bundles/<id>`, where `avatarzoo build` installs), then the zoo catalog
  (`zoo/catalog.yaml`: repo + pinned revision), read from the Hub cache when it is
  there (no request at all) and downloaded from the Hub when it is not.

The runtime never imports the build machinery (`avatarzoo.stages`), and huggingface_hub
only when a name goes to the Hub.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from avatarzoo.bundle.io import Bundle, read_bundle
from avatarzoo.bundle.store import BundleStore
from avatarzoo.catalog import CatalogEntry
from avatarzoo.errors import NotFoundError, did_you_mean
from avatarzoo.hub.catalog import catalog_path, read_catalog
from avatarzoo.hub.names import HubName, looks_like_hub_name, parse_hub_name

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*-v[0-9]+$")
_REPO_LIKE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Located:
    """Where a name resolved to: a local directory, or a Hub name (+ its catalog entry)."""

    name: str
    path: Path | None = None
    hub: HubName | None = None
    entry: CatalogEntry | None = None


def _no_revision(name: str, revision: str | None, what: str) -> None:
    if revision is not None:
        raise NotFoundError(f"revision='{revision}' applies to Hub names ('hf-hub:user/repo');"
                            f" '{name}' is {what}")


def locate(name: str | Path, *, revision: str | None = None, store: BundleStore | None = None,
           catalog: Path | None = None) -> Located:
    """Resolve `name` without reading or downloading anything."""
    text = str(name)
    if isinstance(name, Path) or Path(text).is_dir():
        if Path(text).is_dir():
            _no_revision(text, revision, "a directory")
            return Located(text, path=Path(text))
        raise NotFoundError(f"{text}: no such bundle directory")
    if looks_like_hub_name(text):
        return Located(text, hub=parse_hub_name(text, revision=revision))
    if ID_PATTERN.match(text):
        store = store or BundleStore.open()
        if store.path(text).is_dir():
            _no_revision(text, revision, "in the local store")
            return Located(text, path=store.path(text))
        cpath = catalog if catalog is not None else catalog_path()
        cat = read_catalog(cpath)
        entry = cat.get(text)
        if entry is not None:
            if revision not in (None, entry.tag, entry.revision):
                raise NotFoundError(f"'{text}' is pinned by the zoo catalog {cpath} to {entry.repo}@{entry.tag};"
                                    f" for revision '{revision}' load 'hf-hub:{entry.repo}@{revision}'")
            return Located(text, hub=HubName(entry.repo, entry.revision), entry=entry)
        known = sorted(set(store.ids()) | set(cat.ids))
        raise NotFoundError(
            f"no avatar '{text}' in the local store {store.root} nor in the zoo catalog"
            f" {cpath or '(none)'}{did_you_mean(text, known)}; known: {', '.join(known) or 'none'}"
            " (build one with `avatarzoo build RECIPE`, or load a Hub repo as 'hf-hub:user/name@v1')"
        )
    if _REPO_LIKE.match(text):
        raise NotFoundError(f"'{text}' is not a bundle directory; for the Hub repo write 'hf-hub:{text}'"
                            f" (or '{text}@v1' for its tag v1)")
    if "/" in text or text.startswith("."):
        raise NotFoundError(f"{text}: no such bundle directory")
    raise NotFoundError(f"'{text}' is neither a bundle directory, an avatar id like 'name-v2' nor a Hub"
                        " name like 'hf-hub:user/name@v2'")


def _hub_blobs(path: Path) -> Path | None:
    """For a snapshot directory of the Hub cache (`models--u--r/snapshots/<commit>`, as
    `avatarzoo pull` prints), that repo's blob store: its files are links into it."""
    real = path.resolve()
    blobs = real.parent.parent / "blobs"
    if real.parent.name == "snapshots" and real.parent.parent.name.startswith("models--") and blobs.is_dir():
        return blobs
    return None


def open_bundle(name: str | Path, *, revision: str | None = None, verify: bool = True,
                store: BundleStore | None = None) -> Bundle:
    """The bundle `name` stands for, checked (see `read_bundle`); a bundle from the Hub is
    always verified against its manifest and, for a catalogued id, against the catalog."""
    loc = locate(name, revision=revision, store=store)
    if loc.path is not None:
        return read_bundle(loc.path, verify=verify, links_within=_hub_blobs(loc.path))
    from avatarzoo.hub.pull import pull

    return pull(loc.hub, entry=loc.entry)
