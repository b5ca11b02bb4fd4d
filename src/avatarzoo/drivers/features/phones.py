"""`phones` features: one-hot phones [F, 40] from pocketsphinx 5.1.1 allphone decoding
(the English acoustic model and phone language model inside its wheel), on the causal
100 frames/s grid (base.py), with a lookahead of 30 frames (300 ms).

Decoder: `allphone` search with the wheel's `en-us-phone.lm.bin`, lw 2.0 and beams
1e-20 (CMU's settings for phone recognition), live cepstral mean normalisation (causal,
so offline and streaming see the same features) started from `CMN_INIT`, the running
mean the demo recording's 20 s adapt it to (the model's default start, 40,3,-1,0...,
turns the first half second of a recording into fricatives). The audio gets a fixed
-60 dB (std 1e-3) white-noise dither (`DITHER`, the same samples at the same positions
in every run): on digital silence the model's features degenerate and it decodes
phones there (at -70 dB it still missed 2 of 12 bilabials of two espeak utterances
that -60 dB finds).

The 39 CMU phones + SIL (`PHONES`); the model's noise and filler phones (+NSN+, +SPN+)
are SIL.

Timing: pocketsphinx frame f is the 410-sample window starting at sample 160 f (centre
160 f + 205); our hop j (centre 160 j + 80) takes the phone of the nearest one, f = j - 1
(f = 0 for j = 0), counted from the start of the current decoder utterance.

Causality and streaming (both paths run `PhoneStream`; offline is one push and a
flush, so streaming in any chunks equals offline exactly): audio goes to the decoder one
160-sample hop at a time, on the grid of absolute sample positions. As soon as
samples [0, 160 (j + 1 + 30)) have arrived, frame j is emitted with the phone of the
decoder's best partial path at that moment, so it depends on no later audio. Measured on 11 recordings,
255 s (benchmarks/phones_stream.py, BENCHMARKS.md): the phone of the best partial path
300 ms after a frame differs from the final segmentation on 0.54 % of frames (per
recording 0-1.6 %; 500 ms: 0.05 %, 200 ms: 2.2 %, 100 ms: 11.5 %, 50 ms: 27 %); so the
output is the 300 ms-delayed decision, nearly the final best path. CPU: 1.6 ms of
decoding per 40 ms of audio on the 2-core CPU, so it streams. To bound the decoder's
history (each partial backtrace walks the whole utterance), an utterance is ended
after 20 s at the first 300 ms of decoded silence (60 s at the latest) and a new one
started; its remaining frames take the final segmentation (they come out early).
At the end of the audio the rest takes the final segmentation.

Shapes: T samples, F = T // 160 frames, P = 40 phones.
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np

from avatarzoo.drivers.features.base import HOP, SAMPLE_RATE, Extractor, FeatureStream, check_audio, n_frames

PHONES = ("SIL", "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G",
          "HH", "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH",
          "UH", "UW", "V", "W", "Y", "Z", "ZH")
SIL = 0
_INDEX = {p: i for i, p in enumerate(PHONES)}

LOOKAHEAD = 30        # frames (300 ms): see the module docstring
BLOCK = HOP           # samples fed to the decoder at a time, on the hop grid
DITHER = 1e-3         # std of the dither: -60 dB re full scale
_DITHER_PERIOD = 1 << 16
MAX_UTT = 60 * 100    # frames: an utterance is always ended after 60 s ...
SOFT_UTT = 20 * 100   # ... and after 20 s at the first decoded silence of
RESTART_SIL = 30      # frames
# cmninit: the live CMN of the demo recording (data/obama-address-20s.mp4) after 20 s
# (benchmarks/phones_stream.py prints it)
CMN_INIT = "48.28,3.98,9.67,-5.84,-4.46,-7.10,-6.77,-4.19,-5.21,-1.58,1.30,2.89,-4.74"
DECODER = dict(lw=2.0, beam=1e-20, pbeam=1e-20, cmn="live", cmninit=CMN_INIT, samprate=SAMPLE_RATE)


def phone_index(name: str) -> int:
    """Index into PHONES of a pocketsphinx phone; fillers (+NSN+, +SPN+, ...) are SIL."""
    return _INDEX.get(name, SIL)


@cache
def _dither() -> np.ndarray:
    return np.random.default_rng(20261201).normal(0.0, DITHER, _DITHER_PERIOD)


def _model_paths() -> tuple[str, str]:
    import pocketsphinx

    root = os.path.join(pocketsphinx.get_model_path(), "en-us")
    return os.path.join(root, "en-us"), os.path.join(root, "en-us-phone.lm.bin")


def new_decoder():
    """A pocketsphinx Decoder for allphone decoding with the settings above."""
    import pocketsphinx

    hmm, phone_lm = _model_paths()
    return pocketsphinx.Decoder(hmm=hmm, allphone=phone_lm, loglevel="FATAL", **DECODER)


class Phones(Extractor):
    """One-hot pocketsphinx phones; see the module docstring."""

    dim = len(PHONES)

    def __init__(self, *, lookahead: int = LOOKAHEAD):
        if isinstance(lookahead, bool) or not isinstance(lookahead, int) or lookahead < 0:
            raise ValueError(f"lookahead: expected frames >= 0, got {lookahead!r}")
        self.lookahead = lookahead

    @classmethod
    def from_config(cls, cfg) -> "Phones":
        return cls()

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """audio: float [T] -> float32 [T // 160, 40] one-hot."""
        return one_hot(self.labels(audio))

    def labels(self, audio: np.ndarray) -> np.ndarray:
        """audio: float [T] -> int64 [T // 160] indices into PHONES."""
        s = self.stream()
        audio = check_audio(audio)
        return np.concatenate([s.push_labels(audio), s.flush_labels()])

    def stream(self) -> "PhoneStream":
        return PhoneStream(self.lookahead)


def one_hot(labels: np.ndarray) -> np.ndarray:
    """int [F] -> float32 [F, 40]."""
    out = np.zeros((len(labels), len(PHONES)), np.float32)
    out[np.arange(len(labels)), labels] = 1.0
    return out


class PhoneStream(FeatureStream):
    """Incremental allphone decoding (module docstring): `push` returns one-hot frames
    30 frames behind the audio, `flush` the rest."""

    dim = len(PHONES)

    def __init__(self, lookahead: int = LOOKAHEAD):
        self.lookahead = lookahead
        self._decoder = new_decoder()
        self._decoder.start_utt()
        self._pending = np.zeros(0)  # samples not yet fed (< BLOCK)
        self._fed = 0                # samples fed to the decoder
        self._utt_start = 0          # absolute frame where the current utterance starts
        self._emitted = 0            # frames returned so far
        self._closed = False

    def push(self, chunk: np.ndarray) -> np.ndarray:
        return one_hot(self.push_labels(chunk))

    def flush(self) -> np.ndarray:
        return one_hot(self.flush_labels())

    def push_labels(self, chunk: np.ndarray) -> np.ndarray:
        """chunk: float [t] -> int64 [f] phone indices of the frames now final."""
        self._check_open()
        chunk = check_audio(chunk, "chunk")
        buf = np.concatenate([self._pending, chunk]) if len(self._pending) else chunk
        out = []
        n_blocks = len(buf) // BLOCK
        for b in range(n_blocks):
            self._feed(buf[b * BLOCK:(b + 1) * BLOCK])
            out.append(self._after_block())
        self._pending = buf[n_blocks * BLOCK:].copy()
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def flush_labels(self) -> np.ndarray:
        """End of audio -> int64 [f] the remaining frames, from the final segmentation."""
        self._check_open()
        self._closed = True
        total = n_frames(self._fed + len(self._pending))
        if len(self._pending):
            self._feed(self._pending)
            self._pending = np.zeros(0)
        return self._end_utterance(total)

    # ----------------------------------------------------------------- internals

    def _feed(self, x: np.ndarray) -> None:
        idx = (self._fed + np.arange(len(x))) % _DITHER_PERIOD
        pcm = np.clip(np.round((x + _dither()[idx]) * 32767.0), -32768, 32767).astype(np.int16)
        self._decoder.process_raw(pcm.tobytes(), False, False)
        self._fed += len(x)

    def _after_block(self) -> np.ndarray:
        heard = self._fed // HOP
        due = heard - self.lookahead  # frames j with j + 1 + lookahead <= heard
        utt_frames = heard - self._utt_start
        segs = None
        if due > self._emitted or utt_frames >= SOFT_UTT:
            segs = self._segments()
        if utt_frames >= MAX_UTT or (utt_frames >= SOFT_UTT and _ends_in_silence(segs)):
            return self._end_utterance(heard, restart=True)
        if due <= self._emitted:
            return np.zeros(0, np.int64)
        labels = self._labels(segs, self._emitted, due)
        self._emitted = due
        return labels

    def _segments(self) -> list[tuple[int, int, int]]:
        """(phone index, first, last) pocketsphinx frames of the current best path."""
        return [(phone_index(s.word), s.start_frame, s.end_frame) for s in (self._decoder.seg() or [])]

    def _labels(self, segs, start: int, stop: int) -> np.ndarray:
        """Phone indices of absolute frames [start, stop) from an utterance's segments;
        frames past the last segment take its phone (SIL for none)."""
        ps_frame = np.maximum(np.arange(start, stop) - self._utt_start - 1, 0)
        lab = np.full(max(int(ps_frame.max(initial=-1)) + 1, 0), -1, np.int64)
        for phone, first, last in segs:
            lab[first:min(last + 1, len(lab))] = phone
        known = np.flatnonzero(lab >= 0)
        if len(known) == 0:
            return np.full(stop - start, SIL, np.int64)
        # fill gaps (frames past the last segment) with the previous known phone
        fill = np.maximum.accumulate(np.where(lab >= 0, np.arange(len(lab)), -1))
        lab = np.where(fill >= 0, lab[np.maximum(fill, 0)], lab[known[0]])
        return lab[ps_frame]

    def _end_utterance(self, upto: int, restart: bool = False) -> np.ndarray:
        """End the decoder utterance, return frames [emitted, upto) from its final
        segmentation, and start a new utterance at the next block (if `restart`)."""
        self._decoder.end_utt()
        labels = self._labels(self._segments(), self._emitted, upto) if upto > self._emitted \
            else np.zeros(0, np.int64)
        self._emitted = max(self._emitted, upto)
        if restart:
            self._utt_start = self._fed // HOP
            self._decoder.start_utt()
        return labels


def _ends_in_silence(segs) -> bool:
    return bool(segs) and segs[-1][0] == SIL and segs[-1][2] - segs[-1][1] + 1 >= RESTART_SIL
