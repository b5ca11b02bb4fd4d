"""Speech-driven rendering for an `Avatar`: the audio driver's motion to frames, to a
video with the audio muxed in, and frame by frame as audio streams in.

A `Frame` carries its time on the audio's clock and the audio it goes with, so that a
player (a browser, a call stack) keeps picture and sound together: frame k shows the
face for the sound from k / fps to (k + 1) / fps.

Shapes: T samples (16 kHz), n frames, S frame side, D expression dim.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from avatarzoo.errors import AvatarZooError

if TYPE_CHECKING:
    from avatarzoo.drivers.runtime import AudioDriver, Motion
    from avatarzoo.runtime.avatar import Avatar

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Frame:
    """One rendered frame: `index` k, `time` k / fps (s, audio clock), `image` uint8
    [S, S, 3], the `audio` it goes with (float32 samples of [time, time + 1 / fps)),
    its `expression` [D] and speech `activity`."""

    index: int
    time: float
    image: np.ndarray
    audio: np.ndarray
    expression: np.ndarray
    activity: float


def driver_of(avatar: "Avatar", device: str) -> "AudioDriver":
    """The bundle's audio driver, or one clear error saying it has none."""
    from avatarzoo.kinds import get_kind

    kind = avatar.bundle.metadata.get("avatarzoo.audio_driver", "none")
    if kind == "none" or "audio_driver" not in avatar.bundle.config:
        raise AvatarZooError(
            f"{avatar.id} has no audio driver: its recipe has no `audio_driver` section; add one "
            "(e.g. `audio_driver: {kind: tcn}`) and rebuild, or render from expressions with avatar.render(...)")
    runtime = get_kind("audio_driver", kind).load("runtime")
    return runtime.from_tensors(avatar.bundle.tensors("audio_driver."), avatar.bundle.config["audio_driver"],
                                device=device)


def as_samples(audio) -> np.ndarray:
    """A path (any file with an audio stream) or float samples [T] at 16 kHz -> [T]."""
    if isinstance(audio, (str, Path)):
        from avatarzoo.drivers.audio import read_audio

        return read_audio(audio)
    a = np.asarray(audio, np.float32)
    if a.ndim != 1:
        raise ValueError(f"audio: expected float samples [T] (16 kHz mono) or a file path, got shape {a.shape}")
    return a


def chunks_of(audio, chunk_samples: int = 16_000) -> Iterator[np.ndarray]:
    """Audio in chunks: a file streamed from disk (bounded memory), or an array sliced."""
    if isinstance(audio, (str, Path)):
        from avatarzoo.drivers.audio import iter_audio

        yield from iter_audio(audio, chunk_samples=chunk_samples)
        return
    a = as_samples(audio)
    for i in range(0, len(a), chunk_samples):
        yield a[i:i + chunk_samples]


def render_motion(avatar: "Avatar", motion: "Motion", *, batch: int = 8) -> Iterator[np.ndarray]:
    """The frames [S, S, 3] of `motion`, rendered `batch` at a time."""
    for i in range(0, len(motion), batch):
        yield from avatar.render(motion.expression[i:i + batch], motion.pose[i:i + batch], motion.body[i:i + batch])


def stream_frames(avatar: "Avatar", chunks: Iterable[np.ndarray], *, seed: int = 0,
                  batch: int = 8) -> Iterator[Frame]:
    """Frames as the audio `chunks` (float32 16 kHz, any sizes) arrive: each chunk yields
    the frames it completes (a frame waits for `avatar.latency_s` of audio after its own
    time), and the end of the chunks the rest."""
    driver = avatar.driver
    stream = driver.stream(seed=seed)
    heard: list[np.ndarray] = []
    held = 0  # samples in `heard` before the first frame not yet emitted
    emitted = 0
    per_frame = SAMPLE_RATE / driver.fps

    def emit(motion) -> Iterator[Frame]:
        nonlocal held, emitted
        audio = np.concatenate(heard) if heard else np.zeros(0, np.float32)
        images = render_motion(avatar, motion, batch=batch)
        for j, image in enumerate(images):
            k = emitted + j
            a, b = int(round(k * per_frame)) - held, int(round((k + 1) * per_frame)) - held
            yield Frame(k, k / driver.fps, image, audio[max(a, 0):max(b, 0)], motion.expression[j],
                        float(motion.activity[j]))
        emitted += len(motion)
        cut = max(0, int(round(emitted * per_frame)) - held)
        heard.clear()
        heard.append(audio[cut:])
        held += cut

    for chunk in chunks:
        chunk = np.asarray(chunk, np.float32).reshape(-1)
        heard.append(chunk)
        yield from emit(stream.push(chunk))
    yield from emit(stream.flush())


def speak(avatar: "Avatar", audio, out: Path | str, *, seed: int = 0, batch: int = 8) -> Path:
    """Render `audio` (a file or float samples) into the video `out`, the audio muxed
    in: frame k shows the face for the sound of [k / fps, (k + 1) / fps). A file is read
    twice in chunks (once to drive, once to mux), so an hour of speech needs no more
    memory than a minute."""
    from avatarzoo.media import write_video

    if not isinstance(audio, (str, Path)):
        audio = as_samples(audio)
    frames = (f.image for f in stream_frames(avatar, chunks_of(audio), seed=seed, batch=batch))
    return write_video(out, frames, fps=avatar.fps, audio=chunks_of(audio), sample_rate=SAMPLE_RATE)
