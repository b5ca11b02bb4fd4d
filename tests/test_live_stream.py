"""What the server needs of `LiveSession` beyond frames on the clock: which fed samples
each frame's audio holds (`source_of`), the audio of frames a late poll dropped
(`skipped_audio`), and `Avatar.astream`. Pacing on a fake clock: no timing assumed."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from _serve_helpers import speech


@pytest.fixture(scope="module")
def avatar(smoke_build):
    import avatarzoo

    cache, _ = smoke_build
    return avatarzoo.load(cache / "bundles" / "demo-v1")


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_frames_say_which_fed_samples_they_hold_and_dropped_audio_is_kept(avatar):
    from avatarzoo.runtime.stream import LiveSession

    clock = Clock()
    live = LiveSession(avatar, clock=clock)
    per = int(16000 / live.fps)
    sent = speech(1.2)
    clock.t = live.next_due_at()
    first = live.poll()  # due before any audio: filled silence
    assert len(first) == 1 and live.source_of(first[0].index) is None and not first[0].audio.any()
    live.feed(sent)
    got, skipped_total = [], 0
    for step in range(60):
        clock.t += (1 if step != 10 else 6) / live.fps  # on time, except one poll 5 frames late
        frames = live.poll()
        assert len(frames) == 1
        f = frames[0]
        lost = len(live.skipped_audio)
        if step == 10:
            assert lost == 5 * per and live.stats.dropped == 5
        else:
            assert lost == 0
        skipped_total += lost
        src = live.source_of(f.index, since=f.index - lost // per)
        if src is not None:
            a, b = src
            audio = np.concatenate([live.skipped_audio, f.audio])
            assert b - a <= len(audio)
            assert np.array_equal(audio[len(audio) - (b - a):] if got else audio[:b - a], sent[a:b]) or \
                np.array_equal(audio[:b - a], sent[a:b])
            got.append(src)
    # the sources tile the audio fed: nothing lost, nothing twice, dropped frames included
    assert got[0][0] == 0 and got[-1][1] == len(sent)
    assert all(x[1] == y[0] for x, y in zip(got, got[1:]))
    assert skipped_total == 5 * per


def test_astream_paces_frames_for_async_chunks_and_idles_after(avatar):
    sent = speech(0.4)

    async def chunks():
        for i in range(0, len(sent), 640):
            yield sent[i:i + 640]
            await asyncio.sleep(0)

    async def take(n):
        out = []
        async for f in avatar.astream(chunks(), slack_s=0.05):
            out.append(f)
            if len(out) == n:
                break
        return out

    frames = asyncio.run(take(30))  # 0.4 s of speech, then idle life
    assert [f.index for f in frames] == sorted({f.index for f in frames})
    assert all(f.image.shape == (avatar.size, avatar.size, 3) for f in frames)
    assert sum(len(f.audio) for f in frames) <= 30 * 640
    assert any(f.audio.any() for f in frames) and not frames[-1].audio.any()
