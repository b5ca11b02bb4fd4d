"""In-process live avatar, for an engine that renders itself (a game loop, a call
stack's video track, an assistant that already owns its audio): no server, no network.

    python examples/in_process.py demo-v1 --audio data/speech-espeak.wav --out live.mp4

Two ways, both paced on the clock with idle life when no audio comes:
- pull (`avatar.live()`): the engine feeds audio when it has some and polls frames on
  its own clock: a `LiveSession` is not thread-safe, so one thread owns feed and poll;
- async (`avatar.astream(chunks)`): an async iterator of frames for an async iterator
  of audio chunks; rendering runs off the event loop.
Each `Frame` carries `time` (s on the session's timeline), `image` (H×W×3 uint8) and
`audio` (the 16 kHz samples it goes with); `session.source_of(frame.index)` says which
of the fed samples those are.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np

import avatarzoo
from avatarzoo.drivers.audio import read_audio

CHUNK = 640  # 40 ms at 16 kHz


def pull(avatar, audio: np.ndarray, seconds: float):
    """The engine's loop: audio in as it 'arrives' (here: a file, in real time)."""
    session = avatar.live(slack_s=0.1)
    frames, fed, t0 = [], 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        heard = int((time.monotonic() - t0) * 16000)  # what a microphone would have delivered by now
        if fed < min(heard, len(audio)):
            session.feed(audio[fed:min(heard, len(audio))])
            fed = min(heard, len(audio))
        frames += session.poll()  # the frames due now (none, or one; late ones dropped)
        time.sleep(max(0.0, session.next_due_at() - time.monotonic()))
    print(f"pull: {len(frames)} frames, {session.stats.dropped} dropped, latency {session.latency_s * 1000:.0f} ms")
    return frames


async def push(avatar, audio: np.ndarray, seconds: float):
    async def chunks():
        t0 = time.monotonic()
        for i in range(0, len(audio), CHUNK):
            await asyncio.sleep(max(0.0, t0 + i / 16000 - time.monotonic()))
            yield audio[i:i + CHUNK]

    frames, t0 = [], time.monotonic()
    async for frame in avatar.astream(chunks()):
        frames.append(frame)
        if time.monotonic() - t0 > seconds:
            break  # the stream idles on after the audio: the consumer decides when it ends
    print(f"async: {len(frames)} frames")
    return frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("avatar", help="an id, a bundle directory or a Hub name")
    ap.add_argument("--audio", required=True)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--mode", choices=["pull", "async"], default="pull")
    ap.add_argument("--out", default=None, help="write the frames with their audio to this video")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # one render at a time on few cores: more threads only contend
    avatar = avatarzoo.load(args.avatar)
    audio = read_audio(args.audio)
    frames = pull(avatar, audio, args.seconds) if args.mode == "pull" else asyncio.run(push(avatar, audio, args.seconds))
    if args.out and frames:
        from avatarzoo.media import write_video

        # dropped frames leave gaps: hold the previous picture so the video keeps the clock
        fps, last, images = avatar.fps, frames[0].image, []
        by_index = {f.index: f for f in frames}
        for k in range(frames[0].index, frames[-1].index + 1):
            last = by_index[k].image if k in by_index else last
            images.append(last)
        sound = np.concatenate([by_index[k].audio if k in by_index else np.zeros(int(16000 / fps), np.float32)
                                for k in range(frames[0].index, frames[-1].index + 1)])
        print("wrote", write_video(args.out, iter(images), fps=fps, audio=sound, sample_rate=16000))


if __name__ == "__main__":
    main()
