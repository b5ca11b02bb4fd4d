"""`wav2vec2` and `hubert` features: a hidden layer of a self-supervised speech model
(transformers `AutoModel`), on the causal 100 frames/s grid (base.py).

Input: the audio normalised as the model's feature extractor does (`do_normalize`,
from its preprocessor_config.json; True when it has none): (x - mean) / sqrt(var +
1e-7) over the utterance (offline) or over the window (streaming).

50 Hz -> 100 Hz: the models' convolutional encoder turns 16 kHz audio into frames with
a stride of 320 samples and a receptive field of 400 (checked on load): model frame m
sees samples [320 m, 320 m + 400). Our hop j, [160 j, 160 j + 160), lies inside model
frame m = j // 2 (even j: its first half, odd j: its second), so frame j is that model
frame's hidden state: each model frame fills two hops, and frame j uses audio up to
160 j + 400 from the encoder, at most 240 samples (1.5 frames) past its window end.
The transformer on top attends to every model frame of its input.

Offline (`__call__`): the model runs once on the whole utterance (zeros appended only
where the last model frame's receptive field passes the end); frame j sees all of it.
Memory and time grow with the square of the length: split long recordings at pauses
(minutes, not hours).

Streaming (`stream()`): the model is rerun on a sliding window. Frames come in blocks
of `BLOCK` = 4 (40 ms, two model frames) on the absolute grid; block [j0, j0 + 4) is
computed once samples [0, 160 (j0 + 4 + RIGHT)) have arrived, RIGHT = 20 frames (200 ms),
on the window of those samples that starts `LEFT` = 2 s before the block (at 0 early
on): the block is exactly the offline extractor applied to the window's audio. So frame j depends on no audio past 160 (j + 1 + lookahead)
with `lookahead` = RIGHT + BLOCK - 1 = 23 frames (230 ms; frames late in a block see 20
to 23 frames ahead), and any chunking gives the same frames; windows due in one push
run as one batch. The rest at `flush` comes from one window ending at the end of the
audio, like offline. Offline and streaming differ (the transformer sees the whole
utterance offline, a 2.2 s window streaming, and the normalisation statistics differ);
how much depends on the model's weights: for the tests' tiny random model the median
relative error is 0.13 (tests/test_drivers_ssl.py says why); for trained weights it
is not measured (none can be downloaded on the development machine).

Loading: `AutoModel.from_pretrained(cfg.model)`, a Hugging Face model id from the HF
cache (`HF_HOME`) or a local directory. A model that is not there (in particular with
`HF_HUB_OFFLINE=1`) is an InputError naming the id and how to get it.

Shapes: T samples, F = T // 160 frames, M model frames (50 Hz), D = hidden size.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from avatarzoo.drivers.features.base import HOP, SAMPLE_RATE, Extractor, FeatureStream, check_audio, n_frames
from avatarzoo.errors import InputError
from avatarzoo.threads import cpu_threads

STRIDE = 320    # samples per model frame (50 Hz)
FIELD = 400     # receptive field of a model frame, samples
BLOCK = 4       # frames per streaming block (two model frames)
RIGHT = 20      # frames of audio a block waits for beyond its last frame
LEFT = 2 * SAMPLE_RATE  # samples of left context of a streaming window
NORM_EPS = 1e-7  # Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm
MODEL_TYPES = {"wav2vec2": ("wav2vec2",), "hubert": ("hubert",)}


def normalise(x: np.ndarray) -> np.ndarray:
    """float [n] -> float32 [n], zero mean and unit variance as
    Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm."""
    x = np.asarray(x, np.float64)
    return ((x - x.mean()) / np.sqrt(x.var() + NORM_EPS)).astype(np.float32)


class SelfSupervised(Extractor):
    """Hidden states of a wav2vec2 / HuBERT model on the 100 Hz grid (module docstring)."""

    def __init__(self, model: str, *, layer: int | None = None, kind: str | None = None,
                 left: int = LEFT, right: int = RIGHT, device: str = "cpu"):
        for name, v, lo in (("left", left, 0), ("right", right, 2)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name}: expected an int >= {lo}, got {v!r}")
        if left % STRIDE:
            raise ValueError(f"left: expected a multiple of {STRIDE} samples, got {left}")
        self.name = str(model)
        self.left, self.right = left, right
        self.lookahead = right + BLOCK - 1
        self.device = device
        self.model, self.normalize = _load(self.name, kind)
        n_layers = int(self.model.config.num_hidden_layers)
        if layer is not None and not 0 <= layer <= n_layers:
            raise InputError(f"audio features: layer {layer} of '{self.name}', which has hidden states "
                             f"0..{n_layers} (0 = the transformer's input); set features.layer in that range")
        self.layer = n_layers if layer is None else int(layer)
        self.dim = int(self.model.config.hidden_size)

    @classmethod
    def from_config(cls, cfg) -> "SelfSupervised":
        return cls(cfg.model, layer=cfg.layer, kind=cfg.kind)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """audio: float [T] -> float32 [T // 160, D]."""
        audio = check_audio(audio)
        n = n_frames(len(audio))
        if n == 0:
            return np.zeros((0, self.dim), np.float32)
        x = normalise(audio) if self.normalize else audio.astype(np.float32)
        hidden = self._run([_pad_for(x, 0, n)])[0]  # [M, D]
        return hidden[np.arange(n) // 2]

    def stream(self) -> "SelfSupervisedStream":
        return SelfSupervisedStream(self)

    def _run(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        """Model on each window (float32 [n_i]) -> [M_i, D] of the chosen layer; windows
        of one length run as one batch."""
        import torch

        out: list[Any] = [None] * len(windows)
        by_len: dict[int, list[int]] = {}
        for i, w in enumerate(windows):
            by_len.setdefault(len(w), []).append(i)
        with torch.inference_mode(), cpu_threads(self.device):
            for idx in by_len.values():
                x = torch.from_numpy(np.stack([windows[i] for i in idx])).to(self.device)
                h = self.model(x, output_hidden_states=True).hidden_states[self.layer]
                h = h.float().cpu().numpy()
                for k, i in enumerate(idx):
                    out[i] = h[k]
        return out

    def _prepare(self, x: np.ndarray, w0: int, stop: int) -> np.ndarray:
        """The model input for frames up to `stop` from x = audio[w0:...] (w0 on the
        320 grid): normalised on its own, zeros appended for the last receptive field."""
        x = normalise(x) if self.normalize else x.astype(np.float32)
        return _pad_for(x, w0, stop)


def _pad_for(x: np.ndarray, w0: int, stop: int) -> np.ndarray:
    """x (samples from w0 on) with zeros appended so that model frame (stop - 1) // 2
    exists: its receptive field ends at 320 ((stop - 1) // 2) + 400."""
    need = STRIDE * ((stop - 1) // 2) + FIELD - w0
    return np.concatenate([x, np.zeros(need - len(x), np.float32)]) if need > len(x) else x


class SelfSupervisedStream(FeatureStream):
    """Sliding-window streaming of a SelfSupervised extractor (module docstring)."""

    def __init__(self, ex: SelfSupervised):
        self._ex = ex
        self.dim = ex.dim
        self._audio = np.zeros(0)  # samples from `_origin` on
        self._origin = 0            # absolute index of _audio[0] (on the 320 grid)
        self._received = 0
        self._emitted = 0           # frames returned so far (a multiple of BLOCK until flush)
        self._closed = False

    def push(self, chunk: np.ndarray) -> np.ndarray:
        self._check_open()
        chunk = check_audio(chunk, "chunk")
        self._audio = np.concatenate([self._audio, chunk])
        self._received += len(chunk)
        ex = self._ex
        windows, spans = [], []
        j0 = self._emitted
        while HOP * (j0 + BLOCK + ex.right) <= self._received:
            end = HOP * (j0 + BLOCK + ex.right)
            w0 = max(0, HOP * j0 - ex.left)
            windows.append(ex._prepare(self._audio[w0 - self._origin:end - self._origin], w0, end // HOP))
            spans.append((w0, j0))
            j0 += BLOCK
        if not windows:
            return np.zeros((0, self.dim), np.float32)
        out = [h[np.arange(j, j + BLOCK) // 2 - w0 // STRIDE] for h, (w0, j) in zip(ex._run(windows), spans)]
        self._emitted = j0
        self._trim()
        return np.concatenate(out)

    def flush(self) -> np.ndarray:
        self._check_open()
        self._closed = True
        ex = self._ex
        total = n_frames(self._received)
        if total <= self._emitted:
            return np.zeros((0, self.dim), np.float32)
        j0 = self._emitted
        w0 = max(0, HOP * j0 - ex.left)
        h = ex._run([ex._prepare(self._audio[w0 - self._origin:], w0, total)])[0]
        return h[np.arange(j0, total) // 2 - w0 // STRIDE]

    def _trim(self) -> None:
        """Drop the samples no future window needs (before the next block's left edge)."""
        keep_from = max(0, HOP * self._emitted - self._ex.left)
        drop = keep_from - self._origin
        if drop > 0:
            self._audio = self._audio[drop:]
            self._origin = keep_from


def _load(name: str, kind: str | None):
    """(model in eval mode, do_normalize) for a model id or directory; InputError when
    it is not there or not a 50 Hz wav2vec2-style model."""
    from transformers import AutoModel

    try:
        model = AutoModel.from_pretrained(name)
    except (OSError, ValueError) as e:
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        where = os.environ.get("HF_HOME", "~/.cache/huggingface")
        raise InputError(
            f"audio features: cannot load the model '{name}' ({str(e).splitlines()[0]})"
            + (" with HF_HUB_OFFLINE=1" if offline else "")
            + f"; it is read from the Hugging Face cache (HF_HOME={where}) or a local directory: "
            f"download it once with `hf download {name}` (huggingface_hub) where there is internet, "
            f"with the same HF_HOME, or set features.model to a directory holding it"
        ) from None
    cfg = model.config
    if kind is not None and cfg.model_type not in MODEL_TYPES.get(kind, (kind,)):
        raise InputError(f"audio features: '{name}' is a {cfg.model_type} model, the recipe's kind is "
                         f"'{kind}'; use kind: {cfg.model_type} or a {kind} model")
    stride = int(np.prod(getattr(cfg, "conv_stride", [0])))
    field = _receptive_field(getattr(cfg, "conv_kernel", []), getattr(cfg, "conv_stride", []))
    if stride != STRIDE or field != FIELD:
        raise InputError(f"audio features: '{name}' makes frames every {stride} samples with a "
                         f"{field}-sample receptive field; the 100 Hz grid needs {STRIDE} and {FIELD} "
                         f"(the wav2vec2/HuBERT encoder)")
    model.eval()
    return model, _do_normalize(name)


def _receptive_field(kernels, strides) -> int:
    field, jump = 1, 1
    for k, s in zip(kernels, strides):
        field += (k - 1) * jump
        jump *= s
    return field


def _do_normalize(name: str) -> bool:
    """The model's feature extractor's `do_normalize` (True without a preprocessor config)."""
    import json

    from huggingface_hub import try_to_load_from_cache

    path = os.path.join(name, "preprocessor_config.json")
    if not os.path.isfile(path):
        cached = try_to_load_from_cache(name, "preprocessor_config.json") if not os.path.isdir(name) else None
        path = cached if isinstance(cached, str) else None
    if path is None:
        return True
    with open(path) as f:
        return bool(json.load(f).get("do_normalize", True))
