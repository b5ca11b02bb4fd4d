"""Shared by serve_latency.py and serve_load.py: the real server as a subprocess on
127.0.0.1 (`python -m avatarzoo.cli serve`), health, speech, frame parsing."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "data" / "speech-espeak.wav"
SR, CHUNK = 16_000, 640


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_speech() -> np.ndarray:
    with wave.open(str(SPEECH)) as w:
        assert w.getframerate() == SR and w.getsampwidth() == 2, "speech-espeak.wav: 16 kHz 16-bit expected"
        a = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels()).mean(1)
    return (a / 32768).astype(np.float32)


def frame_header(msg: bytes) -> dict:
    (n,) = struct.unpack_from(">I", msg)
    return json.loads(msg[4:4 + n])


class Server:
    """`avatarzoo serve AVATAR ...` in a subprocess until closed."""

    def __init__(self, avatar: str, *, cache: str | None, device: str, extra: list[str] = (), log: Path | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"ws://127.0.0.1:{self.port}/ws"
        cmd = [sys.executable, "-m", "avatarzoo.cli", "serve", avatar, "--host", "127.0.0.1", "--port",
               str(self.port), "--device", device, *extra]
        if cache:
            cmd += ["--cache", cache]
        self.log = open(log or os.devnull, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while True:
            try:
                self.health()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start: {' '.join(cmd)} (see {log})")
                time.sleep(0.2)

    def health(self) -> dict:
        with urllib.request.urlopen(self.base + "/health", timeout=10) as r:
            return json.loads(r.read())

    def close(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self.log.close()
