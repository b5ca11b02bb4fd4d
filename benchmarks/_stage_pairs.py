"""Shared by the scripts that read a build's ingest and track stages
(landmark_prior_crosstalk.py, landmark_prior_cv.py): their command
line, INGEST_DIR TRACK_DIR pairs, one report each."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable


def run_over_pairs(doc: str, one: Callable[[Path, Path], None]) -> None:
    """Parse INGEST_DIR TRACK_DIR pairs and call `one(ingest, track)` on each; a missing
    or unreadable input prints its message, no traceback."""
    from avatarzoo.cli import friendly

    def main() -> None:
        ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
        ap.add_argument("dirs", nargs="+", type=Path, help="INGEST_DIR TRACK_DIR pairs")
        args = ap.parse_args()
        if len(args.dirs) % 2:
            raise SystemExit("error: give INGEST_DIR TRACK_DIR pairs")
        for ingest, track in zip(args.dirs[::2], args.dirs[1::2]):
            one(ingest, track)

    friendly(main)()
