"""Data-parallel renderer training (torch.distributed, gloo on CPU) and its build keys.

What must hold on any machine, tested in a form that cannot depend on it:
- one step's all-reduced gradient IS the single-process gradient of the global batch
  (float64, so that summation order is far below the bar);
- densification decides the same on every rank given the same statistics (it is a pure
  function of them), so the replicas stay bit-identical through a whole fit;
- only rank 0 writes the checkpoint and the log; an interrupted fit resumes bit-identically.
Whole 2-rank fits are NOT compared parameter by parameter with a 1-process fit: Adam
(eps 1e-15) turns float32 summation-order differences of ~1e-10 into sign flips of
tiny gradients, and how large those grow after a few steps depends on the CPU's
vector units (2e-3 on one machine, 6e-7 on another).

Each test spawns 2 processes of 1 torch thread on the tiny synthetic subject (48², 9
training frames)."""

from __future__ import annotations

import dataclasses
import json
import logging
from types import SimpleNamespace

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from avatarzoo.recipe.models import GaussianRendererConfig
from avatarzoo.renderers.gaussian import synthetic
from avatarzoo.renderers.gaussian.distributed import World
from avatarzoo.renderers.gaussian.fitting import build_model, load_inputs
from avatarzoo.renderers.gaussian.train import densify_and_prune, fit, make_optimizer, step_gradients
from avatarzoo.stages.context import StageContext

SIZE = 48
CFG = dict(space="synthetic-4", gaussians=400, steps=8, densify_every=3, densify_until=0.9,
           checkpoint_every=4)
OPTS = GaussianRendererConfig(**CFG)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn")
    return synthetic.make_recording(root, n=12, size=SIZE, holdout=0.25, detail=0.15)


def _model(recording, seed=0):
    torch.manual_seed(seed)
    d = load_inputs(*recording)
    model, data, _ = build_model(d, OPTS, train_size=SIZE, log=lambda s: None)
    return model, data


def _rank(rank: int, world_size: int, root, tag: str):
    """A spawned rank's life (distributed.spawned_rank): the process ends with the block."""
    from avatarzoo.renderers.gaussian.distributed import spawned_rank

    torch.set_num_threads(1)
    return spawned_rank(rank, world_size, device="cpu", init_method=(root / f"rendezvous{tag}").as_uri())


def _rank_gradient(rank: int, world_size: int, root, recording, step: int) -> None:
    """One rank: the all-reduced float64 gradient of training step `step`."""
    with _rank(rank, world_size, root, f"g{step}") as world:
        model, data = _model(recording)  # the same seed on every rank: identical replicas
        model.double()
        loss = step_gradients(model, data, OPTS, step, world)
        grads = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
        save_file({**grads, "loss": loss}, str(root / f"grad{rank}-{step}.safetensors"))


@pytest.mark.parametrize("step", [0, 5])
def test_all_reduced_gradient_is_the_global_batch_gradient(recording, tmp_path, step):
    mp.start_processes(_rank_gradient, args=(2, tmp_path, recording, step), nprocs=2,
                       start_method="spawn")
    g0, g1 = (load_file(str(tmp_path / f"grad{r}-{step}.safetensors")) for r in (0, 1))
    torch.set_num_threads(1)
    single, data = _model(recording)
    single.double()
    loss = step_gradients(single, data, OPTS.model_copy(update={"batch_size": 2}), step,
                          World(0, 1, torch.device("cpu")))
    ref = {name: p.grad for name, p in single.named_parameters() if p.grad is not None}
    assert ref.keys() == g0.keys() - {"loss"} == g1.keys() - {"loss"}
    # every rank holds the same sum; it equals the global batch's gradient to float64
    # summation order (a rank that normalised by its own weights, or saw the wrong
    # frames, is off by ~50% of the gradient, not 1e-12). The floor 1e-15 covers
    # gradients that are zero analytically and rounding noise numerically (~1e-19: the
    # rotations of the initial, isotropic Gaussians).
    for k, want in ref.items():
        assert torch.equal(g0[k], g1[k]), k
        worst = float((g0[k] - want).abs().max())
        assert worst <= 1e-9 * float(want.abs().max()) + 1e-15, (k, worst, float(want.abs().max()))
    assert abs(float(g0["loss"]) - float(loss)) <= 1e-12 * float(loss)


def test_densify_decides_the_same_given_the_same_statistics(recording):
    """Densification reads only the model, the gradient statistics and a seeded
    generator; two replicas given equal ones end equal, bit for bit."""
    results = []
    for _ in range(2):
        model, _ = _model(recording)
        opt = make_optimizer(model, 1.0)
        g = torch.Generator().manual_seed(7)
        score = torch.rand(model.n, generator=g)
        counts = torch.randint(0, 3, (model.n,), generator=g).float()
        added, removed = densify_and_prune(model, opt, score, counts, 400, torch.Generator().manual_seed(3))
        results.append(((added, removed), model.state_dict()))
    (n_a, a), (n_b, b) = results
    assert n_a == n_b and n_a[0] > 0
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _rank_fit(rank: int, world_size: int, root, recording, tag: str = "",
              shared_scratch: bool = False, die_at: int | None = None) -> None:
    """One rank of a whole fit. Its own scratch dir and log unless `shared_scratch` (as
    the stage runs it), so we can see who wrote what; `die_at`: every rank is
    interrupted before that step (like a killed build)."""

    def progress(it, **kw):
        for i, x in enumerate(it):
            if i == die_at:
                raise KeyboardInterrupt
            yield x

    with _rank(rank, world_size, root, tag) as world:
        # rank 1 builds from another torch seed: the broadcast must make them equal
        model, data = _model(recording, seed=rank)
        scratch = root / ("scratch" if shared_scratch else f"scratch{rank}")
        scratch.mkdir(exist_ok=True)
        msgs: list[str] = []
        try:
            summary = fit(model, data, OPTS, scratch=scratch, log=msgs.append, progress=progress,
                          world=world)
        except KeyboardInterrupt:
            return
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  str(root / f"rank{rank}{tag}.safetensors"))
        (root / f"rank{rank}{tag}.json").write_text(json.dumps({"log": msgs, "summary": summary}))


@pytest.fixture(scope="module")
def two_ranks(recording, tmp_path_factory):
    """An uninterrupted 2-rank fit: the directory with each rank's weights, log, scratch."""
    root = tmp_path_factory.mktemp("ddp")
    mp.start_processes(_rank_fit, args=(2, root, recording), nprocs=2, start_method="spawn")
    return root


def test_two_gloo_ranks_train_identical_replicas(recording, two_ranks):
    tmp_path = two_ranks
    r0, r1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    j0, j1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    # the replicas are identical, bit for bit, through two densifications
    assert r0.keys() == r1.keys()
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    n0 = _model(recording)[0].n
    assert n0 < j0["summary"]["n_gaussians"] == j1["summary"]["n_gaussians"] == r0["means"].shape[0]
    # only rank 0 wrote a checkpoint and logged
    assert [p.name for p in (tmp_path / "scratch0").iterdir()] == ["ckpt.pt"]
    assert list((tmp_path / "scratch1").iterdir()) == []
    assert j0["log"] and j1["log"] == []
    assert any("data-parallel: 2 ranks" in m for m in j0["log"])


def test_interrupted_data_parallel_fit_resumes_to_identical_weights(recording, two_ranks, tmp_path):
    """Both ranks killed at step 5 (rank 0 checkpointed at 4), rerun: both resume from
    rank 0's checkpoint and end bit-identical to the uninterrupted 2-rank fit."""
    mp.start_processes(_rank_fit, args=(2, tmp_path, recording, "a", True, 5), nprocs=2,
                       start_method="spawn")
    assert [p.name for p in (tmp_path / "scratch").iterdir()] == ["ckpt.pt"]
    assert not (tmp_path / "rank0a.json").exists()
    mp.start_processes(_rank_fit, args=(2, tmp_path, recording, "b", True), nprocs=2,
                       start_method="spawn")
    log = json.loads((tmp_path / "rank0b.json").read_text())["log"]
    assert any("resumed" in m and "step 4" in m for m in log)
    clean = load_file(str(two_ranks / "rank0.safetensors"))
    for r in (0, 1):
        resumed = load_file(str(tmp_path / f"rank{r}b.safetensors"))
        assert clean.keys() == resumed.keys()
        for k in clean:
            assert torch.equal(clean[k], resumed[k]), (r, k)


def test_stage_with_two_ranks_writes_the_renderer(recording, tmp_path):
    """The fit_renderer stage with world_size 2 on CPU: gloo workers spawned from the
    stage, rank 0 writes the two files into ctx.out, its log comes back to ctx.log."""
    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer
    from avatarzoo.renderers.gaussian.stage import run

    out, scratch = tmp_path / "out", tmp_path / "scratch"
    out.mkdir()
    lines: list[str] = []
    log = logging.getLogger("test_distributed.stage")
    log.setLevel(logging.INFO)
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    log.addHandler(handler)
    cfg = GaussianRendererConfig(**{**CFG, "steps": 4})
    ctx = StageContext(recipe=SimpleNamespace(renderer=cfg), recipe_dir=tmp_path,
                       inputs={"ingest": recording[0], "track": recording[1]}, out=out,
                       scratch=scratch, log=log, world_size=2)
    try:
        run(ctx)
    finally:
        log.removeHandler(handler)
    assert {p.name for p in out.iterdir()} == {"renderer.safetensors", "renderer.json"}
    meta = json.loads((out / "renderer.json").read_text())
    assert meta["fit"]["world_size"] == 2 and meta["fit"]["global_batch"] == 2
    assert any("data-parallel: 2 ranks" in m for m in lines)  # rank 0's log reached ctx.log
    assert GaussianRenderer.from_dir(out).size == SIZE
    assert not (scratch / "rendezvous").exists()


def test_stage_refuses_a_global_batch_larger_than_the_recording(recording, tmp_path):
    from avatarzoo.errors import InputError
    from avatarzoo.renderers.gaussian.stage import run

    cfg = GaussianRendererConfig(**{**CFG, "batch_size": 5})
    ctx = StageContext(recipe=SimpleNamespace(renderer=cfg), recipe_dir=tmp_path,
                       inputs={"ingest": recording[0], "track": recording[1]}, out=tmp_path,
                       scratch=tmp_path / "s", log=logging.getLogger("test"), world_size=2)
    with pytest.raises(InputError, match="global batch .* 5 × 2 ranks"):
        run(ctx)


# --- the build: keys, the runner, the CLI, several recipes -------------------------

from test_resolver import RECIPE  # noqa: E402  (the resolver tests' tiny recipe)
SEEN: dict[str, int] = {}


def _record_world(ctx) -> None:
    """A stage double: records the world_size each stage was given."""
    SEEN[ctx.out.name.split("-")[0]] = ctx.world_size
    (ctx.out / "out.txt").write_text("x")


def test_world_size_changes_the_fit_key_and_what_follows_only(recipe_file):
    from avatarzoo.recipe import load_recipe
    from avatarzoo.stages.graph import plan_stages

    lr = load_recipe(recipe_file(RECIPE))
    one = {s.name: s for s in plan_stages(lr)}
    assert [s.key for s in plan_stages(lr, 1)] == [s.key for s in one.values()]
    assert "world_size" not in one["fit_renderer"].config  # world_size 1 keys as before
    two = {s.name: s for s in plan_stages(lr, 2)}
    four = {s.name: s for s in plan_stages(lr, 4)}
    for name in ("ingest", "track"):
        assert one[name].key == two[name].key == four[name].key, name
    for name in ("fit_renderer", "evaluate", "package"):
        assert len({one[name].key, two[name].key, four[name].key}) == 3, name
    assert two["fit_renderer"].config["world_size"] == 2


def test_runner_gives_world_size_to_the_training_stage_only(recipe_file, tmp_path, monkeypatch):
    from avatarzoo.recipe import load_recipe
    from avatarzoo.stages import graph
    from avatarzoo.stages.build import build
    from avatarzoo.stages.cache import StageCache

    for name, spec in graph.SPECS.items():
        fn = "stage_doubles_missing:run" if name == "fit_audio_driver" else "test_distributed:_record_world"
        monkeypatch.setitem(graph.SPECS, name, dataclasses.replace(spec, run=fn))
    SEEN.clear()
    lr = load_recipe(recipe_file(RECIPE))
    build(lr, StageCache.open(tmp_path / "c"), device="cpu", world_size=2, echo=lambda *_: None)
    assert SEEN == {"ingest": 1, "track": 1, "fit_renderer": 2, "evaluate": 1, "package": 1}


def test_cli_gpus_without_enough_gpus_is_a_clear_error(recipe_file):
    from click.testing import CliRunner

    from avatarzoo.cli import main

    path = str(recipe_file(RECIPE))
    r = CliRunner().invoke(main, ["build", path, "--gpus", "2", "--device", "cpu"])
    assert r.exit_code == 2 and "--gpus 2 needs CUDA" in r.output
    if not torch.cuda.is_available():
        r = CliRunner().invoke(main, ["build", path, path, "--gpus", "2"])
        assert r.exit_code == 2 and "asks for 2 GPUs but CUDA sees 0" in r.output
    r = CliRunner().invoke(main, ["build", path, "--gpus", "0"])
    assert r.exit_code == 2 and "--gpus" in r.output  # click's range check


def test_several_recipes_spread_one_a_gpu(tmp_path):
    """The scheduler behind `build A B C --gpus 2`: each job sees one GPU, NVLink
    multicast off, and the third waits for a free GPU."""
    import sys

    from avatarzoo.stages.spread import run_spread

    show = ("import os, time; time.sleep(0.3); "
            "print(os.environ['CUDA_VISIBLE_DEVICES'], os.environ['NCCL_NVLS_ENABLE'])")
    lines: list[str] = []
    jobs = [(n, [sys.executable, "-c", show]) for n in ("a", "b", "c")]
    codes = run_spread(jobs + [("bad", [sys.executable, "-c", "raise SystemExit(3)"])],
                       ["4", "7"], echo=lines.append, poll_s=0.05)
    assert codes == {"a": 0, "b": 0, "c": 0, "bad": 3}
    seen = {line.split("]")[0] + "]": line.split("] ")[1] for line in lines}
    assert seen["[a gpu 4]"] == "4 0" and seen["[b gpu 7]"] == "7 0"
    assert seen.get("[c gpu 4]", seen.get("[c gpu 7]")) in ("4 0", "7 0")


def test_world_from_env_without_torchrun_is_one_rank(monkeypatch):
    from avatarzoo.renderers.gaussian.distributed import World, world_from_env

    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    w = world_from_env("cpu")
    assert w == World(0, 1, torch.device("cpu")) and w.is_main and not w.distributed
    assert not torch.distributed.is_initialized()
