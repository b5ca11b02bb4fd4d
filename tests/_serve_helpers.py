"""Helpers of the serve tests: the app under a real uvicorn on 127.0.0.1 in a thread, a
client that never reads, reading health, speech made of the demo recording's words."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "data" / "speech-espeak.wav"


def speech(seconds: float, start: float = 0.5) -> np.ndarray:
    """`seconds` of data/speech-espeak.wav from `start` (its first words begin at 0.5 s)."""
    from avatarzoo.drivers.audio import read_audio

    return read_audio(SPEECH)[int(start * 16000):int((start + seconds) * 16000)]


class LiveServer:
    """`app` served by uvicorn (websockets protocol, as `avatarzoo serve` runs it)."""

    def __init__(self, app, *, ws_max_size: int = 2**17):
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        config = uvicorn.Config(app, log_level="warning", access_log=False, ws="websockets-sansio",
                                ws_max_size=ws_max_size, timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def health(self) -> dict:
        with urllib.request.urlopen(self.base + "/health", timeout=10) as r:
            return json.loads(r.read())

    def wait_health(self, ok, timeout: float = 20.0) -> dict:
        """Health once `ok(health)` holds (the server's view after a close settles)."""
        deadline = time.monotonic() + timeout
        while True:
            h = self.health()
            if ok(h) or time.monotonic() > deadline:
                return h
            time.sleep(0.05)


def never_reading_client(port: int, start: dict) -> socket.socket:
    """A WebSocket client (raw socket, a tiny receive buffer) that sends its start
    message and then never reads again."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)  # byte by byte: nothing after the handshake is read
    assert head.startswith(b"HTTP/1.1 101"), head
    payload = json.dumps(start).encode()
    mask = os.urandom(4)
    s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    return s


def pcm16(a: np.ndarray) -> bytes:
    return (np.clip(a, -1, 1) * 32767).astype("<i2").tobytes()


__all__ = ["LiveServer", "never_reading_client", "pcm16", "speech", "struct"]
