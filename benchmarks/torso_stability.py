"""Does the torso track survive an invisible change of its input?

    python benchmarks/torso_stability.py INGEST_DIR [INGEST_DIR ...] [--seeds 2] [--lsb 1]

Two builds of one recipe on two machines of one kind track the same frames, yet their
tracks can differ in the last bits (on obama-4 the face landmarks agreed exactly and the
torso did not: other CPUs may take other SIMD paths through OpenCV), and a fragile step
turns that into a different torso. This tracks
each ingest as the track stage does (`trackers/mediapipe.track_frames`, then
`trackers/stage.follow_torso`; the head's flow refinement is left out, the torso does
not read the pose), then again after adding seeded uniform noise of ±`lsb` grey levels
to every frame (invisible: ~54 dB at ±1), and prints, per copy: the torso method and
reference frame it kept, the training / held-out gap of the neck base (what the track
stage logs), and how far its neck base lies from the untouched track's, on the training
frames and held out (crop px).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np


def motion_agreement(similarity: np.ndarray, frames: np.ndarray, masks: np.ndarray, landmarks: np.ndarray,
                     targets: np.ndarray, sources: int = 5) -> float:
    """Median PSNR (dB) inside each target frame's torso (`torso.torso_mask`) of `sources`
    frames spread over the first 80% of the recording, each warped onto the target by
    the track's motion between them (similarity [N, 2, 3]: one frame's px → each frame's)."""
    import cv2

    from avatarzoo.trackers.torso import torso_mask

    n = len(similarity)
    full = np.concatenate([similarity, np.tile([[[0.0, 0.0, 1.0]]], (n, 1, 1))], 1)  # [N, 3, 3]
    picks = [int(n * 0.8 * (k + 0.5) / sources) for k in range(sources)]
    ones = np.ones(frames.shape[1:3], np.float32)
    size = frames.shape[2:0:-1]
    scores = []
    for t in targets:
        target = frames[t].astype(np.float32)
        torso = torso_mask(masks[t], landmarks[t]).astype(bool)
        for s in picks:
            if s == t:
                continue
            move = (full[t] @ np.linalg.inv(full[s]))[:2]
            warped = cv2.warpAffine(frames[s].astype(np.float32), move, size, flags=cv2.INTER_LINEAR)
            inside = torso & (cv2.warpAffine(ones, move, size) > 0.99)
            if inside.sum() >= 100:
                err = float(((warped - target) ** 2)[inside].mean())
                scores.append(10 * np.log10(255.0**2 / max(err, 1e-6)))
    return float(np.median(scores)) if scores else float("nan")


def one(ingest_dir: Path, seeds: int, lsb: int) -> None:
    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.recipe.trackers import MediapipeTrackerConfig
    from avatarzoo.trackers.mediapipe import track_frames
    from avatarzoo.trackers.stage import follow_torso

    ingest = IngestOutput.open(ingest_dir)
    if ingest.masks is None:
        raise SystemExit(f"error: {ingest_dir}: no person masks, so no torso track to test")
    frames, masks, hold = np.asarray(ingest.frames), np.asarray(ingest.masks), ingest.info.holdout_start
    source = ingest.info.source.get("file", str(ingest_dir))
    tracking = track_frames(frames, fps=ingest.info.fps, config=MediapipeTrackerConfig(), fit_until=hold,
                            time=ingest.time, source=source)
    quiet = logging.getLogger("torso_stability")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    neck = tracking.body_names.index("neck_base")

    def torso(images: np.ndarray) -> tuple[np.ndarray, dict, np.ndarray | None]:
        """Neck base float64 [N, 2], the track stage's torso summary, its similarities."""
        moved, summary = follow_torso(tracking, images, masks, holdout_start=hold, log=quiet, source=source)
        return moved.body[:, neck].astype(np.float64), summary, moved.extras.get("torso_similarity")

    t0 = time.perf_counter()
    base, summary, similarity = torso(frames)
    took = time.perf_counter() - t0
    print(f"{source}: {len(frames)} frames, held out from {hold}; the torso track took {took:.1f} s")
    if similarity is not None:
        lm = tracking.landmarks.astype(np.float64)
        agree = [motion_agreement(np.asarray(similarity, np.float64), frames, masks, lm, idx)
                 for idx in (np.arange(0, hold, 3), np.arange(hold, len(frames)))]
        print(f"  motion agreement (untouched): training {agree[0]:.2f} dB, held out {agree[1]:.2f} dB")
    print(f"  {'copy':18s} {'method':24s} {'reference':>9s} {'train vs held-out':>17s} "
          f"{'off the untouched: training max':>31s} {'held-out mean / max':>20s}")
    rng = np.random.default_rng(0)
    for label in ["untouched"] + [f"±{lsb} seed {k}" for k in range(seeds)]:
        if label == "untouched":
            n, s = base, summary
        else:
            noise = rng.integers(-lsb, lsb + 1, frames.shape, dtype=np.int16)
            n, s, _ = torso(np.clip(frames.astype(np.int16) + noise, 0, 255).astype(np.uint8))
        off = np.linalg.norm(n - base, axis=1)
        gap = np.linalg.norm(n[:hold].mean(0) - n[hold:].mean(0))
        print(f"  {label:18s} {s.get('motion', s['method']):24s} {s.get('reference_frame', -1):9d} "
              f"{gap:14.1f} px {off[:hold].max():28.1f} px {off[hold:].mean():9.1f} / {off[hold:].max():.1f} px")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ingests", nargs="+", type=Path, help="ingest stage directories")
    ap.add_argument("--seeds", type=int, default=2, help="noisy copies per ingest")
    ap.add_argument("--lsb", type=int, default=1, help="noise amplitude, grey levels")
    args = ap.parse_args()
    for ingest in args.ingests:
        one(ingest, args.seeds, args.lsb)


if __name__ == "__main__":
    from avatarzoo.cli import friendly

    friendly(main)()
