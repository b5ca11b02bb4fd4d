"""The verdicts: each tested property of a recording, its thresholds and why.

Every threshold is derived from what a later stage needs (the renderer trains at the
recipe's crop size S; the tracker must resolve eyelids, brows and irises; the audio
driver pairs each frame with its 16 kHz speech), and was checked against the ten
public clips in docs/recording-guide.md ("What check tests"), never tuned to the demo
alone. An item is `fail` when the recording needs a re-take, `warn` when the avatar
will be worse in a way the text says, `skip` when it cannot be measured.

Each item is a function `Evidence -> Item` (evidence.py holds the measures).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from avatarzoo.check.events import KINDS, count_of
from avatarzoo.check.evidence import MAX_LAG_S, Evidence, frames_for_offset
from avatarzoo.check.measures import eye_distance, face_boxes
from avatarzoo.check.report import SEVERITY, Item, Moment, Verdict

MAX_MOMENTS = 6  # failing moments listed (and shown as thumbnails) per item

# --- duration and usable frames -------------------------------------------------------
# DESIGN.md: 20-30 s is enough data. Under 10 s, the held-out tenth is under a second and
# the audio driver hears some English phonemes once or never (a 30 s pangram-rich script
# holds each several times); the face must be found in all but a few frames.
DURATION_FAIL_S, DURATION_WARN_S = 10.0, 20.0
MISSING_WARN = 0.02  # fraction of frames without a face (the tracker refuses > tracker.max_missing)

# --- resolution of the face -------------------------------------------------------------
# Measured on the demo clip (82 px between the eyes in the source) resampled smaller and
# tracked again, against its full-resolution tracking: at 28 px every region still
# correlates >= 0.80 (brows 0.80, gaze 0.91, blink 0.99, mouth 0.98); at 22 px brows
# fall to 0.60; at 18 px a false blink appears and brows are 0.51.
EYES_FAIL_PX, EYES_WARN_PX = 20.0, 28.0
# The renderer trains at S px: a crop with fewer source pixels than that is upsampled,
# and beyond 1.25x over a third of the pixels it learns are interpolated.
UPSAMPLE_WARN = 1.25

# --- frame rate ---------------------------------------------------------------------
# A repeated frame pairs a frozen face with 1/fps s of new speech. A few are harmless;
# 25% (a 25 fps grid filled from ~19 fps) is a visible stutter the driver would learn.
REPEAT_WARN, REPEAT_FAIL = 0.03, 0.25

# --- static camera -------------------------------------------------------------------
# One camera and one background plate (a per-pixel median) for the whole clip: a
# background that moves by d px blurs every background edge by d px at the training
# size. Static public clips measure <= 0.9 px (95th percentile); beyond 3 px the head
# and torso fits absorb camera motion as body motion.
CAMERA_WARN_PX, CAMERA_FAIL_PX = 1.5, 3.0
CAMERA_MEASURED = 0.5  # fraction of frames whose background could be followed

# --- framing: head inside the crop ---------------------------------------------------
OUTSIDE_FAIL = 0.02  # frames with face landmarks outside the crop
HAIR_WARN = 0.3  # face heights between the crop's top and the forehead landmarks (crop.py frames 0.6)

# --- lighting -----------------------------------------------------------------------
# A good avatar's held-out error is ~5 grey levels (34 dB PSNR): flicker of 2% (2.5
# levels at mid grey) is half of that budget, 4% all of it. An under-exposed face
# squeezes its shading into few levels under the codec's noise; clipped skin carries none.
LUMA_FAIL, LUMA_WARN = 45.0, 70.0  # median face luma, 0..255 (the public clips: 83-150)
CLIPPED_WARN, CLIPPED_FAIL = 0.02, 0.10  # fraction of face pixels at 250+
FLICKER_WARN, FLICKER_FAIL = 0.02, 0.04  # std of the luma's change within 1 s, relative
FLICKER_WINDOW_S = 1.0

# --- motion blur --------------------------------------------------------------------
# A frame is blurred when its face sharpness (measures.py, per direction) is under 0.7
# of the clip's median: the public clips' frames never fall under 0.75; a 9 px motion
# blur at 512 px gives 0.62-0.86, 15 px 0.50-0.71.
BLURRED_BELOW = 0.7
BLUR_WARN, BLUR_FAIL = 0.05, 0.20

# --- audio --------------------------------------------------------------------------
SPEECH_FAIL_DB, SPEECH_WARN_DB = -40.0, -30.0  # loud speech windows (public clips: -25..-11)
SNR_FAIL_DB, SNR_WARN_DB = 10.0, 15.0  # loud speech over the pauses (public clips: 18-68)
CLIP_WARN, CLIP_FAIL = 0.001, 0.01  # clipped samples (public clips: up to 0.06%)
AUDIO_COVER = 0.9  # the audio must cover this fraction of the video

# --- audio / lip sync ---------------------------------------------------------------
# The audio driver estimates and removes each recording's constant offset when it
# trains (drivers/sync.py), so a clear offset up to 300 ms is corrected, not a re-take.
# What the estimator reads on synchronised footage is +100..+250 ms (the mouth opens
# before its sound): the demo reads ~+245 ms, so a real recording usually warns here,
# and the warning says that nothing needs redoing. Beyond 300 ms, or without a clear
# peak, the pairing of sound and face cannot be trusted.
SYNC_PASS_FRAMES = 1.0  # within a frame of zero: nothing to correct
SYNC_CORRECTED_S = 0.3

# --- expression coverage ------------------------------------------------------------
# In the training frames. Blinks: the renderer must see closed lids and the driver learn
# the person's rate (a relaxed talker blinks 5-7 times in 20 s; under 3 means the eyes
# were held open). Two separate instances of each other action, so that the renderer
# can tell the action from the head pose and light of one moment.
NEEDS = {"blink": 3, "brow raise": 2, "wide mouth": 2, "smile": 2, "gaze shift": 2}


def _worst(*verdicts: Verdict) -> Verdict:
    return max(verdicts, key=SEVERITY.__getitem__)


def _moments(ev: Evidence, frames, note: Callable[[int], str]) -> list[Moment]:
    t = ev.ingest.time
    return [Moment(frame=int(k), time=round(float(t[k]), 2), note=note(int(k))) for k in list(frames)[:MAX_MOMENTS]]


def _spread(frames: np.ndarray, limit: int = MAX_MOMENTS) -> np.ndarray:
    """Up to `limit` of the sorted frame indices, spread over their runs."""
    frames = np.asarray(frames, int)
    if len(frames) <= limit:
        return frames
    return frames[np.linspace(0, len(frames) - 1, limit).round().astype(int)]


def _skip(key: str, title: str, rule: str, why: str) -> Item:
    return Item(key=key, title=title, verdict="skip", summary=f"not measured: {why}", rule=rule)


def _stopped(ev: Evidence) -> str:
    return ev.problem or "the track stage did not run"


# --- the items ----------------------------------------------------------------------


def duration(ev: Evidence) -> Item:
    key, title = "duration", "Duration and usable frames"
    rule = (f"pass ≥ {DURATION_WARN_S:.0f} s, fail < {DURATION_FAIL_S:.0f} s (held-out tenth, phoneme coverage); "
            f"face found in all but {MISSING_WARN:.0%} of the frames (the tracker refuses more than "
            f"tracker.max_missing)")
    if ev.ingest is None:
        return Item(key=key, title=title, verdict="fail", summary=f"the recording could not be ingested: {ev.problem}",
                    rule=rule, fix="Record again with the face in view from the first to the last frame.")
    info = ev.ingest.info
    seconds = info.n_frames / info.fps
    train_s = info.holdout_start / info.fps
    numbers = {"seconds": round(seconds, 2), "frames": info.n_frames, "training_frames": info.holdout_start,
               "training_seconds": round(train_s, 2)}
    verdict: Verdict = "fail" if seconds < DURATION_FAIL_S else "warn" if seconds < DURATION_WARN_S else "pass"
    parts = [f"{seconds:.1f} s, {info.n_frames} frames ({train_s:.1f} s for training)"]
    fix = []
    if verdict != "pass":
        fix.append(f"Record {DURATION_WARN_S:.0f}–30 s (the script in docs/recording-guide.md takes 30 s).")
    moments: list[Moment] = []
    if ev.tracking is None:
        verdict = "fail"
        parts.append(f"tracking stopped: {_stopped(ev)}")
        fix.append("Keep the face in view, lit and unobstructed for the whole take.")
    else:
        missing = ~np.asarray(ev.tracking.valid, bool)
        numbers["frames_without_face"] = int(missing.sum())
        numbers["usable_frames"] = int((~missing).sum())
        parts.append(f"face found in {(~missing).sum()} of {len(missing)}")
        if missing.mean() > MISSING_WARN:
            verdict = _worst(verdict, "warn")
            fix.append("Keep the face in view and unobstructed (hands, hair, turning away).")
        moments = _moments(ev, _spread(np.flatnonzero(missing)), lambda k: "no face found")
    return Item(key=key, title=title, verdict=verdict, summary="; ".join(parts), rule=rule, fix=" ".join(fix),
                numbers=numbers, moments=moments)


def face_resolution(ev: Evidence) -> Item:
    key, title = "face_resolution", "Resolution of the face"
    rule = (f"source pixels between the eye centres: fail < {EYES_FAIL_PX:.0f}, warn < {EYES_WARN_PX:.0f} "
            "(the tracker resolves brows, gaze and blinks down to 28 px); the crop upsampled more than "
            f"{UPSAMPLE_WARN}x to the recipe's crop size: warn (the renderer learns interpolated pixels)")
    if ev.tracking is None:
        return _skip(key, title, rule, _stopped(ev))
    info = ev.ingest.info
    valid = np.asarray(ev.tracking.valid, bool)
    x0, y0, x1, y1 = info.crop_box
    side = float(x1 - x0)
    s = info.size
    eyes_crop = float(np.median(eye_distance(ev.tracking.landmarks)[valid]))
    eyes_src = eyes_crop * side / s
    upsample = s / side
    verdict: Verdict = "fail" if eyes_src < EYES_FAIL_PX else "warn" if eyes_src < EYES_WARN_PX else "pass"
    fix = []
    if verdict != "pass":
        fix.append(f"Move the camera closer or record at a higher resolution: the eyes are {eyes_src:.0f} px apart "
                   f"in the video, {EYES_WARN_PX:.0f}+ are needed.")
    if upsample > UPSAMPLE_WARN:
        verdict = _worst(verdict, "warn")
        height = int(info.source.get("height") or side)
        fix.append(f"The crop holds {side:.0f} source px but the recipe trains at {s} px: record at "
                   f"{int(np.ceil(height * s / side))} px frame height or more with the same framing (now {height}), "
                   f"or set recording.crop.size: {max(32, int(side) // 16 * 16)}.")
    summary = (f"{eyes_src:.0f} px between the eyes in the source ({eyes_crop:.0f} px at the {s} px crop); "
               f"crop {side:.0f} source px → {s} px ({upsample:.2f}x)")
    return Item(key=key, title=title, verdict=verdict, summary=summary, rule=rule, fix=" ".join(fix),
                numbers={"eyes_source_px": round(eyes_src, 1), "eyes_crop_px": round(eyes_crop, 1),
                         "crop_source_px": int(side), "crop_size": s, "upsampling": round(upsample, 3)})


def frame_rate(ev: Evidence) -> Item:
    key, title = "frame_rate", "Frame rate, dropped and repeated frames"
    rule = (f"frames the build uses that repeat the previous one: warn > {REPEAT_WARN:.0%}, fail > {REPEAT_FAIL:.0%} "
            "(a repeat pairs a frozen face with new speech); gaps in the source's timestamps are dropped frames")
    timing = ev.timing
    numbers = {"source_fps": round(timing.fps, 3), "recipe_fps": ev.recipe.recording.fps,
               "source_frames": int(len(timing.times)), "dropped_source_frames": timing.n_dropped}
    if ev.frames is None:
        return Item(key=key, title=title, verdict="skip", rule=rule, numbers=numbers,
                    summary=f"source {timing.fps:.2f} fps, {timing.n_dropped} dropped; repeats not measured: "
                            f"{_stopped(ev)}")
    rep = np.asarray(ev.frames.repeat, bool)
    frac = float(rep.mean())
    numbers.update(repeated_frames=int(rep.sum()), repeated_fraction=round(frac, 4))
    verdict: Verdict = "fail" if frac > REPEAT_FAIL else "warn" if frac > REPEAT_WARN else "pass"
    summary = (f"source {timing.fps:.2f} fps, {timing.n_dropped} dropped source frame(s); {rep.sum()} of "
               f"{len(rep)} frames at {ev.fps:g} fps repeat the previous one ({frac:.1%})")
    fix = ""
    if verdict != "pass":
        content = ev.fps * (1 - frac)
        fix = (f"The picture changes only ~{content:.0f} times a second. Record at {ev.fps:g} fps or more with "
               "enough light for the camera to keep its rate (phones halve it in dim light), and use the camera's "
               "own file, not a frame-rate-converted copy.")
    gaps = [f"{n} dropped at {t:.2f} s" for n, t in zip(timing.dropped[:3], timing.gaps_s[:3])]
    if gaps:
        summary += "; " + ", ".join(gaps)
    moments = _moments(ev, _spread(np.flatnonzero(rep)), lambda k: "same picture as the frame before") \
        if verdict != "pass" else []
    return Item(key=key, title=title, verdict=verdict, summary=summary, rule=rule, fix=fix, numbers=numbers,
                moments=moments)


def camera(ev: Evidence) -> Item:
    key, title = "camera", "Static camera (background motion)"
    rule = (f"95th percentile of the background's displacement from its median position, px at the crop size: "
            f"warn ≥ {CAMERA_WARN_PX}, fail ≥ {CAMERA_FAIL_PX} (one camera, one background plate)")
    if ev.frames is None:
        return _skip(key, title, rule, _stopped(ev))
    if ev.ingest.masks is None:
        return _skip(key, title, rule, "the ingest wrote no person mask")
    shift = ev.frames.camera_shift
    ok = np.isfinite(shift[:, 0])
    numbers = {"measured_fraction": round(float(ok.mean()), 3),
               "median_points": int(np.median(ev.frames.background_points))}
    if ok.mean() < CAMERA_MEASURED:
        return Item(key=key, title=title, verdict="skip", rule=rule, numbers=numbers,
                    summary=f"not measured: the background could be followed in only {ok.mean():.0%} of the frames "
                            "(plain or hidden behind the person); a plain background also hides small camera motion")
    dev = np.full(len(shift), np.nan)
    dev[ok] = np.linalg.norm(shift[ok] - np.median(shift[ok], axis=0), axis=1)
    p95 = float(np.nanpercentile(dev, 95))
    numbers.update(p95_px=round(p95, 2), max_px=round(float(np.nanmax(dev)), 2),
                   median_px=round(float(np.nanmedian(dev)), 2))
    verdict: Verdict = "fail" if p95 >= CAMERA_FAIL_PX else "warn" if p95 >= CAMERA_WARN_PX else "pass"
    worst = np.argsort(np.where(ok, -dev, np.inf))
    bad = np.sort(worst[: MAX_MOMENTS]) if verdict != "pass" else np.array([], int)
    fix = ("Put the camera on a tripod or a steady surface, don't touch it during the take, and switch off "
           "digital stabilisation and auto-framing (Center Stage).") if verdict != "pass" else ""
    return Item(key=key, title=title, verdict=verdict, rule=rule, fix=fix, numbers=numbers,
                summary=f"background moves {p95:.2f} px (95th percentile, max {np.nanmax(dev):.2f}) at the "
                        f"{ev.ingest.info.size} px crop, measured in {ok.mean():.0%} of the frames",
                moments=_moments(ev, bad, lambda k: f"background {dev[k]:.1f} px off"))


def framing(ev: Evidence) -> Item:
    key, title = "framing", "Head inside the crop"
    rule = (f"face landmarks outside the crop: fail in > {OUTSIDE_FAIL:.0%} of the frames, warn in any; "
            f"room above the forehead under {HAIR_WARN} face heights: warn (hair cut off)")
    if ev.tracking is None:
        return _skip(key, title, rule, _stopped(ev))
    s = ev.ingest.info.size
    valid = np.asarray(ev.tracking.valid, bool)
    box = face_boxes(ev.tracking.landmarks)
    height = float(np.median((box[:, 3] - box[:, 1])[valid]))
    outside = valid & ((box[:, 0] < 0) | (box[:, 1] < 0) | (box[:, 2] > s) | (box[:, 3] > s))
    room = box[:, 1] / max(height, 1.0)
    low = valid & (room < HAIR_WARN)
    frac = float(outside.mean())
    numbers = {"frames_outside": int(outside.sum()), "room_above_face_heights": round(float(np.median(room[valid])), 2),
               "frames_hair_cut": int(low.sum())}
    verdict: Verdict = "fail" if frac > OUTSIDE_FAIL else "warn" if outside.any() else "pass"
    fix = []
    if outside.any():
        fix.append("Stay seated, centred, and don't lean out: the whole face must stay in the crop.")
    if low.mean() > 0.5:
        verdict = _worst(verdict, "warn")
        fix.append("Leave room above the head: frame from above the hair to below the shoulders.")
    summary = (f"face outside the crop in {outside.sum()} of {len(outside)} frames; room above the forehead "
               f"{np.median(room[valid]):.2f} face heights (median)")
    bad = np.flatnonzero(outside) if outside.any() else np.flatnonzero(low)
    note = (lambda k: "face leaves the crop") if outside.any() else (lambda k: "hair cut off at the top")
    return Item(key=key, title=title, verdict=verdict, summary=summary, rule=rule, fix=" ".join(fix),
                numbers=numbers, moments=_moments(ev, _spread(bad), note) if verdict != "pass" else [])


def _flicker(luma: np.ndarray, fps: float) -> tuple[float, np.ndarray]:
    """(std of the relative deviation from a 1 s moving mean, that deviation [N] (NaN kept))."""
    ok = np.isfinite(luma)
    dev = np.full(len(luma), np.nan)
    if ok.sum() < 3:
        return float("nan"), dev
    x = luma[ok]
    k = max(3, int(round(FLICKER_WINDOW_S * fps)) | 1)
    mean = np.convolve(np.pad(x, (k // 2, k // 2), mode="edge"), np.ones(k) / k, mode="valid")
    dev[ok] = (x - mean) / np.maximum(mean, 1.0)
    return float(np.std(dev[ok])), dev


def lighting(ev: Evidence) -> Item:
    key, title = "lighting", "Lighting of the face"
    rule = (f"median face luma: fail < {LUMA_FAIL:.0f}, warn < {LUMA_WARN:.0f} (0–255); clipped face pixels: "
            f"warn > {CLIPPED_WARN:.0%}, fail > {CLIPPED_FAIL:.0%}; flicker (luma change within "
            f"{FLICKER_WINDOW_S:.0f} s): warn > {FLICKER_WARN:.0%}, fail > {FLICKER_FAIL:.0%}")
    if ev.frames is None:
        return _skip(key, title, rule, _stopped(ev))
    f = ev.frames
    luma = float(np.nanmedian(f.face_luma))
    clipped = float(np.nanmean(f.face_clipped))
    source = f.background_luma if np.isfinite(f.background_luma).mean() >= 0.5 else f.face_luma
    flicker, dev = _flicker(source, ev.fps)
    v_luma: Verdict = "fail" if luma < LUMA_FAIL else "warn" if luma < LUMA_WARN else "pass"
    v_clip: Verdict = "fail" if clipped > CLIPPED_FAIL else "warn" if clipped > CLIPPED_WARN else "pass"
    v_flick: Verdict = ("fail" if flicker > FLICKER_FAIL else "warn" if flicker > FLICKER_WARN else "pass") \
        if np.isfinite(flicker) else "skip"
    fix = []
    if v_luma != "pass":
        fix.append("Add light on the face: a window or a lamp in front of you, slightly above the eyes.")
    if v_clip != "pass":
        fix.append("The face is over-exposed: move the light back or diffuse it, lock the exposure lower.")
    if v_flick not in ("pass", "skip"):
        fix.append("The light flickers: avoid cheap LED and fluorescent lamps, or set the camera's shutter to the "
                   "mains frequency (1/50 s in Europe, 1/60 s in the Americas); lock exposure and white balance.")
    moments: list[Moment] = []
    if v_luma != "pass":
        dark = np.argsort(np.nan_to_num(f.face_luma, nan=np.inf))
        moments = _moments(ev, np.sort(dark[:3]), lambda k: f"face luma {f.face_luma[k]:.0f}")
    elif v_clip != "pass":
        hot = np.argsort(-np.nan_to_num(f.face_clipped, nan=-1))
        moments = _moments(ev, np.sort(hot[:3]), lambda k: f"{f.face_clipped[k]:.0%} of the face clipped")
    elif v_flick not in ("pass", "skip"):
        jump = np.argsort(-np.abs(np.nan_to_num(dev)))
        moments = _moments(ev, np.sort(jump[:3]), lambda k: f"light {dev[k]:+.1%} off its 1 s mean")
    where = "background" if source is f.background_luma else "face"
    return Item(key=key, title=title, verdict=_worst(v_luma, v_clip, v_flick if v_flick != "skip" else "pass"),
                summary=f"face luma {luma:.0f} (median), {clipped:.2%} of the face clipped, flicker {flicker:.2%} "
                        f"(on the {where})",
                rule=rule, fix=" ".join(fix), moments=moments,
                numbers={"face_luma": round(luma, 1), "face_clipped": round(clipped, 5),
                         "flicker": round(flicker, 5) if np.isfinite(flicker) else None, "flicker_on": where})


def blur(ev: Evidence) -> Item:
    key, title = "blur", "Motion blur"
    rule = (f"a frame is blurred when the face's sharpness is under {BLURRED_BELOW} of the clip's median: "
            f"warn > {BLUR_WARN:.0%} of the frames, fail > {BLUR_FAIL:.0%} (relative: a clip that is soft "
            "throughout shows under the face resolution instead)")
    if ev.frames is None:
        return _skip(key, title, rule, _stopped(ev))
    sharp = ev.frames.face_sharpness
    rel = (sharp / np.nanmedian(sharp, axis=0)).min(axis=1)
    ok = np.isfinite(rel)
    blurred = ok & (rel < BLURRED_BELOW)
    frac = float(blurred.sum() / max(ok.sum(), 1))
    verdict: Verdict = "fail" if frac > BLUR_FAIL else "warn" if frac > BLUR_WARN else "pass"
    fix = ("Move the head more slowly, add light (a shorter exposure blurs less) and set a shutter of 1/100 s "
           "or faster if the camera allows.") if verdict != "pass" else ""
    return Item(key=key, title=title, verdict=verdict, rule=rule, fix=fix,
                summary=f"{blurred.sum()} of {ok.sum()} frames blurred ({frac:.1%}); sharpest-to-softest "
                        f"{np.nanmin(rel):.2f}–{np.nanmax(rel):.2f} of the median",
                numbers={"blurred_frames": int(blurred.sum()), "blurred_fraction": round(frac, 4),
                         "min_relative_sharpness": round(float(np.nanmin(rel)), 3)},
                moments=_moments(ev, _spread(np.flatnonzero(blurred)), lambda k: f"sharpness {rel[k]:.2f} of the median")
                if verdict != "pass" else [])


def audio(ev: Evidence) -> Item:
    key, title = "audio", "Audio: present, level, clipping"
    rule = (f"speech level (loud 20 ms windows): fail < {SPEECH_FAIL_DB:.0f} dBFS, warn < {SPEECH_WARN_DB:.0f}; "
            f"speech over the pauses: fail < {SNR_FAIL_DB:.0f} dB, warn < {SNR_WARN_DB:.0f}; clipped samples: "
            f"warn > {CLIP_WARN:.1%}, fail > {CLIP_FAIL:.0%}; the audio must cover {AUDIO_COVER:.0%} of the video")
    fix_none = ("Record with sound: the audio driver learns the face from this recording's speech. Use the "
                "camera's microphone or a clip-on one, and keep its track in the file (or name it in "
                "recording.audio).")
    if ev.ingest is None:
        return _skip(key, title, rule, _stopped(ev))
    if ev.sound is None:
        return Item(key=key, title=title, verdict="fail", rule=rule, fix=fix_none,
                    summary=f"{ev.video.name} has no audio stream", numbers={"present": False})
    s = ev.sound
    video_s = ev.ingest.info.n_frames / ev.fps
    cover = s.seconds / video_s if video_s > 0 else 0.0
    v_level: Verdict = "fail" if s.speech_db < SPEECH_FAIL_DB else "warn" if s.speech_db < SPEECH_WARN_DB else "pass"
    v_snr: Verdict = "fail" if s.snr_db < SNR_FAIL_DB else "warn" if s.snr_db < SNR_WARN_DB else "pass"
    v_clip: Verdict = "fail" if s.clipped > CLIP_FAIL else "warn" if s.clipped > CLIP_WARN else "pass"
    v_cover: Verdict = "fail" if cover < AUDIO_COVER else "pass"
    fix = []
    if v_level != "pass":
        fix.append("Speak up or bring the microphone closer (a hand's width to an arm's length).")
    if v_snr != "pass":
        fix.append("Record somewhere quieter: switch off fans and music, close the window.")
    if v_clip != "pass":
        fix.append("Lower the input gain: the loudest words are clipped.")
    if v_cover != "pass":
        fix.append("The audio stops before the video: record both to the end.")
    clip_frames = np.unique(((s.clipped_windows * s.window_s) * ev.fps).astype(int))
    clip_frames = clip_frames[clip_frames < ev.ingest.info.n_frames]
    moments = _moments(ev, _spread(clip_frames), lambda k: "clipped speech") if v_clip != "pass" else []
    return Item(key=key, title=title, verdict=_worst(v_level, v_snr, v_clip, v_cover), rule=rule, fix=" ".join(fix),
                summary=f"speech at {s.speech_db:.1f} dBFS, {s.snr_db:.0f} dB over the pauses, {s.clipped:.3%} "
                        f"clipped, sound in {s.speech_fraction:.0%} of the clip, {s.seconds:.1f} s of "
                        f"{video_s:.1f} s",
                numbers={"present": True, "speech_dbfs": round(s.speech_db, 1), "noise_dbfs": round(s.noise_db, 1),
                         "snr_db": round(s.snr_db, 1), "clipped_fraction": round(s.clipped, 6),
                         "speech_fraction": round(s.speech_fraction, 3), "seconds": round(s.seconds, 2)},
                moments=moments)


def sync(ev: Evidence) -> Item:
    key, title = "sync", "Audio in sync with the lips"
    frame_ms = 1000.0 / ev.fps
    rule = (f"lag of the speech energy against the mouth opening (drivers/sync.py, ±{MAX_LAG_S * 1000:.0f} ms "
            f"searched): pass within one frame ({frame_ms:.0f} ms); a clear offset up to "
            f"{SYNC_CORRECTED_S * 1000:.0f} ms: warn, corrected when training (the audio driver estimates and "
            f"removes each recording's offset); larger or unclear: fail; not judged under {DURATION_FAIL_S:.0f} s")
    if ev.sound is None:
        return _skip(key, title, rule, "no audio" if ev.ingest is not None else _stopped(ev))
    if ev.offset is None:
        if ev.tracking is None:
            return _skip(key, title, rule, _stopped(ev))
        return _skip(key, title, rule, f"searching ±{MAX_LAG_S * 1000:.0f} ms needs "
                     f"{frames_for_offset(ev.fps) / ev.fps:.1f} s of talking, the clip is shorter")
    seconds = ev.ingest.info.n_frames / ev.fps
    if seconds < DURATION_FAIL_S:
        return _skip(key, title, rule, f"{seconds:.1f} s is too short to trust an offset (on the two 8 s public "
                     "clips the estimate has no clear peak, or one at -0.7 s); the duration fails already")
    o = ev.offset
    ms = float(o.ms)
    lead = "ahead of" if ms > 0 else "behind"
    numbers = {"offset_ms": round(ms, 1), "score": round(float(o.score), 3), "clear": bool(o.clear)}
    if not o.clear:
        return Item(key=key, title=title, verdict="fail", rule=rule, numbers=numbers,
                    summary=f"no clear offset (best {ms:+.0f} ms, score {o.score:.2f}): the mouth and the "
                            "speech do not move together",
                    fix="Record the speech with the same device as the picture, face the camera while talking, "
                        "and speak clearly; check that the file plays in sync.")
    if abs(ms) <= SYNC_PASS_FRAMES * frame_ms:
        verdict: Verdict = "pass"
        summary = f"in sync: the mouth {abs(ms):.0f} ms {lead} the sound (score {o.score:.2f})"
        fix = ""
    elif abs(ms) <= SYNC_CORRECTED_S * 1000:
        verdict = "warn"
        summary = (f"the mouth moves {abs(ms):.0f} ms {lead} the sound (score {o.score:.2f}); corrected when "
                   "training: the audio driver measures this offset and shifts the audio by it")
        fix = ("Nothing to redo for the avatar (a synchronised talker reads +100 to +250 ms here: the mouth "
               "moves before its sound). More than that, or behind: the sound was delayed or advanced.")
    else:
        verdict = "fail"
        summary = (f"the mouth moves {abs(ms):.0f} ms {lead} the sound (score {o.score:.2f}): more than "
                   f"{SYNC_CORRECTED_S * 1000:.0f} ms is not corrected")
        fix = ("Record sound and picture on one device (a separate recorder drifts and starts apart), or "
               "re-align the audio in an editor before building.")
    return Item(key=key, title=title, verdict=verdict, summary=summary, rule=rule, fix=fix, numbers=numbers)


def coverage(ev: Evidence) -> Item:
    key, title = "coverage", "Expression coverage"
    need = ", ".join(count_of(k, n) for k, n in NEEDS.items())
    rule = (f"in the training frames at least: {need} (events.py thresholds); no blink at all: fail "
            "(the avatar could never close its eyes); fewer of the others: warn (the avatar cannot show them)")
    if ev.tracking is None:
        return _skip(key, title, rule, _stopped(ev))
    if ev.events is None:
        return _skip(key, title, rule, f"the tracking's space '{ev.tracking.space.name}' is not face-64")
    hold = ev.ingest.info.holdout_start
    counts = {k: sum(1 for p in ev.events.peaks[k] if p < hold) for k in KINDS}
    directions = sorted({ev.events.directions[p] for p in ev.events.peaks["gaze shift"] if p < hold})
    short = [k for k in KINDS if counts[k] < NEEDS[k]]
    verdict: Verdict = "fail" if counts["blink"] == 0 else "warn" if short else "pass"
    summary = ", ".join(count_of(k, counts[k]) for k in KINDS)
    if directions:
        summary += f" (gaze: {', '.join(directions)})"
    fix = ""
    if short:
        fix = ("Missing: " + ", ".join(count_of(k, NEEDS[k] - counts[k]) for k in short)
               + ". Follow the script in docs/recording-guide.md: blink naturally, raise the brows twice, smile "
                 "twice, look left, right, up and down, and say a long, wide 'ah'.")
    seen = sorted((p, k) for k in KINDS if k != "blink" for p in ev.events.peaks[k] if p < hold)
    scores = ev.events.scores
    moments = [Moment(frame=int(p), time=round(float(ev.ingest.time[p]), 2),
                      note=f"{k} ({scores[k][p]:.2f})" + (f", {ev.events.directions[p]}" if k == "gaze shift" else ""))
               for p, k in seen][:MAX_MOMENTS]
    numbers = {f"{k.replace(' ', '_')}s": counts[k] for k in KINDS}
    numbers["blinks_whole_clip"] = len(ev.events.peaks["blink"])
    return Item(key=key, title=title, verdict=verdict, summary=summary, rule=rule, fix=fix, numbers=numbers,
                moments=moments)


ITEMS: tuple[Callable[[Evidence], Item], ...] = (
    duration, face_resolution, frame_rate, camera, framing, lighting, blur, audio, sync, coverage,
)


def judge(ev: Evidence) -> list[Item]:
    """Every item's verdict on the evidence, in report order."""
    return [item(ev) for item in ITEMS]
