"""Stage `ingest`: recording -> frames.npy, masks.npy, background.png, time.npy,
audio.npy, ingest.json (docs/ARCHITECTURE.md, "ingest output").

Two lazy passes over the video, never holding more than a few frames:
1. count the resampled frames; 8 frames spread over the clip are measured (face and
   shoulder extents) on a worker thread while decoding goes on -> the one static crop
   (the camera is static);
2. crop + resize every frame into the `frames.npy` memmap while two worker threads run
   selfie segmentation into `masks.npy`.
Then the background plate (median of unmasked pixels, two threads) and the audio
(16 kHz mono).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from avatarzoo.errors import InputError, StageError

if TYPE_CHECKING:
    from avatarzoo.recipe.models import RecordingConfig
    from avatarzoo.stages.context import StageContext

T = TypeVar("T")
Progress = Callable[..., Iterator]
N_CROP_SAMPLES = 8  # frames measured (face mesh + pose, static mode) to choose the crop
_PIPELINE_DEPTH = 6  # frames in flight between decoding and segmentation
SEGMENT_THREADS = 2  # one segmentation model per thread (the models keep no state between frames)


class _Segmenters:
    """Callable frame -> mask that uses one PersonSegmenter per calling thread."""

    def __init__(self) -> None:
        import threading

        self._local = threading.local()
        self._all: list = []
        self._lock = threading.Lock()

    def __call__(self, img: np.ndarray) -> np.ndarray:
        from avatarzoo.ingest.segment import PersonSegmenter

        seg = getattr(self._local, "seg", None)
        if seg is None:
            seg = self._local.seg = PersonSegmenter()
            with self._lock:
                self._all.append(seg)
        return seg(img)

    def __enter__(self) -> "_Segmenters":
        return self

    def __exit__(self, *exc) -> None:
        for seg in self._all:
            seg.close()


def run(ctx: "StageContext") -> None:
    rec = ctx.recipe.recording
    ingest_recording(
        ctx.resolve(rec.video),
        ctx.out,
        recording=rec,
        audio=ctx.resolve(rec.audio) if rec.audio else None,
        progress=ctx.progress,
        log=ctx.log,
    )


def holdout_start(n_frames: int, holdout: float) -> int:
    """First held-out frame: frames [holdout_start, N) are never used in training."""
    return n_frames - int(round(n_frames * holdout))


def _no_progress(iterable: Iterable[T], **_) -> Iterator[T]:
    yield from iterable


def ingest_recording(
    video: Path,
    out: Path,
    *,
    recording: "RecordingConfig",
    audio: Path | None = None,
    progress: Progress | None = None,
    log: logging.Logger | None = None,
) -> dict:
    """Write the ingest outputs of `video` into the directory `out`; returns ingest.json.

    `audio` is a separate audio file (default: the video's own track). Raises
    InputError naming the file (and time) for unusable input.
    """
    import cv2

    from avatarzoo.ingest.audio import SAMPLE_RATE, load_audio
    from avatarzoo.ingest.crop import ExtentMeter, choose_crop, crop_resize
    from avatarzoo.ingest.plate import background_plate
    from avatarzoo.ingest.video import check_complete, iter_frames, probe
    from avatarzoo.contracts.ingest import IngestInfo

    video = Path(video)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    progress = progress or _no_progress
    log = log or logging.getLogger("avatarzoo.ingest")
    fps, size = recording.fps, recording.crop.size
    info = probe(video)
    if recording.camera != "static":
        log.warning("recording.camera = %r: ingest still uses one crop for the whole clip", recording.camera)
    span = dict(fps=fps, start=recording.start, duration=recording.duration)

    # Pass 1: exact frame count and times; 8 frames spread over the clip for the
    # crop (where the container declares a duration, else a second partial pass).
    expected = _expected_frames(info.duration, recording)
    wanted = frozenset(np.linspace(0, expected - 1, min(expected, N_CROP_SAMPLES)).round().astype(int).tolist())
    times: list[float] = []
    samples: list[tuple[float, Future]] = []  # (time, extents being measured)
    # One worker loads the models (with the mediapipe import: ~1 s), measures the samples
    # while this thread decodes, and closes the models.
    with ThreadPoolExecutor(1) as pool:
        meter_job = pool.submit(ExtentMeter)

        def measure(img: np.ndarray):
            return meter_job.result()(img)

        try:
            for t, img in iter_frames(video, decode=wanted, **span):
                times.append(t)
                if img is not None:
                    samples.append((t, pool.submit(measure, img)))
            n = len(times)
            if recording.duration is None:
                check_complete(info, times[-1], fps)
            if len(samples) < min(n, N_CROP_SAMPLES) // 2:  # the declared duration was wrong
                wanted = frozenset(np.linspace(0, n - 1, min(n, N_CROP_SAMPLES)).round().astype(int).tolist())
                samples = [(t, pool.submit(measure, img)) for t, img in iter_frames(video, decode=wanted, **span)
                           if img is not None]
            extents = [job.result() for _, job in samples]
        finally:
            for _, job in samples:
                job.cancel()
            pool.submit(lambda: meter_job.exception() or meter_job.result().close())
    found = [e for e in extents if e is not None]
    if not found:
        raise InputError(
            f"{video}: no face found in any of {len(samples)} frames sampled between"
            f" {samples[0][0]:.1f} s and {samples[-1][0]:.1f} s; the recording must show the subject's face"
        )
    box = choose_crop(found, width=info.width, height=info.height, frame=recording.crop.frame)
    log.info("crop %s (source %dx%d) -> %d px; face in %d/%d sampled frames",
             box, info.width, info.height, size, len(found), len(samples))
    del samples

    # Pass 2: crop every frame into the memmap; segmentation on a worker thread.
    frames = np.lib.format.open_memmap(out / "frames.npy", mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
    masks = np.lib.format.open_memmap(out / "masks.npy", mode="w+", dtype=np.uint8, shape=(n, size, size))
    written = 0
    with _Segmenters() as segment, ThreadPoolExecutor(SEGMENT_THREADS) as pool:
        pending: deque = deque()
        ticks = progress(iter_frames(video, **span), total=n, desc="ingest", unit="frame")
        for k, (t, img) in enumerate(ticks):
            if k >= n:
                raise StageError(f"{video}: the second decoding pass gave more than {n} frames")
            frames[k] = crop_resize(img, box, size)
            pending.append((k, pool.submit(segment, frames[k])))
            while len(pending) > _PIPELINE_DEPTH:
                j, fut = pending.popleft()
                masks[j] = fut.result()
            written = k + 1
        for j, fut in pending:
            masks[j] = fut.result()
    if written != n:
        raise StageError(f"{video}: the second decoding pass gave {written} frames, the first {n}")
    frames.flush()
    masks.flush()

    plate, holes = background_plate(frames, masks)
    if not cv2.imwrite(str(out / "background.png"), cv2.cvtColor(plate, cv2.COLOR_RGB2BGR)):
        raise StageError(f"{out / 'background.png'}: could not be written")
    log.info("background plate: %.1f%% of pixels never seen behind the person, inpainted", 100 * holes)
    del frames, masks

    time = np.asarray(times, dtype=np.float64)
    np.save(out / "time.npy", time)
    sound = load_audio(audio or video, first_frame_time=float(time[0]), end_time=float(time[-1]) + 1.0 / fps)
    if sound is None:
        log.warning("%s: no audio stream; an audio driver cannot be trained on this recording", audio or video)
        audio_meta = None
    else:
        np.save(out / "audio.npy", sound.samples)
        audio_meta = {"sample_rate": SAMPLE_RATE, "offset": sound.offset,
                      "samples": int(sound.samples.shape[0]),
                      "file": (audio or video).name}
    meta = IngestInfo(
        fps=fps, n_frames=n, size=size, holdout_start=holdout_start(n, recording.holdout),
        crop_box=tuple(map(int, box)), crop_frame=recording.crop.frame, source=info.to_json(),
        audio=audio_meta, background_inpainted=holes,
    )
    meta.write(out)
    return meta.model_dump(mode="json")


def _expected_frames(duration: float | None, recording: "RecordingConfig") -> int:
    if duration is None:
        return 1
    span = max(duration - recording.start, 0.0)
    if recording.duration is not None:
        span = min(span, recording.duration)
    return max(int(span * recording.fps), 1)
