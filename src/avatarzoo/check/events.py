"""Expression events in a tracking: blinks, brow raises, wide mouth openings, smiles and
gaze shifts, found as peaks of face-64 channels (spaces/builtin.py).

face-64's semantic channels are 0 at the subject's median face and scaled by a nominal
range per channel (trackers/expressions.py), so one threshold in code units means the
same on every subject and crop size. Each threshold sits above what talking alone
does, so that an event is a real action the renderer has to learn:

| event | score (code units) | threshold | why |
|---|---|---|---|
| blink | mean of blink_left/right | 0.35 | the lid gap 35% below the usual: the tracker's own blink peaks (track.json `blinks_s`) |
| brow raise | mean of brow_raise_left/right | 0.6 | 0.03 of the eye-corner distance (~2.7 mm); speech emphasis on the demo stays under 0.2 |
| wide mouth opening | mouth_open | 1.0 | lips 0.2 eye-corner distances (~18 mm) wider than the median; the widest speech of the 11 public clips reaches 0.6-1.0 |
| smile | mouth corners up (mean) and mouth_width, both | 0.6 and 0.5 | corners rise and the mouth widens together; speech moves one or the other |
| gaze shift | length of (gaze_x, gaze_y) | 1.0 | the irises 0.1 eye widths off their median (roughly 10-15 degrees); reading a prompter stays under 0.5 |

Peaks closer than `MIN_GAP_S` (blinks: `BLINK_GAP_S`) count once (the higher wins).
Shapes: N frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatarzoo.contracts.tracking import Tracking

MIN_GAP_S = 0.4  # two peaks closer than this are one event
BLINK_GAP_S = 0.2  # blinks: as the tracker's own summary (track.json: 5 frames at 25 fps)
BLINK = 0.35
BROW_RAISE = 0.6
WIDE_MOUTH = 1.0
SMILE_CORNERS, SMILE_WIDTH = 0.6, 0.5
GAZE_SHIFT = 1.0

KINDS = ("blink", "brow raise", "wide mouth", "smile", "gaze shift")
_NAMES = {"blink": ("blink", "blinks"), "brow raise": ("brow raise", "brow raises"),
          "wide mouth": ("wide mouth opening", "wide mouth openings"), "smile": ("smile", "smiles"),
          "gaze shift": ("gaze shift", "gaze shifts")}


def count_of(kind: str, n: int) -> str:
    """'1 smile', '3 wide mouth openings'."""
    one, many = _NAMES[kind]
    return f"{n} {one if n == 1 else many}"


@dataclass(frozen=True)
class Events:
    """Frames of each kind of event (peaks of its score), and the scores themselves.

    peaks: kind -> frame indices (sorted); scores: kind -> float64 [N] (for smiles the
    smaller of the two parts, each divided by its threshold, times SMILE_CORNERS, so
    the threshold reads as SMILE_CORNERS); thresholds: kind -> the score an event needs;
    directions: frame -> 'left', 'right', 'up' or 'down' for each gaze shift (the
    subject's left and right)."""

    peaks: dict[str, list[int]]
    scores: dict[str, np.ndarray]
    thresholds: dict[str, float]
    directions: dict[int, str]


def _channels(tracking: Tracking, *names: str) -> np.ndarray:
    sp = tracking.space
    missing = [n for n in names if n not in sp.channels]
    if missing:
        raise ValueError(f"the tracking's space '{sp.name}' has no channel {', '.join(missing)}; "
                         "the expression coverage needs face-64")
    return tracking.expression[:, [sp.channel(n) for n in names]].astype(np.float64).mean(axis=1)


def find_events(tracking: Tracking) -> Events:
    """The events of `tracking` (a face-64 tracking); frames without a face never peak."""
    from avatarzoo.signals import peaks

    fps = 1.0 / float(np.median(np.diff(tracking.time))) if len(tracking) > 1 else 25.0
    corners = _channels(tracking, "mouth_corner_up_left", "mouth_corner_up_right")
    width = _channels(tracking, "mouth_width")
    gx, gy = _channels(tracking, "gaze_x"), _channels(tracking, "gaze_y")
    scores = {
        "blink": _channels(tracking, "blink_left", "blink_right"),
        "brow raise": _channels(tracking, "brow_raise_left", "brow_raise_right"),
        "wide mouth": _channels(tracking, "mouth_open"),
        "smile": SMILE_CORNERS * np.minimum(corners / SMILE_CORNERS, width / SMILE_WIDTH),
        "gaze shift": np.hypot(gx, gy),
    }
    thresholds = {"blink": BLINK, "brow raise": BROW_RAISE, "wide mouth": WIDE_MOUTH,
                  "smile": SMILE_CORNERS, "gaze shift": GAZE_SHIFT}
    valid = np.asarray(tracking.valid, bool)
    found = {}
    for kind, score in scores.items():
        masked = np.where(valid, score, -np.inf)
        gap = BLINK_GAP_S if kind == "blink" else MIN_GAP_S
        found[kind] = peaks(masked, height=thresholds[kind], distance=max(1, int(round(gap * fps))))
    directions = {}
    for k in found["gaze shift"]:
        # gaze_x grows towards the image's right = the subject's left (builtin.py conventions)
        if abs(gx[k]) >= abs(gy[k]):
            directions[k] = "left" if gx[k] > 0 else "right"
        else:
            directions[k] = "down" if gy[k] > 0 else "up"
    return Events(peaks=found, scores=scores, thresholds=thresholds, directions=directions)
