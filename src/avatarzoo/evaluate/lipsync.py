"""Lip sync from audio: drive the avatar with the held-out speech (which no stage of
the build has heard), render, re-track, and compare with the held-out recording
re-tracked alike.

- mouth opening and jaw: `Agreement` (correlation, fast correlation, amplitude ratio)
  of the re-tracked renders' channel against the recording's, frame for frame; and the
  lag at which they agree best (`best_lag_ms`, > 0: the render is late);
- LMD: mean distance of the 40 lip landmarks, each mouth centred on its own centroid
  (head motion is the driver's own, not the recording's), in pixels at 512²;
- life: blinks per minute of the driven output (a minute of the held-out speech, looped)
  and of the recording (training frames), brow motion (std of the driven brow channels
  over the recording's);
- silence: the avatar driven by 1.5 s of silence; the fraction of its last second
  whose mouth opening lies inside the recording's closed-mouth range (its silent
  frames' 5th–95th percentile).

Shapes: M held-out frames, D expression dim, L = 40 lip landmarks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from avatarzoo.evaluate import fidelity as fid
from avatarzoo.evaluate.report import LipSync, MouthAgreement, SilenceCheck

LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185,
        78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)


def blinks_per_minute(expression: np.ndarray, space, fps: float) -> float | None:
    from avatarzoo.signals import peaks

    names = [n for n in ("blink_left", "blink_right") if n in space.channels]
    if not names or len(expression) < fps:
        return None
    blink = expression[:, [space.channel(n) for n in names]].mean(1)
    return len(peaks(blink, height=0.35, distance=5)) / (len(expression) / fps / 60)


def lip_distance_px(a: np.ndarray, b: np.ndarray, size: int) -> float:
    """Mean lip-landmark distance [M, 478, 2|3] vs [M, 478, 2|3], mouths centred, at 512²."""
    la, lb = a[:, list(LIPS), :2].astype(np.float64), b[:, list(LIPS), :2].astype(np.float64)
    la -= la.mean(1, keepdims=True)
    lb -= lb.mean(1, keepdims=True)
    return float(np.linalg.norm(la - lb, axis=-1).mean() * 512 / size)


def best_lag_ms(gt: np.ndarray, other: np.ndarray, fps: float, max_lag: int = 8) -> float:
    """The lag (ms) of `other` against `gt` [M] with the highest correlation (> 0: late)."""
    scores = []
    for k in range(-max_lag, max_lag + 1):
        a, b = (gt[: len(gt) - k], other[k:]) if k >= 0 else (gt[-k:], other[: len(other) + k])
        scores.append(fid.pearson(a, b))
    return 1000.0 * (int(np.argmax(scores)) - max_lag) / fps


def closed_mouth_range(mouth: np.ndarray, activity_at_frame: np.ndarray) -> tuple[float, float]:
    """5th–95th percentile of the mouth opening over the frames heard in silence (or,
    with fewer than 10 of them, over the 10% most closed frames)."""
    quiet = mouth[activity_at_frame < 0.1]
    if len(quiet) < 10:
        quiet = mouth[mouth <= np.percentile(mouth, 10)]
    return float(np.percentile(quiet, 5)), float(np.percentile(quiet, 95))


def retracked_agreement(images: np.ndarray, *, track: Callable, tracking, gt: dict[str, np.ndarray], fps: float,
                        size: int, progress, what: str) -> MouthAgreement:
    """Re-track `images` [n, S, S, 3] and compare their mouth with the re-tracked recording."""
    space = tracking.space
    n = len(images)
    it = progress((np.array(images[i]) for i in range(n)), total=n, desc=f"evaluate: track {what}", unit="frame")
    rt = track(it, fps=fps, reference=tracking)
    ok = np.asarray(rt.valid[:n], bool) & np.asarray(gt["valid"][:n], bool)
    fast = fid.fast_frames(fps)

    def agree(name: str):
        if name not in space.channels:
            return None
        c = space.channel(name)
        return fid.agreement(gt["expression"][:n, c], rt.expression[:n, c], ok, fast=fast)

    mouth_c = space.channel("mouth_open") if "mouth_open" in space.channels else None
    lag = best_lag_ms(gt["expression"][:n, mouth_c][ok], rt.expression[:n, mouth_c][ok], fps) \
        if mouth_c is not None and ok.sum() > 20 else None
    lmd = lip_distance_px(gt["landmarks"][:n][ok], rt.landmarks[:n][ok], size) if ok.any() else None
    return MouthAgreement(mouth=agree("mouth_open"), jaw=agree("jaw_open"), best_lag_ms=lag, lmd_px=lmd,
                          face_found=float(np.asarray(rt.valid[:n], bool).mean()))


def evaluate_lipsync(*, driver, render: Callable, track: Callable, tracking, gt: dict[str, np.ndarray],
                     audio: np.ndarray, holdout_start: int, fps: float, size: int,
                     train_audio_activity: np.ndarray, progress, seed: int = 0) -> LipSync:
    """`render(expression, pose, body) -> [n, S, S, 3]`, `track(frames, fps, reference)`
    (the evaluate stage's re-tracker), `gt`: the held-out recording re-tracked
    (expression [M, D], landmarks [M, 478, 3], valid [M]); `audio`: the held-out speech
    (16 kHz, from the first held-out frame's time); `train_audio_activity`: speech
    activity [J] of the training audio (100/s), for the closed-mouth range.

    The speech-driven expression is rendered twice: with the recording's own held-out
    head pose and body (the mouth judged alone: the tracker's mouth and jaw channels
    move with the head, and the person nodded with their speech while the driver's
    head motion is the recording's re-sequenced, not this speech's) and with the
    driver's own motion (what a user sees)."""
    space = tracking.space
    m = len(gt["expression"])
    motion = driver.drive(audio, seed=seed)
    n = min(m, len(motion))
    e = motion.expression[:n]
    h = holdout_start
    held_pose = np.asarray(tracking.pose[h:h + n], np.float32)
    held_body = np.asarray(tracking.body[h:h + n], np.float32)
    common = dict(track=track, tracking=tracking, gt={k: v[:n] for k, v in gt.items()}, fps=fps, size=size,
                  progress=progress)
    with_recording = retracked_agreement(render(e, held_pose, held_body), what="speech renders", **common)
    with_own = retracked_agreement(render(e, motion.pose[:n], motion.body[:n]),
                                   what="speech renders, own head motion", **common)
    mouth_c = space.channel("mouth_open") if "mouth_open" in space.channels else None

    # blink rate over a minute of driving (the held-out speech looped): a few seconds
    # hold a blink or two, a rate needs more
    minute = np.tile(audio, int(np.ceil(60 * 16000 / max(len(audio), 1))))[: 60 * 16000]
    long = driver.drive(minute, seed=seed)

    brows = list(space.regions.get("brows", ()))
    train = tracking.expression[:holdout_start]
    brow_ratio = float(motion.expression[:, brows].std(0).mean() / max(train[:, brows].std(0).mean(), 1e-9)) \
        if brows else None

    silence = None
    if mouth_c is not None:
        quiet = driver.drive(np.zeros(int(1.5 * 16000), np.float32), seed=seed)
        last = quiet.expression[-int(fps):, mouth_c]
        # frame k of the recording goes with the sound at k / fps + the mouth's lead
        heard_at = (np.arange(holdout_start) / fps + driver.lead_s) * 100
        frame_act = np.interp(heard_at, np.arange(len(train_audio_activity)), train_audio_activity)
        lo, hi = closed_mouth_range(train[:, mouth_c], frame_act)
        silence = SilenceCheck(closed_range=(lo, hi), mouth_open_median=float(np.median(last)),
                               inside=float(((last >= lo - 1e-6) & (last <= hi + 1e-6)).mean()),
                               mouth_open_std=float(last.std()))

    return LipSync(
        seconds=len(audio) / 16000, frames=int(n), lead_ms=1000.0 * driver.lead_s,
        **with_recording.model_dump(), own_motion=with_own,
        blinks_per_min=blinks_per_minute(long.expression, space, fps),
        recording_blinks_per_min=blinks_per_minute(train, space, fps),
        brow_std_ratio=brow_ratio, silence=silence,
    )
