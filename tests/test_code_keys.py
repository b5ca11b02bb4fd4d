"""Stage keys see every code change that can reach the stage, and only those: each
stage's code version is the import closure of its implementation (stages/code.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from avatarzoo.recipe import load_recipe
from avatarzoo.stages import code
from avatarzoo.stages.graph import plan_stages

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "recipes" / "demo-v1.yaml"


@pytest.fixture(scope="module")
def demo():
    return load_recipe(DEMO, profile="cpu-tiny")


def _keys(lr, tmp_path: Path, tag: str, edit: str | None = None) -> dict[str, str]:
    """Plan keys with the package read from a fresh copy, `edit` (a module path under
    avatarzoo/) given one more line."""
    copy = tmp_path / tag / "avatarzoo"
    shutil.copytree(code.PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    if edit is not None:
        with open(copy / edit, "a") as f:
            f.write("\nEDITED = True  # a one-line change\n")
    return {s.name: s.key for s in plan_stages(lr, code_root=copy)}


def _changed(a: dict[str, str], b: dict[str, str]) -> set[str]:
    return {name for name in a if a[name] != b[name]}


def test_the_copied_package_keys_like_the_installed_one(demo, tmp_path):
    assert _keys(demo, tmp_path, "copy") == {s.name: s.key for s in plan_stages(demo)}


def test_geometry_edit_reruns_the_stages_that_import_it(demo, tmp_path):
    base = _keys(demo, tmp_path, "base")
    edited = _keys(demo, tmp_path, "geometry", "geometry.py")
    # the tracker's head flow, the renderer's reference pose and the driver's life motion
    # use geometry; evaluate and package follow from their inputs; ingest never imports it
    assert _changed(base, edited) == {"track", "fit_renderer", "fit_audio_driver", "evaluate", "package"}


def test_an_edit_reaches_only_its_importers(demo, tmp_path):
    base = _keys(demo, tmp_path, "base")
    assert _changed(base, _keys(demo, tmp_path, "card", "bundle/card.py")) == {"package"}
    assert _changed(base, _keys(demo, tmp_path, "fidelity", "evaluate/fidelity.py")) == {"evaluate", "package"}
    assert _changed(base, _keys(demo, tmp_path, "rasterizer", "renderers/gaussian/_torch_rasterizer.py")) \
        == {"fit_renderer", "evaluate", "package"}
    assert _changed(base, _keys(demo, tmp_path, "cli", "cli.py")) == set()
    assert _changed(base, _keys(demo, tmp_path, "life", "drivers/life.py")) == {"fit_audio_driver", "evaluate", "package"}


def test_closure_follows_function_level_imports_not_type_checking_ones(tmp_path):
    pkg = tmp_path / "avatarzoo"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("def load():\n    from avatarzoo import heavy\n")
    (pkg / "heavy.py").write_text("import torch\n")
    (pkg / "light.py").write_text("X = 1\n")
    (pkg / "typed.py").write_text("X = 2\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "stage.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from avatarzoo import typed\n"
        "def run():\n    from avatarzoo.light import X\n    import importlib\n"
        "    importlib.import_module('avatarzoo.heavy')\n")
    got = code.closure(["avatarzoo.sub.stage"], pkg)
    # the parent package runs (its function-level import of heavy does not), light is
    # imported in a function, heavy by a constant import_module; typed is types only
    assert got == ["avatarzoo", "avatarzoo.heavy", "avatarzoo.light", "avatarzoo.sub", "avatarzoo.sub.stage"]
    assert code.import_graph(pkg)["avatarzoo.heavy"].external == {"torch"}


def test_package_versions_that_shape_outputs_join_the_key(monkeypatch):
    roots = ("avatarzoo.renderers.gaussian.stage",)
    before = code.code_version.__wrapped__(roots)
    real = code._distribution_version
    monkeypatch.setattr(code, "_distribution_version", lambda top: "torch==99" if top == "torch" else real(top))
    assert code.code_version.__wrapped__(roots) != before
    # the ingest stage imports no torch: its version does not key it
    ingest = ("avatarzoo.ingest.stage",)
    monkeypatch.setattr(code, "_distribution_version", real)
    a = code.code_version.__wrapped__(ingest)
    monkeypatch.setattr(code, "_distribution_version", lambda top: "torch==99" if top == "torch" else real(top))
    assert code.code_version.__wrapped__(ingest) == a


def test_the_shipped_prior_keys_the_driver_by_content(demo, tmp_path, monkeypatch):
    import shutil

    from avatarzoo.drivers import prior

    shutil.copytree(prior.PRIOR_DIR, tmp_path / "priors")
    monkeypatch.setattr(prior, "PRIOR_DIR", tmp_path / "priors")
    before = {s.name: s.key for s in plan_stages(demo)}
    weights = tmp_path / "priors" / "face-64.logmel.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # a refitted prior
    weights.write_bytes(bytes(data))
    after = {s.name: s.key for s in plan_stages(demo)}
    assert _changed(before, after) == {"fit_audio_driver", "evaluate", "package"}
