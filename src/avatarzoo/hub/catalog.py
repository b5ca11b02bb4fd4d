"""The zoo catalog, `zoo/catalog.yaml`, and the model cards in `cards/`.

The zoo root is the directory holding `zoo/` and `cards/`: `$AVATARZOO_ZOO`, else the
avatarzoo checkout this package runs from (an editable install). The catalog is validated
on read (the pydantic models of `avatarzoo.catalog`, which `schemas/catalog.schema.json`
is generated from); an error names the file, the line and the field. Writes are atomic.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from avatarzoo.catalog import Catalog, CatalogEntry
from avatarzoo.errors import CatalogError

CATALOG = Path("zoo") / "catalog.yaml"
CARDS = Path("cards")
HEADER = (
    "# yaml-language-server: $schema=../schemas/catalog.schema.json\n"
    "# Published avatar versions: Hub repo, tag and pinned revision, sha256 and size of\n"
    "# model.safetensors, licence and card. Written by `avatarzoo push`; `load(id)` reads it.\n"
)


def zoo_root() -> Path | None:
    """`$AVATARZOO_ZOO`, else the checkout this package runs from, else None."""
    env = os.environ.get("AVATARZOO_ZOO")
    if env:
        return Path(env).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[3]
    return checkout if (checkout / CATALOG).is_file() else None


def catalog_path(root: Path | None = None) -> Path | None:
    root = root if root is not None else zoo_root()
    return None if root is None else Path(root) / CATALOG


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at `loc` (the deepest one that exists)."""
    import yaml

    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == key]
            if not match:
                break
            line, node = match[0][0].start_mark.line + 1, match[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "(top level)"


def read_catalog(path: Path | None = None) -> Catalog:
    """The catalog at `path` (default: the zoo root's), validated; empty when absent."""
    import yaml
    from pydantic import ValidationError

    path = path if path is not None else catalog_path()
    if path is None or not Path(path).is_file():
        return Catalog()
    text = Path(path).read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise CatalogError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    try:
        return Catalog.model_validate(data if data is not None else {})
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(k for k in err["loc"] if k not in ("function-after",))
        line = _line_of(text, loc)
        msg = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        got = "" if isinstance(value, (dict, list)) else f" (got {value!r})"
        where = f":{line}" if line else ""
        raise CatalogError(
            f"{path}{where}: {_field(loc)}: {msg}{got}; fix the entry (entries are written by `avatarzoo push`)"
        ) from None


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_catalog(catalog: Catalog) -> str:
    import yaml

    data = {"avatars": [e.model_dump(mode="json") for e in sorted(catalog.avatars, key=lambda e: e.id)]}
    return HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def record(root: Path, entry: CatalogEntry, card: str) -> Path:
    """Add `entry` to `<root>/zoo/catalog.yaml` and write its card to `<root>/cards/<id>.md`.
    Recording the same entry again changes nothing; another entry for the id is refused."""
    path = Path(root) / CATALOG
    catalog = read_catalog(path)
    existing = catalog.get(entry.id)
    if existing is not None and existing != entry:
        raise CatalogError(
            f"{path}: {entry.id} is already published as {existing.repo}@{existing.tag}"
            f" (revision {existing.revision[:12]}); versions are immutable: raise `version` in the"
            " recipe and build again"
        )
    if existing is None:
        _atomic_write(path, render_catalog(Catalog(avatars=(*catalog.avatars, entry))))
    _atomic_write(Path(root) / entry.card, card)
    return path
