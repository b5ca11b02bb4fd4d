"""The Hub settings, read from the environment each time they are needed.

huggingface_hub reads its environment once, at import; avatarzoo reads the same
variables, with the same precedence, when a pull or push starts, and passes them to the
client explicitly: a process that sets `HF_HUB_OFFLINE` or `HF_ENDPOINT` after importing
huggingface_hub gets what it asked for. `HF_TOKEN` is read by huggingface_hub itself on
every request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from avatarzoo.bundle.store import hf_home

DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class HubEnv:
    endpoint: str  # HF_ENDPOINT, without a trailing '/'
    cache_dir: Path  # the Hub cache: HF_HUB_CACHE, else $HF_HOME/hub
    offline: bool  # HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE)


def _true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def hub_env() -> HubEnv:
    cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    cache_dir = Path(os.path.expandvars(cache)).expanduser() if cache else hf_home() / "hub"
    return HubEnv(
        endpoint=(os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"),
        cache_dir=cache_dir,
        offline=_true("HF_HUB_OFFLINE") or _true("TRANSFORMERS_OFFLINE"),
    )
