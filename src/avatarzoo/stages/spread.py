"""Build several recipes at once, one recipe a GPU: `avatarzoo build A.yaml B.yaml --gpus 2`.

Each recipe is built by its own `avatarzoo build` process that sees one GPU
(`CUDA_VISIBLE_DEVICES`); when there are more recipes than GPUs, a recipe starts as
soon as a GPU is free. The processes share the stage cache: its per-stage file locks
make two builds that need the same stage (e.g. one recording, two renderer configs)
run it once. NVLink multicast stays off (`NCCL_NVLS_ENABLE=0`) in every child.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence


def visible_gpus(count: int) -> list[str]:
    """The ids to put in each child's CUDA_VISIBLE_DEVICES: the parent's own list when
    it has one (so `CUDA_VISIBLE_DEVICES=2,3 avatarzoo build ...` uses GPUs 2 and 3)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [x.strip() for x in env.split(",") if x.strip()] if env else [str(i) for i in range(count)]
    return ids[:count]


def _relay(proc: subprocess.Popen, prefix: str, echo: Callable[[str], None]) -> None:
    for line in proc.stdout:  # type: ignore[union-attr]
        echo(f"{prefix} {line.rstrip()}")


def run_spread(jobs: Sequence[tuple[str, list[str]]], gpus: Sequence[str], *,
               echo: Callable[[str], None] = print, poll_s: float = 0.2) -> dict[str, int]:
    """Run each job (name, argv) with one GPU of `gpus`, at most len(gpus) at a time.
    Their merged output is echoed line by line, prefixed with `[name gpu N]`.
    Returns each job's exit code."""
    if not gpus:
        raise ValueError("run_spread: no GPUs to spread over")
    pending = list(jobs)
    free = list(gpus)
    running: dict[str, tuple[subprocess.Popen, str, threading.Thread]] = {}
    codes: dict[str, int] = {}
    try:
        while pending or running:
            while pending and free:
                name, argv = pending.pop(0)
                gpu = free.pop(0)
                env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu, "NCCL_NVLS_ENABLE": "0",
                       "PYTHONUNBUFFERED": "1"}
                proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
                t = threading.Thread(target=_relay, args=(proc, f"[{name} gpu {gpu}]", echo),
                                     daemon=True)
                t.start()
                running[name] = (proc, gpu, t)
            for name, (proc, gpu, t) in list(running.items()):
                if proc.poll() is not None:
                    t.join()
                    codes[name] = proc.returncode
                    free.append(gpu)
                    del running[name]
            time.sleep(poll_s)
    finally:
        for proc, _, _ in running.values():  # interrupted: stop the builds we started
            proc.terminate()
    return codes


def build_argv(recipe: str, *, profile: str | None, cache_dir: str | None,
               until: str | None) -> list[str]:
    """The `avatarzoo build` command line that builds one recipe on its one GPU."""
    argv = [sys.executable, "-m", "avatarzoo.cli", "build", recipe, "--device", "cuda"]
    if profile:
        argv += ["--profile", profile]
    if cache_dir:
        argv += ["--cache", cache_dir]
    if until:
        argv += ["--until", until]
    return argv
