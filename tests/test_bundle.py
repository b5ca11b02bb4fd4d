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
