"""Training pairs for the audio driver: one recording's speech features and its tracked
expressions on the 100 Hz feature grid, aligned.

Clocks (docs/ARCHITECTURE.md, "ingest output"): audio sample i plays at video time
`time[0] + audio.offset + i / 16000`. The recording may be out of sync: when its tracked
mouth leads the sound by δ seconds (`sync.estimate_offset`), the mouth that goes with
the sound at audio time s is the one filmed at s − δ. Output j of the net (which has
heard the audio up to (j + 1) / 100 s) is trained on the expression that goes with the
sound at s_j = (j + 1 − L) / 100 s, i.e. the frame filmed at
`time[0] + audio.offset + s_j − δ`, interpolated between tracked frames.

Only the training frames [0, holdout_start) are used, and only the audio that plays
before the first held-out frame: the held-out speech is never heard in training.

Shapes: T samples, J feature frames, F feature dim, D expression dim, N video frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatarzoo.drivers.pipeline import HOP, Activity, LevelNorm, frame_energy_db


@dataclass(frozen=True)
class Pairs:
    """features [J, F] (level-normalised), activity [J], targets [J, D], weight [J]
    (1 where the target lies between two valid training frames, else 0)."""

    features: np.ndarray
    activity: np.ndarray
    targets: np.ndarray
    weight: np.ndarray

    def __post_init__(self) -> None:
        j = len(self.features)
        if not (len(self.activity) == len(self.targets) == len(self.weight) == j):
            raise ValueError("Pairs: features, activity, targets and weight need the same frames")

    def __len__(self) -> int:
        return len(self.features)

    def split(self, validation: float) -> tuple["Pairs", "Pairs"]:
        """(train, validation): the last `validation` fraction of the weighted frames is
        held out of training by zeroing its weight (contiguous, so that neighbouring
        frames of one utterance never sit on both sides)."""
        idx = np.flatnonzero(self.weight > 0)
        if len(idx) == 0:
            return self, self
        cut = idx[int(len(idx) * (1 - validation))]
        w_train, w_val = self.weight.copy(), self.weight.copy()
        w_train[cut:] = 0
        w_val[:cut] = 0
        return (Pairs(self.features, self.activity, self.targets, w_train),
                Pairs(self.features, self.activity, self.targets, w_val))


def level_dims(extractor) -> tuple[int, ...]:
    """The feature dims that shift with the input's gain (the extractor's `level_dims`)."""
    return tuple(getattr(extractor, "level_dims", ()))


def speech_features(audio: np.ndarray, extractor, *, norm: LevelNorm | None) -> tuple[np.ndarray, np.ndarray]:
    """Offline features [J, F] and activity [J] of `audio` [T], level-normalised by
    `norm` (advanced: pass a fresh one per utterance)."""
    activity = Activity()(frame_energy_db(audio))
    features = np.asarray(extractor(audio), np.float32)
    if len(features) != len(activity):
        raise ValueError(f"the extractor gave {len(features)} frames for {len(audio)} samples; "
                         f"expected {len(audio) // HOP} (100 per second)")
    if norm is not None:
        features = norm(features, activity)
    return features, activity


def recording_pairs(audio: np.ndarray, audio_offset: float, time: np.ndarray, expression: np.ndarray,
                    valid: np.ndarray, holdout_start: int, extractor, *, av_offset: float,
                    lookahead: int, sample_rate: int = 16_000) -> tuple[Pairs, np.ndarray]:
    """The aligned pairs of one recording, and the training features' mean over speech
    frames on the level dims (what `LevelNorm` maps other inputs onto).

    audio [T] 16 kHz, audio_offset (s, ingest.json), time [N] (s), expression [N, D],
    valid [N], av_offset δ (s, positive: the mouth leads the sound), lookahead L frames."""
    if sample_rate != 16_000:
        raise ValueError(f"audio must be 16 kHz, got {sample_rate}")
    n = len(time)
    if expression.shape[0] != n or valid.shape != (n,):
        raise ValueError(f"expression {expression.shape} and valid {valid.shape} must have {n} frames")
    if not 1 < holdout_start <= n:
        raise ValueError(f"holdout_start {holdout_start} outside 2..{n}")
    t0 = float(time[0])
    # the audio heard with the training frames only
    end_s = float(time[holdout_start]) - t0 - audio_offset if holdout_start < n else len(audio) / sample_rate
    train_audio = np.asarray(audio[: max(0, int(end_s * sample_rate))], np.float32)
    activity = Activity()(frame_energy_db(train_audio))
    raw = np.asarray(extractor(train_audio), np.float32)
    dims = level_dims(extractor)
    speech = activity > 0.5
    mean = raw[speech][:, list(dims)].mean(0) if dims and speech.any() else np.zeros(len(dims))
    features = LevelNorm(dims, mean)(raw, activity) if dims else raw

    j = np.arange(len(raw))
    filmed = t0 + audio_offset + (j + 1 - lookahead) / 100.0 - av_offset  # [J] video time of each target
    train_t = time[:holdout_start]
    k = np.searchsorted(train_t, filmed)  # the tracked frame just after
    inside = (k > 0) & (k < holdout_start)
    lo, hi = np.clip(k - 1, 0, holdout_start - 1), np.clip(k, 0, holdout_start - 1)
    ok = inside & valid[lo] & valid[hi]
    span = np.maximum(train_t[hi] - train_t[lo], 1e-9)
    w = np.clip((filmed - train_t[lo]) / span, 0, 1)[:, None]
    targets = ((1 - w) * expression[lo] + w * expression[hi]).astype(np.float32)
    return Pairs(features, activity, targets, ok.astype(np.float32)), mean
