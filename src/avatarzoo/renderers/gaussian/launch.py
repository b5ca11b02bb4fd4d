"""Start the data-parallel `fit_renderer` workers from the (single-process) build.

The build runner keeps owning the cache, its locks and the atomic rename of `ctx.out`;
this stage spawns `ctx.world_size` worker processes (torch.multiprocessing, 'spawn'),
which meet through a rendezvous file in `ctx.scratch` (init_method file://), train
with `fit(..., world=...)`, and rank 0 writes renderer.safetensors + renderer.json into
`ctx.out`. Rank 0's log lines come back through a queue into `ctx.log` (and so into the
stage's log.txt); its progress bar is drawn on the shared stderr.
"""

from __future__ import annotations

import os
import queue
from contextlib import contextmanager
from pathlib import Path

from avatarzoo.errors import InputError, StageError
from avatarzoo.stages.context import StageContext


@contextmanager
def _launch_env():
    """The environment the workers inherit: NVLink multicast off (NCCL_NVLS_ENABLE=0)."""
    from avatarzoo.renderers.gaussian.distributed import NCCL_ENV

    before = {k: os.environ.get(k) for k in NCCL_ENV}
    os.environ.update(NCCL_ENV)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _worker(rank: int, world_size: int, device: str, init_method: str, cfg, ingest: Path,
            track: Path, out: Path, scratch: Path, messages) -> None:
    import torch

    from avatarzoo.renderers.gaussian.distributed import spawned_rank
    from avatarzoo.renderers.gaussian.fitting import train_and_save

    if device == "cpu":  # as fit() does on the CPU (threads.cpu_threads): one thread a rank
        torch.set_num_threads(1)
    with spawned_rank(rank, world_size, device=device, init_method=init_method) as world:
        if world.is_main:  # rank 0's lines reach ctx.log (and the stage's log.txt) through the queue
            from functools import partial

            from avatarzoo.progress import progress as bar

            log, progress = messages.put, partial(bar, emit=messages.put)
        else:
            log, progress = (lambda msg: None), (lambda it, **kw: it)
        train_and_save(cfg, ingest, track, out=out, scratch=scratch, device=world.device, log=log,
                       progress=progress, world=world)
        messages.close()
        messages.join_thread()  # every line reaches the build before the process ends


def _drain(messages, log) -> None:
    while True:
        try:
            log(messages.get_nowait())
        except queue.Empty:
            return


def run_data_parallel(ctx: StageContext) -> None:
    """Run `fit_renderer` on `ctx.world_size` ranks (see the module docstring)."""
    import torch
    import torch.multiprocessing as mp

    from avatarzoo.renderers.gaussian.fitting import check_inputs, load_inputs

    n = ctx.world_size
    cfg = ctx.recipe.renderer
    if ctx.device == "cuda" and torch.cuda.device_count() < n:
        raise StageError(f"fit_renderer: {n} data-parallel ranks need {n} GPUs, "
                         f"but CUDA sees {torch.cuda.device_count()}")
    # user errors are reported here, in the build's process, not from inside a worker
    d = load_inputs(ctx.inputs["ingest"], ctx.inputs["track"])
    check_inputs(d, cfg)
    hold = d["info"].holdout_start
    if hold < cfg.batch_size * n:
        raise InputError(f"fit_renderer: a global batch of renderer.batch_size {cfg.batch_size} × "
                         f"{n} ranks needs ≥ {cfg.batch_size * n} training frames, the recording "
                         f"has {hold}; use fewer GPUs")
    del d
    rendezvous = ctx.scratch / "rendezvous"
    rendezvous.unlink(missing_ok=True)  # a file left by an interrupted run would be reused
    ctx.log.info(f"data-parallel fit on {n} {'GPUs (NCCL)' if ctx.device == 'cuda' else 'CPU processes (gloo)'}, "
                 f"global batch {cfg.batch_size * n}")
    mpctx = mp.get_context("spawn")
    messages = mpctx.Queue()
    args = (n, ctx.device, rendezvous.resolve().as_uri(), cfg, ctx.inputs["ingest"],
            ctx.inputs["track"], ctx.out, ctx.scratch, messages)
    with _launch_env():
        procs = mp.start_processes(_worker, args=args, nprocs=n, join=False, start_method="spawn")
    try:
        while not procs.join(timeout=0.2):
            _drain(messages, ctx.log.info)
    except mp.ProcessRaisedException as e:
        last = [line for line in str(e).strip().splitlines() if line.strip()][-1]
        raise StageError(f"fit_renderer: rank {e.error_index} of {n} failed: {last}") from e
    except mp.ProcessExitedException as e:
        raise StageError(f"fit_renderer: rank {e.error_index} of {n} died "
                         f"(exit code {e.exit_code}, signal {e.signal_name})") from e
    finally:
        for p in procs.processes:
            if p.is_alive():
                p.terminate()
        _drain(messages, ctx.log.info)
        rendezvous.unlink(missing_ok=True)
