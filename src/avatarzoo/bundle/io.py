"""Writing and reading bundles. Nothing is ever unpickled: tensors are safetensors,
everything else JSON or Markdown, and every file is checked against the manifest."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avatarzoo.bundle.format import (
    CARD_FILE, CONFIG_FILE, FORMAT_VERSION, MANIFEST_FILE, MODEL_FILE,
)
from avatarzoo.errors import BundleError
from avatarzoo.files import file_sha256, replace_dir

if TYPE_CHECKING:
    import torch


@dataclass
class Bundle:
    path: Path
    metadata: dict[str, str]  # the safetensors header's __metadata__
    config: dict[str, Any]
    card: str
    manifest: dict[str, Any]
    _tensors: dict[str, "torch.Tensor"] | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return self.metadata["avatarzoo.id"]

    def tensors(self, prefix: str = "") -> dict[str, "torch.Tensor"]:
        """Tensors whose key starts with `prefix`, with the prefix removed."""
        if self._tensors is None:
            from safetensors.torch import load_file

            self._tensors = load_file(self.path / MODEL_FILE)
        return {k[len(prefix):]: v for k, v in self._tensors.items() if k.startswith(prefix)}


def _manifest(directory: Path, names: list[str]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "files": {
            n: {"sha256": file_sha256(directory / n), "size": (directory / n).stat().st_size}
            for n in sorted(names)
        },
    }


def canonical_safetensors(tensors: dict[str, "torch.Tensor"], metadata: dict[str, str]) -> bytes:
    """safetensors bytes whose header JSON has sorted keys, so equal content gives equal
    bytes (safetensors itself writes `__metadata__` in hash-map order, which changes from
    one process to the next). Data offsets are relative to the end of the header, so only
    the header is rewritten; it is padded with spaces to 8 bytes as safetensors does."""
    import struct

    from safetensors.torch import save

    raw = save({k: v.contiguous() for k, v in sorted(tensors.items())}, metadata=metadata)
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + raw[8 + n:]


def write_bundle(
    directory: Path,
    *,
    tensors: dict[str, "torch.Tensor"],
    metadata: dict[str, str],
    config: dict[str, Any],
    card: str,
    extra_files: dict[str, Path] | None = None,
) -> Path:
    """Write a bundle into `directory` (replaced atomically if it exists).

    `metadata` gets `avatarzoo.format_version`; it must hold `avatarzoo.id`.
    `extra_files` (name → source path) are copied in and listed in the manifest.
    """
    if "avatarzoo.id" not in metadata:
        raise ValueError("metadata must hold 'avatarzoo.id'")
    bad = [k for k, v in metadata.items() if not isinstance(v, str)]
    if bad:
        raise ValueError(f"safetensors metadata values must be strings: {bad}")
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        meta = {"avatarzoo.format_version": FORMAT_VERSION, **metadata}
        (tmp / MODEL_FILE).write_bytes(canonical_safetensors(tensors, meta))
        (tmp / CONFIG_FILE).write_text(json.dumps(config, sort_keys=True, indent=2) + "\n")
        (tmp / CARD_FILE).write_text(card)
        names = [MODEL_FILE, CONFIG_FILE, CARD_FILE]
        for name, src in (extra_files or {}).items():
            shutil.copyfile(src, tmp / name)
            names.append(name)
        (tmp / MANIFEST_FILE).write_text(json.dumps(_manifest(tmp, names), sort_keys=True, indent=2) + "\n")
        replace_dir(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _read_header_metadata(path: Path) -> dict[str, str]:
    """The `__metadata__` of a safetensors file, read from its JSON header alone."""
    import struct

    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise BundleError(f"{path}: truncated safetensors file (no header)")
        (n,) = struct.unpack("<Q", head)
        if n > 100_000_000:
            raise BundleError(f"{path}: not a safetensors file (header length {n})")
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BundleError(f"{path}: corrupt safetensors header") from None
    return dict(header.get("__metadata__") or {})


def read_bundle(directory: Path | str, *, verify: bool = True) -> Bundle:
    """Open the bundle at `directory`, verifying every file against `manifest.json`."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BundleError(f"{directory}: no bundle directory there")
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise BundleError(f"{manifest_path}: missing; this is not a complete avatarzoo bundle")
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise BundleError(f"{manifest_path}: corrupt manifest") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{manifest_path}: bundle format {manifest.get('format_version')!r}; this avatarzoo"
            f" reads format {FORMAT_VERSION!r} (upgrade avatarzoo or rebuild the bundle)"
        )
    for name in (MODEL_FILE, CONFIG_FILE, CARD_FILE):
        if name not in files:
            raise BundleError(f"{manifest_path}: does not list {name}")
    if verify:
        for name, entry in files.items():
            path = directory / name
            if not path.is_file():
                raise BundleError(f"{path}: missing from the bundle (listed in manifest.json)")
            size = path.stat().st_size
            if size != entry["size"]:
                raise BundleError(
                    f"{path}: {size} bytes, the manifest says {entry['size']} (truncated or altered)"
                )
            if file_sha256(path) != entry["sha256"]:
                raise BundleError(f"{path}: content does not match its sha256 in manifest.json (altered)")
    metadata = _read_header_metadata(directory / MODEL_FILE)
    if "avatarzoo.id" not in metadata:
        raise BundleError(f"{directory / MODEL_FILE}: header has no avatarzoo.id; not an avatarzoo bundle")
    try:
        config = json.loads((directory / CONFIG_FILE).read_text())
    except json.JSONDecodeError as e:
        raise BundleError(f"{directory / CONFIG_FILE}: not valid JSON ({e.msg})") from None
    return Bundle(directory, metadata, config, (directory / CARD_FILE).read_text(), manifest)
