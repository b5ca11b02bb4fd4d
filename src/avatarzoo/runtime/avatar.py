"""The Avatar: a loaded bundle that renders full frames.

Shapes: D expression dim, Bp upper-body points, S frame side.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from avatarzoo.bundle.io import Bundle, read_bundle
from avatarzoo.errors import AvatarZooError
from avatarzoo.spaces.space import ExpressionSpace

if TYPE_CHECKING:
    import torch


class Avatar:
    """Renders frames from expressions (and optionally head pose and upper body).

    `compile=True` asks the renderer for its compiled fast path (the Gaussian renderer:
    torch.compile of the per-frame Gaussians inside its CUDA graph, CUDA only, eager
    where it cannot compile; each new batch size compiles once, 13 s on an H200; 512² at
    batch 1: 854 → 1,362 fps, BENCHMARKS.md). The argument is passed to the renderer
    kind only when set, so kinds without a fast path need not accept it."""

    def __init__(self, bundle: Bundle, *, device: str = "cpu", compile: bool = False):
        import torch

        from avatarzoo.kinds import get_kind

        self.bundle = bundle
        self.device = torch.device(device)
        self.space = ExpressionSpace.from_json(bundle.metadata["avatarzoo.space"])
        self.fps = float(bundle.metadata["avatarzoo.fps"])
        renderer = get_kind("renderer", bundle.metadata["avatarzoo.renderer"]).load("runtime")
        fast = {"compile": True} if compile else {}  # an optional part of the renderer contract
        self.renderer = renderer.from_tensors(
            bundle.tensors("renderer."), bundle.config["renderer"], device=str(self.device), **fast
        )
        self._t = {k: v.to(self.device) for k, v in bundle.tensors().items()
                   if k.startswith(("tracking.", "demo."))}
        self._driver = None

    @property
    def id(self) -> str:
        return self.bundle.id

    @property
    def size(self) -> int:
        return self.renderer.size

    def __repr__(self) -> str:
        return f"Avatar({self.id!r}, space={self.space.name}, size={self.size}, device={self.device})"

    def _batch(self, x, name: str, tail: tuple[int, ...], default: "torch.Tensor") -> "torch.Tensor":
        import torch

        t = default if x is None else torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x)
        t = t.to(self.device, torch.float32)
        if t.shape == tail:
            t = t[None]
        if t.ndim != len(tail) + 1 or tuple(t.shape[1:]) != tail:
            raise ValueError(f"{name}: expected shape {tail} or [B, {', '.join(map(str, tail))}], got {tuple(t.shape)}")
        return t

    def render(self, expression=None, pose=None, body=None) -> np.ndarray:
        """Full frames, uint8: [S, S, 3] for one expression [D], [B, S, S, 3] for [B, D].

        `pose` [4, 4] (head: canonical → camera) and `body` [Bp, 2] (upper-body points in
        pixels) default to the recording's neutral ones.
        """
        single = expression is None or np.ndim(expression) == 1
        e = self._batch(expression, "expression", (self.space.dim,), self._t["tracking.expression_mean"])
        p = self._batch(pose, "pose", (4, 4), self._t["tracking.pose_neutral"])
        b_default = self._t["tracking.body_neutral"]
        b = self._batch(body, "body", tuple(b_default.shape), b_default)
        n = max(len(e), len(p), len(b))
        e, p, b = (x.expand(n, *x.shape[1:]) if len(x) == 1 else x for x in (e, p, b))
        frames = self.renderer.render(e, p, b).cpu().numpy()
        return frames[0] if single else frames

    def replay(self, out: Path | str, *, batch: int = 8) -> Path:
        """Render the held-out part of the recording from its tracking, with its audio,
        into the video `out` (what the README's main job shows)."""
        from avatarzoo.media import write_video

        e, p, b = self._t["demo.expression"], self._t["demo.pose"], self._t["demo.body"]

        def frames():
            for i in range(0, len(e), batch):
                yield from self.render(e[i:i + batch], p[i:i + batch], b[i:i + batch])

        audio = self._t.get("demo.audio")
        sr = self.bundle.config.get("audio", {}).get("sample_rate") or 16000
        return write_video(out, frames(), fps=self.fps,
                           audio=None if audio is None else audio.cpu().numpy(), sample_rate=sr)

    # --- speech (runtime/speech.py) ----------------------------------------------

    @property
    def driver(self):
        """The bundle's audio driver (`drivers.runtime.AudioDriver`); an error if it has none."""
        if self._driver is None:
            from avatarzoo.runtime.speech import driver_of

            self._driver = driver_of(self, str(self.device))
        return self._driver

    @property
    def latency_s(self) -> float:
        """How much audio after a frame's own time the driver waits for before it emits it."""
        return self.driver.latency_s()

    def drive(self, audio, *, seed: int = 0):
        """Audio (a file path, or float32 samples [T] at 16 kHz) -> `Motion`: expression
        [n, D], head pose [n, 4, 4], body [n, Bp, 2], time [n] and speech activity [n],
        one frame per 1 / fps s of audio."""
        from avatarzoo.runtime.speech import as_samples

        return self.driver.drive(as_samples(audio), seed=seed)

    def expressions_from_audio(self, audio, *, seed: int = 0) -> np.ndarray:
        """[n, D] expression codes at the bundle's fps for `audio` (path or samples)."""
        return self.drive(audio, seed=seed).expression

    def speak(self, audio, out: Path | str, *, seed: int = 0, batch: int = 8) -> Path:
        """The avatar saying `audio` (path or samples), written to the video `out` with the
        audio muxed in and in sync."""
        from avatarzoo.runtime.speech import speak

        return speak(self, audio, out, seed=seed, batch=batch)

    def live(self, *, seed: int = 0, lead_s: float = 0.0, slack_s: float = 0.1):
        """A `runtime.stream.LiveSession`: feed audio as it arrives, poll frames on the
        clock (idle life in the gaps, late frames dropped, never drifting)."""
        from avatarzoo.runtime.stream import LiveSession

        return LiveSession(self, seed=seed, lead_s=lead_s, slack_s=slack_s)

    def stream(self, audio_chunks, *, seed: int = 0, batch: int = 8):
        """Frames (`runtime.speech.Frame`: image, time, the audio it goes with) as float32
        16 kHz audio chunks of any size arrive; see runtime/stream.py for paced, live use."""
        from avatarzoo.runtime.speech import stream_frames

        return stream_frames(self, audio_chunks, seed=seed, batch=batch)

    def astream(self, audio_chunks, *, seed: int = 0, lead_s: float = 0.0, slack_s: float = 0.1):
        """Live frames, paced on the clock, as an async iterator over `audio_chunks` (an
        async iterator of float32 16 kHz chunks): idle life while none arrive, the late
        frames dropped, rendering off the event loop (runtime/stream.py `live_frames`).
        It runs until the consumer stops iterating."""
        from avatarzoo.runtime.stream import live_frames

        return live_frames(self.live(seed=seed, lead_s=lead_s, slack_s=slack_s), audio_chunks)

    # --- reenactment: anyone's video drives the avatar (avatarzoo/drive/) --------------
    # (`drive(audio)` above is speech → motion; a performance → motion is `reenact`.)

    def reenact(self, driver, out: Path | str | None = None, *, maps=(), calibration=None, audio=None,
                scale: str = "region", body: str = "head", side_by_side: bool = False, batch: int = 8,
                progress=None):
        """Play `driver` — a video file (tracked with the built-in tracker, its audio muxed
        in), a tracking.safetensors or `Tracking` (any space: `maps` holds the
        `LinearMap`s into the avatar's), or RGB frames [N, H, W, 3] — relative to the
        driver's own neutral face and mean head pose, on the avatar's own ranges
        (drive/transfer.py). Writes the video `out` when given; returns the
        `drive.offline.Reenactment` (the avatar's inputs, clamp counts, timings)."""
        from avatarzoo.drive.offline import reenact

        return reenact(self, driver, out, maps=maps, calibration=calibration, audio=audio, scale=scale,
                       body=body, side_by_side=side_by_side, batch=batch, progress=progress)

    def reenact_live(self, *, fps: float | None = None, **options):
        """A `drive.live.ReenactSession`: webcam frames (RGB uint8, any size) in, one at a
        time, the avatar's frames out."""
        from avatarzoo.drive.live import ReenactSession

        return ReenactSession(self, fps=fps or self.fps, **options)


def load(name: str | Path, *, revision: str | None = None, device: str = "cpu",
         verify: bool = True, compile: bool = False) -> Avatar:
    """Load an avatar: a bundle directory, an id ("roman-v2": the local bundle store, then
    the zoo catalog's pinned Hub revision) or a Hub name ("hf-hub:user/roman@v2";
    `revision` stands for the `@REV`). `verify=False` skips the sha256 of a local bundle's
    files; a bundle from the Hub is always verified. `compile`: the renderer's compiled
    fast path (see `Avatar`)."""
    from avatarzoo.runtime.resolve import open_bundle

    return Avatar(open_bundle(name, revision=revision, verify=verify), device=device, compile=compile)
