"""`avatarzoo check VIDEO [--recipe R]`: ingest + track through the build's cache, measure,
judge, and write the report (report.txt, report.html, report.json, and the recipe when
it was written for the video) into one directory."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from avatarzoo.check.report import CheckReport

TEXT, PAGE, DATA = "report.txt", "report.html", "report.json"


@dataclass(frozen=True)
class Checked:
    report: CheckReport
    out: Path  # the directory holding the files below
    text: str

    @property
    def page(self) -> Path:
        return self.out / PAGE


def default_out(video: Path) -> Path:
    return Path.cwd() / f"{Path(video).stem}-check"


def check_video(video: Path | str, *, recipe: Path | str | None = None, profile: str | None = None,
                cache=None, out: Path | str | None = None, echo=print) -> Checked:
    """Check `video` (with `recipe`'s settings, else a new recipe's defaults) and write
    the report into `out` (default ./<video stem>-check). `cache` is a StageCache
    (default: the build's). Progress and stage lines go to `echo`."""
    from avatarzoo.check.evidence import gather
    from avatarzoo.check.items import judge
    from avatarzoo.check.page import format_text, render_html
    from avatarzoo.check.plots import figures
    from avatarzoo.check.recording import recipe_for, run_stages
    from avatarzoo.files import atomic_write_bytes
    from avatarzoo.stages.cache import StageCache

    from avatarzoo.ingest.video import probe

    started = time.perf_counter()
    video = Path(video)
    probe(video)  # not a video, empty, unreadable: an error (exit 2) before any stage runs
    out = Path(out) if out is not None else default_out(video)
    lr, generated = recipe_for(video, out, recipe=Path(recipe) if recipe is not None else None, profile=profile)
    cache = cache if cache is not None else StageCache.open()
    stages = run_stages(lr, cache, echo=echo)
    evidence = gather(video, lr.recipe, ingest_dir=stages.ingest, track_dir=stages.track,
                      problem=stages.problem, log=echo)
    items = judge(evidence)
    info = evidence.ingest.info if evidence.ingest is not None else None
    rec = lr.recipe.recording
    report = CheckReport(
        video=str(video), recipe=str(lr.path), recipe_generated=generated,
        crop_size=info.size if info else rec.crop.size, fps=info.fps if info else rec.fps,
        frames=info.n_frames if info else 0, stages=stages.keys, items=items,
    )
    pictures = figures(evidence, items)
    report = report.model_copy(update={"seconds": round(time.perf_counter() - started, 2)})
    page = render_html(report, pictures)
    text = format_text(report, page=str(out / PAGE))
    atomic_write_bytes(out / PAGE, page.encode("utf-8"))
    atomic_write_bytes(out / TEXT, (text + "\n").encode("utf-8"))
    atomic_write_bytes(out / DATA, (report.model_dump_json(indent=2) + "\n").encode("utf-8"))
    return Checked(report=report, out=out, text=text)
