"""Data-parallel renderer training over torch.distributed (NCCL on CUDA, gloo on CPU).

`fit(..., world=World(rank, world_size, device))` trains one model replica per rank.
Every step each rank renders a disjoint slice of the same global batch (the frames a
single process would use with `batch_size × world_size`), the gradients of all
parameters (and the loss, for logging) are summed across ranks in ONE flat all-reduce,
and every rank then takes the same Adam step, so the replicas stay identical.

Why not `torch.nn.parallel.DistributedDataParallel`: DDP registers a fixed set of
parameters and fixed gradient buckets when the model is wrapped. Densification
replaces every per-Gaussian parameter with a longer one (`train.reindex`) every
`densify_every` steps, which DDP cannot follow without being torn down and rebuilt
(and its bucket views re-made) each time. One hand-made bucket per step costs the
same single collective DDP would issue for a model this small (a few MB), with none
of the bookkeeping.

What keeps the ranks identical:
- the initial parameters and buffers are broadcast from rank 0 (`broadcast_state`),
  so ranks need not build bit-identical models (thread counts change float sums);
- the loss of each rank is normalised by the weight sums of the GLOBAL batch (every
  rank knows all the boxes), so the summed gradient is the single-process gradient
  of the global batch up to float summation order;
- the densify statistics are computed from the already-reduced position gradient:
  they are the same numbers on every rank without a collective of their own, and the
  same statistic a single process computes (the norm of the batch gradient);
- the clone jitter generator is seeded identically on every rank;
- only rank 0 writes checkpoints, logs and stage outputs; every rank resumes from
  the same checkpoint file.

Environment: torchrun's RANK / WORLD_SIZE / LOCAL_RANK (`world_from_env`), or explicit
arguments (`init_world`; a spawned worker's whole life: `spawned_rank`, as the
`fit_renderer` stage's workers do).
NVLink multicast (NVLS) stays off: `NCCL_NVLS_ENABLE=0` is set before NCCL starts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

NCCL_ENV = {"NCCL_NVLS_ENABLE": "0"}


@dataclass(frozen=True)
class World:
    """This process's place in a data-parallel run (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def backend_for(device: torch.device | str) -> str:
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def init_world(rank: int, world_size: int, *, device: str = "cpu",
               init_method: str = "env://") -> World:
    """Join the process group (`init_method`: 'env://' under torchrun, or
    'file:///path' for a rendezvous file). device 'cuda' → cuda:LOCAL_RANK with NCCL
    (local rank = `rank` unless LOCAL_RANK is set), 'cpu' → gloo."""
    if not 0 <= rank < world_size:
        raise ValueError(f"init_world: rank must be in [0, {world_size}), got {rank}")
    for k, v in NCCL_ENV.items():
        os.environ[k] = v  # NVLink multicast stays off, whatever the caller had
    if torch.device(device).type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", rank))
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend_for(dev), init_method=init_method, rank=rank,
                                world_size=world_size)
    return World(rank, world_size, dev)


def world_from_env(device: str = "cuda") -> World:
    """The World of a process started by torchrun (RANK, WORLD_SIZE, LOCAL_RANK,
    MASTER_ADDR/PORT); rank 0 of 1 when those variables are absent."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if device == "cuda" and not torch.cuda.is_available():
        device = "cpu"
    return init_world(rank, world_size, device=device, init_method="env://")


def close_world(world: World | None, *, barrier: bool = True) -> None:
    """Leave the process group. On an orderly exit (every rank gets here) a barrier
    first: without it a rank that closed its connections while its peer was still busy
    (rank 0 writing a checkpoint) once made gloo abort the peer ('terminate called
    without an active exception', a fresh-clone CI run). After a failure pass
    `barrier=False`: the peers may be inside another collective."""
    if world is not None and world.distributed and dist.is_initialized():
        try:
            if barrier:
                dist.barrier()
        finally:
            dist.destroy_process_group()


@contextmanager
def spawned_rank(rank: int, world_size: int, *, device: str = "cpu",
                 init_method: str = "env://") -> Iterator[World]:
    """The life of one rank in a process spawned for it: join the group, yield the
    World, leave it — and, when the body ended normally, END THE PROCESS there
    (`os._exit(0)`, stdio flushed first), skipping interpreter finalization.

    Why: after an orderly close (a barrier, then destroy_process_group on every rank),
    gloo's C++ teardown during finalization still aborted a rank now and then
    (std::terminate, 'terminate called without an active exception'): 1 in ~12
    interrupted 2-rank CPU fits, after both ranks had destroyed the group and run
    their atexit handlers, so the fit's files were all written and the exit code was
    SIGABRT. Nothing may follow the `with` block in the worker: whatever the worker
    must hand on (files, a multiprocessing queue's buffered items: `close()` and
    `join_thread()` it) must be done inside. An exception leaves the group without a
    barrier (the peers may be inside another collective) and propagates as usual."""
    world = init_world(rank, world_size, device=device, init_method=init_method)
    try:
        yield world
    except BaseException:
        close_world(world, barrier=False)
        raise
    close_world(world)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _flat(tensors: list[Tensor]) -> Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _unflat_into(flat: Tensor, tensors: list[Tensor]) -> None:
    i = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[i:i + n].view_as(t))
        i += n


@torch.no_grad()
def all_reduce_sum_(tensors: list[Tensor], world: World) -> None:
    """Sum `tensors` (same shapes, float32, one device) across ranks in place, with one
    collective over a flat bucket. Note: a synchronisation point of every rank."""
    if not world.distributed or not tensors:
        return
    flat = _flat(tensors)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    _unflat_into(flat, tensors)


@torch.no_grad()
def broadcast_state(module: torch.nn.Module, world: World) -> None:
    """Make every rank's parameters and buffers equal to rank 0's (one broadcast)."""
    if not world.distributed:
        return
    ts = [t for t in module.state_dict().values() if t.is_floating_point()]
    shapes = torch.tensor([t.numel() for t in ts] + [len(ts)], device=world.device, dtype=torch.float64)
    check = shapes.clone()
    dist.broadcast(check, src=0)
    if not torch.equal(check, shapes):
        raise RuntimeError(f"rank {world.rank}: model shapes differ from rank 0's")
    flat = _flat([t.float() for t in ts])
    dist.broadcast(flat, src=0)
    i = 0
    for t in ts:
        n = t.numel()
        t.copy_(flat[i:i + n].view_as(t).to(t.dtype))
        i += n


def check_agree(value: int, world: World, what: str) -> None:
    """Raise when `value` differs between ranks (a cheap guard against replicas
    drifting apart, e.g. after densification). One tiny collective."""
    if not world.distributed:
        return
    t = torch.tensor([value, -value], device=world.device, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    if int(t[0]) != value or int(-t[1]) != value:
        raise RuntimeError(f"rank {world.rank}: {what} = {value} but ranks disagree "
                           f"(max {int(t[0])}, min {int(-t[1])})")
