"""Live sessions over WebSockets, each within its limits, none able to stall another.

One session = one WebSocket on a shared, batched renderer (batch.py): a `SpeechSession`
(speech in: the avatar's audio driver, `LiveSession` of runtime/stream.py) or a
`VideoSession` (pictures of a face in: reenactment, `ReenactSession` of drive/live.py).
Four tasks per session:

- receive: validates every message (`protocol.py`): sizes, types, rates; audio goes to
  an inbox (a picture to a one-picture slot); a bad message ends this session with a
  close code, never the server;
- pace: speech: sleeps until the next frame is due, then, off the event loop in the
  worker pool, feeds the inbox, polls the frame and encodes it; video: waits for a new
  picture, then in the pool decodes, reenacts, renders and encodes it; the frame goes to
  a bounded send queue, whose oldest frame is dropped when the client reads too slowly;
- send: sends queued frames; a send blocked for `send_timeout_s` (the client does not
  read) ends the session (watch sees it);
- watch: the idle and total-time limits, and the send timeout.

The first to end (or fail) ends the others; the slot is freed only once the session's
work in the pool has returned, so nothing outlives it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from avatarzoo.runtime.stream import LiveSession
from avatarzoo.serve.protocol import (SAMPLE_RATE, CloseCode, ErrorMessage, PingMessage, ReadyMessage,
                                      StartMessage, StopMessage, Violation, decode_pcm, decode_picture, encode_frame,
                                      encode_pcm16, parse_text)

log = logging.getLogger("avatarzoo.serve")


class Limits(BaseModel):
    """What one client may do, and how many may at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_sessions: int = Field(16, ge=1, description="sessions open at once (handshaking ones included)")
    max_message_bytes: int = Field(65_536, ge=1024, description="one binary message")
    max_text_bytes: int = Field(4096, ge=256, description="one text message")
    max_chunk_s: float = Field(1.0, gt=0, description="audio in one message")
    max_messages_per_s: float = Field(100.0, gt=0, description="messages a second, sustained (burst: one second's)")
    max_ahead_s: float = Field(2.0, gt=0, description="audio sent ahead of real time")
    start_timeout_s: float = Field(10.0, gt=0, description="from connecting to the start message")
    idle_timeout_s: float = Field(30.0, gt=0, description="with no message from the client")
    max_session_s: float = Field(3600.0, gt=0, description="one session in all")
    send_timeout_s: float = Field(5.0, gt=0, description="one frame's send blocked (the client does not read)")
    send_queue_frames: int = Field(8, ge=1, description="frames waiting to be sent; the oldest is dropped beyond")
    slack_s: float = Field(0.1, ge=0, le=2, description="LiveSession slack: network + render time before a frame is due")
    max_lag_s: float = Field(1.0, gt=0, description="new sessions are refused (4503) while a session's steps run this late")


class _ClientGone(Exception):
    pass


class _Stopped(Exception):
    pass


async def _ws_send(ws, data: bytes | str) -> None:
    """Send on `ws`; a connection the client (or the protocol layer, e.g. 1009) has closed
    meanwhile ends the session as "client gone", not as a server failure."""
    from starlette.websockets import WebSocketDisconnect

    try:
        await (ws.send_bytes(data) if isinstance(data, bytes) else ws.send_text(data))
    except (WebSocketDisconnect, OSError, RuntimeError):  # uvicorn: ClientDisconnected (OSError), or
        raise _ClientGone() from None                      # RuntimeError for a send after the close


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def encode_image(image: np.ndarray, fmt: str, quality: int) -> bytes:
    if fmt == "rgb":
        return np.ascontiguousarray(image, np.uint8).tobytes()
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


class Session:
    """One session: the receive, send and watch tasks every session has; what its binary
    messages are (`_take`) and when frames are made (`_pace`) are its kind's
    (`SpeechSession`, `VideoSession`)."""

    def __init__(self, manager: "SessionManager", ws, sid: str, start: StartMessage, renderer):
        self.m, self.ws, self.id, self.start = manager, ws, sid, start
        self.limits: Limits = manager.limits
        self.renderer = renderer
        self.outbox: asyncio.Queue[bytes] = asyncio.Queue(maxsize=self.limits.send_queue_frames)
        self.dropped_send = 0
        self.sent = 0
        loop = asyncio.get_running_loop()
        self.started = self.last_message = loop.time()
        self._tokens = self.limits.max_messages_per_s
        self._tokens_at = self.started
        self._inflight: Future | None = None
        self.lag_s = 0.0  # how late this session's steps start (smoothed): the server's load as it feels it
        self._sending_since: float | None = None  # when the frame being sent began to be

    @property
    def fps(self) -> float:
        return self.renderer.fps

    @property
    def latency_s(self) -> float:
        raise NotImplementedError

    def ready(self) -> ReadyMessage:
        return ReadyMessage(session=self.id, avatar=self.renderer.id, fps=self.fps, width=self.renderer.size,
                            height=self.renderer.size, latency_s=self.latency_s, format=self.start.format,
                            audio=self.start.audio, drive=self.start.drive, limits=self.limits.model_dump())

    def close(self) -> None:
        """After `run` (nothing of this session is in the pool any more)."""

    async def run(self) -> tuple[CloseCode | None, str]:
        """Until the client stops, leaves, breaks a limit, or the server shuts down:
        (close code or None when the client is gone, reason)."""
        tasks = [asyncio.ensure_future(c) for c in (self._receive(), self._pace(), self._send(), self._watch())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            pending = set(tasks)
            for _ in range(3):  # a task that swallowed one cancellation gets another
                for t in pending:
                    t.cancel()
                _, pending = await asyncio.wait(pending, timeout=5.0)
                if not pending:
                    break
            else:
                log.error("session %s: tasks that ignore cancellation: %s", self.id, pending)
            if self._inflight is not None and not self._inflight.done():
                await asyncio.wrap_future(self._inflight)  # the pool's work for this session returns first
        e = next(iter(done)).exception()
        if isinstance(e, Violation):
            return e.code, e.reason
        if isinstance(e, _ClientGone):
            return None, "client gone"
        if isinstance(e, _Stopped) or e is None:
            return CloseCode.NORMAL, "stopped"
        log.error("session %s failed", self.id, exc_info=e)
        return CloseCode.INTERNAL, f"the server failed on this session ({type(e).__name__}); others go on"

    # --- the four tasks ----------------------------------------------------------------

    async def _receive(self) -> None:
        while True:
            data = await receive(self.ws, self.limits)
            now = asyncio.get_running_loop().time()
            self.last_message = now
            self._rate(now)
            if isinstance(data, str):
                msg = parse_text(data)
                if isinstance(msg, StopMessage):
                    raise _Stopped()
                if isinstance(msg, PingMessage):
                    await _ws_send(self.ws, '{"type": "pong"}')
                    continue
                raise Violation(CloseCode.BAD_MESSAGE, "a second start message; one session per connection")
            self._take(data, now)

    def _take(self, data: bytes, now: float) -> None:
        """A binary message of the client's (received at loop time `now`)."""
        raise NotImplementedError

    async def _pace(self) -> None:
        raise NotImplementedError

    def _queue(self, messages: list[bytes]) -> None:
        for msg in messages:
            if self.outbox.full():  # the client reads too slowly: the oldest frame goes
                self.outbox.get_nowait()
                self.dropped_send += 1
            self.outbox.put_nowait(msg)

    def _rate(self, now: float) -> None:
        rate = self.limits.max_messages_per_s
        self._tokens = min(rate, self._tokens + (now - self._tokens_at) * rate) - 1
        self._tokens_at = now
        if self._tokens < 0:
            raise Violation(CloseCode.TOO_FAST, f"more than {rate:g} messages a second")

    async def _send(self) -> None:
        # the send timeout is kept by _watch, not asyncio.wait_for: on Python < 3.12 wait_for
        # can swallow a cancellation that arrives as the send completes, and this task then
        # waits on an empty queue forever
        loop = asyncio.get_running_loop()
        while True:
            msg = await self.outbox.get()
            self._sending_since = loop.time()
            await _ws_send(self.ws, msg)
            self._sending_since = None
            self.sent += 1

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        lim = self.limits
        while True:
            now = loop.time()
            idle_left = self.last_message + lim.idle_timeout_s - now
            total_left = self.started + lim.max_session_s - now
            sending = self._sending_since
            if sending is not None and now - sending > lim.send_timeout_s:
                raise Violation(CloseCode.NOT_READING,
                                f"a frame waited {lim.send_timeout_s} s to be sent: the client does not read "
                                f"({self.dropped_send} frames dropped before)")
            if idle_left <= 0:
                raise Violation(CloseCode.TIMEOUT, f"no message for {lim.idle_timeout_s} s "
                                                   '(send audio, or {"type": "ping"}, to keep the session)')
            if total_left <= 0:
                raise Violation(CloseCode.TIMEOUT, f"the session reached max_session_s = {lim.max_session_s} s")
            await asyncio.sleep(min(idle_left, total_left, 0.25))  # 0.25: a blocked send is seen soon enough


class SpeechSession(Session):
    """drive "speech": the client's PCM feeds the avatar's audio driver (`LiveSession`),
    whose clock says when each frame is due."""

    def __init__(self, manager: "SessionManager", ws, sid: str, start: StartMessage, renderer):
        super().__init__(manager, ws, sid, start, renderer)
        self.live = LiveSession(renderer, seed=start.seed, lead_s=start.lead_s, slack_s=self.limits.slack_s)
        self.inbox: list[np.ndarray] = []
        self.received_s = 0.0
        self.first_audio: float | None = None

    @property
    def fps(self) -> float:
        return self.live.fps

    @property
    def latency_s(self) -> float:
        return self.live.latency_s

    def _take(self, data: bytes, now: float) -> None:
        pcm = decode_pcm(data, self.start.audio)
        if len(pcm) > self.limits.max_chunk_s * SAMPLE_RATE:
            raise Violation(CloseCode.TOO_BIG, f"{len(pcm) / SAMPLE_RATE:.3f} s of audio in one message; "
                                               f"at most {self.limits.max_chunk_s} s (send 20-40 ms chunks)")
        self.first_audio = now if self.first_audio is None else self.first_audio
        self.received_s += len(pcm) / SAMPLE_RATE
        ahead = self.received_s - (now - self.first_audio)
        if ahead > self.limits.max_ahead_s:
            raise Violation(CloseCode.TOO_FAST, f"audio {ahead:.1f} s ahead of real time; at most "
                                                f"{self.limits.max_ahead_s} s (send it as it plays)")
        self.inbox.append(pcm)

    async def _pace(self) -> None:
        while True:
            delay = self.live.next_due_at() - self.live.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            chunks, self.inbox = self.inbox, []
            due_at = self.live.next_due_at()
            self._inflight = self.m.pool.submit(self._step, chunks, due_at)
            self._queue(await asyncio.wrap_future(self._inflight))

    def _step(self, chunks: list[np.ndarray], due_at: float) -> list[bytes]:
        """In the pool: feed, poll, encode (the session's only toucher of its LiveSession)."""
        live = self.live
        self.lag_s = 0.8 * self.lag_s + 0.2 * max(0.0, live.clock() - due_at)
        for c in chunks:
            live.feed(c)
        out = []
        for f in live.poll():
            skipped = live.skipped_audio
            first = f.index - round(len(skipped) * live.fps / SAMPLE_RATE)
            header = dict(index=f.index, time=f.time, audio_time=f.time - len(skipped) / SAMPLE_RATE,
                          source=live.source_of(f.index, since=first), activity=f.activity,
                          dropped=live.stats.dropped + self.dropped_send, format=self.start.format,
                          width=f.image.shape[1], height=f.image.shape[0])
            audio = np.concatenate([skipped, f.audio]) if len(skipped) else f.audio
            out.append(encode_frame(header, encode_pcm16(audio),
                                    encode_image(f.image, self.start.format, self.start.quality)))
        return out


class VideoSession(Session):
    """drive "video": each picture the client sends (its face: a webcam) drives the
    avatar's face and head through `drive.live.ReenactSession`, relative to the driver's
    own neutral (learnt over its first second of faces). The newest picture is worked on;
    those that arrive meanwhile are dropped (counted in `dropped`). No clock of its own:
    a frame goes out as soon as its picture is rendered."""

    def __init__(self, manager: "SessionManager", ws, sid: str, start: StartMessage, renderer):
        from avatarzoo.drive.live import check_live_space
        from avatarzoo.errors import SpaceError

        try:
            check_live_space(renderer)
        except SpaceError as e:  # this avatar, not the client: said before the session starts
            raise Violation(CloseCode.BAD_MESSAGE, f"{renderer.id} cannot be driven by a camera: {e}") from None
        super().__init__(manager, ws, sid, start, renderer)
        self.reenact = None  # made in the pool with the first picture (MediaPipe's start-up is not the loop's)
        self.pictures = 0  # received
        self.dropped_in = 0  # replaced by a newer one before they were worked on
        self.frames = 0  # sent back
        self._latest: tuple[int, bytes, float] | None = None
        self._arrived = asyncio.Event()

    @property
    def latency_s(self) -> float:
        return 0.0  # nothing waits for the future: a frame is due when its picture has been rendered

    def _take(self, data: bytes, now: float) -> None:
        if self._latest is not None:
            self.dropped_in += 1
        self._latest = (self.pictures, data, now)
        self.pictures += 1
        self._arrived.set()

    async def _pace(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            (k, data, at), self._latest = self._latest, None
            self._inflight = self.m.pool.submit(self._step, k, data, at)
            self._queue(await asyncio.wrap_future(self._inflight))

    def _step(self, k: int, data: bytes, at: float) -> list[bytes]:
        """In the pool: decode picture k, reenact, encode (the only toucher of `reenact`)."""
        self.lag_s = 0.8 * self.lag_s + 0.2 * max(0.0, time.monotonic() - at)  # the loop's clock
        picture = decode_picture(data, k)
        if self.reenact is None:
            from avatarzoo.drive.live import ReenactSession

            self.reenact = ReenactSession(self.renderer, fps=self.renderer.fps)
        try:
            f = self.reenact.push(picture)
        except ValueError as e:  # e.g. the pictures changed size: one camera per session
            raise Violation(CloseCode.BAD_MESSAGE, str(e)) from None
        t = k / self.renderer.fps
        header = dict(index=self.frames, time=t, audio_time=t, source=(k, k + 1), activity=0.0,
                      dropped=self.dropped_in + self.dropped_send, format=self.start.format,
                      width=f.image.shape[1], height=f.image.shape[0], face=f.face, calibrating=f.calibrating)
        self.frames += 1
        return [encode_frame(header, b"", encode_image(f.image, self.start.format, self.start.quality))]

    def close(self) -> None:
        if self.reenact is not None:
            self.reenact.close()


async def receive(ws, limits: Limits) -> bytes | str:
    """The next message (bytes or text), within the size limits."""
    msg = await ws.receive()
    if msg["type"] == "websocket.disconnect":
        raise _ClientGone()
    data = msg.get("bytes")
    if data is not None:
        if len(data) > limits.max_message_bytes:
            raise Violation(CloseCode.TOO_BIG,
                            f"binary message of {len(data)} bytes; at most {limits.max_message_bytes}")
        return data
    text = msg.get("text") or ""
    if len(text) > limits.max_text_bytes:
        raise Violation(CloseCode.TOO_BIG, f"text message of {len(text)} characters; at most {limits.max_text_bytes}")
    return text


class SessionManager:
    """The sessions of one app: slots, the shared renderers, the worker pool, counts."""

    def __init__(self, renderers: dict, limits: Limits, *, workers: int | None = None):
        self.renderers = renderers  # id -> batch.SharedRenderer
        self.limits = limits
        workers = workers or max(2, min(8, os.cpu_count() or 2))
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="avatarzoo-live")
        self.open: dict[str, Session] = {}
        self.slots = 0  # connections holding a slot (handshaking or live)
        self.opened = 0
        self.closed: Counter[str] = Counter()  # close code (or "gone") -> count
        self.peak = 0
        self._ids = itertools.count(1)
        self.started = time.time()

    def health(self) -> dict:
        return {"status": "ok", "avatars": list(self.renderers), "sessions": len(self.open), "slots": self.slots,
                "drives": dict(Counter(s.start.drive for s in self.open.values())),
                "max_sessions": self.limits.max_sessions, "opened": self.opened, "peak": self.peak,
                "lag_s": round(max((s.lag_s for s in self.open.values()), default=0.0), 3),
                "closed": dict(self.closed), "tasks": len(asyncio.all_tasks()), "threads": threading.active_count(),
                "rss_mb": _rss_mb(), "uptime_s": round(time.time() - self.started, 1)}

    async def handle(self, ws) -> None:
        """One WebSocket connection, start to close."""
        await ws.accept()
        lag = max((s.lag_s for s in self.open.values()), default=0.0)
        if self.slots >= self.limits.max_sessions or lag > self.limits.max_lag_s:
            why = (f"{self.limits.max_sessions} sessions are open" if self.slots >= self.limits.max_sessions else
                   f"the server is overloaded (sessions run {lag:.1f} s late)")
            await _close(ws, CloseCode.FULL, f"{why}; try again later")
            self.closed[str(int(CloseCode.FULL))] += 1
            return
        self.slots += 1
        self.peak = max(self.peak, self.slots)
        session = None
        code, reason = None, "client gone"
        try:
            try:
                start = await self._start(ws)
                kind = VideoSession if start.drive == "video" else SpeechSession
                session = kind(self, ws, f"s{next(self._ids)}", start, self.renderers[start.avatar])
                self.open[session.id] = session
                self.opened += 1
                await _ws_send(ws, session.ready().model_dump_json())
                code, reason = await session.run()
            except Violation as e:
                code, reason = e.code, e.reason
            except _ClientGone:
                pass
            except Exception as e:  # noqa: BLE001 - one session's failure is not the server's
                log.exception("session failed to start")
                code, reason = CloseCode.INTERNAL, f"the server failed to start this session ({type(e).__name__})"
            if code is not None:
                await _close(ws, code, reason)
        finally:
            self.closed["gone" if code is None else str(int(code))] += 1
            if session is not None:
                self.open.pop(session.id, None)
                session.close()
            self.slots -= 1

    async def _start(self, ws) -> StartMessage:
        try:
            data = await asyncio.wait_for(receive(ws, self.limits), self.limits.start_timeout_s)
        except asyncio.TimeoutError:
            raise Violation(CloseCode.TIMEOUT, f"no start message within {self.limits.start_timeout_s} s") from None
        if not isinstance(data, str):
            raise Violation(CloseCode.BAD_MESSAGE, 'the first message must be text: {"type": "start", ...}')
        msg = parse_text(data)
        if not isinstance(msg, StartMessage):
            raise Violation(CloseCode.BAD_MESSAGE, f'the first message must be {{"type": "start"}}, not {msg.type!r}')
        avatar = msg.avatar or next(iter(self.renderers))
        if avatar not in self.renderers:
            import difflib

            near = difflib.get_close_matches(avatar, list(self.renderers), n=1)
            raise Violation(CloseCode.UNKNOWN_AVATAR, f"no avatar {avatar!r} here" +
                            (f"; did you mean {near[0]!r}?" if near else f"; served: {', '.join(self.renderers)}"))
        return msg.model_copy(update={"avatar": avatar})

    def shutdown(self) -> None:
        """After the server has closed its connections (their sessions end with them)."""
        self.pool.shutdown(wait=True, cancel_futures=True)


async def _close(ws, code: CloseCode, reason: str) -> None:
    """Tell the client why (a text message, then the close code), without waiting on a
    client that does not read for more than a second each."""
    try:
        if code != CloseCode.NORMAL:
            await asyncio.wait_for(ws.send_text(ErrorMessage(code=int(code), reason=reason).model_dump_json()), 1.0)
        await asyncio.wait_for(ws.close(int(code), reason.encode()[:120].decode("utf-8", "ignore")), 1.0)
    except Exception:  # noqa: BLE001 - the connection is already gone or stuck: nothing more to tell
        pass
