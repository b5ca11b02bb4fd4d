"""Score a `fit_renderer` output with this checkout's held-out evaluation, without
rebuilding it: used for the issue-14 "before" column (renderers fitted by main, scored
with the new live − frozen inside/outside the face box and the needle count).

    python benchmarks/reeval_renderer.py FIT_RENDERER_DIR INGEST_DIR TRACK_DIR --out DIR [--retrack]

Without --retrack the re-tracked expression fidelity is skipped (the before bundles'
own metrics.json has it); writes DIR/metrics.json and DIR/contact_sheet.png.
"""

from __future__ import annotations

import argparse
import tempfile
from functools import partial
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("renderer", type=Path)
    ap.add_argument("ingest", type=Path)
    ap.add_argument("track", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--retrack", action="store_true", help="also measure re-tracked fidelity (slow on CPU)")
    args = ap.parse_args()

    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking
    from avatarzoo.evaluate.holdout import evaluate_holdout
    from avatarzoo.evaluate.report import format_report
    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer

    ingest = IngestOutput.open(args.ingest)
    tracking = Tracking.load(args.track / "tracking.safetensors")
    renderer = GaussianRenderer.from_dir(args.renderer, args.device)
    track = None
    if args.retrack:
        from avatarzoo.recipe.trackers import MediapipeTrackerConfig
        from avatarzoo.trackers.mediapipe import track_frames

        track = partial(track_frames, config=MediapipeTrackerConfig())  # the recipes' default tracker
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        report = evaluate_holdout(
            frames=ingest.frames, holdout_start=ingest.info.holdout_start, fps=ingest.info.fps,
            tracking=tracking, renderer=renderer, track=track, out=args.out, scratch=Path(scratch),
            device=args.device, avatar=args.renderer.name, time_render=False,
        )
    report.save(args.out / "metrics.json")
    print(format_report(report))


if __name__ == "__main__":
    main()
