"""The WebSocket protocol of `avatarzoo serve` (version 1), typed.

Client → server:
- first, within `Limits.start_timeout_s`, one text message `StartMessage` (JSON):
  `{"type": "start", "avatar": "demo-v1", "format": "jpeg", "audio": "s16le"}`;
- then binary messages: mono 16 kHz PCM, little-endian int16 (`"audio": "s16le"`, the
  default) or float32 (`"f32le"`), any length up to `Limits.max_chunk_s` (20–40 ms
  chunks are what a live client sends);
  or, with `"drive": "video"` (reenactment: someone's face drives the avatar's, e.g. a
  webcam), one JPEG picture of the driver per message, at most `MAX_PICTURE_SIDE` px a
  side, sent as the camera delivers them; the server always works on the newest one
  (pictures that arrive while it is busy are dropped and counted);
- text `{"type": "ping"}` (answered by `{"type": "pong"}`) or `{"type": "stop"}`.

Server → client:
- text `ReadyMessage` once the session runs (fps, size, latency, the limits);
- one binary message per frame: a 4-byte big-endian length H, H bytes of JSON
  (`FrameHeader`), then `audio_bytes` of int16 little-endian 16 kHz mono PCM (the sound
  from `audio_time` to the frame's end: the frame's own 1 / fps s, plus that of frames
  dropped just before it), then `image_bytes` of the picture (JPEG, or raw RGB rows of
  `width` × `height` × 3 bytes with `"format": "rgb"`);
- text `ErrorMessage` just before the server closes the session with that code.

A frame's `time` is on the session's audio timeline (frame k: k / fps s); `source` is
the range of the client's own samples (counted from its first audio message, end
exclusive) that its audio holds, or null when it is silence the server filled in — a
client matches frames to the audio it sent with it (that is what latency is measured
on). With `"drive": "video"` a frame answers one picture: `source` is [k, k + 1), k
that picture's number (from 0, the client's first), `time` = k / fps, no audio; `face`
says whether a face was found in it and `calibrating` whether the server is still
learning the driver's neutral face (the first second of faces: the avatar holds its own
neutral meanwhile). Close codes are 4000 + the HTTP status that means the same (`CloseCode`).
"""

from __future__ import annotations

import json
import struct
from enum import IntEnum
from typing import Literal, Optional, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PROTOCOL = 1
SAMPLE_RATE = 16_000
MAX_PICTURE_SIDE = 1920  # a driver's picture (drive "video"): checked in its header, before decoding
_LEN = struct.Struct(">I")
_U16 = struct.Struct(">H")


class CloseCode(IntEnum):
    NORMAL = 1000  # the client said stop, or the server shuts down
    INTERNAL = 1011  # the server failed on this session (logged); the others go on
    BAD_MESSAGE = 4400  # not valid JSON, an unknown type or field, PCM of a wrong length
    UNKNOWN_AVATAR = 4404  # the start message names an avatar this server does not serve
    TIMEOUT = 4408  # no start message in time, no message for idle_timeout_s, or max_session_s reached
    TOO_BIG = 4413  # a message over max_message_bytes, or audio over max_chunk_s
    TOO_FAST = 4429  # more than max_messages_per_s, or audio faster than real time by over max_ahead_s
    FULL = 4503  # max_sessions are open, or the server is overloaded (max_lag_s): try again later
    NOT_READING = 4504  # the client did not read its frames for send_timeout_s


class Violation(Exception):
    """A client broke the protocol or a limit: its session closes with `code`."""

    def __init__(self, code: CloseCode, reason: str):
        super().__init__(reason)
        self.code = CloseCode(code)
        self.reason = reason


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StartMessage(_Message):
    type: Literal["start"]
    avatar: Optional[str] = Field(None, max_length=200, description="an id the server serves; default: its first")
    format: Literal["jpeg", "rgb"] = "jpeg"
    quality: int = Field(80, ge=10, le=100, description="JPEG quality")
    audio: Literal["s16le", "f32le"] = "s16le"
    seed: int = Field(0, ge=0, le=2**31 - 1, description="seed of the blinks, gaze and head motion")
    lead_s: float = Field(0.0, ge=0.0, le=1.0, description="the mouth's lead over its sound (0: lowest latency)")
    drive: Literal["speech", "video"] = Field(
        "speech", description="what the client sends: speech (PCM), or pictures of a face that drives the avatar's")


class PingMessage(_Message):
    type: Literal["ping"]


class StopMessage(_Message):
    type: Literal["stop"]


ClientText = Union[StartMessage, PingMessage, StopMessage]
_CLIENT_TEXT = TypeAdapter(ClientText)


class ReadyMessage(_Message):
    type: Literal["ready"] = "ready"
    protocol: int = PROTOCOL
    session: str
    avatar: str
    fps: float
    width: int
    height: int
    sample_rate: int = SAMPLE_RATE
    latency_s: float = Field(description="a frame is due this long after its time on the timeline")
    format: Literal["jpeg", "rgb"]
    audio: Literal["s16le", "f32le"]
    drive: Literal["speech", "video"] = "speech"
    limits: dict


class ErrorMessage(_Message):
    type: Literal["error"] = "error"
    code: int
    reason: str


class FrameHeader(_Message):
    type: Literal["frame"] = "frame"
    index: int
    time: float  # s, frame k at k / fps on the session's timeline
    audio_time: float  # s, where the audio carried starts (< time when frames were dropped before it)
    source: Optional[tuple[int, int]]  # the client's samples [a, b) in this frame's audio; None: filled silence
    activity: float  # the driver's speech activity, 0..1
    dropped: int  # frames dropped so far in this session (late renders and a full send queue)
    format: Literal["jpeg", "rgb"]
    width: int
    height: int
    audio_bytes: int
    image_bytes: int
    face: Optional[bool] = None  # drive "video": a face was found in the picture
    calibrating: Optional[bool] = None  # drive "video": the driver's neutral is still being learnt


def parse_text(text: str) -> ClientText:
    """A client's text message, validated (`Violation` BAD_MESSAGE otherwise)."""
    try:
        return _CLIENT_TEXT.validate_python(json.loads(text))
    except (ValueError, ValidationError) as e:  # JSONDecodeError is a ValueError
        first = e.errors()[0] if isinstance(e, ValidationError) else None
        what = f"{'.'.join(map(str, first['loc']))}: {first['msg']}" if first else f"not JSON ({e})"
        raise Violation(CloseCode.BAD_MESSAGE,
                        f"bad text message ({what}); expected "
                        '{"type": "start" | "ping" | "stop", ...} (see avatarzoo.serve.protocol)') from None


def decode_pcm(data: bytes, audio: Literal["s16le", "f32le"]) -> np.ndarray:
    """A client's binary message -> float32 samples in [-1, 1] (`Violation` otherwise)."""
    width = 2 if audio == "s16le" else 4
    if len(data) == 0 or len(data) % width:
        raise Violation(CloseCode.BAD_MESSAGE,
                        f"audio message of {len(data)} bytes: expected a non-empty multiple of {width} "
                        f"({audio} mono 16 kHz PCM)")
    if audio == "s16le":
        return np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    a = np.frombuffer(data, "<f4").astype(np.float32)
    if not np.isfinite(a).all():
        raise Violation(CloseCode.BAD_MESSAGE, "f32le audio holds NaN or infinite samples")
    return np.clip(a, -1.0, 1.0)


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header, without decoding it; None when `data`
    is not a JPEG with one (the markers up to the first SOFn are walked)."""
    if len(data) < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        (length,) = _U16.unpack_from(data, i + 2)
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if i + 9 > len(data):
                return None
            (h,), (w,) = _U16.unpack_from(data, i + 5), _U16.unpack_from(data, i + 7)
            return w, h
        if marker == 0xD9 or length < 2:
            return None
        i += 2 + length
    return None


def decode_picture(data: bytes, index: int) -> np.ndarray:
    """A client's picture (drive "video"; JPEG) -> RGB uint8 [H, W, 3] (`Violation`
    otherwise). Its size is read from its header first: a small file that says it is
    huge is refused before a pixel is decoded."""
    size = jpeg_size(data)
    if size is None:
        raise Violation(CloseCode.BAD_MESSAGE, f"picture {index}: {len(data)} bytes that are not a JPEG "
                                               '(with "drive": "video" every binary message is one JPEG picture)')
    w, h = size
    if not (0 < w <= MAX_PICTURE_SIDE and 0 < h <= MAX_PICTURE_SIDE):
        raise Violation(CloseCode.TOO_BIG, f"picture {index}: {w}×{h} px; at most {MAX_PICTURE_SIDE} px a side "
                                           "(320-640 px is plenty to track a face)")
    import cv2

    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # EXIF orientation applied
    if bgr is None or sorted(bgr.shape[:2]) != sorted((h, w)):
        raise Violation(CloseCode.BAD_MESSAGE, f"picture {index}: a JPEG header of {w}×{h} px whose data "
                                               "does not decode")
    return np.ascontiguousarray(bgr[..., ::-1])


def encode_pcm16(a: np.ndarray) -> bytes:
    return (np.clip(np.asarray(a, np.float32), -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def encode_frame(header: dict, audio: bytes, image: bytes) -> bytes:
    """One binary frame message (see the module docstring)."""
    h = FrameHeader(**header, audio_bytes=len(audio), image_bytes=len(image)).model_dump_json().encode()
    return b"".join((_LEN.pack(len(h)), h, audio, image))


def decode_frame(msg: bytes) -> tuple[FrameHeader, np.ndarray, bytes]:
    """A binary frame message -> (header, audio float32 [T] at 16 kHz, image bytes)."""
    if len(msg) < 4:
        raise ValueError(f"frame message of {len(msg)} bytes: too short")
    (n,) = _LEN.unpack_from(msg)
    header = FrameHeader.model_validate_json(msg[4:4 + n])
    a0 = 4 + n
    i0 = a0 + header.audio_bytes
    if i0 + header.image_bytes != len(msg):
        raise ValueError(f"frame message of {len(msg)} bytes; its header says {i0 + header.image_bytes}")
    audio = np.frombuffer(msg[a0:i0], "<i2").astype(np.float32) / 32768.0
    return header, audio, msg[i0:]
