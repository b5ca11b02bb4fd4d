"""Speech for inference: any file with an audio stream -> float32 [T] mono 16 kHz in [-1, 1].

`read_audio(path)` decodes the whole stream; `iter_audio(path, chunk_samples=...)` yields
the same samples in chunks with bounded memory (an hour-long file never sits in RAM);
`read_audio(p)` is exactly `np.concatenate(list(iter_audio(p, chunk_samples=n)))` for
every n. Both decode the file's first audio stream with PyAV (FFmpeg), so wav, flac, mp3,
ogg/opus, m4a and the audio track of a video all work.

Signal path: FFmpeg's resampler (libswresample, band-limited sinc) to 16 kHz, keeping
the channels; then the mean of the channels (a plain average: libswresample's own
stereo->mono matrix sums at -3 dB each, which can exceed full scale); then clipping to
[-1, 1] (float and lossy codecs may overshoot). Time alignment is kept: output sample i
is the input's time `i / 16000` after its first sample (`audio_start` gives that
sample's time on the file's clock, for aligning with video frames).

Ends: decoders emit their last codec frame whole (AAC pads to 1024 samples); the
output is cut at the end the container declares for the stream, when it declares one.

Errors (`InputError`, one line naming the file): no such file; not readable as media
(random bytes, a truncated mp4 whose index is missing); no audio stream (a video
without sound); the audio cannot be decoded (corrupt data); 0 samples; a file shorter
than its header declares (a truncated wav or mp3: the decoded audio ends more than
max(0.2 s, 2 %) before the declared duration). A silent file is not an error.

Shapes: T samples.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from avatarzoo.errors import InputError
from avatarzoo.media import error_reason, open_media

SAMPLE_RATE = 16_000
# A stream that ends this much before the duration its container declares is truncated.
_TRUNCATED_S = 0.2
_TRUNCATED_FRACTION = 0.02
_DECODE_CHUNK = 1 << 16  # samples read_audio asks iter_audio for at a time


def read_audio(path: Path | str) -> np.ndarray:
    """All of the first audio stream of `path`: float32 [T] mono 16 kHz in [-1, 1], T > 0.

    Raises InputError naming the file for a missing, unreadable, corrupt, truncated or
    empty file and for one without an audio stream.
    """
    chunks = list(iter_audio(path, chunk_samples=_DECODE_CHUNK))
    return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]


def iter_audio(path: Path | str, *, chunk_samples: int) -> Iterator[np.ndarray]:
    """Decode the first audio stream of `path` in chunks: float32 [chunk_samples] mono
    16 kHz in [-1, 1], the last chunk shorter (1..chunk_samples samples).

    Memory stays bounded by a few codec frames plus one chunk. The checks that need the
    whole stream (0 samples, truncation) raise after the last chunk was decoded, so a
    consumer may already have seen earlier chunks of a truncated file.
    """
    if isinstance(chunk_samples, bool) or not isinstance(chunk_samples, (int, np.integer)) or chunk_samples < 1:
        raise ValueError(f"chunk_samples: expected a positive int (samples at 16 kHz), got {chunk_samples!r}")
    chunk_samples = int(chunk_samples)
    path = Path(path)
    pending: list[np.ndarray] = []
    n_pending = 0
    n_out = 0
    for block in _decode(path):
        pending.append(block)
        n_pending += len(block)
        if n_pending < chunk_samples:
            continue
        buf = np.concatenate(pending)
        n_full = len(buf) // chunk_samples * chunk_samples
        for i in range(0, n_full, chunk_samples):
            yield buf[i:i + chunk_samples]
        n_out += n_full
        pending = [buf[n_full:]] if n_full < len(buf) else []
        n_pending = len(buf) - n_full
    if n_pending:
        yield np.concatenate(pending)
        n_out += n_pending
    if n_out == 0:
        raise InputError(f"{path}: the audio stream has 0 samples; expected speech (at least one sample)")


def audio_start(path: Path | str) -> float:
    """Seconds on the file's clock at which the first sample of `read_audio(path)` plays
    (the first decoded frame's timestamp; 0 when the container gives none). A video
    frame at time t lines up with sample `round((t - audio_start(path)) * 16000)`."""
    import av

    path = Path(path)
    with _open(path) as container:
        stream = container.streams.audio[0]
        try:
            for frame in container.decode(stream):
                return float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
        except av.error.FFmpegError as e:
            raise InputError(f"{path}: the audio cannot be decoded ({error_reason(e)}); the file is corrupt") from None
    raise InputError(f"{path}: the audio stream has 0 samples; expected speech (at least one sample)")


def _open(path: Path):
    """The opened container, checked to be readable media with an audio stream."""
    container = open_media(path, "an audio or video file")
    if not container.streams.audio:
        what = "a video without sound" if container.streams.video else "no audio"
        container.close()
        raise InputError(f"{path}: has no audio stream ({what}); expected a file with speech")
    return container


def _decode(path: Path) -> Iterator[np.ndarray]:
    """float32 [t] mono 16 kHz blocks of the first audio stream, cut at its declared end;
    raises for corrupt data and for a stream that ends well before its declared end."""
    import av

    with _open(path) as container:
        stream = container.streams.audio[0]
        declared = _declared_seconds(stream)
        declared_end = None  # samples after the first one at which the stream ends
        resampler = None
        key = None
        n = 0
        try:
            for frame in container.decode(stream):
                if declared is not None and declared_end is None:
                    first = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
                    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
                    declared_end = int(round((start + declared - first) * SAMPLE_RATE))
                frame_key = (frame.format.name, frame.layout.name, frame.sample_rate)
                if frame_key != key:  # the first frame, or a mid-stream format change
                    if resampler is not None:
                        for block in _mono(resampler.resample(None)):
                            n, block = _cut(n, block, declared_end)
                            yield block
                    resampler = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=SAMPLE_RATE)
                    key = frame_key
                for block in _mono(resampler.resample(frame)):
                    n, block = _cut(n, block, declared_end)
                    yield block
            if resampler is not None:
                for block in _mono(resampler.resample(None)):
                    n, block = _cut(n, block, declared_end)
                    yield block
        except av.error.FFmpegError as e:
            raise InputError(f"{path}: the audio cannot be decoded after {n / SAMPLE_RATE:.2f} s "
                             f"({error_reason(e)}); the file is corrupt or truncated") from None
    wav_bytes = _wav_shortfall(path)
    if wav_bytes:
        raise InputError(f"{path}: truncated: its header declares {wav_bytes[0]} bytes of audio data, "
                         f"the file holds {wav_bytes[1]}; re-copy or re-export it")
    if declared is not None and n > 0:
        got = n / SAMPLE_RATE
        if got < declared - max(_TRUNCATED_S, _TRUNCATED_FRACTION * declared):
            raise InputError(f"{path}: truncated: decoded {got:.2f} s of audio, the container declares "
                             f"{declared:.2f} s; re-copy or re-export it")


def _mono(frames) -> Iterator[np.ndarray]:
    for f in frames:
        x = f.to_ndarray()  # [C, t] planar float32
        y = x[0] if x.shape[0] == 1 else x.mean(axis=0, dtype=np.float64)
        yield np.clip(y, -1.0, 1.0).astype(np.float32)


def _cut(n: int, block: np.ndarray, end: int | None) -> tuple[int, np.ndarray]:
    """Drop what lies past `end` samples (the container's declared end)."""
    if end is not None and n + len(block) > end:
        block = block[:max(end - n, 0)]
    return n + len(block), block


def _declared_seconds(stream) -> float | None:
    if stream.duration is None or stream.duration <= 0 or stream.time_base is None:
        return None
    return float(stream.duration * stream.time_base)


def _wav_shortfall(path: Path) -> tuple[int, int] | None:
    """(declared, present) bytes of a RIFF/WAVE `data` chunk that the file cuts short,
    else None. FFmpeg reads such a file to its end without complaint, and derives the
    duration from the file size, so the header is the only witness."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            size = path.stat().st_size
            pos = 12
            while pos + 8 <= size:
                f.seek(pos)
                cid, clen = struct.unpack("<4sI", f.read(8))
                if cid == b"data":
                    present = size - pos - 8
                    # 0xFFFFFFFF / 0: streamed wavs that never wrote their size
                    if clen in (0, 0xFFFFFFFF) or present >= clen:
                        return None
                    return clen, present
                pos += 8 + clen + (clen & 1)
    except OSError:
        return None
    return None


