"""The resolver: keys, plan, caching, partial rebuilds, resume, locking."""

import dataclasses
import os
import textwrap

import pytest
from click.testing import CliRunner

import stage_doubles
from avatarzoo.recipe import load_recipe
from avatarzoo.stages import graph
from avatarzoo.stages.build import build, plan
from avatarzoo.stages.cache import StageCache

RECIPE = textwrap.dedent("""\
    avatar: tester
    version: 1
    recording: {video: VIDEO, fps: 25}
    tracker: {kind: import, format: arkit-csv, path: VIDEO, space: arkit-52}
    renderer: {kind: gaussian, space: arkit-52, gaussians: 5000, steps: 100}
    card: {license: cc-by-nc-4.0, consent: recorded by the subject}
    """)


@pytest.fixture
def doubles(monkeypatch):
    stage_doubles.CALLS.clear()
    for name, spec in graph.SPECS.items():
        fn = "stage_doubles:resumable" if name == "fit_renderer" else "stage_doubles:simple"
        if name == "fit_audio_driver":
            fn = "stage_doubles_missing:run"  # not written: shows as not implemented
        monkeypatch.setitem(graph.SPECS, name, dataclasses.replace(spec, run=fn))


@pytest.fixture
def cache(tmp_path):
    return StageCache.open(tmp_path / "cache")


def statuses(lr, cache):
    return {s.stage.name: s.status for s in plan(lr, cache)}


def test_plan_build_plan(doubles, recipe_file, cache):
    lr = load_recipe(recipe_file(RECIPE))
    assert set(statuses(lr, cache).values()) == {"to run"}
    build(lr, cache, device="cpu", echo=lambda *_: None)
    assert stage_doubles.CALLS == ["ingest", "track", "fit_renderer", "evaluate", "package"]
    assert set(statuses(lr, cache).values()) == {"cached"}
    stage_doubles.CALLS.clear()
    build(lr, cache, device="cpu", echo=lambda *_: None)
    assert stage_doubles.CALLS == []  # changing nothing rebuilds nothing


def test_renderer_edit_reruns_renderer_and_after(doubles, recipe_file, cache):
    lr = load_recipe(recipe_file(RECIPE))
    build(lr, cache, device="cpu", echo=lambda *_: None)
    edited = load_recipe(recipe_file(RECIPE.replace("steps: 100", "steps: 200"), "r2.yaml"))
    assert statuses(edited, cache) == {
        "ingest": "cached", "track": "cached", "fit_renderer": "to run",
        "evaluate": "to run", "package": "to run",
    }
    stage_doubles.CALLS.clear()
    build(edited, cache, device="cpu", echo=lambda *_: None)
    assert stage_doubles.CALLS == ["fit_renderer", "evaluate", "package"]


def test_card_edit_reruns_only_package(doubles, recipe_file, cache):
    lr = load_recipe(recipe_file(RECIPE))
    build(lr, cache, device="cpu", echo=lambda *_: None)
    edited = load_recipe(recipe_file(RECIPE.replace("cc-by-nc-4.0", "cc-by-4.0"), "r3.yaml"))
    todo = [n for n, s in statuses(edited, cache).items() if s != "cached"]
    assert todo == ["package"]


def test_keys_do_not_depend_on_where_the_recipe_lives(doubles, recipe_file, tmp_path):
    a = load_recipe(recipe_file(RECIPE))
    from conftest import DEMO_VIDEO

    sub = tmp_path / "deeper" / "sub"
    sub.mkdir(parents=True)
    (sub / "r.yaml").write_text(RECIPE.replace("VIDEO", os.path.relpath(DEMO_VIDEO, sub)))
    b = load_recipe(sub / "r.yaml")
    assert [s.key for s in graph.plan_stages(a)] == [s.key for s in graph.plan_stages(b)]


def test_killed_mid_stage_resumes_to_the_same_result(doubles, recipe_file, tmp_path, monkeypatch):
    lr = load_recipe(recipe_file(RECIPE))
    clean = StageCache.open(tmp_path / "clean")
    build(lr, clean, device="cpu", echo=lambda *_: None)

    killed = StageCache.open(tmp_path / "killed")
    monkeypatch.setenv("KILL_AT_5", "1")
    with pytest.raises(KeyboardInterrupt):
        build(lr, killed, device="cpu", echo=lambda *_: None)
    assert statuses(lr, killed)["fit_renderer"] == "to run"
    assert (killed.scratch("fit_renderer", graph.plan_stages(lr)[2].key) / "ckpt.json").exists()
    build(lr, killed, device="cpu", echo=lambda *_: None)
    assert not list((killed.root / "tmp").iterdir())  # half-written outputs are gone
    for st in graph.plan_stages(lr):
        if st.name == "fit_audio_driver":
            continue
        a = (clean.output(st.name, st.key) / "out.txt").read_text()
        b = (killed.output(st.name, st.key) / "out.txt").read_text()
        assert a == b, st.name


def test_missing_stage_is_reported_not_faked(doubles, recipe_file, cache):
    text = RECIPE + "audio_driver: {kind: tcn, space: arkit-52}\n"
    lr = load_recipe(recipe_file(text))
    assert statuses(lr, cache)["fit_audio_driver"] == "not implemented"
    lines = []
    build(lr, cache, device="cpu", echo=lines.append)
    assert any("fit_audio_driver: not implemented yet" in line for line in lines)
    assert "package" in stage_doubles.CALLS


def test_until_stops_after_stage(doubles, recipe_file, cache):
    lr = load_recipe(recipe_file(RECIPE))
    out = build(lr, cache, until="track", device="cpu", echo=lambda *_: None)
    assert set(out) == {"ingest", "track"}
    from avatarzoo.errors import StageError

    with pytest.raises(StageError, match="unknown stage 'trak' \\(did you mean 'track'\\?\\)"):
        build(lr, cache, until="trak", device="cpu", echo=lambda *_: None)


def test_concurrent_builds_share_the_cache(doubles, recipe_file, cache):
    """Two builds of one recipe at once: both finish, each stage runs once."""
    import threading

    lr = load_recipe(recipe_file(RECIPE))
    errors = []

    def go():
        try:
            build(lr, cache, device="cpu", echo=lambda *_: None)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(stage_doubles.CALLS) == sorted(["ingest", "track", "fit_renderer", "evaluate", "package"])


def test_plan_cli(doubles, recipe_file, tmp_path):
    from avatarzoo.cli import main

    path = recipe_file(RECIPE)
    result = CliRunner().invoke(main, ["plan", str(path), "--cache", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "ingest" in result.output and "to run" in result.output


def test_driver_fit_runs_beside_the_renderer_fit_with_the_same_result(recipe_file, tmp_path, monkeypatch):
    """jobs=2: fit_audio_driver (ready once track is) starts in a spawned process while
    fit_renderer runs here; the keys and every output equal a one-at-a-time build."""
    for name, spec in graph.SPECS.items():
        fn = {"fit_renderer": "stage_doubles:waits_for_beside",
              "fit_audio_driver": "stage_doubles:marks_beside"}.get(name, "stage_doubles:simple")
        monkeypatch.setitem(graph.SPECS, name, dataclasses.replace(spec, run=fn))
    lr = load_recipe(recipe_file(RECIPE + "audio_driver: {kind: tcn, space: arkit-52}\n"))
    outputs = {}
    for jobs in (1, 2):
        beside = tmp_path / f"beside{jobs}"
        beside.mkdir()
        monkeypatch.setenv("BESIDE_DIR", str(beside))
        monkeypatch.setenv("BESIDE_WAIT", "1" if jobs == 2 else "")
        lines = []
        outputs[jobs] = build(lr, StageCache.open(tmp_path / f"c{jobs}"), device="cpu", jobs=jobs,
                              echo=lines.append)
        if jobs == 2:
            assert (beside / "renderer_saw").read_text() == "True"  # it had started meanwhile
            assert int((beside / "driver.pid").read_text()) != os.getpid()
            assert any("fit_audio_driver" in line and "beside fit_renderer" in line for line in lines)
        else:
            assert int((beside / "driver.pid").read_text()) == os.getpid()
    assert list(outputs[1]) == list(outputs[2]) == list(graph.ORDER)
    for name in graph.ORDER:
        assert outputs[1][name].name == outputs[2][name].name  # the same key
        assert (outputs[1][name] / "out.txt").read_text() == (outputs[2][name] / "out.txt").read_text(), name


def test_a_failing_stage_beside_is_reported_and_the_other_kept(recipe_file, tmp_path, monkeypatch):
    for name, spec in graph.SPECS.items():
        fn = "stage_doubles:no_such_function" if name == "fit_audio_driver" else "stage_doubles:simple"
        monkeypatch.setitem(graph.SPECS, name, dataclasses.replace(spec, run=fn))
    lr = load_recipe(recipe_file(RECIPE + "audio_driver: {kind: tcn, space: arkit-52}\n"))
    cache = StageCache.open(tmp_path / "c")
    with pytest.raises(Exception, match="no_such_function"):
        build(lr, cache, device="cpu", jobs=2, echo=lambda *_: None)
    assert statuses(lr, cache)["fit_renderer"] == "cached"  # built beside it, not lost


def test_a_stage_beside_refuses_a_recipe_edited_since_the_plan(recipe_file, tmp_path):
    """The spawned process loads the recipe again: edited meanwhile, its key would not
    describe what it computes, so it refuses and caches nothing."""
    from avatarzoo.errors import StageError
    from avatarzoo.stages.build import StageJob, _execute_spawned

    path = recipe_file(RECIPE + "audio_driver: {kind: tcn, space: arkit-52}\n")
    lr = load_recipe(path)
    st = next(s for s in graph.plan_stages(lr) if s.name == "fit_audio_driver")
    job = StageJob.of(lr, st)
    path.write_text(path.read_text().replace("audio_driver: {kind: tcn, space: arkit-52}",
                                             "audio_driver: {kind: tcn, space: arkit-52, seed: 3}"))
    with pytest.raises(StageError, match="changed during the build"):
        _execute_spawned(job, str(tmp_path / "c"), "cpu")
    assert not (tmp_path / "c" / "stages" / "fit_audio_driver").exists()
