"""Bundles: exact contents, manifest verification, no unpickling, movable."""

import json
import shutil

import pytest
import torch

from avatarzoo.bundle import read_bundle, write_bundle
from avatarzoo.bundle.card import CardData, Metric, read_front_matter, render_card
from avatarzoo.errors import BundleError


def make(tmp_path, name="b"):
    card = render_card(CardData(
        avatar_id="tester-v1", license="cc-by-nc-4.0", consent="the subject", source="",
        description="", tags=("x",), recipe_sha256="0" * 64, space="face-64", size=64, fps=25.0,
        n_frames=10, metrics=(Metric("PSNR full frame (dB)", "psnr_full", 30.5),),
    ))
    return write_bundle(
        tmp_path / name,
        tensors={"renderer.means": torch.randn(100, 3), "demo.pose": torch.eye(4)[None]},
        metadata={"avatarzoo.id": "tester-v1", "avatarzoo.recipe_sha256": "0" * 64},
        config={"id": "tester-v1", "b": 1, "a": 2},
        card=card,
    )


def test_roundtrip_and_exact_files(tmp_path):
    path = make(tmp_path)
    assert {p.name for p in path.iterdir()} == {"model.safetensors", "config.json", "README.md", "manifest.json"}
    b = read_bundle(path)
    assert b.id == "tester-v1"
    assert b.metadata["avatarzoo.format_version"] == "1"
    assert b.tensors("renderer.")["means"].shape == (100, 3)
    assert list(json.loads((path / "config.json").read_text())) == ["a", "b", "id"]  # sorted keys
    front = read_front_matter(b.card)
    assert front["library_name"] == "avatarzoo" and front["license"] == "cc-by-nc-4.0"
    assert front["model-index"][0]["results"][0]["metrics"][0]["value"] == 30.5


def test_bundle_is_movable(tmp_path):
    path = make(tmp_path)
    moved = shutil.move(str(path), str(tmp_path / "elsewhere"))
    assert read_bundle(moved).id == "tester-v1"
    assert str(tmp_path) not in (tmp_path / "elsewhere" / "config.json").read_text()


def test_one_byte_changed_refuses_naming_file(tmp_path):
    path = make(tmp_path)
    f = path / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[-5] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"model\.safetensors: content does not match its sha256"):
        read_bundle(path)


def test_truncated_and_missing_files(tmp_path):
    path = make(tmp_path)
    f = path / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(BundleError, match=r"model\.safetensors: \d+ bytes, the manifest says"):
        read_bundle(path)
    path2 = make(tmp_path, "c")
    (path2 / "config.json").unlink()
    with pytest.raises(BundleError, match=r"config\.json: missing from the bundle"):
        read_bundle(path2)
    (path2 / "manifest.json").unlink()
    with pytest.raises(BundleError, match=r"manifest\.json: missing"):
        read_bundle(path2)


def test_rewrite_replaces_atomically(tmp_path):
    """A rewrite that fails half-way (here: an extra file that cannot be copied, after the
    model and config were written) leaves the old bundle as it was and no temp dir; one
    that succeeds replaces every file together."""
    path = make(tmp_path)
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    with pytest.raises(FileNotFoundError):
        write_bundle(path, tensors={"renderer.means": torch.zeros(5, 3)},
                     metadata={"avatarzoo.id": "tester-v1"}, config={"id": "tester-v1"}, card="new",
                     extra_files={"preview.png": tmp_path / "missing.png"})
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["b"]
    write_bundle(path, tensors={"renderer.means": torch.zeros(5, 3)},
                 metadata={"avatarzoo.id": "tester-v1"}, config={"id": "tester-v1"}, card="new")
    b = read_bundle(path)
    assert b.card == "new" and b.tensors("renderer.")["means"].shape == (5, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_no_pickle_anywhere(tmp_path):
    path = make(tmp_path)
    for f in path.iterdir():
        assert not f.read_bytes().startswith(b"\x80"), f"{f} looks like a pickle"


def test_model_file_bytes_do_not_depend_on_the_process(tmp_path):
    """safetensors writes its metadata in hash-map order (it differs between processes);
    bundles canonicalise the header so that equal content gives equal bytes."""
    import subprocess
    import sys

    code = (
        "import torch, sys; from avatarzoo.bundle import write_bundle;"
        "write_bundle(__import__('pathlib').Path(sys.argv[1]), tensors={'b': torch.ones(3), 'a': torch.zeros(2, 2)},"
        " metadata={f'avatarzoo.k{i}': str(i) for i in range(12)} | {'avatarzoo.id': 'x-v1'},"
        " config={}, card='')"
    )
    digests = set()
    for i in range(3):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / f"b{i}")], check=True)
        digests.add((tmp_path / f"b{i}" / "model.safetensors").read_bytes())
    assert len(digests) == 1
    from safetensors.torch import load_file

    loaded = load_file(tmp_path / "b0" / "model.safetensors")
    assert loaded["a"].shape == (2, 2) and float(loaded["b"].sum()) == 3


# --- untrusted bundles: each refused with a one-line BundleError before any tensor loads

def _rewrite_manifest(path, **names):
    """Recompute the manifest for the files now there (what an attacker who controls the
    whole bundle would ship); `names` (name=None drops, name=entry adds) edit it further."""
    from avatarzoo.files import file_sha256

    manifest = json.loads((path / "manifest.json").read_text())
    files = manifest["files"]
    for name in list(files):
        if (path / name).is_file():
            files[name] = {"sha256": file_sha256(path / name), "size": (path / name).stat().st_size}
    for name, entry in names.items():
        if entry is None:
            files.pop(name, None)
        else:
            files[name] = entry
    (path / "manifest.json").write_text(json.dumps(manifest))


def _rewrite_header(path, edit, *, length=None):
    """Apply `edit` to the JSON header of model.safetensors (data section kept)."""
    import struct

    f = path / "model.safetensors"
    raw = f.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    edit(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    f.write_bytes(struct.pack("<Q", length if length is not None else len(text)) + text + raw[8 + n:])


def _refused(path, match, **kw):
    with pytest.raises(BundleError, match=match) as info:
        read_bundle(path, **kw)
    assert "\n" not in str(info.value)
    return str(info.value)


ENTRY = {"sha256": "0" * 64, "size": 1}


@pytest.mark.parametrize("verify", [True, False])
@pytest.mark.parametrize("name, match", [
    ("../outside.txt", r"manifest\.json: lists '\.\./outside\.txt', a path outside the bundle"),
    ("/etc/passwd", r"lists '/etc/passwd', an absolute path"),
    ("C:\\evil.dll", r"an absolute path"),
    ("sub/model.safetensors", r"a file in a subdirectory"),
    ("run.py", r"lists 'run\.py', which is not a bundle file"),
    ("model.bin", r"lists 'model\.bin', which is not a bundle file"),
])
def test_manifest_naming_what_is_not_a_bundle_file_is_refused(tmp_path, name, match, verify):
    path = make(tmp_path)
    (tmp_path / "outside.txt").write_text("x")
    _rewrite_manifest(path, **{name: ENTRY})
    _refused(path, match, verify=verify)


def test_manifest_entry_without_a_valid_sha_is_refused(tmp_path):
    path = make(tmp_path)
    _rewrite_manifest(path, **{"config.json": {"sha256": "zz", "size": 3}})
    _refused(path, r"'config\.json' has no valid sha256")


@pytest.mark.parametrize("what", ["file", "directory"])
def test_unexpected_file_in_the_directory_is_refused(tmp_path, what):
    path = make(tmp_path)
    if what == "file":
        (path / "evil.pkl").write_bytes(b"\x80\x04K\x01.")
    else:
        (path / "extras").mkdir()
    _refused(path, rf"{'evil.pkl' if what == 'file' else 'extras'}: unexpected {what} in the bundle"
                   r" \(manifest\.json does not list it\)", verify=False)


def test_gitattributes_from_the_hub_is_ignored(tmp_path):
    path = make(tmp_path)
    (path / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    assert read_bundle(path).id == "tester-v1"


def test_symbolic_links_are_refused(tmp_path):
    path = make(tmp_path)
    outside = tmp_path / "elsewhere.safetensors"
    shutil.move(str(path / "model.safetensors"), outside)
    (path / "model.safetensors").symlink_to(outside)
    msg = _refused(path, r"model\.safetensors: a symbolic link", verify=False)
    assert str(outside) in msg
    # a link is accepted only into the given blob store (the Hub cache), never out of it
    store = tmp_path / "blobs"
    store.mkdir()
    _refused(path, r"model\.safetensors: a link to .*, outside .*blobs", links_within=store)
    shutil.move(str(outside), store / "abc")
    (path / "model.safetensors").unlink()
    (path / "model.safetensors").symlink_to(store / "abc")
    assert read_bundle(path, links_within=store).id == "tester-v1"


def test_manifest_that_is_a_link_is_refused(tmp_path):
    path = make(tmp_path)
    shutil.move(str(path / "manifest.json"), tmp_path / "m.json")
    (path / "manifest.json").symlink_to(tmp_path / "m.json")
    _refused(path, r"manifest\.json: a symbolic link")


def test_header_that_lies_about_a_tensor_size_is_refused(tmp_path):
    path = make(tmp_path)

    def grow(h):
        h["renderer.means"]["shape"] = [1000, 3]  # the data holds 100 × 3 floats

    _rewrite_header(path, grow)
    _rewrite_manifest(path)  # the manifest agrees: only the header can tell
    _refused(path, r"tensor 'renderer\.means' is F32 \[1000, 3\] = 12000 bytes but its data_offsets"
                   r" span 1200 bytes; the header lies about its size")


@pytest.mark.parametrize("edit, match", [
    (lambda h: h["demo.pose"].update(data_offsets=[0, 1 << 40]), r"outside the \d+-byte data section"),
    (lambda h: h["renderer.means"].update(data_offsets=[0, 1200]), r"overlaps the tensor before it"),
    (lambda h: h["demo.pose"].update(dtype="PICKLE"), r"dtype 'PICKLE'"),
    (lambda h: h.pop("demo.pose"), r"tensor .renderer\.means. leaves a gap at byte 0"),
    (lambda h: h["demo.pose"].update(shape=[-1, 4]), r"shape \[-1, 4\]"),
    (lambda h: h.pop("renderer.means"), r"the tensors cover \d+ bytes of a \d+-byte data section"),
    (lambda h: h["__metadata__"].update({"avatarzoo.size": 64}), r"__metadata__ must map names to strings"),
])
def test_header_that_does_not_describe_the_data_is_refused(tmp_path, edit, match):
    path = make(tmp_path)
    _rewrite_header(path, edit)
    _rewrite_manifest(path)
    _refused(path, match)


def test_oversized_header_is_refused_before_it_is_read(tmp_path):
    path = make(tmp_path)
    _rewrite_header(path, lambda h: None, length=1 << 40)
    _rewrite_manifest(path)
    _refused(path, r"safetensors header of 1099511627776 bytes, over the 8388608-byte limit")
    path2 = make(tmp_path, "c")
    _rewrite_header(path2, lambda h: None, length=1 << 20)  # within the limit, past the end
    _rewrite_manifest(path2)
    size = (path2 / "model.safetensors").stat().st_size
    _refused(path2, rf"header length 1048576 runs past the end of the {size}-byte file")


def test_oversized_manifest_is_refused(tmp_path):
    path = make(tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["padding"] = "x" * (1 << 20)
    (path / "manifest.json").write_text(json.dumps(manifest))
    _refused(path, r"manifest\.json: \d+ bytes, over the 1048576-byte limit")


def test_write_bundle_refuses_files_no_reader_would_accept(tmp_path):
    src = tmp_path / "run.py"
    src.write_text("print('hi')")
    with pytest.raises(ValueError, match=r"extra_files \['run\.py'\]"):
        write_bundle(tmp_path / "b", tensors={"a": torch.zeros(1)}, metadata={"avatarzoo.id": "x-v1"},
                     config={}, card="", extra_files={"run.py": src})
