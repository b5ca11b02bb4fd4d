"""Renders shared by the sessions of one avatar: one thread renders, batching the
requests that wait (one `Avatar.render` call for many sessions' frames).

On CUDA this is what serialises the GPU (one render at a time, as many frames as are
waiting in it); on CPU it keeps torch from running several renders on the same cores at
once, which is slower than one after the other. Each session keeps its own audio driver
stream (`LiveSession`), so a session's lateness never changes another's frames.

Shapes: D expression dim, Bp body points, S frame side.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

import numpy as np


class SharedRenderer:
    """Stands in for an `Avatar` inside `LiveSession`s and `ReenactSession`s: `driver`,
    `bundle`, `fps`, `size` are the avatar's; `render(e [n, D], p [n, 4, 4], b [n, Bp,
    2])` -> [n, S, S, 3] (or one frame: [D], [4, 4], [Bp, 2] -> [S, S, 3]) waits for the
    render thread, which joins every request waiting (up to `max_batch` frames)."""

    def __init__(self, avatar, *, max_batch: int = 16):
        self.avatar = avatar
        self.max_batch = max_batch
        self.renders = 0  # batched render calls made
        self.frames = 0  # frames rendered in them
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"render-{avatar.id}", daemon=True)
        self._thread.start()

    @property
    def driver(self):
        return self.avatar.driver

    @property
    def bundle(self):
        return self.avatar.bundle

    @property
    def id(self) -> str:
        return self.avatar.id

    @property
    def fps(self) -> float:
        return self.avatar.fps

    @property
    def size(self) -> int:
        return self.avatar.size

    def render(self, expression, pose, body) -> np.ndarray:
        e, p, b = (np.asarray(x, np.float32) for x in (expression, pose, body))
        single = e.ndim == 1
        if single:
            e, p, b = e[None], p[None], b[None]
        if e.ndim != 2 or p.shape != (len(e), 4, 4) or b.ndim != 3 or len(b) != len(e):
            raise ValueError(f"render: expected expression [n, D], pose [n, 4, 4], body [n, Bp, 2] (or one "
                             f"frame of each); got {e.shape}, {p.shape}, {b.shape}")
        done: Future = Future()
        self._q.put((e, p, b, done))
        images = done.result()
        return images[0] if single else images

    def close(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._q.get()
            if first is None:
                return
            jobs = [first]
            n = len(first[0])
            while n < self.max_batch:
                try:
                    job = self._q.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._q.put(None)  # close after this batch
                    break
                jobs.append(job)
                n += len(job[0])
            try:
                images = self.avatar.render(*(np.concatenate([j[i] for j in jobs]) for i in range(3)))
                images = images if images.ndim == 4 else images[None]
            except BaseException as e:  # noqa: BLE001 - handed to every waiting session
                for j in jobs:
                    j[3].set_exception(e)
                continue
            self.renders += 1
            self.frames += n
            at = 0
            for e, _, _, done in jobs:
                done.set_result(images[at:at + len(e)])
                at += len(e)
