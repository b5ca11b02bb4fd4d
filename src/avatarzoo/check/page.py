"""The report for people: text for the terminal and one self-contained HTML page (the
figures inline as PNG), both from the typed `CheckReport` (report.py)."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence

import numpy as np

from avatarzoo.check.report import CheckReport

MARK = {"pass": "✓ pass", "warn": "! warn", "fail": "✗ FAIL", "skip": "- skip"}


def verdict_line(report: CheckReport) -> str:
    fails = [i.title for i in report.items if i.verdict == "fail"]
    warns = [i.title for i in report.items if i.verdict == "warn"]
    if fails:
        return f"needs a re-take: {len(fails)} item(s) fail ({'; '.join(fails)})"
    if warns:
        return f"good to build, with {len(warns)} warning(s) ({'; '.join(warns)})"
    return "good to build"


def format_text(report: CheckReport, *, page: str | None = None) -> str:
    """The report as lines for a terminal: each item's verdict and numbers, what to
    redo, and the failing moments."""
    src = "written for it" if report.recipe_generated else "given"
    lines = [f"avatarzoo check {report.video}",
             f"  recipe {report.recipe} ({src}): {report.crop_size} px crop at {report.fps:g} fps, "
             f"{report.frames} frames"]
    width = max(len(i.title) for i in report.items) if report.items else 0
    for i in report.items:
        lines.append(f"  {MARK[i.verdict]}  {i.title:<{width}}  {i.summary}")
        if i.verdict in ("warn", "fail"):
            if i.fix:
                lines.append(f"  {'':6}  {'':<{width}}  → {i.fix}")
            if i.moments:
                at = ", ".join(f"{m.time:.2f} s ({m.note})" for m in i.moments[:4])
                more = f" and {len(i.moments) - 4} more" if len(i.moments) > 4 else ""
                lines.append(f"  {'':6}  {'':<{width}}  at {at}{more}")
    lines.append(f"verdict: {verdict_line(report)}")
    tail = f"checked in {report.seconds:.1f} s"
    if page:
        tail += f"; report: {page}"
    lines.append(tail)
    return "\n".join(lines)


def _png(img: np.ndarray) -> str:
    import cv2

    ok, data = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("a figure could not be encoded as PNG")
    return base64.b64encode(data.tobytes()).decode("ascii")


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}
h1{font-size:20px} h2{font-size:16px;margin:0}
.item{border-left:6px solid #999;padding:8px 12px;margin:14px 0;background:#fafafa}
.pass{border-color:#2ca02c}.warn{border-color:#e69600}.fail{border-color:#d62728}.skip{border-color:#aaa}
.v{font-weight:600;text-transform:uppercase;margin-right:8px}
.pass .v{color:#2ca02c}.warn .v{color:#b87800}.fail .v{color:#d62728}.skip .v{color:#888}
.fix{margin:4px 0;font-weight:600} .rule{color:#666;font-size:12px}
table.n{border-collapse:collapse;font-size:12px;margin:4px 0} table.n td{padding:1px 10px 1px 0}
img{max-width:100%;display:block;margin:6px 0} figcaption{color:#666;font-size:12px}
.verdict{font-size:16px;font-weight:600;padding:8px 12px} .verdict.fail{color:#d62728} .verdict.pass{color:#2ca02c}
"""


def render_html(report: CheckReport, figures: Mapping[str, Sequence[tuple[str, np.ndarray]]]) -> str:
    """One self-contained page: the verdict, then each item with its numbers, what to
    redo, its rule, and its figures (inline PNG)."""
    e = html.escape
    overall = "fail" if report.exit_code else "pass"
    src = "written by check for this video" if report.recipe_generated else "given"
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>avatarzoo check: {e(report.video)}</title>",
           f"<style>{_CSS}</style></head><body>",
           f"<h1>avatarzoo check: {e(report.video)}</h1>",
           f"<p>Recipe <code>{e(report.recipe)}</code> ({src}): {report.crop_size} px crop at {report.fps:g} fps, "
           f"{report.frames} frames. Checked in {report.seconds:.1f} s.</p>",
           f"<div class='verdict {overall}'>{e(verdict_line(report))}</div>"]
    for i in report.items:
        out.append(f"<div class='item {i.verdict}' id='{e(i.key)}'><h2><span class='v'>{i.verdict}</span>"
                   f"{e(i.title)}</h2><p>{e(i.summary)}</p>")
        if i.fix and i.verdict in ("warn", "fail"):
            out.append(f"<p class='fix'>→ {e(i.fix)}</p>")
        if i.numbers:
            cells = "".join(f"<tr><td>{e(k)}</td><td>{e(str(v))}</td></tr>" for k, v in i.numbers.items())
            out.append(f"<table class='n'>{cells}</table>")
        for caption, img in figures.get(i.key, ()):
            out.append(f"<figure><img alt='{e(caption)}' src='data:image/png;base64,{_png(img)}'>"
                       f"<figcaption>{e(caption)}</figcaption></figure>")
        out.append(f"<p class='rule'>Rule: {e(i.rule)}</p></div>")
    out.append("<p class='rule'>What each item tests and why: docs/recording-guide.md.</p></body></html>")
    return "\n".join(out)
