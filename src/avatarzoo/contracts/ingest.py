"""The `ingest` stage's output: `ingest.json` (`IngestInfo`) and the directory around it
(`IngestOutput`), read the same way by every stage (docs/ARCHITECTURE.md, "ingest
output").

Shapes: N frames, S the crop side, T audio samples at 16 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from avatarzoo.errors import InputError

INFO_FILE = "ingest.json"


class AudioInfo(BaseModel):
    """`ingest.json` `audio`: sample i of audio.npy plays at `time[0] + offset + i / sample_rate`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sample_rate: int = Field(gt=0)
    offset: float = Field(description="Seconds from the first frame to sample 0.")
    samples: int = Field(ge=0, description="Length of audio.npy.")
    file: str = Field(description="Name of the file the audio came from.")


class IngestInfo(BaseModel):
    """`ingest.json`: what every later stage needs to know about the ingested frames."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fps: float = Field(gt=0)
    n_frames: int = Field(ge=1)
    size: int = Field(ge=1, description="S, the side of the square crop in frames.npy.")
    holdout_start: int = Field(ge=0, description="Frames [holdout_start, N) are held out.")
    crop_box: tuple[int, int, int, int] = Field(description="x0, y0, x1, y1 in source pixels.")
    crop_frame: Literal["head-and-shoulders", "head", "full"] = "head-and-shoulders"
    source: dict[str, Any] = Field(default_factory=dict, description="What the container said.")
    audio: AudioInfo | None = None
    background_inpainted: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _holdout_inside(self) -> "IngestInfo":
        if self.holdout_start > self.n_frames:
            raise ValueError(f"holdout_start {self.holdout_start} is past n_frames {self.n_frames}")
        return self

    @property
    def train(self) -> slice:
        """The training frames, [0, holdout_start)."""
        return slice(0, self.holdout_start)

    @classmethod
    def read(cls, directory: Path | str) -> "IngestInfo":
        path = Path(directory) / INFO_FILE
        try:
            return cls.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise InputError(f"{path}: missing (the ingest stage's output); rebuild the ingest stage") from None
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(map(str, err["loc"])) or "(top level)"
            raise InputError(f"{path}: {where}: {err['msg']}") from None

    def write(self, directory: Path | str) -> None:
        from avatarzoo.files import atomic_write_json

        atomic_write_json(Path(directory) / INFO_FILE, self.model_dump(mode="json"))


@dataclass(frozen=True)
class IngestOutput:
    """An ingest output directory, checked against its `ingest.json` on open. Frames and
    masks are memmaps (never all in RAM)."""

    directory: Path
    info: IngestInfo

    @classmethod
    def open(cls, directory: Path | str) -> "IngestOutput":
        directory = Path(directory)
        out = cls(directory, IngestInfo.read(directory))
        frames = out.frames  # shape and dtype checked once, here
        n, s = out.info.n_frames, out.info.size
        if frames.shape != (n, s, s, 3) or frames.dtype != np.uint8:
            raise InputError(f"{directory / 'frames.npy'}: expected uint8 [{n}, {s}, {s}, 3] "
                             f"(ingest.json), got {frames.dtype} {tuple(frames.shape)}")
        return out

    def _npy(self, name: str, mmap: bool = True) -> np.ndarray:
        path = self.directory / name
        try:
            return np.load(path, mmap_mode="r" if mmap else None)
        except (FileNotFoundError, ValueError, OSError) as e:
            raise InputError(f"{path}: cannot be read as a .npy array ({e}); rebuild the ingest stage") from None

    @cached_property
    def frames(self) -> np.ndarray:
        """uint8 [N, S, S, 3] RGB, a read-only memmap."""
        return self._npy("frames.npy")

    @cached_property
    def masks(self) -> np.ndarray | None:
        """uint8 [N, S, S] person mask 0..255 (memmap), None when ingest wrote none."""
        if not (self.directory / "masks.npy").is_file():
            return None
        masks = self._npy("masks.npy")
        n, s = self.info.n_frames, self.info.size
        if masks.shape != (n, s, s):
            raise InputError(f"{self.directory / 'masks.npy'}: expected [{n}, {s}, {s}], got {masks.shape}")
        return masks

    @cached_property
    def time(self) -> np.ndarray:
        """float64 [N] seconds of each frame in the source video."""
        if not (self.directory / "time.npy").is_file():
            return np.arange(self.info.n_frames) / self.info.fps
        t = self._npy("time.npy", mmap=False)
        if t.shape != (self.info.n_frames,):
            raise InputError(f"{self.directory / 'time.npy'}: expected [{self.info.n_frames}], got {t.shape}")
        return t

    def audio(self) -> np.ndarray | None:
        """float32 [T] mono at `info.audio.sample_rate` (memmap), None without audio."""
        if self.info.audio is None:
            return None
        a = self._npy("audio.npy")
        if a.shape != (self.info.audio.samples,):
            raise InputError(f"{self.directory / 'audio.npy'}: {a.shape[0] if a.ndim else 0} samples, "
                             f"ingest.json says {self.info.audio.samples}")
        return a

    def background(self, size: int | None = None) -> np.ndarray:
        """The background plate, float32 [S, S, 3] in [0, 1] (resized to `size` if given)."""
        import cv2

        path = self.directory / "background.png"
        bg = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bg is None:
            raise InputError(f"{path}: cannot be read (the ingest stage's background plate)")
        bg = cv2.cvtColor(bg, cv2.COLOR_BGR2RGB)
        size = size or self.info.size
        if bg.shape[:2] != (size, size):
            bg = cv2.resize(bg, (size, size), interpolation=cv2.INTER_AREA)
        return bg.astype(np.float32) / 255.0

    def audio_at(self, frame: int) -> int:
        """Index into audio.npy of the sample that plays with frame `frame`."""
        a = self.info.audio
        if a is None:
            raise InputError(f"{self.directory}: the recording has no audio")
        t = float(self.time[frame]) - float(self.time[0]) - a.offset
        return int(round(max(t, 0.0) * a.sample_rate))

