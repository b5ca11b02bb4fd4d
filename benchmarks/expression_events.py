"""How many times does the recording make an expression in its training frames, against
its held-out window? The examples a renderer has to learn a blink (or a brow raise) from.

    python benchmarks/expression_events.py INGEST_DIR TRACK_DIR [--channels blink_left,blink_right]

The mean of the named channels per frame; an event is a run of consecutive frames above
median + ½ (99.5th percentile − median) of the training frames (half-way from rest to
the recording's own near-peak). Prints, per split, the events, the frames in them and
the peak. German's newsreader blinks once in 400 training frames (3 frames) and once in
his held-out window: his renders close the lid to 0.65–0.74 of the recording's amplitude,
where recordings with 6–13 training blinks reach 0.92–1.00. With `--channels
brow_raise_left,brow_raise_right`: the held-out brows of german and the demo never rise
past the threshold (peaks 0.23 and 0.14) where those that score 0.93–0.98 reach 0.66–0.93
(BENCHMARKS.md, session 8).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def events(x: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """[(first, last)] frame runs of x [T] above `threshold`."""
    on = np.concatenate([[False], x > threshold, [False]])
    edges = np.flatnonzero(on[1:] != on[:-1])
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ingest", type=Path)
    ap.add_argument("track", type=Path)
    ap.add_argument("--channels", default="blink_left,blink_right")
    args = ap.parse_args()

    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking

    tracking = Tracking.load(args.track / "tracking.safetensors")
    hold = IngestOutput.open(args.ingest).info.holdout_start
    names = list(tracking.space.channels)
    wanted = args.channels.split(",")
    missing = [c for c in wanted if c not in names]
    if missing:
        raise SystemExit(f"{args.track}: the space {tracking.space.name!r} has no channel {missing}")
    x = np.asarray(tracking.expression, np.float64)[:, [names.index(c) for c in wanted]].mean(1)
    valid = np.asarray(tracking.valid, bool)
    x = np.where(valid, x, np.nan)
    train = x[:hold]
    rest, high = np.nanmedian(train), np.nanpercentile(train, 99.5)
    threshold = rest + 0.5 * (high - rest)
    print(f"{args.track}: mean of {wanted}; training median {rest:.3f}, 99.5% {high:.3f},"
          f" event threshold {threshold:.3f}")
    for split, part, start in (("training", train, 0), ("held out", x[hold:], hold)):
        runs = events(np.nan_to_num(part, nan=-np.inf), threshold)
        frames = sum(b - a + 1 for a, b in runs)
        at = ", ".join(f"{start + a}-{start + b}" for a, b in runs[:12]) + (" …" if len(runs) > 12 else "")
        print(f"{split} ({len(part)} frames): {len(runs)} events, {frames} frames ({frames / len(part):.1%}),"
              f" peak {np.nanmax(part):.3f}; at {at or '-'}")


if __name__ == "__main__":
    main()
