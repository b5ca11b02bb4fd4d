"""A client of `avatarzoo serve` to copy into an application: connect, stream audio
(a WAV file, or the microphone) in real-time 40 ms chunks, receive frames with the sound
they go with.

    avatarzoo serve demo-v1 &                       # http://127.0.0.1:8000/
    python examples/client.py --audio data/speech-espeak.wav --out out/
    python examples/client.py --mic --seconds 10    # needs `pip install sounddevice`

It needs numpy and websockets only (and sounddevice for --mic). `out/` gets the frames
as JPEG files and `audio.wav`, the sound that came back with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import time
import wave
from pathlib import Path

import numpy as np
import websockets

SR = 16_000
CHUNK = 640  # 40 ms


def read_wav(path: str) -> np.ndarray:
    """A PCM WAV file -> float32 mono at 16 kHz (linear resampling: enough for speech)."""
    with wave.open(path) as w:
        rate, ch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    a = np.frombuffer(raw, {1: np.uint8, 2: "<i2", 4: "<i4"}[width]).astype(np.float32)
    a = (a - 128) / 128 if width == 1 else a / float(2 ** (8 * width - 1))
    a = a.reshape(-1, ch).mean(1)
    if rate != SR:
        a = np.interp(np.arange(0, len(a) / rate, 1 / SR), np.arange(len(a)) / rate, a).astype(np.float32)
    return a


def parse_frame(msg: bytes) -> tuple[dict, np.ndarray, bytes]:
    """(header, audio float32 [T] 16 kHz, image bytes) of one binary frame message."""
    (n,) = struct.unpack_from(">I", msg)
    header = json.loads(msg[4:4 + n])
    a0 = 4 + n
    audio = np.frombuffer(msg[a0:a0 + header["audio_bytes"]], "<i2").astype(np.float32) / 32768
    return header, audio, msg[a0 + header["audio_bytes"]:]


async def file_chunks(audio: np.ndarray):
    """40 ms chunks, each when it would be playing (real time)."""
    t0 = time.monotonic()
    for i in range(0, len(audio), CHUNK):
        await asyncio.sleep(max(0.0, t0 + i / SR - time.monotonic()))
        yield audio[i:i + CHUNK]


async def mic_chunks(seconds: float):
    import sounddevice as sd  # optional: only for --mic

    loop, q = asyncio.get_running_loop(), asyncio.Queue()
    with sd.InputStream(samplerate=SR, channels=1, dtype="float32", blocksize=CHUNK,
                        callback=lambda data, *_: loop.call_soon_threadsafe(q.put_nowait, data[:, 0].copy())):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            yield await q.get()


async def run(url: str, chunks, *, avatar: str | None, on_frame, tail_s: float = 1.0) -> dict:
    """Stream `chunks` (an async iterator of float32 16 kHz arrays) to the server at
    `url`; call `on_frame(header, audio, image)` for each frame; return the session's stats."""
    async with websockets.connect(url, max_size=2**22) as ws:
        await ws.send(json.dumps({"type": "start", "avatar": avatar, "format": "jpeg"}))
        ready = json.loads(await ws.recv())
        if ready["type"] != "ready":
            raise RuntimeError(f"server said {ready}")
        sent_at: list[tuple[int, float]] = []  # (first sample, send time) of each chunk
        latencies: list[float] = []
        frames = 0

        async def send() -> None:
            n = 0
            async for c in chunks:
                await ws.send((np.clip(c, -1, 1) * 32767).astype("<i2").tobytes())
                sent_at.append((n, time.monotonic()))
                n += len(c)
            await asyncio.sleep(ready["latency_s"] + tail_s)  # the last frames, then idle life
            await ws.send(json.dumps({"type": "stop"}))

        sender = asyncio.ensure_future(send())
        try:
            async for msg in ws:
                if isinstance(msg, str):
                    print("server:", msg)
                    continue
                header, audio, image = parse_frame(msg)
                frames += 1
                if header["source"]:  # the frame shows audio we sent: when did we send it?
                    first = header["source"][0]
                    for start, t in reversed(sent_at):
                        if start <= first:
                            latencies.append(time.monotonic() - t)
                            break
                on_frame(header, audio, image)
        finally:
            sender.cancel()
        lat = np.array(latencies) * 1000
        return {"ready": ready, "frames": frames, "close": (ws.close_code, ws.close_reason),
                "latency_ms_median": float(np.median(lat)) if len(lat) else None,
                "latency_ms_p99": float(np.percentile(lat, 99)) if len(lat) else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url", nargs="?", default="ws://127.0.0.1:8000/ws")
    ap.add_argument("--avatar", default=None, help="an id the server serves (default: its first)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--audio", help="a WAV file to stream")
    src.add_argument("--mic", action="store_true", help="stream the microphone")
    ap.add_argument("--seconds", type=float, default=10.0, help="with --mic: how long")
    ap.add_argument("--out", type=Path, default=None, help="write frames (JPEG) and audio.wav here")
    args = ap.parse_args()
    sound: list[np.ndarray] = []
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)

    def on_frame(header, audio, image):
        sound.append(audio)
        if args.out:
            (args.out / f"{header['index']:06d}.jpg").write_bytes(image)

    chunks = mic_chunks(args.seconds) if args.mic else file_chunks(read_wav(args.audio))
    stats = asyncio.run(run(args.url, chunks, avatar=args.avatar, on_frame=on_frame))
    if args.out and sound:
        with wave.open(str(args.out / "audio.wav"), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(SR)
            w.writeframes((np.concatenate(sound) * 32767).astype("<i2").tobytes())
    print(json.dumps({k: v for k, v in stats.items() if k != "ready"}, indent=1))


if __name__ == "__main__":
    main()
