"""Held-out evaluation: image metrics, re-tracked expression fidelity, previews.

The stage is `avatarzoo.evaluate.stage:run`; its report type `EvalReport` and
`format_report` live in `avatarzoo.evaluate.report` (no torch import there).
"""
