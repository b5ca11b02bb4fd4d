"""Speed of each speech feature extractor on this machine: offline on 60 s of speech
(the demo's audio, three times) and stream().push of one 40 ms chunk (mean and max
over 10 s, after 1 s of warm-up). The self-supervised kinds run a tiny random model
(the tests') and a base-size one (transformers' default Wav2Vec2Config / HubertConfig:
12 layers, 768 wide, ~95 M parameters) with random weights: no weights are
downloadable here, and speed does not depend on them.

    .venv/bin/python benchmarks/features_speed.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _speech_media import tiny_ssl_model  # noqa: E402
from avatarzoo.drivers.audio import read_audio  # noqa: E402
from avatarzoo.drivers.features.logmel import LogMel  # noqa: E402
from avatarzoo.drivers.features.phones import Phones  # noqa: E402
from avatarzoo.drivers.features.ssl import SelfSupervised  # noqa: E402


def base_model(directory: Path, kind: str) -> str:
    import torch
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model

    Config, Model = {"wav2vec2": (Wav2Vec2Config, Wav2Vec2Model), "hubert": (HubertConfig, HubertModel)}[kind]
    torch.manual_seed(0)
    Model(Config()).save_pretrained(directory)
    return str(directory)


def measure(name: str, ex, audio: np.ndarray) -> None:
    ex(audio[:16000])  # warm-up
    t = time.perf_counter()
    y = ex(audio)
    offline = time.perf_counter() - t
    s = ex.stream()
    s.push(audio[:16000])
    costs = []
    for i in range(16000, 16000 + 10 * 16000, 640):
        t = time.perf_counter()
        s.push(audio[i:i + 640])
        costs.append(time.perf_counter() - t)
    print(f"| {name} | {ex.dim} | {ex.lookahead} | {offline:.2f} s | {1e3 * np.mean(costs):.2f} ms "
          f"| {1e3 * np.max(costs):.1f} ms |", flush=True)
    assert y.shape == (len(audio) // 160, ex.dim)


def main() -> None:
    audio = np.concatenate([read_audio(ROOT / "data" / "obama-address-20s.mp4")] * 3)  # 60 s
    print("| extractor | dim | lookahead (frames) | offline, 60 s | push of 40 ms, mean | max |")
    print("|---|---|---|---|---|---|")
    measure("logmel (40 mels + prosody)", LogMel(40), audio)
    measure("logmel (80 mels, no prosody)", LogMel(80, prosody=False), audio)
    measure("phones", Phones(), audio)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("wav2vec2", "hubert"):
            tiny = tiny_ssl_model(Path(tmp) / f"tiny-{kind}", kind)
            measure(f"{kind}, tiny random (2 x 32)", SelfSupervised(str(tiny)), audio)
        for kind in ("wav2vec2", "hubert"):
            measure(f"{kind}, base size random (12 x 768)", SelfSupervised(base_model(Path(tmp) / kind, kind)), audio)


if __name__ == "__main__":
    main()
