"""The held-out side-by-side video: recording | render | absolute-error heat map.

Shapes: B frames, S frame side. Frames are RGB uint8 [B, S, S, 3].
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import numpy as np


def error_heat(gt: np.ndarray, render: np.ndarray, *, vmax: float = 0.25) -> np.ndarray:
    """Mean |gt - render| over RGB, mapped 0..vmax (0..1 units) to the inferno colour map:
    RGB uint8 [B, S, S, 3]."""
    import cv2

    if gt.shape != render.shape:
        raise ValueError(f"render: expected shape {gt.shape} (as gt), got {render.shape}")
    err = np.abs(gt.astype(np.int16) - render.astype(np.int16)).mean(axis=-1) / 255.0  # [B, S, S]
    level = np.clip(err / vmax * 255.0, 0, 255).astype(np.uint8)
    return np.stack([cv2.applyColorMap(x, cv2.COLORMAP_INFERNO)[..., ::-1] for x in level])


def _caption(image: np.ndarray, text: str, x: int) -> None:
    """White text on a black strip at the top-left of the panel starting at column x (in place)."""
    import cv2

    scale = max(0.4, image.shape[0] / 1000)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(image, (x, 0), (x + w + 8, h + base + 8), (0, 0, 0), -1)
    cv2.putText(image, text, (x + 4, h + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


class SideBySideWriter:
    """H.264 MP4 (yuv420p, plays everywhere) of recording | render | error heat, written
    frame by frame with PyAV, so nothing accumulates in RAM.

        with SideBySideWriter(path, size=S, fps=25) as video:
            video.write(gt, render)   # [B, S, S, 3] each, any number of times
    """

    def __init__(self, path: Path, *, size: int, fps: float, heat_max: float = 0.25, crf: int = 18):
        import av

        self.path = Path(path)
        self.size = size
        self.heat_max = heat_max
        self._container = av.open(str(self.path), mode="w")
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        # yuv420p needs even sides: the last pixel row/column is dropped for odd S.
        self._w, self._h = (3 * size) // 2 * 2, size // 2 * 2
        self._stream.width, self._stream.height = self._w, self._h
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf), "preset": "medium"}
        self.frames = 0

    def write(self, gt: np.ndarray, render: np.ndarray, labels: Sequence[tuple[str, str]] | None = None) -> None:
        """Append frames; `labels[b]` = (caption of the recording panel, of the render panel),
        e.g. ("#477", "26.7 dB"); the heat panel is captioned with its scale."""
        import av

        if gt.ndim != 4 or gt.shape[1:] != (self.size, self.size, 3) or gt.dtype != np.uint8:
            raise ValueError(f"gt: expected uint8 [B, {self.size}, {self.size}, 3], got {gt.dtype} {gt.shape}")
        if labels is not None and len(labels) != gt.shape[0]:
            raise ValueError(f"labels: expected {gt.shape[0]}, got {len(labels)}")
        heat = error_heat(gt, render, vmax=self.heat_max)
        for k, (g, r, h) in enumerate(zip(gt, render, heat)):
            panel = np.concatenate([g, r, h], axis=1)
            if labels is not None and self.size >= 96:
                a, b = labels[k]
                for x, text in ((0, f"recording {a}"), (self.size, f"render {b}"),
                                (2 * self.size, f"|error| 0-{self.heat_max:g}")):
                    _caption(panel, text, x)
            panel = np.ascontiguousarray(panel[: self._h, : self._w])
            frame = av.VideoFrame.from_ndarray(panel, format="rgb24")
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
            self.frames += 1

    def close(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None

    def __enter__(self) -> "SideBySideWriter":
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
