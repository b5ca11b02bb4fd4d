"""The pictures of the report, drawn with OpenCV (no plotting dependency), as RGB arrays:
time plots of what each item measured with its thresholds, the region channels with
the expression events found, and thumbnails of the moments that fail.

`figures(evidence, items)` returns, per item key, a list of (caption, RGB image).
Shapes: N frames; images H x W x 3 uint8 RGB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from avatarzoo.check.evidence import Evidence
from avatarzoo.check.report import Item, Moment

WIDTH = 960
PANEL = 150
TILE = 180
INK = (30, 30, 30)
GREY = (120, 120, 120)
BLUE = (31, 119, 180)
ORANGE = (255, 127, 14)
GREEN = (44, 160, 44)
RED = (214, 39, 40)
PURPLE = (148, 103, 189)
WARN_COLOR = (230, 150, 0)
VERDICT_COLOR = {"pass": GREEN, "warn": WARN_COLOR, "fail": RED, "skip": GREY}

Image = np.ndarray


@dataclass(frozen=True)
class Line:
    """A series over time: values [N] (NaN: a gap) at times t [N]."""

    label: str
    t: np.ndarray
    values: np.ndarray
    color: tuple[int, int, int] = BLUE


@dataclass(frozen=True)
class Limit:
    """A horizontal threshold line."""

    value: float
    label: str
    color: tuple[int, int, int] = RED


@dataclass(frozen=True)
class Panel:
    title: str
    lines: Sequence[Line]
    limits: Sequence[Limit] = ()
    marks: Sequence[tuple[float, str]] = ()  # (time, label) ticks along the top
    shade: Sequence[tuple[float, float, tuple[int, int, int]]] = ()  # (t0, t1, colour) spans
    y_range: tuple[float, float] | None = None
    unit: str = ""
    x_unit: str = "s"


def _text(img: Image, text: str, org: tuple[int, int], color=INK, scale: float = 0.42, thick: int = 1) -> None:
    import cv2

    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)


def _nice_step(at_least: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is at least `at_least`."""
    base = 1
    while True:
        for m in (1, 2, 5):
            if m * base >= at_least:
                return m * base
        base *= 10


def draw(panels: Sequence[Panel], *, width: int = WIDTH, height: int = PANEL) -> Image:
    """Panels stacked vertically; each shares the time axis of its lines."""
    import cv2

    rows = []
    left, right, top, bottom = 64, 150, 22, 20
    for p in panels:
        img = np.full((height, width, 3), 255, np.uint8)
        x0, x1, y0, y1 = left, width - right, top, height - bottom
        ts = np.concatenate([ln.t for ln in p.lines]) if p.lines else np.array([0.0, 1.0])
        t_lo, t_hi = float(np.nanmin(ts)), float(np.nanmax(ts))
        if t_hi - t_lo < 1e-6:
            t_hi = t_lo + 1.0
        vals = [ln.values[np.isfinite(ln.values)] for ln in p.lines]
        vals = np.concatenate(vals + [np.array([lim.value for lim in p.limits])]) if vals else np.zeros(1)
        vals = vals[np.isfinite(vals)]
        lo, hi = p.y_range if p.y_range else ((float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0))
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        pad = 0.06 * (hi - lo)
        lo, hi = lo - pad, hi + pad

        def px(t):
            return x0 + (np.asarray(t, np.float64) - t_lo) / (t_hi - t_lo) * (x1 - x0)

        def py(v):
            return y1 - (np.clip(np.asarray(v, np.float64), lo, hi) - lo) / (hi - lo) * (y1 - y0)

        for a, b, color in p.shade:
            cv2.rectangle(img, (int(px(a)), y0), (max(int(px(b)), int(px(a)) + 1), y1), color, -1)
        cv2.rectangle(img, (x0, y0), (x1, y1), (190, 190, 190), 1)
        _text(img, p.title, (x0, 15), INK, 0.48)
        _text(img, f"{hi - pad:.3g}{p.unit}", (4, y0 + 10), GREY, 0.36)
        _text(img, f"{lo + pad:.3g}{p.unit}", (4, y1), GREY, 0.36)
        step = _nice_step((t_hi - t_lo) / 12)
        for sec in range(int(np.ceil(t_lo / step) * step), int(t_hi) + 1, step):
            x = int(px(sec))
            cv2.line(img, (x, y1), (x, y1 + 3), GREY, 1)
            _text(img, f"{sec}{p.x_unit}" if sec == int(np.ceil(t_lo)) else f"{sec}", (x - 6, height - 5), GREY, 0.34)
        for i, lim in enumerate(p.limits):
            y = int(py(lim.value))
            for xa in range(x0, x1, 10):
                cv2.line(img, (xa, y), (min(xa + 5, x1), y), lim.color, 1)
            _text(img, lim.label, (x1 + 6, y + 4), lim.color, 0.36)
        for t, label in p.marks:
            x = int(px(t))
            cv2.line(img, (x, y0), (x, y0 + 8), PURPLE, 2)
            if label:
                _text(img, label, (x + 2, y0 + 18), PURPLE, 0.32)
        for j, ln in enumerate(p.lines):
            xs, ys = px(ln.t), py(ln.values)
            ok = np.isfinite(ln.values)
            start = None
            for i in range(len(xs) + 1):
                if i < len(xs) and ok[i]:
                    start = i if start is None else start
                elif start is not None:
                    pts = np.stack([xs[start:i], ys[start:i]], axis=1).round().astype(np.int32)
                    if len(pts) == 1:
                        cv2.circle(img, tuple(pts[0]), 1, ln.color, -1)
                    else:
                        cv2.polylines(img, [pts], False, ln.color, 1, cv2.LINE_AA)
                    start = None
        # the legend: right-aligned on the title's line, so that it never meets a threshold's label
        x = x1
        for ln in reversed([ln for ln in p.lines if ln.label]):
            (w, _), _ = cv2.getTextSize(ln.label, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
            x -= w + 4
            _text(img, ln.label, (x, 15), ln.color, 0.4)
            x -= 22
            cv2.line(img, (x, 11), (x + 16, 11), ln.color, 2)
            x -= 10
        rows.append(img)
    return np.concatenate(rows, axis=0)


def thumbnails(ev: Evidence, moments: Sequence[Moment], color=RED, *, tile: int = TILE, marks=None,
               picture=None) -> Image:
    """One row of frames at `moments`, each labelled with its time and note; `marks`
    (optional) draws extra geometry on each frame: marks(img, frame, scale); `picture`
    (optional) is what to show for a frame index instead of the frame itself."""
    import cv2

    frames = ev.ingest.frames
    row = np.full((tile + 40, tile * len(moments) + 6 * (len(moments) - 1), 3), 255, np.uint8)
    for j, m in enumerate(moments):
        img = np.ascontiguousarray(picture(m.frame) if picture is not None else frames[m.frame])
        scale = tile / img.shape[0]
        img = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)
        if marks is not None:
            marks(img, m.frame, scale)
        cv2.rectangle(img, (0, 0), (tile - 1, tile - 1), color, 3)
        x = j * (tile + 6)
        row[:tile, x:x + tile] = img
        _text(row, f"{m.time:.2f} s  (frame {m.frame})", (x + 2, tile + 14), INK, 0.4)
        _text(row, m.note[:30], (x + 2, tile + 32), color, 0.4)
    return row


def _eye_line(ev: Evidence):
    import cv2

    def mark(img, k, scale):
        lm = ev.tracking.landmarks[k, :, :2] * scale
        r, l = 0.5 * (lm[33] + lm[133]), 0.5 * (lm[263] + lm[362])
        cv2.line(img, tuple(r.astype(int)), tuple(l.astype(int)), (255, 230, 0), 2, cv2.LINE_AA)
    return mark


def _face_box(ev: Evidence):
    import cv2

    def mark(img, k, scale):
        lm = ev.tracking.landmarks[k, :, :2] * scale
        a, b = lm.min(axis=0).astype(int), lm.max(axis=0).astype(int)
        cv2.rectangle(img, tuple(a), tuple(b), (255, 230, 0), 1)
    return mark


def _against_reference(ev: Evidence):
    """Frame k in red over the reference frame in cyan: a background that moved shows
    double edges (a still one stays grey)."""
    import cv2

    ref = cv2.cvtColor(np.asarray(ev.ingest.frames[ev.frames.reference]), cv2.COLOR_RGB2GRAY)

    def picture(k: int) -> np.ndarray:
        g = cv2.cvtColor(np.asarray(ev.ingest.frames[k]), cv2.COLOR_RGB2GRAY)
        return np.stack([g, ref, ref], axis=-1)
    return picture


def _time(ev: Evidence) -> np.ndarray:
    return np.asarray(ev.ingest.time, np.float64)


def _holdout_shade(ev: Evidence) -> list[tuple[float, float, tuple[int, int, int]]]:
    t = _time(ev)
    h = ev.ingest.info.holdout_start
    return [(float(t[h]), float(t[-1]), (236, 236, 236))] if h < len(t) else []


def _runs(mask: np.ndarray, t: np.ndarray, color) -> list[tuple[float, float, tuple[int, int, int]]]:
    dt = float(np.median(np.diff(t))) if len(t) > 1 else 0.04
    out = []
    idx = np.flatnonzero(mask)
    if idx.size:
        breaks = np.flatnonzero(np.diff(idx) > 1)
        for a, b in zip(np.r_[idx[0], idx[breaks + 1]], np.r_[idx[breaks], idx[-1]]):
            out.append((float(t[a]), float(t[b]) + dt, color))
    return out


def _coverage_panels(ev: Evidence) -> list[Panel]:
    from avatarzoo.check.events import KINDS, count_of

    t = _time(ev)
    e = ev.events
    shade = _holdout_shade(ev) + _runs(~np.asarray(ev.tracking.valid, bool), t, (255, 210, 210))
    titles = {"blink": "eyes: blink (mean of both)", "brow raise": "brows: raise (mean of both)",
              "wide mouth": "mouth: mouth_open", "smile": "smile: corners up and mouth wide (the smaller, scaled)",
              "gaze shift": "gaze: how far the irises are off their median"}
    panels = []
    for k in KINDS:
        peaks = e.peaks[k]
        hold = ev.ingest.info.holdout_start
        count = sum(1 for p in peaks if p < hold)
        panels.append(Panel(
            title=f"{titles[k]}: {count_of(k, count)} in the training frames",
            lines=[Line(k, t, e.scores[k], BLUE)],
            limits=[Limit(e.thresholds[k], f"{k} >= {e.thresholds[k]:g}", ORANGE)],
            marks=[(float(t[p]), "") for p in peaks], shade=shade))
    return panels


def figures(ev: Evidence, items: Sequence[Item]) -> dict[str, list[tuple[str, Image]]]:
    """Per item key, the (caption, image) pairs the page shows."""
    out: dict[str, list[tuple[str, Image]]] = {i.key: [] for i in items}
    if ev.ingest is None:
        return out
    t = _time(ev)
    by_key = {i.key: i for i in items}

    def add(key: str, caption: str, img: Image) -> None:
        out.setdefault(key, []).append((caption, img))

    def moments_row(key: str, caption: str, marks=None, picture=None) -> None:
        item = by_key.get(key)
        if item is not None and item.moments:
            add(key, caption, thumbnails(ev, item.moments, VERDICT_COLOR[item.verdict] if item.verdict != "pass"
                                         else GREEN, marks=marks, picture=picture))

    if ev.tracking is not None:
        valid = np.asarray(ev.tracking.valid, bool)
        moments_row("duration", "frames without a face")
        mid = int(np.flatnonzero(valid)[len(np.flatnonzero(valid)) // 2]) if valid.any() else 0
        res = by_key.get("face_resolution")
        if res is not None and res.verdict != "skip":
            note = f"{res.numbers['eyes_source_px']:.0f} px between the eyes"
            add("face_resolution", "a middle frame, the eye centres joined",
                thumbnails(ev, [Moment(frame=mid, time=float(t[mid]), note=note)],
                           VERDICT_COLOR[res.verdict], tile=260, marks=_eye_line(ev)))
        from avatarzoo.check.measures import face_boxes

        box = face_boxes(ev.tracking.landmarks)
        height = np.median((box[:, 3] - box[:, 1])[valid]) if valid.any() else 1.0
        s = ev.ingest.info.size
        edge = np.min(np.stack([box[:, 0], box[:, 1], s - box[:, 2], s - box[:, 3]], axis=1), axis=1) / height
        from avatarzoo.check.items import HAIR_WARN

        add("framing", "where the face is in the crop", draw([Panel(
            "room between the face landmarks and the crop's edges, in face heights",
            [Line("above", t, np.where(valid, box[:, 1] / height, np.nan), BLUE),
             Line("nearest edge", t, np.where(valid, edge, np.nan), ORANGE)],
            [Limit(0.0, "crop edge", RED), Limit(HAIR_WARN, "hair room", WARN_COLOR)])]))
        moments_row("framing", "frames where the head leaves the crop or the hair is cut", marks=_face_box(ev))
    if ev.frames is not None:
        from avatarzoo.check import items as it

        f = ev.frames
        add("frame_rate", "repeated frames (a mark: the same picture as the frame before)", draw([Panel(
            f"repeated frames: {int(f.repeat.sum())} of {len(f.repeat)}",
            [Line("repeat", t, f.repeat.astype(float), RED)], y_range=(0.0, 1.0),
            shade=_runs(f.repeat, t, (255, 215, 215)))], height=90))
        moments_row("frame_rate", "repeated frames")
        shift = f.camera_shift
        ok = np.isfinite(shift[:, 0])
        if ok.mean() >= it.CAMERA_MEASURED:
            med = np.median(shift[ok], axis=0)
            dev = np.linalg.norm(shift - med, axis=1)
            add("camera", "background displacement from its median position (px at the crop size)", draw([Panel(
                "background displacement", [Line("", t, dev, BLUE)],
                [Limit(it.CAMERA_WARN_PX, f"warn {it.CAMERA_WARN_PX} px", WARN_COLOR),
                 Limit(it.CAMERA_FAIL_PX, f"fail {it.CAMERA_FAIL_PX} px", RED)], unit=" px",
                y_range=(0.0, max(float(np.nanmax(dev)) if ok.any() else 0.0, 1.2 * it.CAMERA_FAIL_PX)))]))
        moments_row("camera", "frames where the background moved most, in red over the middle frame in cyan: "
                              "double edges are camera motion", picture=_against_reference(ev))
        flick_src = f.background_luma if np.isfinite(f.background_luma).mean() >= 0.5 else f.face_luma
        _, dev = it._flicker(flick_src, ev.fps)
        add("lighting", "face brightness and flicker", draw([
            Panel("face luma (0-255)", [Line("face", t, f.face_luma, BLUE),
                                        Line("background", t, f.background_luma, GREY)],
                  [Limit(it.LUMA_WARN, f"warn < {it.LUMA_WARN:.0f}", WARN_COLOR),
                   Limit(it.LUMA_FAIL, f"fail < {it.LUMA_FAIL:.0f}", RED)], y_range=(0.0, 255.0)),
            Panel("flicker: luma off its 1 s mean", [Line("", t, 100 * dev, BLUE)],
                  [Limit(100 * it.FLICKER_WARN, "warn", WARN_COLOR), Limit(-100 * it.FLICKER_WARN, "", WARN_COLOR)],
                  unit="%")]))
        moments_row("lighting", "darkest / brightest / most flickering frames")
        rel = (f.face_sharpness / np.nanmedian(f.face_sharpness, axis=0)).min(axis=1)
        add("blur", "face sharpness relative to the clip's median", draw([Panel(
            "sharpness (the softer direction)", [Line("", t, rel, BLUE)],
            [Limit(it.BLURRED_BELOW, f"blurred < {it.BLURRED_BELOW}", RED)])]))
        moments_row("blur", "blurred frames")
    if ev.sound is not None:
        from avatarzoo.check import items as it

        s = ev.sound
        ta = float(t[0]) + ev.ingest.info.audio.offset + np.arange(len(s.envelope)) * s.window_s
        add("audio", "loudness of the sound (20 ms windows)", draw([Panel(
            "loudness", [Line("dBFS", ta, s.envelope, BLUE)],
            [Limit(it.SPEECH_WARN_DB, f"warn < {it.SPEECH_WARN_DB:.0f}", WARN_COLOR),
             Limit(it.SPEECH_FAIL_DB, f"fail < {it.SPEECH_FAIL_DB:.0f}", RED),
             Limit(s.speech_db, "speech", GREEN), Limit(s.noise_db, "pauses", GREY)],
            shade=[(float(ta[w]), float(ta[w]) + s.window_s, (255, 200, 200)) for w in s.clipped_windows[:500]],
            y_range=(max(-90.0, float(np.nanmin(s.envelope))), 0.0), unit=" dB")]))
        moments_row("audio", "clipped speech")
    if ev.offset is not None and ev.mouth_open is not None:
        add("sync", "mouth opening against loudness, and the offset search", _sync_figure(ev))
    if ev.events is not None:
        add("coverage", "region channels of the tracking, with the events found (marks) and the thresholds "
                        "(grey: held-out frames, red: no face)", draw(_coverage_panels(ev)))
        moments_row("coverage", "the actions seen (brow raises, wide openings, smiles, gaze shifts)")
    return out


def _sync_figure(ev: Evidence) -> Image:
    """The two signals drivers/sync.py correlates, and its score per offset."""
    from avatarzoo.drivers.sync import speech_envelope

    o = ev.offset
    t = _time(ev)
    fps = ev.fps
    audio = np.asarray(ev.ingest.audio(), np.float64)
    frame_times = np.arange(len(ev.mouth_open)) / fps - ev.ingest.info.audio.offset
    loud = speech_envelope(audio, frame_times=frame_times, fps=fps)

    def z(x):
        x = np.asarray(x, np.float64)
        return (x - np.nanmean(x)) / (np.nanstd(x) + 1e-9)

    lags, scores = o.curve
    frame_ms = 1000.0 / fps
    return draw([
        Panel("mouth opening (blue) and speech energy 300-3000 Hz (orange), each standardised",
              [Line("mouth", t, z(ev.mouth_open), BLUE), Line("speech", t, z(loud), ORANGE)]),
        Panel(f"match of mouth and sound per offset (correlation of their changes): best {o.ms:+.0f} ms, "
              "positive = the mouth leads",
              [Line("match", 1000 * np.asarray(lags), np.asarray(scores), PURPLE)], x_unit=" ms",
              marks=[(o.ms, f"{o.ms:+.0f} ms")],
              shade=[(-frame_ms, frame_ms, (220, 245, 220)), (-300.0, -frame_ms, (255, 240, 205)),
                     (frame_ms, 300.0, (255, 240, 205))]),
    ])
