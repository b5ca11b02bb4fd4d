"""The feature contract (drivers/features/base.py) for every registered
`audio_features` kind, built through the registry from its recipe config."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from avatarzoo.drivers.features.base import Extractor
from avatarzoo.kinds import get_kind, list_kinds

SR = 16_000


def _config(kind: str, tiny_ssl_models):
    """The kind's default recipe config; the self-supervised ones point at a tiny local
    model (its outputs depend on a bounded stretch of audio, so its stream must equal
    its offline output exactly: the plumbing, not the model, is under test here)."""
    cfg_cls = get_kind("audio_features", kind).config
    if kind in tiny_ssl_models:
        return cfg_cls(model=tiny_ssl_models[kind])
    return cfg_cls()


def _speech(seconds: float) -> np.ndarray:
    """Syllable-rate bursts of a gliding harmonic tone with breath noise and pauses."""
    rng = np.random.default_rng(7)
    n = int(SR * seconds)
    t = np.arange(n) / SR
    f0 = 110 + 40 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voice = sum(np.sin(k * phase) / k for k in range(1, 20))
    env = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) * (np.sin(2 * np.pi * 0.4 * t) > -0.5)
    return (0.15 * env * voice + 0.02 * env * rng.normal(size=n)).astype(np.float32)


@pytest.mark.parametrize("kind", list_kinds("audio_features"))
def test_every_kind_keeps_the_contract(kind, tiny_ssl_models):
    cfg = _config(kind, tiny_ssl_models)
    ex = cfg.registered.load("extractor").from_config(cfg)
    assert isinstance(ex, Extractor)
    assert isinstance(ex.dim, int) and ex.dim > 0
    assert isinstance(ex.lookahead, int) and ex.lookahead >= 0
    x = _speech(3.3)[:52817]  # a partial last hop
    y = ex(x)
    assert y.shape == (len(x) // 160, ex.dim) and y.dtype == np.float32 and np.isfinite(y).all()
    rng = np.random.default_rng(0)
    for sizes in ([640] * 100, [320] * 200, list(rng.integers(1, 5000, 60)), [len(x)]):
        s = ex.stream()
        parts, got, i = [], 0, 0
        for size in sizes:
            if i >= len(x):
                break
            parts.append(s.push(x[i:i + size]))
            i = min(i + size, len(x))
            got += len(parts[-1])
            assert parts[-1].shape[1:] == (ex.dim,) and parts[-1].dtype == np.float32
            # frames come out once their window and lookahead have arrived, never before their hop
            assert max(0, i // 160 - ex.lookahead) <= got <= i // 160
        if i < len(x):
            parts.append(s.push(x[i:]))
        parts.append(s.flush())
        np.testing.assert_allclose(np.concatenate(parts), y, atol=2e-5,
                                   err_msg=f"{kind}: streamed in chunks of {sizes[:3]}...")


def test_the_light_modules_do_not_import_torch():
    code = ("import sys\n"
            "import avatarzoo.drivers.audio, avatarzoo.drivers.sync\n"
            "import avatarzoo.drivers.features.logmel, avatarzoo.drivers.features.phones, "
            "avatarzoo.drivers.features.ssl\n"
            "print(sorted(m for m in ('torch', 'transformers', 'av', 'pocketsphinx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
