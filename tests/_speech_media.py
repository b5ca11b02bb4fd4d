"""Test inputs made in the test: media files written with PyAV, speech synthesised with
libespeak-ng (the system's espeak-ng package; .ci/run installs it)."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np


def write_audio(path: Path, x: np.ndarray, rate: int, *, codec: str, fmt: str | None = None) -> Path:
    """Encode x, float [C, n] in [-1, 1] (C = 1 or 2), into `path` with `codec`."""
    import av

    x = np.atleast_2d(np.asarray(x, np.float64))
    layout = {1: "mono", 2: "stereo"}[x.shape[0]]
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=rate, layout=layout)
        _encode_audio(c, s, x, rate, layout)
    return Path(path)


def write_video(path: Path, n_frames: int, *, fps: int = 25, size: int = 64,
                audio: np.ndarray | None = None, rate: int = 44100) -> Path:
    """An h264 mp4 of moving gradients, with `audio` (float [C, n]) as an AAC track."""
    import av

    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width = v.height = size
        v.pix_fmt = "yuv420p"
        a = None
        if audio is not None:
            audio = np.atleast_2d(np.asarray(audio, np.float64))
            layout = {1: "mono", 2: "stereo"}[audio.shape[0]]
            a = c.add_stream("aac", rate=rate, layout=layout)
        yy, xx = np.mgrid[:size, :size]
        for i in range(n_frames):
            img = np.stack([(xx * 4 + i * 3) % 256, (yy * 4) % 256, np.full_like(xx, i * 5 % 256)], -1)
            frame = av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")
            frame.pts = i
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        if a is not None:
            _encode_audio(c, a, audio, rate, layout)
    return Path(path)


def _encode_audio(container, stream, x: np.ndarray, rate: int, layout: str) -> None:
    import av

    fmt = stream.codec_context.format.name
    step = stream.codec_context.frame_size or 1024
    for i in range(0, x.shape[1], step):
        blk = np.clip(x[:, i:i + step], -1, 1)
        if fmt.startswith("s16"):
            arr = np.round(blk * 32767).astype(np.int16)
        elif fmt.startswith("s32"):
            arr = np.round(blk * (2**31 - 1)).astype(np.int32)
        else:
            arr = blk.astype(np.float32)
        if not fmt.endswith("p"):  # packed: [1, n * C] interleaved
            arr = arr.T.reshape(1, -1)
        f = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt, layout=layout)
        f.sample_rate = rate
        f.pts = i
        for p in stream.encode(f):
            container.mux(p)
    for p in stream.encode(None):
        container.mux(p)


# ---------------------------------------------------------------- espeak-ng

class _Id(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):  # espeak_EVENT of speak_lib.h
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _Id)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_EVENT_PHONEME = 7
_espeak: dict = {}


def espeak(text: str, *, voice: str = "en-us") -> tuple[np.ndarray, int, list[tuple[float, str]]]:
    """Synthesise `text`: (samples float32 [n] in [-1, 1], sample rate, [(start s, phoneme)])
    with espeak-ng's own phoneme events (its mnemonics: 'p', 'A:', 'm', ...)."""
    if not _espeak:
        lib = ctypes.CDLL("libespeak-ng.so.1")
        # AUDIO_OUTPUT_SYNCHRONOUS, default buffer, default data path, phoneme events
        rate = lib.espeak_Initialize(2, 0, None, 1)
        if rate <= 0:
            raise RuntimeError("espeak_Initialize failed")
        _espeak.update(lib=lib, rate=rate)
    lib, rate = _espeak["lib"], _espeak["rate"]
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise RuntimeError(f"espeak-ng has no voice {voice!r}")
    chunks: list[np.ndarray] = []
    events: list[tuple[float, str]] = []

    def collect(wav, n, ev):
        if n > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while ev[i].type != 0:  # espeakEVENT_LIST_TERMINATED
            if ev[i].type == _EVENT_PHONEME:
                events.append((ev[i].sample / rate, ev[i].id.string.decode()))
            i += 1
        return 0

    callback = _CALLBACK(collect)
    lib.espeak_SetSynthCallback(callback)
    data = text.encode()
    # position 0, POS_CHARACTER, no end, espeakCHARS_AUTO
    if lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 0, None, None) != 0:
        raise RuntimeError("espeak_Synth failed")
    lib.espeak_Synchronize()
    samples = np.concatenate(chunks).astype(np.float32) / 32768.0
    return samples, rate, events


def resample_to_16k(x: np.ndarray, rate: int) -> np.ndarray:
    """float32 [n] at `rate` -> 16 kHz, by FFmpeg's resampler (what read_audio uses)."""
    import av

    r = av.AudioResampler(format="flt", layout="mono", rate=16000)
    f = av.AudioFrame.from_ndarray(x.astype(np.float32)[None], format="flt", layout="mono")
    f.sample_rate = rate
    f.pts = 0
    out = [o.to_ndarray().reshape(-1) for o in r.resample(f)] + [o.to_ndarray().reshape(-1) for o in r.resample(None)]
    return np.concatenate(out).astype(np.float32)


# ------------------------------------------------------- tiny SSL models

def tiny_ssl_model(directory: Path, kind: str, *, local: bool = False, seed: int = 0) -> Path:
    """A randomly initialised 2-layer, 32-wide wav2vec2 or HuBERT model (the real
    models' 7-layer conv encoder: 320-sample stride, 400-sample receptive field) saved
    with save_pretrained into `directory`.

    local=True makes every output frame depend on a bounded stretch of audio, so a
    sliding window that covers it reproduces the whole-utterance output exactly: the
    attention output projections are zeroed (the transformer layers act per frame), the
    conv encoder uses per-frame LayerNorm instead of GroupNorm over time, the positional
    conv spans 16 model frames, and a preprocessor config turns input normalisation
    off (per-utterance statistics are global too)."""
    import json

    import torch
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model

    Config, Model = {"wav2vec2": (Wav2Vec2Config, Wav2Vec2Model), "hubert": (HubertConfig, HubertModel)}[kind]
    cfg = Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                 feat_extract_norm="layer" if local else "group", conv_bias=local)
    torch.manual_seed(seed)
    model = Model(cfg).eval()
    if local:
        with torch.no_grad():
            for layer in model.encoder.layers:
                layer.attention.out_proj.weight.zero_()
                layer.attention.out_proj.bias.zero_()
    directory = Path(directory)
    model.save_pretrained(directory)
    if local:
        (directory / "preprocessor_config.json").write_text(json.dumps(
            {"feature_extractor_type": "Wav2Vec2FeatureExtractor", "do_normalize": False,
             "sampling_rate": 16000, "feature_size": 1, "padding_value": 0.0}))
    return directory
