"""How much of the held-out lip sync is lost to a stream's cold start?

    .venv/bin/python benchmarks/lipsync_warmup.py --cache DIR NAME ...

For built avatars NAME (bundle NAME-v1 in the cache, stages beside it), the runtime
driver (`AudioDriver.drive`: features, gate, net, life — what `speak` runs) on the
held-out window's speech, started cold at the window (as the evaluate stage does)
or W s earlier on the recording's audio (W = 1, 2, 4: the stream already running;
the frames scored are the held-out ones only), against the recording's tracked
`mouth_open` / `jaw_open` at the expression level (no render, no re-track). Also:
started cold, scored from 1 s into the window."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from avatarzoo.contracts.ingest import IngestOutput
from avatarzoo.contracts.tracking import Tracking
from avatarzoo.drivers.runtime import AudioDriver

WARMUPS_S = (0, 1, 2, 4)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return round(float(np.corrcoef(a, b)[0, 1]), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="+")
    ap.add_argument("--cache", type=Path, required=True)
    args = ap.parse_args()
    print("| avatar | held-out frames | " + " | ".join(f"warm {w} s: mouth / jaw" for w in WARMUPS_S)
          + " | cold, from 1 s: mouth / jaw |")
    print("|---|---|" + "---|" * (len(WARMUPS_S) + 1))
    for name in args.names:
        stages = json.loads((args.cache / "bundles" / f"{name}-v1" / "config.json").read_text())["stages"]
        at = lambda s: args.cache / "stages" / s / stages[s]  # noqa: E731
        ingest = IngestOutput.open(at("ingest"))
        tracking = Tracking.load(at("track") / "tracking.safetensors")
        driver = AudioDriver.from_dir(at("fit_audio_driver"), "cpu")
        audio = np.asarray(ingest.audio(), np.float32)
        h = ingest.info.holdout_start
        m = ingest.info.n_frames - h
        channels = [tracking.space.channel(c) for c in ("mouth_open", "jaw_open")]
        truth = tracking.expression[h:h + m]
        cells = []
        for warm in WARMUPS_S:
            start = max(ingest.audio_at(h) - int(warm * 16000), 0)
            skip = int(round((ingest.audio_at(h) - start) / 16000 * driver.fps))
            e = driver.drive(audio[start:], seed=0).expression[skip:skip + m]
            n = min(len(e), m)
            cells.append(" / ".join(f"{corr(e[:n, c], truth[:n, c]):.2f}" for c in channels))
        e = driver.drive(audio[ingest.audio_at(h):], seed=0).expression
        n, k = min(len(e), m), int(round(driver.fps))
        cells.append(" / ".join(f"{corr(e[k:n, c], truth[k:n, c]):.2f}" for c in channels))
        print(f"| {name} | {m} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
