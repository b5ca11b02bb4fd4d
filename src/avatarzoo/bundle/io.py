"""Writing and reading bundles. Nothing is ever unpickled: tensors are safetensors,
everything else JSON or Markdown, and every file is checked against the manifest.

A bundle read from anywhere (the local store, a directory, a Hub download) is untrusted
input: `read_bundle` refuses manifest entries that name paths outside the bundle or
files that are not bundle files, files in the directory that the manifest does not
list, symbolic links (except, for a Hub download, links into the Hub cache's own blob
store), and a safetensors header that is oversized, malformed or lies about where its
tensors are: each with a one-line BundleError, before any tensor is loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avatarzoo.bundle.format import (
    BUNDLE_FILES, CARD_FILE, CONFIG_FILE, DTYPE_SIZES, FORMAT_VERSION, IGNORED_FILES,
    MANIFEST_FILE, MAX_HEADER_BYTES, MAX_MANIFEST_BYTES, MAX_TEXT_BYTES, MODEL_FILE,
    OPTIONAL_FILES,
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
    `extra_files` (name → source path, names from `OPTIONAL_FILES`) are copied in and
    listed in the manifest.
    """
    if "avatarzoo.id" not in metadata:
        raise ValueError("metadata must hold 'avatarzoo.id'")
    unknown = sorted(set(extra_files or {}) - set(OPTIONAL_FILES))
    if unknown:
        raise ValueError(f"extra_files {unknown}: a bundle holds only {', '.join(OPTIONAL_FILES)} besides its own files")
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


ALLOWED_FILES = frozenset(BUNDLE_FILES) | frozenset(OPTIONAL_FILES)
_HEX64 = frozenset("0123456789abcdef")


def _check_name(name: Any, manifest_path: Path) -> str:
    """A manifest entry must be the plain name of a bundle file."""
    if not isinstance(name, str) or not name:
        raise BundleError(f"{manifest_path}: lists {name!r}, not a file name")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise BundleError(f"{manifest_path}: lists '{name}', an absolute path; refusing the bundle"
                          " (a manifest names only files inside its bundle)")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts or "." in parts:
        raise BundleError(f"{manifest_path}: lists '{name}', a path outside the bundle; refusing the bundle"
                          " (a manifest names only files inside its bundle)")
    if len(parts) > 1:
        raise BundleError(f"{manifest_path}: lists '{name}', a file in a subdirectory; bundles are flat")
    if name not in ALLOWED_FILES or name == MANIFEST_FILE:
        raise BundleError(f"{manifest_path}: lists '{name}', which is not a bundle file (a bundle holds"
                          f" {', '.join(sorted(ALLOWED_FILES - {MANIFEST_FILE}))}); refusing the bundle")
    return name


def check_manifest(manifest: Any, manifest_path: Path) -> dict[str, dict[str, Any]]:
    """The `files` of a parsed manifest.json, every name, sha256 and size checked."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise BundleError(f"{manifest_path}: corrupt manifest (expected an object with 'files')")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{manifest_path}: bundle format {manifest.get('format_version')!r}; this avatarzoo"
            f" reads format {FORMAT_VERSION!r} (upgrade avatarzoo or rebuild the bundle)"
        )
    files = manifest["files"]
    for name, entry in files.items():
        _check_name(name, manifest_path)
        sha, size = (entry.get("sha256"), entry.get("size")) if isinstance(entry, dict) else (None, None)
        if not (isinstance(sha, str) and len(sha) == 64 and set(sha) <= _HEX64):
            raise BundleError(f"{manifest_path}: '{name}' has no valid sha256 (64 lowercase hex digits)")
        if not (isinstance(size, int) and not isinstance(size, bool) and size >= 0):
            raise BundleError(f"{manifest_path}: '{name}' has no valid size (a byte count)")
    for name in (MODEL_FILE, CONFIG_FILE, CARD_FILE):
        if name not in files:
            raise BundleError(f"{manifest_path}: does not list {name}")
    return files


def read_manifest(manifest_path: Path) -> dict[str, Any]:
    """Parse and check a manifest.json (bounded in size)."""
    size = manifest_path.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise BundleError(f"{manifest_path}: {size} bytes, over the {MAX_MANIFEST_BYTES}-byte limit"
                          " for a manifest; refusing the bundle")
    try:
        manifest = json.loads(manifest_path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BundleError(f"{manifest_path}: corrupt manifest (not JSON)") from None
    check_manifest(manifest, manifest_path)
    return manifest


def plain_file(path: Path, links_within: Path | None) -> Path:
    """`path` if it is a regular file; a symbolic link only when `links_within` is given
    and the link resolves to a regular file inside it (the Hub cache's blob store)."""
    if path.is_symlink():
        if links_within is None:
            raise BundleError(f"{path}: a symbolic link (to {os.readlink(path)}); a bundle holds plain"
                              " files, so copy the file itself in its place")
        target = path.resolve()
        root = links_within.resolve()
        if not target.is_relative_to(root):
            raise BundleError(f"{path}: a link to {target}, outside {root}; refusing the bundle")
        path = target
    if not path.is_file():
        raise BundleError(f"{path}: not a regular file; refusing the bundle")
    return path


def read_safetensors_header(path: Path) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """(`__metadata__`, tensor entries) of a safetensors file, read from its header alone
    and checked against the file: a bounded header, known dtypes, and data offsets that
    match each tensor's shape and tile the data section exactly."""
    import struct

    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise BundleError(f"{path}: truncated safetensors file (no header)")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER_BYTES:
            raise BundleError(f"{path}: safetensors header of {n} bytes, over the {MAX_HEADER_BYTES}-byte"
                              " limit; refusing the bundle")
        if 8 + n > size:
            raise BundleError(f"{path}: header length {n} runs past the end of the {size}-byte file")
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BundleError(f"{path}: corrupt safetensors header (not JSON)") from None
    if not isinstance(header, dict):
        raise BundleError(f"{path}: corrupt safetensors header (not an object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise BundleError(f"{path}: header __metadata__ must map names to strings")
    data_len = size - 8 - n
    spans = []
    for key, info in header.items():
        if not isinstance(info, dict):
            raise BundleError(f"{path}: tensor '{key}' has no dtype/shape/data_offsets")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in DTYPE_SIZES:
            raise BundleError(f"{path}: tensor '{key}' has dtype {dtype!r}; expected one of {', '.join(DTYPE_SIZES)}")
        if not (isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                for d in shape)):
            raise BundleError(f"{path}: tensor '{key}' has shape {shape!r}; expected a list of sizes")
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_len):
            raise BundleError(f"{path}: tensor '{key}' has data_offsets {offsets!r} outside the"
                              f" {data_len}-byte data section")
        nbytes = DTYPE_SIZES[dtype]
        for d in shape:
            nbytes *= d
        if offsets[1] - offsets[0] != nbytes:
            raise BundleError(f"{path}: tensor '{key}' is {dtype} {shape} = {nbytes} bytes but its data_offsets"
                              f" span {offsets[1] - offsets[0]} bytes; the header lies about its size")
        spans.append((offsets[0], offsets[1], key))
    cursor = 0
    for begin, end, key in sorted(spans):
        if begin != cursor:
            what = "overlaps the tensor before it" if begin < cursor else f"leaves a gap at byte {cursor}"
            raise BundleError(f"{path}: tensor '{key}' {what}; the header does not describe the data")
        cursor = end
    if cursor != data_len:
        raise BundleError(f"{path}: the tensors cover {cursor} bytes of a {data_len}-byte data section;"
                          " the header does not describe the data")
    return dict(metadata), header


def _read_text(path: Path, size: int) -> str:
    if size > MAX_TEXT_BYTES:
        raise BundleError(f"{path}: {size} bytes, over the {MAX_TEXT_BYTES}-byte limit; refusing the bundle")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError(f"{path}: not UTF-8 text") from None


def read_bundle(directory: Path | str, *, verify: bool = True, links_within: Path | None = None) -> Bundle:
    """Open the bundle at `directory`, checking it as untrusted input.

    Always: the manifest's names and entries, that the directory holds exactly the listed
    files (plain files; symbolic links only into `links_within`, for the Hub cache), their
    sizes, and the safetensors header against the model file. With `verify` (default),
    also the sha256 of every file against `manifest.json`. No tensor is loaded here.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise BundleError(f"{directory}: no bundle directory there")
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.exists() and not manifest_path.is_symlink():
        raise BundleError(f"{manifest_path}: missing; this is not a complete avatarzoo bundle")
    manifest = read_manifest(plain_file(manifest_path, links_within))
    files = manifest["files"]
    # the manifest names the bundle's files; the directory holds nothing else
    for entry in sorted(directory.iterdir()):
        if entry.name == MANIFEST_FILE or entry.name in files:
            continue
        if entry.name in IGNORED_FILES:
            plain_file(entry, links_within)
            continue
        kind = "directory" if entry.is_dir() and not entry.is_symlink() else "file"
        raise BundleError(f"{entry}: unexpected {kind} in the bundle (manifest.json does not list it);"
                          " refusing the bundle")
    sizes: dict[str, int] = {}
    for name, entry in files.items():
        path = directory / name
        if not path.exists() and not path.is_symlink():
            raise BundleError(f"{path}: missing from the bundle (listed in manifest.json)")
        real = plain_file(path, links_within)
        size = real.stat().st_size
        if size != entry["size"]:
            raise BundleError(
                f"{path}: {size} bytes, the manifest says {entry['size']} (truncated or altered)"
            )
        sizes[name] = size
    if verify:
        for name, entry in files.items():
            if file_sha256(directory / name) != entry["sha256"]:
                raise BundleError(f"{directory / name}: content does not match its sha256 in manifest.json (altered)")
    metadata, _ = read_safetensors_header(directory / MODEL_FILE)
    if "avatarzoo.id" not in metadata:
        raise BundleError(f"{directory / MODEL_FILE}: header has no avatarzoo.id; not an avatarzoo bundle")
    try:
        config = json.loads(_read_text(directory / CONFIG_FILE, sizes[CONFIG_FILE]))
    except json.JSONDecodeError as e:
        raise BundleError(f"{directory / CONFIG_FILE}: not valid JSON ({e.msg})") from None
    card = _read_text(directory / CARD_FILE, sizes[CARD_FILE])
    return Bundle(directory, metadata, config, card, manifest)
