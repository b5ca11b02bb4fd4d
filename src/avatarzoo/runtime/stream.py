"""Live use: audio arrives when it arrives, frames leave on the clock.

`LiveSession` keeps one timeline per conversation, on the audio's clock: sample i of
the timeline plays at `start + i / 16000` wall-clock seconds. Frame k (its sound
[k / fps, (k + 1) / fps) of the timeline) is due at `start + k / fps + latency`, where
`latency` is what the driver needs after a frame's time (its lookahead and lead) plus
`slack` for the network and the render. At each `poll(now)`:

- frames that are due are rendered; the audio they need that has not arrived is
  silence (the avatar idles: blinks, small motion, a closed mouth), and audio that
  arrives later is played from where the timeline then is — a late client loses
  nothing but its place, and the picture never freezes or drifts;
- a consumer that polls late gets only the newest due frame rendered: the older due
  ones are skipped (their audio still plays) and counted in `dropped`, so a slow
  consumer sees a lower frame rate, not a growing delay.

Every frame carries its timeline time and its audio (`runtime.speech.Frame`);
`source_of(k)` says which of the samples fed (counted from the first `feed`) frame k's
audio came from, so that a client can match its frames to the audio it sent, and
`skipped_audio` after a poll holds the audio of the frames that poll dropped (a player
keeps the sound whole when it loses pictures). `Avatar.astream(...)` wraps a session
as an async iterator for servers (`live_frames`).

Shapes: S frame side.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import numpy as np

from avatarzoo.runtime.speech import SAMPLE_RATE, Frame

AHEAD_S = 0.5  # audio put on the timeline ahead of the frames due (a client sending faster than real time)


@dataclass
class LiveStats:
    frames: int = 0  # rendered and returned
    dropped: int = 0  # due but skipped (the consumer was late)
    silence_s: float = 0.0  # timeline seconds filled with silence (no audio had arrived)
    audio_s: float = 0.0  # seconds of audio received


@dataclass
class LiveSession:
    """One live stream of an avatar (see the module docstring). Not thread-safe: one
    owner calls `feed` and `poll` (a server runs both on its worker)."""

    avatar: object
    seed: int = 0
    lead_s: float = 0.0  # the mouth's lead over its sound; 0 for the lowest latency
    slack_s: float = 0.1
    clock: Callable[[], float] = time.monotonic
    stats: LiveStats = field(default_factory=LiveStats)

    def __post_init__(self) -> None:
        d = self.avatar.driver
        self.fps = d.fps
        self.stream = d.stream(seed=self.seed, lead_s=self.lead_s)
        self.latency_s = d.latency_s(self.lead_s) + self.slack_s
        self.start = self.clock()
        self._pending: list[np.ndarray] = []  # audio received, not yet on the timeline
        self._timeline: list[np.ndarray] = []  # audio on the timeline, not yet handed out with a frame
        self._timeline_start = 0  # timeline sample of _timeline[0][0]
        self._fed = 0  # samples on the timeline
        self._motion = None  # driver frames computed, not yet emitted: a Motion
        self._next = 0  # next frame index to emit
        self._placed: list[tuple[int, int, int]] = []  # (timeline sample, fed sample, n): fed audio on the timeline
        self._consumed = 0  # fed samples moved onto the timeline
        self._polled_from = 0  # the first frame of the last poll (kept or dropped)
        self.skipped_audio = np.zeros(0, np.float32)  # the audio of the frames the last poll dropped

    # --- input ----------------------------------------------------------------------

    def feed(self, pcm: np.ndarray) -> None:
        """Audio received (float32 16 kHz mono, any length)."""
        a = np.asarray(pcm, np.float32).reshape(-1)
        if not np.isfinite(a).all():
            raise ValueError("pcm: samples must be finite floats in [-1, 1]")
        self._pending.append(np.clip(a, -1, 1))
        self.stats.audio_s += len(a) / SAMPLE_RATE

    # --- output ---------------------------------------------------------------------

    def due(self, now: float | None = None) -> int:
        """How many frames are due at `now` (since the session started)."""
        now = self.clock() if now is None else now
        return max(0, int(math.floor((now - self.start - self.latency_s) * self.fps)) + 1)

    def next_due_at(self) -> float:
        """Wall-clock time at which the next frame is due."""
        return self.start + self.latency_s + self._next / self.fps

    def poll(self, now: float | None = None) -> list[Frame]:
        """The frames due by `now`: at most one rendered when the consumer is late
        (the rest dropped), all of them when it is on time."""
        now = self.clock() if now is None else now
        due = self.due(now)
        if due <= self._next:
            return []
        self._advance_timeline(due, now)
        motion = self._take(due - self._next)
        first = self._next
        self._polled_from = first
        self._next = due
        keep = np.arange(len(motion))
        self.skipped_audio = np.zeros(0, np.float32)
        if len(motion) > 1:  # late: only the newest frame is worth showing
            self.stats.dropped += len(motion) - 1
            keep = keep[-1:]
            self.skipped_audio = self._audio_span(first, due - 2)
        frames = []
        images = self.avatar.render(motion.expression[keep], motion.pose[keep], motion.body[keep])
        for j, image in zip(keep, images):
            k = first + int(j)
            frames.append(Frame(k, k / self.fps, image, self._audio_of(k), motion.expression[j],
                                float(motion.activity[j])))
        self._forget_audio(due)
        self.stats.frames += len(frames)
        return frames

    def source_of(self, k: int, since: int | None = None) -> tuple[int, int] | None:
        """The samples fed (counted from the first `feed`, end exclusive) that the audio
        of frames `since`..k (default: k alone) holds, or None when it is all silence
        the session filled in. Known for the frames of the last poll, until the next."""
        a = int(round((k if since is None else since) * SAMPLE_RATE / self.fps))
        b = int(round((k + 1) * SAMPLE_RATE / self.fps))
        lo = hi = None
        for t0, f0, n in self._placed:
            s, e = max(a, t0), min(b, t0 + n)
            if s < e:
                lo = f0 + s - t0 if lo is None else lo
                hi = f0 + e - t0
        return None if lo is None else (lo, hi)

    # --- internals --------------------------------------------------------------------

    def _advance_timeline(self, due: int, now: float) -> None:
        """Put received audio on the timeline until the driver has every frame due (and
        at most AHEAD_S more), then silence where it still lacks audio."""
        horizon = int(((due - 1) / self.fps + self.latency_s + AHEAD_S) * SAMPLE_RATE)
        if self._pending and self._fed < horizon:  # all that fits, in one push: the driver's cost is per call
            a = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
            room = horizon - self._fed
            self._pending = [a[room:]] if len(a) > room else []
            a = a[:room]
            self._placed.append((self._fed, self._consumed, len(a)))
            self._consumed += len(a)
            self._push(a)
        hop = SAMPLE_RATE // 100
        per_frame = int(SAMPLE_RATE / self.fps)
        while self._buffered() < due - self._next:
            # a late poll's silence in one block (each frame's worth completes one frame once the
            # lookahead is heard), the last frame's by hops: never more silence than hop by hop
            n = max(hop, (due - self._next - self._buffered() - 1) * per_frame)
            self.stats.silence_s += n / SAMPLE_RATE
            self._push(np.zeros(n, np.float32))

    def _buffered(self) -> int:
        return 0 if self._motion is None else len(self._motion)

    def _push(self, a: np.ndarray) -> None:
        from avatarzoo.drivers.runtime import Motion

        self._timeline.append(a)
        self._fed += len(a)
        m = self.stream.push(a)
        self._motion = m if self._motion is None else Motion.concat([self._motion, m])

    def _take(self, n: int):
        from avatarzoo.drivers.runtime import Motion

        m = self._motion
        fields = ("expression", "pose", "body", "time", "activity")
        head = Motion(*(getattr(m, f)[:n] for f in fields))
        self._motion = Motion(*(getattr(m, f)[n:] for f in fields))
        return head

    def _audio_of(self, k: int) -> np.ndarray:
        return self._audio_span(k, k)

    def _audio_span(self, k0: int, k1: int) -> np.ndarray:
        """The timeline audio of frames k0..k1 (inclusive)."""
        a = int(round(k0 * SAMPLE_RATE / self.fps)) - self._timeline_start
        b = int(round((k1 + 1) * SAMPLE_RATE / self.fps)) - self._timeline_start
        buf = np.concatenate(self._timeline) if len(self._timeline) != 1 else self._timeline[0]
        self._timeline = [buf]
        return buf[max(a, 0):max(b, 0)].copy()

    def _forget_audio(self, upto_frame: int) -> None:
        cut = int(round(upto_frame * SAMPLE_RATE / self.fps)) - self._timeline_start
        if cut > 0 and self._timeline:
            buf = np.concatenate(self._timeline)
            self._timeline = [buf[cut:]]
            self._timeline_start += min(cut, len(buf))
        # keep the placements that reach the frames of this poll (source_of)
        keep_from = int(round(self._polled_from * SAMPLE_RATE / self.fps))
        self._placed = [p for p in self._placed if p[0] + p[2] > keep_from]


async def live_frames(session: LiveSession, chunks: AsyncIterator[np.ndarray]) -> AsyncIterator[Frame]:
    """Frames on the clock while `chunks` of audio arrive (and idle life after they
    end, until the consumer stops iterating). Rendering runs off the event loop."""
    loop = asyncio.get_running_loop()
    done = False

    async def receive() -> None:
        nonlocal done
        async for chunk in chunks:
            session.feed(chunk)
        done = True

    receiver = asyncio.ensure_future(receive())
    try:
        while True:
            await asyncio.sleep(max(0.0, session.next_due_at() - session.clock()))
            for frame in await loop.run_in_executor(None, session.poll):
                yield frame
            if receiver.done() and receiver.exception() is not None:
                raise receiver.exception()
    finally:
        receiver.cancel()
