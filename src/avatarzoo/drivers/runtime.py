"""`AudioDriver`: speech in, the whole face and head motion out, offline or streamed.

Per video frame k (time k / fps on the audio's clock), from the net's output for the
sound at k / fps + `lead` (the recording's own audio/video offset, `lead_s`: its mouth
moved that much before its sound, and so does the avatar's; 0 for no lead):
- the speech channels (mouth, jaw, lips, cheeks, brows, residual) come from the net's
  output at the frame's position on the feature grid (pipeline.video_positions),
  each scaled around its mean by its calibrated gain, and blended towards the
  recording's closed-mouth code once speech has stopped for GATE_HOLD_S (silence gate:
  a closed, still mouth in silence, whatever the net makes of digital silence; a gate
  that followed every dip of activity pulled the mouth shut between syllables:
  mouth_open correlation 0.37 against 0.55 with the hold, on the demo's held-out 4 s);
- the life channels (eyes, gaze), the head pose and the body come from the
  recording's own re-sequenced motion (life.py), the motion scaled by activity.

Offline (`drive`) and streamed (`stream().push`) give the same frames for the same audio
and seed: every stage is a causal recursion with explicit state. A frame is emitted once
the audio up to its time + the lookahead (and the 25 ms analysis window) has arrived.

Shapes: T samples (16 kHz), J feature frames (100/s), n video frames, D expression dim,
Bp body points.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avatarzoo.drivers.life import LifeModel, LifeStream
from avatarzoo.drivers.model import NetEnsemble, NetShape, SpeechToFace
from avatarzoo.drivers.pipeline import HOP, RATE, SAMPLE_RATE, Activity, EnergyStream, LevelNorm
from avatarzoo.errors import BundleError
from avatarzoo.spaces.space import ExpressionSpace
from avatarzoo.threads import cpu_threads

FORMAT_VERSION = 2  # 2: an ensemble of nets (`net.members.{k}.`, config net.members); 1: one net
MAX_MEMBERS = 16  # a bundle asking for more nets than this is refused (untrusted input)
GATE_HOLD_S = 0.4  # the silence gate closes after this long without speech


@dataclass(frozen=True)
class Motion:
    """What drives the renderer for n frames: expression [n, D], head pose [n, 4, 4],
    body points [n, Bp, 2], the time of each frame on the audio's clock [n] (s), and the
    speech activity [n] in [0, 1]."""

    expression: np.ndarray
    pose: np.ndarray
    body: np.ndarray
    time: np.ndarray
    activity: np.ndarray

    def __len__(self) -> int:
        return len(self.time)

    @staticmethod
    def concat(parts: list["Motion"]) -> "Motion":
        if not parts:
            raise ValueError("Motion.concat: nothing to join")
        return Motion(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                        ("expression", "pose", "body", "time", "activity")))


class AudioDriver:
    """A trained driver (from `audio_driver.safetensors` + `audio_driver.json`, or the
    same tensors inside a bundle under `audio_driver.`)."""

    def __init__(self, net: NetEnsemble, config: dict, *, gain: np.ndarray, silence: np.ndarray,
                 life: LifeModel, extractor, level_mean: np.ndarray):
        self.net = net.eval().requires_grad_(False)
        self.config = config
        self.space = ExpressionSpace.model_validate(config["space"])
        self.fps = float(config["fps"])
        self.speech_channels = np.asarray(config["speech_channels"], np.int64)
        self.gain = gain.astype(np.float32)
        self.silence = silence.astype(np.float32)  # [D] the closed-mouth code
        self.life = life
        self.extractor = extractor
        self.level_dims = tuple(config["level_dims"])
        self.level_mean = level_mean
        self.lookahead = net.shape.lookahead
        self.lead_s = float(config.get("lead_s", 0.0))

    def latency_s(self, lead_s: float | None = None) -> float:
        """Audio a frame waits for after its own time: the lead, the net's and the
        extractor's lookahead, and one hop (a feature frame completes at its hop's end)."""
        lead = self.lead_s if lead_s is None else lead_s
        return lead + (self.lookahead + getattr(self.extractor, "lookahead", 0) + 1) / RATE

    # --- construction ---------------------------------------------------------------

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], config: dict, device: str = "cpu") -> "AudioDriver":
        from avatarzoo.kinds import get_kind

        version = config.get("format_version")
        if version not in (1, FORMAT_VERSION):
            raise BundleError(f"audio driver format {version!r}; this avatarzoo reads 1 and {FORMAT_VERSION} "
                              "(rebuild the fit_audio_driver stage)")
        try:
            shape_fields = dict(config["net"])
            members = shape_fields.pop("members", 1)
            if isinstance(members, bool) or not isinstance(members, int) or not 1 <= members <= MAX_MEMBERS:
                raise ValueError(f"net.members is {members!r}; expected 1..{MAX_MEMBERS}")
            shape = NetShape(**shape_fields)
            state = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
            if version == 1:  # one net, its tensors unprefixed
                single = SpeechToFace(shape, dropout=0.0)
                single.load_state_dict(state)
                net = NetEnsemble([single])
            else:
                net = NetEnsemble([SpeechToFace(shape, dropout=0.0) for _ in range(members)])
                net.load_state_dict(state)
            life = LifeModel.from_arrays({k[5:]: v.cpu().numpy() for k, v in tensors.items() if k.startswith("life.")},
                                         fps=float(config["fps"]))
            features = config["features"]
            kind = get_kind("audio_features", features["kind"])
            extractor = kind.load("extractor").from_config(kind.config.model_validate(features))
            # the driver runs on the CPU whatever the render device: a few small matrix
            # products per 10 ms, fed by CPU features; a GPU round trip would cost more
            return cls(net.cpu(), config, gain=tensors["gain"].cpu().numpy(), silence=tensors["silence"].cpu().numpy(),
                       life=life, extractor=extractor, level_mean=tensors["level_mean"].cpu().numpy())
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise BundleError(f"audio driver tensors do not fit its config ({type(e).__name__}: {e})") from None

    @classmethod
    def from_dir(cls, path: str | Path, device: str = "cpu") -> "AudioDriver":
        from safetensors.torch import load_file

        path = Path(path)
        for f in ("audio_driver.safetensors", "audio_driver.json"):
            if not (path / f).is_file():
                raise BundleError(f"{path / f} is missing (fit_audio_driver stage output)")
        return cls.from_tensors(load_file(str(path / "audio_driver.safetensors")),
                                json.loads((path / "audio_driver.json").read_text()), device)

    # --- driving --------------------------------------------------------------------

    def frames_for(self, n_samples: int) -> int:
        """Video frames that `n_samples` of audio span (the last one may be partial)."""
        return int(math.ceil(n_samples / SAMPLE_RATE * self.fps - 1e-9))

    def drive(self, audio: np.ndarray, *, seed: int = 0, lead_s: float | None = None) -> Motion:
        """The motion for all of `audio` [T] (16 kHz mono float): one frame per
        1 / fps s of audio, frame k at time k / fps."""
        stream = self.stream(seed=seed, lead_s=lead_s)
        head = stream.push(audio)
        return Motion.concat([head, stream.flush()])

    def stream(self, *, seed: int = 0, lead_s: float | None = None) -> "DriverStream":
        """A stream; `lead_s` (default: the recording's) trades natural timing for latency."""
        return DriverStream(self, seed, self.lead_s if lead_s is None else lead_s)


class DriverStream:
    """Incremental `AudioDriver.drive`: push audio chunks, get the frames they complete."""

    def __init__(self, driver: AudioDriver, seed: int, lead_s: float):
        if not 0 <= lead_s <= 1:
            raise ValueError(f"lead_s: expected 0..1 s, got {lead_s}")
        self.d = driver
        self.lead_s = lead_s
        self.features = driver.extractor.stream()
        self.energy = EnergyStream()
        self.activity = Activity()
        self.level = LevelNorm(driver.level_dims, driver.level_mean) if driver.level_dims else None
        self.state = driver.net.start(1)
        self.life: LifeStream = driver.life.stream(seed)
        self._energies = np.zeros(0)  # frame energies waiting for their feature frame
        self._act_tail = np.zeros(int(round(GATE_HOLD_S * RATE)) - 1, np.float32)  # activity held over
        self._out = np.zeros((0, len(driver.speech_channels)), np.float32)  # net outputs, from frame `_base`
        self._act = np.zeros(0, np.float32)
        self._base = 0  # feature-frame index of _out[0]
        self.samples = 0  # audio samples pushed
        self.emitted = 0  # video frames emitted
        self._cap: int | None = None  # video frames in all, once flush has begun
        self._end: int | None = None  # ... and set once no feature frame is to come

    @cpu_threads()  # small ops: one thread is faster and never stalls (threads.py)
    def push(self, audio: np.ndarray) -> Motion:
        """audio [t] -> the frames that became final (possibly none)."""
        if self._end is not None:
            raise ValueError("this stream was flushed; start a new one with driver.stream()")
        a = np.asarray(audio, np.float32).reshape(-1)
        self.samples += len(a)
        return self._advance(self.features.push(a), self.energy.push(a))

    @cpu_threads()
    def flush(self) -> Motion:
        """End of audio: the remaining frames (the lookahead heard as silence)."""
        self._cap = self.d.frames_for(self.samples)  # the frames the real audio spans
        pad = np.zeros(int(round(self.d.latency_s(self.lead_s) * SAMPLE_RATE)) + 3 * HOP, np.float32)
        head = self._advance(self.features.push(pad), self.energy.push(pad))
        self._end = self._cap
        tail = self._advance(self.features.flush(), np.zeros(0))
        return Motion.concat([head, tail])

    def _advance(self, feats: np.ndarray, energy: np.ndarray) -> Motion:
        """Run the new feature frames through activity, level norm and the net, then
        emit the video frames whose two neighbouring outputs now exist (all remaining
        frames once flushed)."""
        d = self.d
        self._energies = np.concatenate([self._energies, energy])
        if len(self._energies) < len(feats):  # an extractor's final flush may pad a hop
            self._energies = np.concatenate([self._energies, np.full(len(feats) - len(self._energies), -100.0)])
        n = len(feats)
        energy, self._energies = self._energies[:n], self._energies[n:]
        act = self.activity(energy) if n else np.zeros(0, np.float32)
        if self.level is not None and n:
            feats = self.level(feats, act)
        act = self._hold(act)
        if n:
            y, self.state = d.net.step(torch.from_numpy(np.ascontiguousarray(feats, np.float32))[None], self.state)
            self._out = np.concatenate([self._out, y[0].numpy()])
            self._act = np.concatenate([self._act, act])
        have = self._base + len(self._out)  # feature frames computed so far
        positions = []
        while True:
            k = self.emitted + len(positions)
            if self._cap is not None and k >= self._cap:
                break
            pos = (k / d.fps + self.lead_s) * RATE - 1 + d.lookahead  # pipeline.video_positions
            if self._end is None and math.floor(pos) + 2 > have:
                break  # wait for more audio
            positions.append(pos)
        return self._frames(np.asarray(positions, np.float64))

    def _hold(self, act: np.ndarray) -> np.ndarray:
        """The activity held at its maximum over the last GATE_HOLD_S (causal)."""
        k = int(round(GATE_HOLD_S * RATE))
        buf = np.concatenate([self._act_tail, act])
        out = np.lib.stride_tricks.sliding_window_view(buf, k).max(1) if len(act) else np.zeros(0, np.float32)
        self._act_tail = buf[len(buf) - (k - 1):]
        return out.astype(np.float32)

    def _frames(self, positions: np.ndarray) -> Motion:
        d = self.d
        n = len(positions)
        k0, self.emitted = self.emitted, self.emitted + n
        p = np.clip(positions - self._base, 0, max(len(self._out) - 1, 0))
        lo = np.floor(p).astype(int)
        hi = np.minimum(lo + 1, max(len(self._out) - 1, 0))
        w = (p - lo)[:, None]
        if len(self._out):
            speech = (1 - w) * self._out[lo] + w * self._out[hi]  # [n, S]
            act = ((1 - w[:, 0]) * self._act[lo] + w[:, 0] * self._act[hi]).astype(np.float32)
        else:
            speech = np.zeros((n, len(d.speech_channels)), np.float32)
            act = np.zeros(n, np.float32)
        mean = d.net.out_mean.numpy()
        speech = mean + d.gain * (speech - mean)
        gate = act[:, None]
        expr = np.tile(d.silence, (n, 1))
        expr[:, d.speech_channels] = gate * speech + (1 - gate) * d.silence[d.speech_channels]
        life = self.life.take(n, act)
        expr[:, list(d.life.channels)] = life.expression
        # drop the feature frames no later video frame reads
        nxt = (self.emitted / d.fps + self.lead_s) * RATE - 1 + d.lookahead
        drop = min(len(self._out), max(0, int(math.floor(nxt)) - self._base))
        self._out, self._act, self._base = self._out[drop:], self._act[drop:], self._base + drop
        return Motion(expr.astype(np.float32), life.pose, life.body, (k0 + np.arange(n)) / d.fps, act)
