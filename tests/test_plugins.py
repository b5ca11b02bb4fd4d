"""A kind from outside avatarzoo, through the `avatarzoo.plugins` entry point: the recipe
accepts it, the plan keys its code, the build runs its stage, evaluate scores it and
`load()` renders with it — with no avatarzoo file changed. Runs in a subprocess (the
plugin joins the registry of that process only) on 4 s of the demo clip at 96²."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = Path(__file__).resolve().parent / "plugins" / "az_flat.py"
DEMO = ROOT / "data" / "obama-address-20s.mp4"

SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import numpy as np
    import avatarzoo
    from avatarzoo.kinds import get_kind, list_kinds
    from avatarzoo.recipe import load_recipe
    from avatarzoo.stages.build import build
    from avatarzoo.stages.cache import StageCache
    from avatarzoo.stages.graph import plan_stages
    from avatarzoo.stages.store import install_bundle

    assert list_kinds("renderer") == ["flat", "gaussian"], list_kinds("renderer")
    lr = load_recipe(sys.argv[1])
    assert lr.recipe.renderer.kind == "flat" and type(lr.recipe.renderer).__module__ == "az_flat"
    stages = {s.name: s for s in plan_stages(lr)}
    assert stages["fit_renderer"].spec.code_roots(lr.recipe)[0] == "az_flat"
    assert stages["evaluate"].spec.code_roots(lr.recipe)[1] == "az_flat"  # evaluate renders with it
    cache = StageCache.open(sys.argv[2])
    out = build(lr, cache, device="cpu", echo=lambda *a: None)
    install_bundle(cache, lr.id, out["package"] / "bundle")
    metrics = json.loads((out["evaluate"] / "metrics.json").read_text())
    avatar = avatarzoo.load(lr.id)
    frame = avatar.render()
    assert frame.shape == (96, 96, 3) and frame.std() > 10
    print(json.dumps({"psnr": metrics["headline"]["psnr_full"], "baseline": metrics["images"]["baseline"]["psnr_full"],
                      "renderer": avatar.bundle.metadata["avatarzoo.renderer"]}))
""")


def _install(site: Path) -> None:
    """The plugin as pip would leave it: its module and a dist-info with the entry point."""
    site.mkdir()
    (site / "az_flat.py").write_text(PLUGIN.read_text())
    info = site / "az_flat-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: az-flat\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[avatarzoo.plugins]\nflat = az_flat\n")


def test_a_plugin_renderer_builds_evaluates_and_loads(tmp_path):
    import json

    _install(tmp_path / "site")
    recipe = tmp_path / "flat.yaml"
    recipe.write_text(textwrap.dedent(f"""\
        avatar: flat
        version: 1
        recording: {{video: {os.path.relpath(DEMO, tmp_path)}, duration: 4.0, crop: {{size: 96}}, holdout: 0.2}}
        renderer: {{kind: flat}}
        card: {{license: other, consent: public-domain demo recording}}
        """))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "AVATARZOO_CACHE": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(recipe), str(tmp_path / "cache")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["renderer"] == "flat"
    # the mean training frame IS the evaluate stage's baseline: the same score
    assert abs(result["psnr"] - result["baseline"]) < 0.05


def test_a_plugin_that_fails_to_import_is_an_error_naming_it(tmp_path):
    site = tmp_path / "site"
    _install(site)
    (site / "az_flat.py").write_text("raise RuntimeError('broken plugin')\n")
    code = "from avatarzoo.kinds import list_kinds; list_kinds('renderer')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(site)})
    assert r.returncode != 0 and "avatarzoo plugin 'flat' (az_flat) failed to import" in r.stderr


def test_registering_a_kind_twice_is_an_error():
    from typing import Literal

    import pytest

    from avatarzoo.kinds import KindConfig

    with pytest.raises(ValueError, match="renderer kind 'gaussian' is registered twice"):
        class Again(KindConfig, family="renderer", parts={}):  # noqa: F841
            kind: Literal["gaussian"] = "gaussian"
