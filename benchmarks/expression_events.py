"""How many times does the recording make each expression in its training frames, against
its held-out window? The examples a renderer has to learn a blink (or a brow raise) from.

    python benchmarks/expression_events.py INGEST_DIR TRACK_DIR

The events are the recording check's (`check/events.py`: blinks, brow raises, wide mouth
openings, smiles and gaze shifts, peaks of face-64 channels over fixed code thresholds),
split at the ingest's `holdout_start`. Prints, per kind and split, the events (their
peak frames), the frames above the threshold and the highest score. German's newsreader
blinks once in 400 training frames and once in his held-out window: his renders close
the lid to 0.62–0.74 of the recording's amplitude, where recordings with 6–13 training
blinks reach 0.82–1.07. The held-out brows of german and the demo never come near a
brow raise (peaks 0.23 and 0.14 against the threshold 0.6) where those that score
0.91–0.98 reach 0.66–0.93 (BENCHMARKS.md, session 8).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ingest", type=Path)
    ap.add_argument("track", type=Path)
    args = ap.parse_args()

    from avatarzoo.check.events import KINDS, find_events
    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking

    tracking = Tracking.load(args.track / "tracking.safetensors")
    hold = IngestOutput.open(args.ingest).info.holdout_start
    try:
        events = find_events(tracking)
    except ValueError as e:
        raise SystemExit(f"{args.track}: {e}")
    valid = np.asarray(tracking.valid, bool)
    print(f"{args.track}: {hold} training frames, {len(tracking) - hold} held out")
    for kind in KINDS:
        score, threshold = np.where(valid, events.scores[kind], np.nan), events.thresholds[kind]
        parts = []
        for split, sl in (("training", slice(0, hold)), ("held out", slice(hold, None))):
            peaks = [k for k in events.peaks[kind] if (k < hold) == (split == "training")]
            s = score[sl]
            parts.append(f"{split} {len(peaks)} (at {', '.join(map(str, peaks[:10])) or '-'}"
                         f"{' …' if len(peaks) > 10 else ''}; {int(np.sum(s > threshold))} frames over,"
                         f" peak {np.nanmax(s):.2f})")
        print(f"  {kind:<11} threshold {threshold:.2f}: " + " | ".join(parts))


if __name__ == "__main__":
    from avatarzoo.cli import friendly  # a missing or unreadable input: its message, no traceback

    friendly(main)()
