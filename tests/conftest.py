import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
DEMO_VIDEO = ROOT / "data" / "obama-address-20s.mp4"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own cache; nothing touches ~/.cache."""
    monkeypatch.setenv("AVATARZOO_CACHE", str(tmp_path_factory.mktemp("azcache")))


@pytest.fixture
def recipe_file(tmp_path):
    """Write a recipe YAML next to a copy of nothing: returns a function(text) -> path.
    The recipe's video points at the demo recording."""

    def write(text: str, name: str = "r.yaml") -> Path:
        p = tmp_path / name
        p.write_text(text.replace("VIDEO", os.path.relpath(DEMO_VIDEO, tmp_path)))
        return p

    return write


@pytest.fixture(scope="session")
def tiny_ssl_models(tmp_path_factory):
    """kind -> directory of a tiny random 'local' wav2vec2 / HuBERT model
    (_speech_media.tiny_ssl_model), made once per session."""
    from _speech_media import tiny_ssl_model

    root = tmp_path_factory.mktemp("tiny-ssl")
    return {kind: str(tiny_ssl_model(root / kind, kind, local=True)) for kind in ("wav2vec2", "hubert")}
