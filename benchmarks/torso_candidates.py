"""How well each torso motion candidate explains the torsos, on training and held-out frames.

    python benchmarks/torso_candidates.py INGEST_DIR TRACK_DIR [INGEST_DIR TRACK_DIR ...]

`trackers/torso.follow` keeps, of the one-reference flow track, its lost runs chained
frame to frame, a chain from its reference and a static torso, the one whose
`torso_agreement` on the *training* frames is best (the reference track unless another
beats it by PREFER_REFERENCE_DB). This rebuilds them (`torso.motion_candidates`) from
the track stage's own reference frame (`track.json`) and prints each one's agreement on the training frames
(what `follow` saw) beside the held-out frames (what it could not see): whether the
choice it made generalises. Median dB of the reference frame warped onto each frame's
torso; renders nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def one(ingest_dir: Path, track_dir: Path) -> None:
    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking
    from avatarzoo.errors import InputError
    from avatarzoo.trackers import torso

    ingest = IngestOutput.open(ingest_dir)
    tracking = Tracking.load(track_dir / "tracking.safetensors")
    try:
        summary = json.loads((track_dir / "track.json").read_text()).get("torso") or {}
    except (OSError, ValueError) as e:  # its reference frame is what this rebuilds from
        raise InputError(f"{track_dir / 'track.json'}: not readable ({e}); rebuild the track stage") from e
    if summary.get("method") != "flow":
        raise InputError(f"{track_dir / 'track.json'}: the torso was not followed by flow ({summary})")
    frames, masks, hold = ingest.frames, ingest.masks, ingest.info.holdout_start
    landmarks = tracking.landmarks.astype(np.float64)
    track = torso.track_torso(frames, masks, landmarks, summary["reference_frame"])
    n = len(track.ok)
    options = torso.motion_candidates(track, frames, masks, landmarks)
    print(f"{ingest.info.source.get('file', ingest_dir)}: reference frame {track.reference}, "
          f"{int((~track.ok).sum())} of {n} frames lost against it; kept: {summary.get('motion', '?')}")
    for o in options:
        train = torso.torso_agreement(o, frames, masks, landmarks, np.arange(hold))
        held = torso.torso_agreement(o, frames, masks, landmarks, np.arange(hold, n))
        print(f"  {o.method:24s} training {train:6.2f} dB   held-out {held:6.2f} dB")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _stage_pairs import run_over_pairs

    run_over_pairs(__doc__, one)
