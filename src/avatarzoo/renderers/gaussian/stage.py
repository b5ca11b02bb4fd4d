"""Stage `fit_renderer` (kind `gaussian`): ingest + track outputs → renderer.safetensors
+ renderer.json (every tensor and number `runtime.GaussianRenderer` needs), trained
in this process or, with `ctx.world_size` > 1, on data-parallel ranks (launch.py).
"""

from __future__ import annotations

from avatarzoo.errors import InputError
from avatarzoo.renderers.gaussian.fitting import train_and_save
from avatarzoo.stages.context import StageContext


def run(ctx: StageContext) -> None:
    for need in ("ingest", "track"):
        if need not in ctx.inputs:
            raise InputError(f"fit_renderer: needs the '{need}' stage's output")
    ctx.scratch.mkdir(parents=True, exist_ok=True)
    if ctx.world_size > 1:
        from avatarzoo.renderers.gaussian.launch import run_data_parallel

        run_data_parallel(ctx)
        return
    train_and_save(ctx.recipe.renderer, ctx.inputs["ingest"], ctx.inputs["track"], out=ctx.out,
                   scratch=ctx.scratch, device=ctx.device, log=ctx.log.info, progress=ctx.progress)
