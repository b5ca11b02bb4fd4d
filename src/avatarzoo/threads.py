"""One torch intra-op thread on the CPU, for the duration of a block.

Measured on the 2-core dev box, for every small-op torch workload here (the
rasterizer, the audio driver's fit and its streaming step, the speech features):

* robustness: with another process on a core, OpenMP workers spin-wait on each other;
  a 2-thread 128² render stalled ~50× (2.4 s vs 66 ms), the driver's 150-step fit took
  202 s instead of 4 s, a 110×32 linear 15 ms instead of 6 µs, while one thread is never
  slower than ~1.5× the quiet 2-thread speed;
* determinism: CPU reductions split work by thread count, so a fit on 1 thread and one
  on 2 end with different weights, and results would follow the machine's load.

No effect on CUDA."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


@contextmanager
def cpu_threads(device="cpu") -> Iterator[None]:
    """Run torch on one intra-op thread inside the block when `device` is the CPU
    (a str or torch.device); restore the caller's count after."""
    import torch

    before = torch.get_num_threads()
    if torch.device(device).type == "cpu" and before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
