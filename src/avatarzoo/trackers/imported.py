"""Stage `track` for tracker kind `import`: another tracker's native output, as written.

The built-in tracker still runs on the ingested frames: it gives the landmarks, the
upper body and the head pose in this recording's one static camera (an imported pose
lives in the other tracker's camera and units). The expression comes from the import,
resampled onto the frame times and smoothed as the recipe says.

With `space_map` declared, a linear map from the imported space to the target space
(e.g. flame → face-64) is fitted on the training frames only, from the paired tracking
of the same frames, and its held-out R² is logged and saved (`space_map.json`). The
stored expression is then the mapped code, so that the renderer trains on what it will
be driven with, and the map's tensors travel in `tracking.safetensors` (`extras`,
prefixed `space_map.`) so that the bundle can apply it to native codes at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from avatarzoo.spaces import get_space

if TYPE_CHECKING:
    from avatarzoo.stages.context import StageContext


def run(ctx: "StageContext") -> None:
    from avatarzoo.contracts.ingest import IngestInfo
    from avatarzoo.files import atomic_write_json
    from avatarzoo.recipe.trackers import MediapipeTrackerConfig
    from avatarzoo.spaces.linear_map import fit_linear_map
    from avatarzoo.trackers.importers import DEFAULT_FPS, import_tracking, resample
    from avatarzoo.trackers.smoothing import smooth
    from avatarzoo.trackers.stage import track_ingested

    cfg = ctx.recipe.tracker
    ingest = IngestInfo.read(ctx.inputs["ingest"])
    train = ingest.holdout_start
    builtin = track_ingested(ctx.inputs["ingest"], ctx.out, config=MediapipeTrackerConfig(),
                             progress=ctx.progress, log=ctx.log)
    native = import_tracking(cfg.format, ctx.resolve(cfg.path), fps=cfg.fps or DEFAULT_FPS[cfg.format])
    native = resample(native, builtin.time)
    expression = smooth(native.expression, cfg.smoothing, fps=ingest.fps).astype(np.float32)
    space = get_space(native.space)
    extras = dict(builtin.extras)
    extras["imported_expression"] = expression
    space_map = ctx.recipe.space_map
    if space_map is not None:
        target = get_space(space_map.to)
        if target.name != builtin.space.name:
            from avatarzoo.errors import SpaceError

            raise SpaceError(
                f"space_map.to: '{target.name}' can be learned only against the built-in tracker's"
                f" '{builtin.space.name}' on the same frames"
            )
        fitted = fit_linear_map(expression[:train], builtin.expression[:train],
                                source_space=space, target_space=target, ridge=space_map.ridge)
        ctx.log.info("space map %s → %s: %s", space.name, target.name, fitted.report.summary())
        tensors, meta = fitted.to_tensors(prefix="space_map.")
        extras.update(tensors)
        atomic_write_json(ctx.out / "space_map.json", {"metadata": meta, "summary": fitted.report.summary()})
        expression, space = fitted.apply(expression), target
    builtin.replace(expression=expression, space=space, extras=extras).save(ctx.out / "tracking.safetensors")
