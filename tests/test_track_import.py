"""Tracker kind `import` through the resolver, on 2 s of the real demo clip: the built-in
tracker gives pose/landmarks/body, the expression comes from a native file, and a
declared space map is learned from the paired tracking of the same frames."""

import json
import os
import textwrap

import numpy as np
import torch

from avatarzoo.recipe import load_recipe
from avatarzoo.stages.build import build
from avatarzoo.stages.cache import StageCache
from avatarzoo.contracts.tracking import Tracking
from conftest import DEMO_VIDEO
from test_importers import write_track_params

BASE = """\
avatar: importer
version: 1
recording: {{video: {video}, fps: 25, duration: 2.0, crop: {{size: 96}}, holdout: 0.2}}
{tracker}
renderer: {{kind: gaussian, space: face-64}}
card: {{license: cc-by-4.0, consent: test}}
"""


def test_import_with_space_map(tmp_path):
    video = os.path.relpath(DEMO_VIDEO, tmp_path)
    cache = StageCache.open(tmp_path / "cache")
    builtin_recipe = tmp_path / "builtin.yaml"
    builtin_recipe.write_text(BASE.format(video=video, tracker="tracker: {kind: mediapipe}"))
    out = build(load_recipe(builtin_recipe), cache, until="track", device="cpu", echo=lambda *_: None)
    face64 = Tracking.load(out["track"] / "tracking.safetensors")
    n = len(face64)

    # A BFM-79 file whose codes are a fixed linear function of the face-64 codes + noise,
    # one row per frame as AD-NeRF writes them (frame i at i / 25 s).
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(64, 79)).astype(np.float32)
    exp = face64.expression @ mix + 0.01 * rng.normal(size=(n, 79)).astype(np.float32)
    write_track_params(tmp_path / "track_params.pt", n=n, exp=torch.from_numpy(exp))

    recipe = tmp_path / "imported.yaml"
    recipe.write_text(BASE.format(video=video, tracker=textwrap.dedent("""\
        tracker: {kind: import, format: ad-nerf-bfm, path: track_params.pt, space: bfm-79}
        space_map: {kind: linear, to: face-64}""")))
    lines = []
    out2 = build(load_recipe(recipe), cache, until="track", device="cpu", echo=lines.append)
    assert any(line.startswith("✓ ingest cached") for line in lines)  # same recording, same ingest
    mapped = Tracking.load(out2["track"] / "tracking.safetensors")
    assert mapped.space.name == "face-64"
    assert mapped.extras["imported_expression"].shape == (n, 79)
    assert mapped.extras["space_map.weight"].shape == (79, 64)
    report = json.loads((out2["track"] / "space_map.json").read_text())
    assert "R²" in report["summary"] or "R2" in report["summary"]
    # the map recovers the built-in codes on the held-out frames it never saw
    h = int(round(n * 0.8))
    err = np.abs(mapped.expression[h:] - face64.expression[h:]).mean()
    assert err < 0.1 * np.abs(face64.expression[h:]).mean() + 1e-3, err
    np.testing.assert_allclose(mapped.pose, face64.pose)  # pose stays the built-in camera's
