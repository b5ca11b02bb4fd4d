"""Drive an avatar served by `avatarzoo serve` with a face on camera (or in a video
file): pictures go up as JPEG, the avatar's frames come back, one per picture.

    avatarzoo serve demo-v1 &                                   # http://127.0.0.1:8000/
    python examples/camera_client.py --camera 0 --seconds 20    # the webcam, in a window
    python examples/camera_client.py --video someone.mp4 --out out/   # a clip, frames saved

Look at the camera with a neutral face for the first second: the server learns it (the
avatar holds its own neutral meanwhile), then plays your blinks, brows, mouth and head
motion relative to it. Needs numpy, websockets and opencv-python. At most two pictures
are in flight: a camera faster than the server skips pictures rather than queueing them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import time
from pathlib import Path

import cv2
import numpy as np
import websockets

WIDTH = 320  # px: plenty to track a face, small to send
IN_FLIGHT = 2


def decode(msg: bytes) -> tuple[dict, np.ndarray]:
    """A frame message -> (its JSON header, the image as BGR uint8)."""
    (n,) = struct.unpack_from(">I", msg)
    header = json.loads(msg[4:4 + n])
    image = msg[4 + n + header["audio_bytes"]:]
    if header["format"] == "rgb":
        return header, np.frombuffer(image, np.uint8).reshape(header["height"], header["width"], 3)[..., ::-1]
    return header, cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)


async def run(url: str, source, seconds: float, out: Path | None, show: bool) -> dict:
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        raise SystemExit(f"cannot open {source!r} (a camera index or a video file)")
    async with websockets.connect(url, max_size=2**22) as ws:
        await ws.send(json.dumps({"type": "start", "drive": "video", "format": "jpeg"}))
        ready = json.loads(await ws.recv())
        if ready.get("type") != "ready":
            raise SystemExit(f"server: {ready}")
        print(f"{ready['avatar']}: {ready['width']}×{ready['height']} at {ready['fps']} fps")
        sent, answered, frames, t0 = 0, 0, 0, time.monotonic()
        sent_at: dict[int, float] = {}
        trips: list[float] = []

        async def receive():
            nonlocal answered, frames
            async for msg in ws:
                if isinstance(msg, str):
                    print("server:", msg)
                    continue
                h, image = decode(msg)
                k = h["source"][0]
                answered = max(answered, k + 1)  # pictures the server skipped are never answered
                if k in sent_at:
                    trips.append(time.monotonic() - sent_at.pop(k))
                frames += 1
                if out is not None:
                    cv2.imwrite(str(out / f"{h['index']:05d}.jpg"), image)
                if show:
                    cv2.imshow("avatar", image)
                    cv2.waitKey(1)

        reader = asyncio.ensure_future(receive())
        period = 1.0 / ready["fps"]
        while time.monotonic() - t0 < seconds:
            ok, picture = await asyncio.to_thread(cap.read)  # a camera's read waits for its next picture
            if not ok:
                break  # the file ended (a camera only fails when unplugged)
            if sent - answered < IN_FLIGHT:
                small = cv2.resize(picture, (WIDTH, round(WIDTH * picture.shape[0] / picture.shape[1])),
                                   interpolation=cv2.INTER_AREA)
                sent_at[sent] = time.monotonic()
                await ws.send(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
                sent += 1
            await asyncio.sleep(period if isinstance(source, str) else 0.001)  # a file plays in real time
        deadline = time.monotonic() + 5
        while answered < sent and time.monotonic() < deadline and not reader.done():
            await asyncio.sleep(0.01)
        await ws.send('{"type": "stop"}')
        await reader
    cap.release()
    return {"pictures": sent, "frames": frames,
            "round_trip_ms": round(1000 * float(np.median(trips)), 1) if trips else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--camera", type=int, help="camera index (0: the first webcam)")
    src.add_argument("--video", help="a video file of someone's face instead of a camera")
    ap.add_argument("--url", default="ws://127.0.0.1:8000/ws")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--out", type=Path, default=None, help="save the avatar's frames here as JPEG files")
    ap.add_argument("--show", action="store_true", help="show the avatar in a window")
    args = ap.parse_args()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    source = args.video if args.video is not None else args.camera
    print(json.dumps(asyncio.run(run(args.url, source, args.seconds, args.out, args.show))))


if __name__ == "__main__":
    main()
