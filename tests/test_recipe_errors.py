"""Bad recipes give one clear error naming file, line and field; the CLI exits 2."""

import textwrap

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avatarzoo.cli import main
from avatarzoo.errors import RecipeError
from avatarzoo.recipe import load_recipe

GOOD = textwrap.dedent("""\
    avatar: tester
    version: 1
    recording:
      video: VIDEO
      fps: 25
    tracker:
      kind: import
      format: arkit-csv
      path: VIDEO
      space: arkit-52
    renderer:
      kind: gaussian
      space: arkit-52
      gaussians: 5000
    card:
      license: cc-by-nc-4.0
      consent: recorded by the subject
    """)


def validate(path):
    return CliRunner().invoke(main, ["validate", str(path)])


def test_good_recipe_validates(recipe_file):
    path = recipe_file(GOOD)
    lr = load_recipe(path)
    assert lr.id == "tester-v1"
    result = validate(path)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("  gaussians: 5000", "  gaussians: 5000\n  gausians: 7", r"r.yaml:15: renderer.gausians: unknown key 'gausians' \(did you mean 'gaussians'\?\)"),
        ("  gaussians: 5000", "  gaussians: many", r"r.yaml:14: renderer.gaussians: .*integer.*'many'"),
        ("  video: VIDEO", "  video: missing.mp4", r"r.yaml:4: recording.video: file not found: .*missing.mp4"),
        ("  kind: gaussian", "  kind: gausian", r"r.yaml:12: renderer.kind: unknown kind 'gausian' \(did you mean 'gaussian'\?\)"),
        ("  space: arkit-52\n  gaussians", "  space: flame\n  gaussians", r"r.yaml:13: renderer.space: consumes expression space 'flame' but the tracker emits 'arkit-52'"),
        ("  space: arkit-52\n  gaussians", "  space: flam\n  gaussians", r"renderer.space: unknown expression space 'flam' \(did you mean 'flame'\?\)"),
        ("version: 1", "version: one", r"r.yaml:2: version: .*integer"),
        ("avatar: tester", "avatar: Tester!", r"r.yaml:1: avatar: .*pattern"),
        ("  consent: recorded by the subject\n", "", r"card.consent: required field is missing"),
        ("  fps: 25", "  fps: [25", r"r.yaml:\d+: not valid YAML"),
    ],
    ids=["unknown-key", "wrong-type", "missing-file", "unknown-kind", "space-mismatch",
         "unknown-space", "version-type", "bad-name", "missing-field", "bad-yaml"],
)
def test_bad_recipe_one_line_error_exit_2(recipe_file, old, new, expected):
    assert old in GOOD
    path = recipe_file(GOOD.replace(old, new, 1))
    with pytest.raises(RecipeError, match=expected):
        load_recipe(path)
    result = validate(path)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.output.startswith("error: ")


def test_space_map_allows_different_spaces(recipe_file):
    text = GOOD.replace("  space: arkit-52\n  gaussians", "  space: flame\n  gaussians")
    text += "space_map: {kind: linear, to: flame}\n"
    assert load_recipe(recipe_file(text)).recipe.space_map.to == "flame"


def test_profile_overrides_and_unknown_profile(recipe_file):
    text = GOOD + "profiles:\n  small: {renderer: {gaussians: 300, steps: 10}}\n"
    lr = load_recipe(recipe_file(text), profile="small")
    assert (lr.recipe.renderer.gaussians, lr.recipe.renderer.steps) == (300, 10)
    assert lr.recipe.profiles == {}
    with pytest.raises(RecipeError, match="profile 'smal' is not defined \\(did you mean 'small'\\?\\)"):
        load_recipe(recipe_file(text), profile="smal")
    bad = GOOD + "profiles:\n  small: {renderer: {gausians: 300}}\n"
    with pytest.raises(RecipeError, match="renderer.gausians: unknown key"):
        load_recipe(recipe_file(bad), profile="small")


def test_json_recipe(recipe_file, tmp_path):
    data = yaml.safe_load(GOOD.replace("VIDEO", "x.mp4"))
    data["recording"]["video"] = data["tracker"]["path"] = str(
        recipe_file("x").parent.joinpath("v.mp4").name)
    (tmp_path / "v.mp4").write_bytes(b"")
    import json

    p = tmp_path / "r.json"
    p.write_text(json.dumps(data))
    assert load_recipe(p).id == "tester-v1"


# --- property: random input never escapes as a traceback -----------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True), st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=8)
FIELDS = ["avatar", "version", "recording", "tracker", "renderer", "audio_driver", "card",
          "profiles", "space_map", "recording.fps", "recording.crop", "recording.crop.size",
          "tracker.kind", "tracker.smoothing", "renderer.kind", "renderer.steps", "card.license"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), value=values)
def test_random_field_values_never_traceback(recipe_file, field, value):
    data = yaml.safe_load(GOOD.replace("VIDEO", "v.mp4"))
    node = data
    *parents, leaf = field.split(".")
    for p in parents:
        node = node.setdefault(p, {}) if isinstance(node.get(p), dict) or p not in node else node[p]
        if not isinstance(node, dict):
            return
    node[leaf] = value
    path = recipe_file(yaml.safe_dump(data))
    try:
        load_recipe(path, check_files=False)
    except RecipeError as e:
        assert str(e) and "Traceback" not in str(e)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_random_yaml_text_never_traceback(recipe_file, text):
    path = recipe_file(text)
    try:
        load_recipe(path, check_files=False)
    except RecipeError as e:
        assert str(e)
